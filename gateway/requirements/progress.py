"""Progress of a registration, for the caller of ``PutFunctionWithProgress``: domain types."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class Stage(enum.Enum):
    """Where a registration is, in the order the stages happen."""

    #: The requirements parsed and were checked against requirements_allow/deny.
    CHECKING = "checking"
    #: pip runs in the installer sandbox.
    INSTALLING = "installing"
    #: One line pip (or the installer) printed.
    OUTPUT = "output"
    #: Every package pip resolved, dependencies included, is checked against the lists.
    VERIFYING = "verifying"
    #: The set is installed and compiled.
    INSTALLED = "installed"
    #: The set was installed before (by this or another function) and is shared.
    REUSED = "reused"
    #: requirements_install is off: the requirements are not installed (upstream's behaviour).
    SKIPPED = "skipped"
    #: The source is being loaded in a worker.
    LOADING = "loading"


@dataclass(frozen=True)
class Progress:
    """One step of a registration."""

    stage: Stage
    message: str = ""


#: Receives progress as it happens (awaited: a slow caller slows the registration down).
Reporter = Callable[[Progress], Awaitable[None]]


async def ignore(progress: Progress) -> None:
    """A reporter for callers that do not watch progress (the unary PutFunction)."""
