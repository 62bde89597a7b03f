"""Profiles: validated at load with file- and field-precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ProfileError
from gateway.profiles import Profile, load_profiles
from gateway.profiles.loader import load_profile, shipped_profiles_dir
from gateway.sandbox.probe import HostSupport, refusals


def test_shipped_profiles_load() -> None:
    profiles = load_profiles(shipped_profiles_dir())
    assert sorted(profiles) == ["default", "networked", "relaxed", "strict"]
    default = profiles.resolve("")
    assert default.name == "default"
    assert (default.wall_seconds, default.cpu_seconds, default.memory_mib, default.pids) == (10, 5, 256, 64)
    assert (default.tmp_size_mib, default.network, default.seccomp) == (32, "none", "deny-list")
    assert set(default.namespaces) == {"user", "mount", "pid", "net", "ipc", "uts", "cgroup"}
    strict = profiles.resolve("strict")
    assert strict.seccomp == "allow-list"
    assert strict.memory_mib < default.memory_mib
    assert strict.cpu_seconds < default.cpu_seconds
    assert profiles.resolve("relaxed").landlock == "best-effort"
    networked = profiles.resolve("networked")
    assert networked.network == "egress"
    assert networked.egress_allow == ("127.0.0.1:11434", "api.openai.com:443")
    assert "net" in networked.namespaces


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("wall_secs = 3\n", ":1: wall_secs: Extra inputs are not permitted"),
        ("# c\n\ncpu_seconds = 0\n", ":3: cpu_seconds: Input should be greater than or equal to 1"),
        ('namespaces = ["user", "net"]\n', "the user, mount, pid and ipc namespaces are required (missing: ipc, mount"),
        ('namespaces = ["user", "mount", "pid", "ipc"]\n', 'network = "none" needs the net namespace'),
        ('readonly_paths = ["/."]\n', "read-only paths must be absolute, normalised"),
        ('readonly_paths = ["//etc"]\n', "read-only paths must be absolute, normalised"),
        ('readonly_paths = ["etc"]\n', "read-only paths must be absolute"),
        ('readonly_paths = ["/proc/1"]\n', "read-only paths cannot be below /proc, /dev or /sys"),
        ('seccomp_extra_denied = ["not_a_syscall"]\n', "unknown syscall 'not_a_syscall'"),
        ('network = "wide"\n', "network: Input should be 'none' or 'egress'"),
        ('network = "egress"\n', 'network = "egress" needs egress_allow'),
        ('egress_allow = ["example.com:443"]\n', 'egress_allow and egress_allow_private need network = "egress"'),
        ('network = "egress"\negress_allow = ["example.com"]\n', "'example.com': an entry is HOST:PORT"),
        ('network = "egress"\negress_allow = ["example.com:0"]\n', "the port must be 1 to 65535"),
        ('network = "egress"\negress_allow = ["x:1"]\negress_allow_private = ["10.0.0.1/8"]\n', "has host bits set"),
        (
            'network = "egress"\negress_allow = ["x:1"]\nreadonly_paths = ["/etc"]\n',
            "read-only path '/etc' would hide the sandbox's /etc/hosts",
        ),
        (
            'network = "egress"\negress_allow = ["x:1"]\nnamespaces = ["user", "mount", "pid", "ipc"]\n',
            'network = "egress" needs the net namespace',
        ),
        ("cpu_seconds = 0\n", "cpu_seconds: Input should be greater than or equal to 1"),
        ('wall_seconds = "ten"\n', "wall_seconds: Input should be a valid number"),
        ("wall_seconds = 100\nsession_seconds = 10\n", "session_seconds must be at least wall_seconds"),
        ('mode = "turbo"\n', "mode: Input should be 'warm' or 'fresh'"),
        ("warm_pool_size = -1\n", "warm_pool_size: Input should be greater than or equal to 0"),
        ("zygote_max_forks = 0\n", "zygote_max_forks: Input should be greater than or equal to 1"),
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


def test_refused_profiles_say_why(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text("")
    (tmp_path / "lax.toml").write_text('landlock = "best-effort"\n')
    profiles = load_profiles(tmp_path)
    host = HostSupport(user_namespaces=None, landlock_abi=0, seccomp=None, cgroups=None, cgroup_layout="v1")
    assert refusals(profiles["default"], host) == ["Landlock is required by the profile and the kernel has none"]
    assert refusals(profiles["lax"], host) == []
    restricted = profiles.without({"default": refusals(profiles["default"], host)})
    with pytest.raises(ProfileError, match="profile 'default' cannot run on this host: Landlock is required"):
        restricted.resolve("")
    assert restricted.resolve("lax").name == "lax"
    bare = HostSupport(user_namespaces="EPERM", landlock_abi=7, seccomp="no", cgroups="none", cgroup_layout="")
    assert len(refusals(profiles["lax"], bare)) == 3


def test_egress_profiles_are_refused_where_the_sandbox_loopback_cannot_be_built() -> None:
    networked = load_profiles(shipped_profiles_dir())["networked"]
    host = HostSupport(None, 7, None, None, "v1", egress="unshare: [Errno 1] Operation not permitted")
    assert refusals(networked, host) == ["network egress is unavailable: unshare: [Errno 1] Operation not permitted"]
    assert refusals(load_profiles(shipped_profiles_dir())["default"], host) == []
    assert "network egress:  missing (unshare: [Errno 1] Operation not permitted)" in host.lines()


def test_every_field_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "PROFILES.md").read_text()
    for name in Profile.model_fields:
        if name != "name":
            assert f"| `{name}` |" in docs, f"docs/PROFILES.md does not document {name}"
