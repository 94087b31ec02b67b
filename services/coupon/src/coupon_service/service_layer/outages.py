"""Waiting out a dependency's outage (Redis, PostgreSQL) instead of failing the work.

An outage is not poison. A coupon-issue request that could not be settled because Redis or
PostgreSQL was away is as good as any other: dead-lettering it after the kit's bounded retries (5
tries, about 1.5 s) would reject it (UNPROCESSABLE) and pass its user over for later ones, so an
infrastructure outage would break first come, first served. So the consumer's work goes through
`Outages.wait_out`: an error that says a dependency is away makes it run the whole call again, with
capped and jittered backoff, without limit; the partition does not move on and no offset is
committed meanwhile (the call has not returned). What counts as an outage is the kit's definition
(`commerce_kit.outages`, the one HTTP answers 503 for). Any other error is raised at once, to the
kit's bounded retries and its dead-letter topic. The wait ends at once when it is cancelled (the broker
stopping): the batch stays unacknowledged, and whoever takes the partition reads it again.

The work must be idempotent (the settlement is, per reservation): an outage can strike between any
two of its steps.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
from prometheus_client import Counter, Gauge
from redis import exceptions as redis_errors

from commerce_kit.outages import OUTAGES, is_outage

log = logging.getLogger(__name__)

T = TypeVar("T")

POSTGRES = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)

WAITING = Gauge("coupon_dependency_waits_in_progress", "Work waiting for a dependency to come back", ["work"])
RETRIED = Counter(
    "coupon_dependency_retries_total",
    "Attempts that found a dependency away (the work was tried again later, not failed)",
    ["work", "dependency"],
)


def dependency_away(exc: BaseException) -> str | None:
    """Which dependency `exc` says is away: "redis", "postgres", or "network" (a socket error, such
    as a refused connection or a timeout); None for any other error (a bug, bad data: those keep
    the bounded retries). What an outage is, is the kit's call (`commerce_kit.outages`, the errors
    behind the error raised too); this only names it, for the log and the metric."""
    if not is_outage(exc):
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGES):
            if isinstance(current, redis_errors.RedisError):
                return "redis"
            if isinstance(current, POSTGRES):
                return "postgres"
            return "network"
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "network"


@dataclass
class Outages:
    """How one kind of work (`work`, a metric label) waits out outages: the first pause
    `first_delay`, doubling up to `max_delay` (each jittered down to half, so that instances do not
    retry in step); a log line at most every `log_every` seconds while it waits."""

    work: str
    first_delay: float = 0.1
    max_delay: float = 2.0
    log_every: float = 10.0
    _logged: float = field(default=float("-inf"), repr=False)

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.first_delay * 2 ** min(attempt - 1, 30))
        return base * (0.5 + random.random() / 2)

    async def wait_out(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`'s result, however many times it has to be tried again while a dependency is away;
        any other error is raised at once."""
        attempt, since = 0, 0.0
        try:
            while True:
                try:
                    result = await call()
                except Exception as exc:
                    dependency = dependency_away(exc)
                    if dependency is None:
                        raise
                    attempt += 1
                    if attempt == 1:
                        since = time.monotonic()
                        WAITING.labels(self.work).inc()
                    RETRIED.labels(self.work, dependency).inc()
                    self._say(
                        "%s: %s is away (%s: %s); waiting it out, attempt %d, %.1f s so far",
                        self.work,
                        dependency,
                        type(exc).__name__,
                        exc,
                        attempt,
                        time.monotonic() - since,
                        first=attempt == 1,
                    )
                    await asyncio.sleep(self.delay(attempt))
                    continue
                if attempt:
                    log.warning(
                        "%s: done after waiting %.1f s (%d attempts) for a dependency",
                        self.work,
                        time.monotonic() - since,
                        attempt + 1,
                    )
                return result
        finally:
            if attempt:
                WAITING.labels(self.work).dec()

    async def skip_if_away(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """For periodic work that the next pass does anyway: one try; when a dependency is away, a
        short log line (not a stack trace every pass) and None. Any other error is raised."""
        try:
            return await call()
        except Exception as exc:
            dependency = dependency_away(exc)
            if dependency is None:
                raise
            RETRIED.labels(self.work, dependency).inc()
            self._say(
                "%s: %s is away (%s: %s); skipped until the next pass",
                self.work,
                dependency,
                type(exc).__name__,
                exc,
            )
            return None

    def _say(self, message: str, *args: object, first: bool = False) -> None:
        now = time.monotonic()
        if first or now - self._logged >= self.log_every:
            self._logged = now
            log.warning(message, *args)
