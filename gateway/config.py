"""Gateway settings (the CLI builds these; every field has a default)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gateway.profiles.loader import shipped_profiles_dir

MIB = 1024 * 1024


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/airlock``, else ``~/.local/share/airlock``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "airlock"


class GatewayConfig(BaseModel):
    """How one gateway runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = Field(default="127.0.0.1:50051", description="gRPC listen address, HOST:PORT (port 0 picks one).")
    data_dir: Path = Field(default_factory=default_data_dir, description="Where registry.sqlite3 lives.")
    profiles_dir: Path = Field(default_factory=shipped_profiles_dir, description="Directory of *.toml profiles.")
    max_message_bytes: int = Field(default=8 * MIB, ge=64 * 1024, description="Largest gRPC message accepted.")
    max_source_bytes: int = Field(default=1 * MIB, ge=1024, description="Largest function source accepted.")
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, description="Grace for running calls on stop.")
    warm_up: bool = Field(
        default=True,
        description="Start every warm profile's zygote and pool at start, not on its first invocation.",
    )
