"""A small in-process cache of answers: each kept `ttl` seconds, forgotten at once by `clear()`
(this instance's own writes call it), and loaded once however many requests miss it together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class AnswerCache(Generic[V]):
    def __init__(
        self, ttl: float, *, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self._max, self._clock = ttl, max_entries, clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._loading: dict[Hashable, asyncio.Future[V]] = {}
        self._generation = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        if self.ttl <= 0:
            return await load()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        loading = self._loading.get(key)
        if loading is None:
            # The answer is as old as the moment its load starts: it expires `ttl` after that.
            expires, generation = self._clock() + self.ttl, self._generation
            loading = asyncio.ensure_future(load())
            self._loading[key] = loading
            loading.add_done_callback(lambda done: self._loaded(key, done, expires, generation))
        # Shielded: a caller that goes away does not cancel the load the others are waiting for.
        return await asyncio.shield(loading)

    def clear(self) -> None:
        """Something changed: forget every answer. A load already running may have read the state
        before the change, so it is not kept either, and later callers start a fresh one."""
        self._generation += 1
        self._entries.clear()
        self._loading.clear()

    def _loaded(self, key: Hashable, done: asyncio.Future[V], expires: float, generation: int) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if done.cancelled() or done.exception() is not None or generation != self._generation:
            return
        if len(self._entries) >= self._max:
            now = self._clock()
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= self._max:
                self._entries.clear()
        self._entries[key] = (expires, done.result())
