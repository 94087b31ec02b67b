"""Demo data for `make run`: none. The ranking is made of sales, and sales come only from the payment
events (or the backfill from the order service): paying the demo orders is what fills it."""

from __future__ import annotations

from ranking_service.settings import RankingSettings


async def load(settings: RankingSettings) -> None:
    print("ranking: no demo data (the ranking fills itself from payments)")
