"""Progress of a registration, as the caller of ``PutFunctionWithProgress`` sees it."""

from __future__ import annotations

import enum
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
