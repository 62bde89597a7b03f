"""The usage an invocation reports to its host."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """What one invocation used: wall time measured by the gateway, CPU and memory by the kernel."""

    wall_ms: int = 0
    cpu_ms: int = 0
    peak_memory_bytes: int = 0
