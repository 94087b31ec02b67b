from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from commerce_kit.settings import ServiceSettings
from ranking_service.domain.calendar import MAX_DAYS


class RankingSettings(ServiceSettings):
    service = "ranking"

    app_zone: str = Field(
        "Asia/Seoul", alias="APP_ZONE", description="The zone of the calendar days the ranking counts"
    )
    cache_ttl_seconds: float = Field(
        5.0,
        alias="RANKING_CACHE_TTL_SECONDS",
        ge=0,
        le=60,
        description="How long an instance serves a popular-products answer before reading again",
    )
    rebuild_days: int = Field(
        MAX_DAYS,
        alias="RANKING_REBUILD_DAYS",
        ge=MAX_DAYS,
        le=3660,
        description="Days the rebuild recomputes (today and the ones before); older counters are dropped",
    )
    daily_rebuild: bool = Field(True, alias="RANKING_DAILY_REBUILD", description="Rebuild at 00:00 APP_ZONE")
    backfill_on_start: bool = Field(
        True,
        alias="RANKING_BACKFILL_ON_START",
        description="Run the rebuild (and its backfill) at start while the backfill is pending",
    )
    backfill_retry_seconds: float = Field(60.0, alias="RANKING_BACKFILL_RETRY_SECONDS", gt=0)
    backfill_page_size: int = Field(500, alias="RANKING_BACKFILL_PAGE_SIZE", ge=1, le=500)

    @field_validator("app_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"APP_ZONE {value!r} is not a known time zone") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.app_zone)
