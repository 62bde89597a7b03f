"""Airlock's host side: the gRPC gateway, registry, sandbox supervisor and CLI (hosts use airlock.client)."""
