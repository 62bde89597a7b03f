"""Registered functions and the action buttons they make, and an admin's request to register one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SubAction:
    """One button of a multi-action function, invoked as ``<function id>.<id>``."""

    id: str
    name: str
    icon_url: str | None = None


@dataclass(frozen=True)
class FunctionRecord:
    """A registered function and what a worker reported about it."""

    id: str
    source: str
    sha256: str
    name: str
    kind: str
    profile: str
    description: str = ""
    icon_url: str | None = None
    manifest: dict[str, str] = field(default_factory=dict)
    valves: dict[str, Any] | None = None
    default_valves: dict[str, Any] | None = None
    valves_schema: dict[str, Any] | None = None
    user_valves_schema: dict[str, Any] | None = None
    actions: tuple[SubAction, ...] = ()
    #: The class has an ``actions`` attribute: its entries (maybe none) are the buttons.
    declares_actions: bool = False
    priority: int = 0
    is_active: bool = True
    is_global: bool = False
    model_ids: tuple[str, ...] = ()
    created_at_ms: int = 0
    updated_at_ms: int = 0
    #: The frontmatter requirements, normalised (as written when installs are off).
    requirements: tuple[str, ...] = ()
    #: Content address of the installed set under ``<data dir>/requirements``; "" for none.
    requirements_digest: str = ""
    #: "" (no requirements), "ready", "skipped" (installs off) or "failed" (set missing).
    requirements_state: str = ""
    #: ``name==version`` of every installed package, dependencies included.
    requirements_installed: tuple[str, ...] = ()
    #: Why the requirements are not usable (state "failed"); never stored.
    requirements_error: str = ""


@dataclass(frozen=True)
class PutRequest:
    """An admin's request to create or replace a function."""

    id: str
    source: str
    profile: str = ""
    is_active: bool = True
    is_global: bool = False
    model_ids: tuple[str, ...] = ()
    valves: dict[str, Any] | None = None


@dataclass(frozen=True)
class ActionButton:
    """One action button of a model, as Open WebUI lists it."""

    id: str
    name: str
    description: str
    icon_url: str | None
    priority: int
