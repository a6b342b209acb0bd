"""Bounded in-process cache of unwrapped data-encryption keys (DEKs).

Modelled on the AWS Encryption SDK's caching materials manager: an entry is
dropped when it is older than ``max_age`` seconds, after it has been handed
out ``max_uses`` times, or when it is the least recently used entry and the
cache is over ``max_entries``. The limits bound how long and how widely a
plaintext DEK lives in memory, and how quickly a crypto-shredded subject stops
being readable on other replicas (at most ``max_age``).

Keys are kept in ``bytearray`` buffers that are overwritten with zeros when
evicted. That is best effort only: callers receive ``bytes`` copies, which
Python cannot wipe. Nothing here logs keys or cache keys.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["CacheStats", "DekCache"]


@dataclass
class CacheStats:
    """A snapshot of cache counters.

    ``evictions`` counts entries removed for any reason (age, uses, size,
    :meth:`DekCache.evict`, :meth:`DekCache.clear`) except being replaced by
    a newer :meth:`DekCache.put` for the same key.
    """

    hits: int
    misses: int
    evictions: int
    size: int


class _Entry:
    __slots__ = ("created", "dek", "uses")

    def __init__(self, dek: bytes, created: float) -> None:
        self.dek = bytearray(dek)
        self.created = created
        self.uses = 0

    def wipe(self) -> None:
        self.dek[:] = bytes(len(self.dek))


class DekCache:
    """Thread-safe LRU cache of plaintext DEKs with age and use limits.

    Args:
        max_entries: most entries held; the least recently used goes first.
        max_age: seconds an entry may live after :meth:`put`.
        max_uses: times :meth:`get` may return one entry before it is evicted.
        clock: monotonic time source, injectable for tests.

    Raises:
        ValueError: a limit is not positive.
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_age: float = 300.0,
        max_uses: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_uses < 1 or max_age <= 0:
            raise ValueError("cache limits must be positive")
        self._max_entries = max_entries
        self._max_age = max_age
        self._max_uses = max_uses
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def __repr__(self) -> str:
        s = self.stats
        return f"DekCache(size={s.size}, hits={s.hits}, misses={s.misses})"

    def get(self, key: Hashable) -> bytes | None:
        """Return the DEK for ``key`` and count one use of it.

        Args:
            key: the cache key the DEK was stored under.

        Returns:
            The DEK, or ``None`` when absent or when the entry has expired by
            age or uses (an expired entry is evicted).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            expired = self._clock() - entry.created >= self._max_age or entry.uses >= self._max_uses
            if expired:
                self._drop(key)
                self._misses += 1
                return None
            entry.uses += 1
            self._entries.move_to_end(key)
            self._hits += 1
            return bytes(entry.dek)

    def put(self, key: Hashable, dek: bytes) -> None:
        """Store ``dek`` under ``key``, replacing any previous entry.

        Args:
            key: hashable cache key (must not contain secrets; it may be kept
                in memory dumps like any other object).
            dek: the plaintext key bytes; copied into the cache.
        """
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                old.wipe()
            self._entries[key] = _Entry(dek, self._clock())
            while len(self._entries) > self._max_entries:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def evict(self, predicate: Callable[[Hashable], bool]) -> int:
        """Evict every entry whose key matches ``predicate``.

        Args:
            predicate: called with each cache key.

        Returns:
            The number of entries evicted.
        """
        with self._lock:
            doomed = [k for k in self._entries if predicate(k)]
            for k in doomed:
                self._drop(k)
            return len(doomed)

    def clear(self) -> None:
        """Evict and wipe every entry."""
        with self._lock:
            for k in list(self._entries):
                self._drop(k)

    @property
    def stats(self) -> CacheStats:
        """Current counters (a copy; later activity does not change it)."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                size=len(self._entries),
            )

    def _drop(self, key: Hashable) -> None:
        # Caller holds the lock.
        self._entries.pop(key).wipe()
        self._evictions += 1
