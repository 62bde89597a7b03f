"""Airlock's host side: the gRPC gateway, registry, sandbox supervisor, client and CLI."""
