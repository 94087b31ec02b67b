"""What an outage of the suite's own infrastructure looks like from inside a request or a handler:
PostgreSQL or Redis unreachable, a connection cut mid-query (pg_terminate_backend, a failover), the
server refusing new connections, a pool or a query timing out. None of these is the caller's
mistake or a bug: an HTTP request answers 503 DEPENDENCY_UNAVAILABLE (a retry may succeed; with an
Idempotency-Key it gets the first attempt's outcome), and a consumer waits the outage out instead
of dead-lettering the message."""

from __future__ import annotations

import asyncpg
import redis.exceptions

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
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGES):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
