"""The compiled-code cache: keyed by function and source digest, bounded, least recently used out."""

from __future__ import annotations

from gateway.sandbox.codecache import CodeCache


def test_entries_are_per_function_and_source() -> None:
    cache = CodeCache(max_bytes=100)
    cache.put("f", "sha-a", "AAAA")
    assert cache.get("f", "sha-a") == "AAAA"
    assert cache.get("f", "sha-b") is None
    assert cache.get("g", "sha-a") is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = CodeCache(max_bytes=10)
    cache.put("a", "1", "xxxx")
    cache.put("b", "1", "yyyy")
    assert cache.get("a", "1") == "xxxx"  # a is now the most recent
    cache.put("c", "1", "zzzz")
    assert cache.get("b", "1") is None
    assert cache.get("a", "1") == "xxxx"
    assert cache.get("c", "1") == "zzzz"
    assert len(cache) == 2


def test_an_entry_larger_than_the_cache_is_not_kept_and_replacing_counts_once() -> None:
    cache = CodeCache(max_bytes=8)
    cache.put("big", "1", "x" * 9)
    assert cache.get("big", "1") is None
    cache.put("a", "1", "xxxx")
    cache.put("a", "1", "yyyyyy")
    cache.put("b", "1", "zz")
    assert cache.get("a", "1") == "yyyyyy"
    assert cache.get("b", "1") == "zz"


def test_discard_forgets_an_entry_and_its_size() -> None:
    cache = CodeCache(max_bytes=8)
    cache.put("a", "1", "xxxxxx")
    cache.discard("a", "1")
    cache.discard("a", "1")
    assert cache.get("a", "1") is None
    cache.put("b", "1", "yyyyyyyy")
    assert cache.get("b", "1") == "yyyyyyyy"
