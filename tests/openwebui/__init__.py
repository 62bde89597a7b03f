"""Tests against a real Open WebUI server (installed in a cached venv, started per session)."""
