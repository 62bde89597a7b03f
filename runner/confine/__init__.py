"""Kernel confinement of a worker, applied by the worker itself (runs in the sandbox).

The order follows nsjail's, adapted to a process that confines itself; see
:mod:`runner.confine.sequence`. Nothing here imports anything beyond the standard library.
"""
