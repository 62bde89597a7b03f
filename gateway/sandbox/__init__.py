"""The gateway's side of worker processes: launching, frames, limits, usage, verdicts."""
