"""The profile model: every knob has a default and a unit in its name (nsjail's habit)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KIB = 1024
MIB = 1024 * KIB


class Profile(BaseModel):
    """Limits one sandboxed worker runs under. Unknown fields are errors, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="", description="Set from the file name; not written in the file.", exclude=True)
    description: str = Field(default="", description="What this profile is for, for operators.")
    mode: Literal["fresh"] = Field(
        default="fresh", description="How workers start: 'fresh' spawns a new interpreter per invocation."
    )
    wall_seconds: float = Field(
        default=10.0,
        gt=0,
        le=86_400,
        description="Default and maximum wall-clock budget of an invocation's own running time; "
        "time spent waiting for the host to answer an __event_call__ does not count.",
    )
    session_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86_400,
        description="Absolute wall-clock ceiling of an invocation, waits for the host included.",
    )
    cpu_seconds: int = Field(default=5, ge=1, le=3_600, description="CPU time (RLIMIT_CPU soft; hard is one more).")
    address_space_mib: int = Field(
        default=1024, ge=64, le=1_048_576, description="Virtual address space (RLIMIT_AS), in MiB."
    )
    open_files: int = Field(default=64, ge=16, le=65_536, description="Open file descriptors (RLIMIT_NOFILE).")
    file_size_mib: int = Field(default=16, ge=0, le=1_048_576, description="Largest file a worker may write, in MiB.")
    output_bytes: int = Field(
        default=16 * MIB, ge=KIB, description="Total bytes of events, calls and result a worker may send."
    )
    frame_bytes: int = Field(default=1 * MIB, ge=KIB, description="Largest single frame (one event, call or result).")
    stdio_bytes: int = Field(
        default=1 * MIB, ge=0, description="Bytes the plugin may print to stdout/stderr before OUTPUT_LIMIT."
    )
    output_keep_bytes: int = Field(
        default=64 * KIB, ge=0, description="Bytes of printed output returned in Result.output."
    )
    max_events: int = Field(default=10_000, ge=1, description="Events plus calls one invocation may send.")
    call_timeout_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="Default wait for the host's answer to an __event_call__."
    )
    start_timeout_seconds: float = Field(
        default=10.0, gt=0, le=600, description="How long a new worker has to report ready."
    )
    inspect_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Wall clock for loading a source at registration."
    )
    max_concurrent: int = Field(default=16, ge=1, le=4_096, description="Workers of this profile at once.")

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.session_seconds < self.wall_seconds:
            raise ValueError("session_seconds must be at least wall_seconds")
        if self.frame_bytes > self.output_bytes:
            raise ValueError("frame_bytes must not exceed output_bytes")
        return self
