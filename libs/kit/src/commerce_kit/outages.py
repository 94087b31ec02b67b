"""What an outage of the suite's own infrastructure looks like from inside a request or a handler:
PostgreSQL or Redis unreachable, a connection cut mid-query (pg_terminate_backend, a failover), the
server refusing new connections, a pool or a query timing out. None of these is the caller's
mistake or a bug: an HTTP request answers 503 DEPENDENCY_UNAVAILABLE (a retry may succeed; with an
Idempotency-Key it gets the first attempt's outcome), and a consumer waits the outage out instead
of dead-lettering the message (`Outages.wait_out`, which every reliable consumer of
`commerce_kit.messaging` goes through): an outage is not poison, and parking live messages because
PostgreSQL was away for a few seconds would lose or reorder their effects (the coupon pipeline would
pass users over for later ones)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
import redis.exceptions
from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

T = TypeVar("T")

OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError (refused, reset) and the sockets' own errors
    TimeoutError,  # includes asyncio.TimeoutError: a pool acquire or a query over its budget
    asyncpg.exceptions.PostgresConnectionError,  # class 08, and a connection closed mid-operation
    asyncpg.exceptions.OperatorInterventionError,  # class 57: admin shutdown, terminated, canceled
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    # asyncpg's protocol state after the server dropped a pooled connection under it ("another
    # operation is in progress", seen when every backend is terminated): that connection is
    # discarded, and a retry gets another one.
    asyncpg.exceptions.InternalClientError,
)


def is_outage(exc: BaseException) -> bool:
    """`exc` or what led to it is an outage: a connection cut inside `async with conn.transaction()`
    surfaces as an InterfaceError ("the underlying connection is closed") raised while leaving the
    block, whose context is the real cause."""
    return _outage_in(exc) is not None


def _outage_in(exc: BaseException) -> BaseException | None:
    """The outage `exc` is or comes from (its cause, or the error it was raised while handling,
    unless it was raised `from None`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGES):
            return current
        seen.add(id(current))
        if current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__
    return None


POSTGRES = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)

WAITING = Gauge("dependency_waits_in_progress", "Work waiting for a dependency to come back", ["work"])
RETRIED = Counter(
    "dependency_retries_total",
    "Attempts that found a dependency away (the work was tried again later, not failed)",
    ["work", "dependency"],
)


def dependency_away(exc: BaseException) -> str | None:
    """Which dependency `exc` says is away, for the log and the metric: "redis", "postgres", or
    "network" (a socket error: a refused connection, a timeout); None when it is no outage (a bug,
    bad data: those keep a consumer's bounded retries and its dead-letter topic)."""
    outage = _outage_in(exc)
    if outage is None:
        return None
    if isinstance(outage, redis.exceptions.RedisError):
        return "redis"
    if isinstance(outage, POSTGRES):
        return "postgres"
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
