"""The popular-products answer (SPEC.md section 6, API.md `GET /products/popular`).

It never reads the sales: it sums the per-day counters of the window (at most 30 rows per product)
and keeps each answer in an in-process cache for `RANKING_CACHE_TTL_SECONDS` (5 s), keyed by
(days, limit, today in APP_ZONE) so that an answer never outlives its calendar day.

Freshness: this instance's own writes (its consumers, its rebuilds) clear its cache, so what it
recorded shows at its next read; another instance's writes show within the TTL. From payment to
ranking that is the consumers' lag (well under a second when they keep up) plus at most 5 s,
inside SPEC's "within a minute".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from ranking_service.adapters import repository as repo
from ranking_service.domain.calendar import Window, day_of
from ranking_service.domain.ranking import RankedProduct, rank
from ranking_service.service_layer.cache import AnswerCache


class PopularProducts:
    def __init__(
        self,
        pool: asyncpg.Pool,
        zone: ZoneInfo,
        cache: AnswerCache[tuple[RankedProduct, ...]],
        clock: Callable[[], datetime],
    ) -> None:
        self.pool, self.zone, self.cache, self._clock = pool, zone, cache, clock

    async def top(self, days: int, limit: int) -> tuple[RankedProduct, ...]:
        today = day_of(self._clock(), self.zone)
        window = Window.last_days(days, today)
        return await self.cache.get((days, limit, today), lambda: self._load(window, limit))

    async def _load(self, window: Window, limit: int) -> tuple[RankedProduct, ...]:
        async with self.pool.acquire() as conn:
            totals = await repo.top_products(conn, window, limit)
        return tuple(rank(totals, limit))
