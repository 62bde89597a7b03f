"""Sandbox profiles: operator-tunable limits, one TOML file per profile."""

from gateway.profiles.loader import ProfileSet, load_profiles
from gateway.profiles.model import Profile

__all__ = ["Profile", "ProfileSet", "load_profiles"]
