"""Airlock's public Python package: the host client and the types it shares with the gateway.

Hosts import from here (``from airlock.client import AirlockClient``). It is a leaf: nothing
in it imports the gateway (``gateway``), so a host installs a client that cannot reach into
the server's internals, and of the sandbox runner only its wire codec,
``runner.exact_json`` (integers of any size, exact), a leaf itself (checked by the
import-linter contracts in pyproject.toml; docs/LAYERS.md says why).
"""
