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
)


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGES)
