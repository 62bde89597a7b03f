"""Code that runs inside an Airlock worker process (the sandbox side).

Nothing in this package imports grpc: the worker speaks only the frame protocol of
:mod:`runner.wire` to its gateway. Every module here runs inside the sandbox unless its
docstring says otherwise.
"""
