"""Profiles: validated at load with file- and field-precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ProfileError
from gateway.profiles import load_profiles
from gateway.profiles.loader import load_profile, shipped_profiles_dir


def test_shipped_profiles_load() -> None:
    profiles = load_profiles(shipped_profiles_dir())
    default = profiles.resolve("")
    assert default.name == "default"
    assert default.wall_seconds == 10
    assert default.cpu_seconds == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("wall_secs = 3\n", "wall_secs: Extra inputs are not permitted"),
        ("cpu_seconds = 0\n", "cpu_seconds: Input should be greater than or equal to 1"),
        ('wall_seconds = "ten"\n', "wall_seconds: Input should be a valid number"),
        ("wall_seconds = 100\nsession_seconds = 10\n", "session_seconds must be at least wall_seconds"),
        ('mode = "warm"\n', "mode: Input should be 'fresh'"),
        ('name = "x"\n', "the profile name is the file name"),
        ("wall_seconds = \n", "Invalid value"),
    ],
)
def test_invalid_profiles_name_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_a_default_profile_is_required(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text("")
    with pytest.raises(ProfileError, match=r"no default\.toml"):
        load_profiles(tmp_path)


def test_unknown_profile_names_the_choices(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text("")
    (tmp_path / "strict.toml").write_text("")
    with pytest.raises(ProfileError, match=r"unknown profile 'x'; available: default, strict"):
        load_profiles(tmp_path).resolve("x")
