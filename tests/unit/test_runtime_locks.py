"""Runtime lock files: what is accepted, what is refused (with file and line), the content address."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ProfileError
from gateway.profiles import load_profiles
from gateway.profiles.loader import RUNTIMES_SUBDIR, shipped_profiles_dir
from gateway.profiles.runtimes import DEFAULT_RUNTIME, RUNNER_NEEDS, load_runtimes, parse_lock

H1 = "a" * 64
H2 = "b" * 64
BASE = f"orjson==3.11.9 --hash=sha256:{H1}\npydantic==2.13.4 --hash=sha256:{H2}\n"


def lock(text: str) -> str:
    return BASE + text


def test_a_lock_with_continuations_and_comments_parses_normalised() -> None:
    spec = parse_lock(
        "rt",
        Path("rt.txt"),
        "# header\n"
        + BASE
        + f"Requests_OAuthlib==2.0 \\\n    --hash=sha256:{H2} \\\n    --hash=sha256:{H1}  # two files\n",
    )
    assert spec.pins["requests-oauthlib"] == "requests-oauthlib==2.0"
    assert f"requests-oauthlib==2.0 --hash=sha256:{H1} --hash=sha256:{H2}" in spec.lines
    assert list(spec.lines) == sorted(spec.lines)


def test_the_content_address_follows_the_packages_not_the_formatting() -> None:
    one = parse_lock("rt", Path("a.txt"), "# one\n" + BASE)
    two = parse_lock(
        "other", Path("b.txt"), f"pydantic==2.13.4   --hash=sha256:{H2}\n\n\norjson==3.11.9 --hash=sha256:{H1}\n"
    )
    three = parse_lock("rt", Path("a.txt"), BASE.replace("3.11.9", "3.11.8"))
    assert one.digest == two.digest
    assert one.digest != three.digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("--index-url https://evil.example/simple\n", "not pip options"),
        (f"requests>=2 --hash=sha256:{H1}\n", "must be exactly 'name==version'"),
        (f"requests==2.0 ; python_version<'3' --hash=sha256:{H1}\n", "must be exactly"),
        (f"requests @ https://x.example/r.whl --hash=sha256:{H1}\n", "must be exactly"),
        ("requests==2.0\n", "needs its files' hashes"),
        ("requests==2.0 --hash=md5:abc\n", "needs its files' hashes"),
        (f"orjson==1.0 --hash=sha256:{H1}\n", "pinned twice"),
        ("requests==2.0 --hash=sha256:abc\n", "needs its files' hashes"),
    ],
)
def test_a_bad_line_is_refused_naming_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_lock("rt", Path("/p/runtimes/rt.txt"), lock(text))
    assert message in str(info.value)
    assert str(info.value).startswith("/p/runtimes/rt.txt:3:")


def test_a_runtime_without_what_the_runner_imports_is_refused() -> None:
    with pytest.raises(ProfileError, match="lacks pydantic, which the sandbox's runner imports"):
        parse_lock("rt", Path("rt.txt"), f"orjson==3.11.9 --hash=sha256:{H1}\n")
    assert RUNNER_NEEDS == ("orjson", "pydantic")


def test_a_profile_naming_a_missing_runtime_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text('description = "x"\nruntime = "nope"\n')
    with pytest.raises(ProfileError) as info:
        load_profiles(tmp_path)
    assert f"{tmp_path / 'default.toml'}:2: runtime: no runtime 'nope'" in str(info.value)
    assert DEFAULT_RUNTIME in str(info.value)


def test_an_operators_runtime_beside_the_profiles_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text('runtime = "mine"\n')
    (tmp_path / RUNTIMES_SUBDIR).mkdir()
    (tmp_path / RUNTIMES_SUBDIR / "mine.txt").write_text(BASE)
    profiles = load_profiles(tmp_path)
    assert [spec.name for spec in profiles.needed_runtimes()] == ["mine"]
    assert DEFAULT_RUNTIME in profiles.runtimes  # the shipped ones stay available


def test_every_shipped_profile_names_a_shipped_runtime() -> None:
    runtimes = load_runtimes(shipped_profiles_dir() / RUNTIMES_SUBDIR)
    assert DEFAULT_RUNTIME in runtimes
    profiles = load_profiles(shipped_profiles_dir())
    assert {p.runtime for p in profiles.values()} <= set(runtimes)
