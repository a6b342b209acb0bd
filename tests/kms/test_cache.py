"""DekCache: size, age and use limits, eviction, stats."""

from __future__ import annotations

import threading

import pytest

from kms import CacheStats, DekCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dek(n: int) -> bytes:
    return bytes([n]) * 32


class TestGet:
    def test_returns_what_was_put(self) -> None:
        cache = DekCache()
        cache.put("a", dek(1))
        assert cache.get("a") == dek(1)

    def test_missing_key_returns_none(self) -> None:
        assert DekCache().get("nope") is None

    def test_entry_older_than_max_age_is_evicted(self) -> None:
        clock = FakeClock()
        cache = DekCache(max_age=10.0, clock=clock)
        cache.put("a", dek(1))
        clock.now += 9.9
        assert cache.get("a") == dek(1)
        clock.now += 0.1
        assert cache.get("a") is None
        assert cache.stats.size == 0
        assert cache.stats.evictions == 1

    def test_entry_is_evicted_after_max_uses(self) -> None:
        cache = DekCache(max_uses=3)
        cache.put("a", dek(1))
        assert [cache.get("a") for _ in range(4)] == [dek(1)] * 3 + [None]
        assert cache.stats.size == 0

    def test_counts_hits_and_misses(self) -> None:
        cache = DekCache()
        cache.put("a", dek(1))
        cache.get("a")
        cache.get("a")
        cache.get("b")
        assert cache.stats == CacheStats(hits=2, misses=1, evictions=0, size=1)


class TestPut:
    def test_least_recently_used_goes_first_over_max_entries(self) -> None:
        cache = DekCache(max_entries=2)
        cache.put("a", dek(1))
        cache.put("b", dek(2))
        cache.get("a")  # "b" is now least recently used
        cache.put("c", dek(3))
        assert cache.get("b") is None
        assert cache.get("a") == dek(1)
        assert cache.get("c") == dek(3)
        assert cache.stats.evictions == 1

    def test_put_replaces_and_resets_limits(self) -> None:
        cache = DekCache(max_uses=1)
        cache.put("a", dek(1))
        cache.get("a")
        cache.put("a", dek(2))
        assert cache.get("a") == dek(2)

    def test_caller_buffer_changes_do_not_leak_in(self) -> None:
        cache = DekCache()
        buf = bytearray(dek(1))
        cache.put("a", buf)
        buf[:] = bytes(32)
        assert cache.get("a") == dek(1)

    def test_limits_must_be_positive(self) -> None:
        with pytest.raises(ValueError):
            DekCache(max_entries=0)


class TestEvict:
    def test_evicts_matching_keys_only(self) -> None:
        cache = DekCache()
        for key in [("s1", "w1"), ("s1", "w2"), ("s2", "w3")]:
            cache.put(key, dek(1))
        assert cache.evict(lambda k: k[0] == "s1") == 2
        assert cache.get(("s1", "w1")) is None
        assert cache.get(("s2", "w3")) == dek(1)

    def test_evicted_key_buffer_is_wiped(self) -> None:
        cache = DekCache()
        cache.put("a", dek(7))
        buffer = cache._entries["a"].dek  # white-box: the cache's own copy
        cache.evict(lambda k: True)
        assert buffer == bytearray(32)

    def test_clear_empties_the_cache(self) -> None:
        cache = DekCache()
        cache.put("a", dek(1))
        cache.clear()
        assert cache.get("a") is None
        assert cache.stats.size == 0


class TestConcurrency:
    def test_parallel_use_keeps_counts_consistent(self) -> None:
        cache = DekCache(max_entries=50)

        def work(n: int) -> None:
            for i in range(500):
                cache.put((n, i % 20), dek(i % 256))
                cache.get((n, (i + 1) % 20))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = cache.stats
        assert stats.hits + stats.misses == 2000
        assert stats.size <= 50


class TestRepr:
    def test_repr_shows_no_key_material(self) -> None:
        cache = DekCache()
        cache.put("a", b"\x41" * 32)
        assert "AAAA" not in repr(cache)
