"""Egress allow-lists: entry parsing and its errors, sandbox addresses, the sandbox's hosts file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gateway.egress.plan import NSSWITCH, hosts_file, sandbox_plan
from gateway.profiles import Profile
from gateway.profiles.allowlist import MAX_ENTRIES, EntryError, parse_entries, parse_entry, parse_network


@pytest.mark.parametrize(
    ("text", "host", "port", "literal", "canonical"),
    [
        ("api.openai.com:443", "api.openai.com", 443, None, "api.openai.com:443"),
        ("API.OpenAI.com:443", "api.openai.com", 443, None, "api.openai.com:443"),
        ("localhost:11434", "localhost", 11434, None, "localhost:11434"),
        ("ollama_box:11434", "ollama_box", 11434, None, "ollama_box:11434"),
        ("127.0.0.1:11434", "127.0.0.1", 11434, "127.0.0.1", "127.0.0.1:11434"),
        ("10.0.0.5:80", "10.0.0.5", 80, "10.0.0.5", "10.0.0.5:80"),
        ("[2001:DB8::1]:8443", "2001:db8::1", 8443, "2001:db8::1", "[2001:db8::1]:8443"),
        ("[::1]:1", "::1", 1, "::1", "[::1]:1"),
    ],
)
def test_entries_parse_to_one_spelling(text: str, host: str, port: int, literal: str | None, canonical: str) -> None:
    entry = parse_entry(text)
    assert (entry.host, entry.port) == (host, port)
    assert entry.literal == (ipaddress.ip_address(literal) if literal else None)
    assert entry.text == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com", "an entry is HOST:PORT"),
        (":443", "an entry is HOST:PORT"),
        ("example.com:", "an entry is HOST:PORT"),
        ("example.com:https", "an entry is HOST:PORT"),
        ("example.com:0", "the port must be 1 to 65535"),
        ("example.com:65536", "the port must be 1 to 65535"),
        ("example.com:-1", "an entry is HOST:PORT"),
        ("exa mple.com:80", "neither an IP address nor a valid host name"),
        ("-bad.com:80", "neither an IP address nor a valid host name"),
        ("a..b:80", "neither an IP address nor a valid host name"),
        ("example.com.:80", "neither an IP address nor a valid host name"),
        ("ex\u00e4mple.com:80", "neither an IP address nor a valid host name"),
        ("10.1:80", "looks like an abbreviated IP address"),
        ("0x7f.1:80", "looks like an abbreviated IP address"),
        ("2001:db8::1:80", "neither an IP address nor a valid host name"),
        ("[2001:db8::1:80", "an IPv6 literal is written in brackets"),
        ("[nonsense]:80", "'nonsense' is not an IPv6 address"),
        ("[::ffff:10.0.0.1]:80", "write the IPv4 address itself"),
        ("0.0.0.0:80", "an unspecified or multicast address"),
        ("[::]:80", "an unspecified or multicast address"),
        ("224.0.0.1:80", "an unspecified or multicast address"),
        ("x" * 300 + ":80", "at most 260 characters"),
    ],
)
def test_malformed_entries_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(EntryError) as info:
        parse_entry(text)
    assert message in str(info.value)


def test_duplicate_and_clashing_entries_are_refused() -> None:
    with pytest.raises(EntryError, match=r"would both listen on 127\.0\.0\.2 port 443"):
        parse_entries(("example.com:443", "EXAMPLE.com:443"))
    with pytest.raises(EntryError, match=r"would both listen on 127\.0\.0\.1 port 80"):
        parse_entries(("localhost:80", "127.0.0.1:80"))
    with pytest.raises(EntryError, match=f"at most {MAX_ENTRIES} entries"):
        parse_entries(tuple(f"host{n}.example:443" for n in range(MAX_ENTRIES + 1)))


@pytest.mark.parametrize(
    ("text", "message"),
    [("10.0.0.1/8", "has host bits set"), ("0.0.0.0/0", "would allow every address"), ("nope", "not a network")],
)
def test_malformed_private_networks_are_refused(text: str, message: str) -> None:
    with pytest.raises(EntryError) as info:
        parse_network(text)
    assert message in str(info.value)


def test_each_name_gets_its_own_loopback_address_and_literals_listen_on_themselves() -> None:
    profile = Profile(
        network="egress",
        egress_allow=("a.example:443", "127.0.0.2:8080", "b.example:443", "a.example:80", "10.0.0.5:11434"),
    )
    plan = sandbox_plan(profile, relay_dir=Path("/srv/relay"))
    assert [(lst["entry"], lst["address"], lst["port"]) for lst in plan["listeners"]] == [
        ("a.example:443", "127.0.0.3", 443),  # 127.0.0.2 is a listed literal: skipped
        ("127.0.0.2:8080", "127.0.0.2", 8080),
        ("b.example:443", "127.0.0.4", 443),
        ("a.example:80", "127.0.0.3", 80),
        ("10.0.0.5:11434", "10.0.0.5", 11434),
    ]
    assert plan["aliases"] == ["10.0.0.5"]  # loopback addresses need no alias
    assert plan["relay_dir"] == "/srv/relay"
    assert plan["relay_socket"] == "/run/airlock/relay.sock"
    assert plan["files"] == {
        "/etc/hosts": "127.0.0.1 localhost\n127.0.0.3 a.example\n127.0.0.4 b.example\n",
        "/etc/nsswitch.conf": NSSWITCH,
    }
    assert NSSWITCH.startswith("hosts: files\n")  # no resolver: unlisted names fail at once


def test_localhost_listens_on_127_0_0_1() -> None:
    profile = Profile(network="egress", egress_allow=("localhost:11434",), egress_allow_private=("127.0.0.1/32",))
    assert hosts_file(profile) == "127.0.0.1 localhost\n"
    assert sandbox_plan(profile, Path("/r"))["listeners"] == [
        {"entry": "localhost:11434", "address": "127.0.0.1", "port": 11434}
    ]


def test_a_profile_built_in_code_is_validated_like_a_file() -> None:
    profile = Profile(name="pip", network="egress", egress_allow=("PyPI.org:443", "files.pythonhosted.org:443"))
    assert profile.egress_allow == ("pypi.org:443", "files.pythonhosted.org:443")
    with pytest.raises(ValueError, match="needs egress_allow"):
        Profile(network="egress")
