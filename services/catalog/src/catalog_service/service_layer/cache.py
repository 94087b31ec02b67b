"""The in-process read cache of the public pages (the product list and the product details), so
that a sale day's flood of reads costs the database a few queries a second.

The bound, CATALOG_CACHE_SECONDS (default 1 s): a page is kept for that long counted from the
moment its query *started*, so whatever a reader is shown was read from the database less than
CATALOG_CACHE_SECONDS before the reader asked (a reader that joins a query already running gets
an even fresher answer). After an option's stock changes, no reader of any instance is shown the
old stock once CATALOG_CACHE_SECONDS have passed.

On top of the bound, this instance drops a page as soon as its own writes change it (the use cases
call `invalidate` after their transaction commits). A query that was already running when a write
committed may have read the state before it: its answer goes to the readers waiting for it but is
not kept, and readers that come after the write start a fresh query.

Concurrent misses of one page share a single query (no stampede when a hot page expires). The
number of pages kept is bounded (least recently used go first), since cursors are client input.
The internal API (option lookups, stock takes) never reads through this cache.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Counter

T = TypeVar("T")

LOOKUPS = Counter("catalog_cache_lookups_total", "Reads of the public pages' cache", ["page", "result"])


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    expires_at: float


class ReadCache:
    def __init__(
        self, ttl_seconds: float, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl_seconds, max_entries, clock
        self._entries: OrderedDict[tuple[Hashable, ...], _Entry] = OrderedDict()
        self._loading: dict[tuple[Hashable, ...], asyncio.Future[Any]] = {}
        # Bumped by every invalidation: a query that began before it is answered but not kept.
        self._epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: tuple[Hashable, ...], load: Callable[[], Awaitable[T]]) -> T:
        """The page under `key`, from the cache when it is fresh, else from `load()`."""
        page = str(key[0])
        if self.ttl <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > self.clock():
            self._entries.move_to_end(key)
            LOOKUPS.labels(page, "hit").inc()
            return entry.value
        flight = self._loading.get(key)
        if flight is None:
            LOOKUPS.labels(page, "miss").inc()
            flight = self._loading[key] = asyncio.ensure_future(self._load(key, load))
        else:
            LOOKUPS.labels(page, "joined").inc()
        # Shielded: a reader that goes away does not cancel the query the others wait for.
        return await asyncio.shield(flight)

    async def _load(self, key: tuple[Hashable, ...], load: Callable[[], Awaitable[T]]) -> T:
        epoch, started = self._epoch, self.clock()
        me = asyncio.current_task()  # the future readers of this key wait on
        try:
            value = await load()
        finally:
            if self._loading.get(key) is me:
                del self._loading[key]
        if epoch == self._epoch:
            self._entries[key] = _Entry(value, started + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def invalidate(self, stale: Callable[[tuple[Hashable, ...]], bool]) -> None:
        """Drop the pages for which `stale(key)` is true, and keep no answer of a query running now."""
        self._epoch += 1
        for key in [k for k in self._entries if stale(k)]:
            del self._entries[key]
        for key in [k for k in self._loading if stale(k)]:
            del self._loading[key]
