"""Calendar days in `APP_ZONE` (SPEC.md: popular products count calendar days in that zone).

A sale belongs to the calendar date of its `paid_at` instant in the zone; "the last `days` days"
are today (in the zone) and the `days - 1` days before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: `days` of GET /products/popular (API.md): 1 to 30, default 3 (today and the two days before).
MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 30, 3


def day_of(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar date of a UTC instant in `zone`."""
    if instant.tzinfo is None:
        raise ValueError("an instant must carry its offset")
    return instant.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of `day` in `zone`, as UTC instants: exactly the instants whose `day_of` is `day`
    (the SQL of the rebuild filters `paid_at` with these, so both paths agree on every edge)."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


@dataclass(frozen=True)
class Window:
    """Calendar days `first` .. `last`, both included."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int, today: date) -> Window:
        if not MIN_DAYS <= days <= MAX_DAYS:
            raise ValueError(f"days must be between {MIN_DAYS} and {MAX_DAYS}")
        return cls(today - timedelta(days=days - 1), today)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def seconds_until_next_midnight(now: datetime, zone: ZoneInfo) -> float:
    """How long from `now` until the next 00:00 in `zone` (the seed's daily job)."""
    tomorrow = day_of(now, zone) + timedelta(days=1)
    return (day_bounds(tomorrow, zone)[0] - now).total_seconds()
