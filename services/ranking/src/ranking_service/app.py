"""The app: its routes, and the bootstrap that builds what they use when it starts (nothing connects at
import)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from commerce_kit.web import ServiceApp, service_app
from ranking_service.bootstrap import RankingDeps, bootstrap
from ranking_service.entrypoints import http
from ranking_service.settings import RankingSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: RankingSettings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> ServiceApp[RankingDeps]:
    """`clock` says what time it is (tests move it to put each test on calendar days of its own)."""
    configured = settings or RankingSettings()
    return service_app(
        configured,
        title="Ranking service",
        description="Popular products: sales from the payment events, per-day counts, the daily rebuild.",
        bootstrap=lambda: bootstrap(configured, clock),
        routers=[http.router],
    )
