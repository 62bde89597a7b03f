"""Invocations: the domain types of the Invoke stream and the engine that runs one."""
