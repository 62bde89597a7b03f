"""Airlock's public Python package: the host client and the types it shares with the gateway.

Hosts import from here (``from airlock.client import AirlockClient``). It is a leaf: nothing
in it imports the gateway (``gateway``) or the sandbox runner (``runner``), so a host
installs a client that cannot reach into the server's internals (checked by the
import-linter contracts in pyproject.toml).
"""
