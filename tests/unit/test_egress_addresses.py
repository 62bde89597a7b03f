"""Egress address classification: what a resolved address is, and whether the relay may use it."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.egress.addresses import embedded_ipv4, refusal, special_kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to classify, not to bind
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation range (TEST-NET-1)
        ("::ffff:127.0.0.1", "ipv4_embedded_loopback"),
        ("::ffff:169.254.169.254", "ipv4_embedded_link_local"),
        ("64:ff9b::a9fe:a9fe", "ipv4_embedded_link_local"),  # NAT64 of the metadata address
        ("2002:0a00:0001::1", "ipv4_embedded_private"),  # 6to4 of 10.0.0.1
        ("::10.0.0.1", "ipv4_embedded_private"),  # deprecated IPv4-compatible form
        ("::ffff:93.184.215.14", None),
    ],
)
def test_special_addresses_are_named(address: str, kind: str | None) -> None:
    assert special_kind(ipaddress.ip_address(address)) == kind


def test_embedded_ipv4_only_where_an_ipv6_address_embeds_one() -> None:
    assert embedded_ipv4(ipaddress.ip_address("10.0.0.1")) is None
    assert embedded_ipv4(ipaddress.ip_address("2606:4700::1111")) is None
    assert embedded_ipv4(ipaddress.ip_address("::ffff:10.0.0.1")) == ipaddress.IPv4Address("10.0.0.1")


def test_a_listed_literal_or_network_grants_a_special_address() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    lan = ipaddress.ip_address("10.0.0.5")
    networks = [ipaddress.ip_network("10.0.0.0/24")]
    assert refusal(loopback, literal=None, allowed=()) == "loopback"
    assert refusal(loopback, literal=loopback, allowed=()) is None
    assert refusal(loopback, literal=ipaddress.ip_address("127.0.0.2"), allowed=()) == "loopback"
    assert refusal(lan, literal=None, allowed=networks) is None
    assert refusal(ipaddress.ip_address("10.0.1.5"), literal=None, allowed=networks) == "private"
    assert refusal(ipaddress.ip_address("fd00::5"), literal=None, allowed=networks) == "private"
    assert refusal(ipaddress.ip_address("8.8.8.8"), literal=None, allowed=()) is None


def test_unspecified_and_multicast_are_never_granted() -> None:
    everything = [ipaddress.ip_network("0.0.0.0/1"), ipaddress.ip_network("128.0.0.0/1")]
    unspecified = ipaddress.ip_address("0.0.0.0")  # noqa: S104 - an address to classify, not to bind
    assert refusal(unspecified, literal=None, allowed=everything) == "unspecified"
    assert refusal(ipaddress.ip_address("224.0.0.1"), literal=None, allowed=everything) == "multicast"
