"""The transactional outbox and its relay (no kept library fits asyncpg without an ORM:
faststream-outbox needs SQLAlchemy, so this is written once, here, and used by every service).

Writing: `add(conn, topic, event)` inserts the event in the same transaction as the state change it
describes, so an event is published if and only if the change committed.

Relaying: `OutboxRelay` publishes pending rows to Kafka, at least once and in order per key:
- rows are spread over `BUCKETS` buckets by a hash of their key; a relay publishes a bucket only while
  it holds that bucket's lease, a row of `outbox_leases` claimed with `FOR UPDATE SKIP LOCKED` and
  renewed every third of `lease_seconds`. One live relay per bucket, so per-key order holds with N
  instances; a dead relay's leases lapse after `lease_seconds` and another relay takes its buckets
  over. Live relays share the buckets (each takes at most its fair share).
- one query reads the next rows of every bucket the relay holds (a bucket in backoff aside): a wake-up
  costs a query, not one per bucket;
- a batch starts only with at least `publish_timeout` of lease left and the publish is bounded by
  that timeout, so a relay never publishes on a lease that has lapsed;
- within a bucket rows go out in id order. For one aggregate, ids follow commit order because the
  writer inserts the outbox row while holding the aggregate's row lock;
- a row is deleted only once Kafka acknowledged it (acks=all, idempotent producer); on failure the
  bucket stops at the failed row and retries with backoff, so nothing overtakes it. Broker outages
  are retried for as long as they last; a row that fails for its own reasons (too large, ...)
  `max_attempts` times moves to `outbox_dead` and the bucket moves on;
- NOTIFY (a trigger on insert) wakes the relay, which then gathers for `gather_seconds` (25 ms)
  before it reads: under a steady flow a cycle publishes the rows of many transactions instead of
  one or two (a cycle costs a read, a produce request and its acknowledgement, a delete, whatever
  its size); polling every second is the fallback. A relay that published a
  full batch reads again at once.

The tables are in each service's schema that declares `KitTables.OUTBOX` (commerce_kit.db): the kit's
own migrations make them (`commerce_kit/migrations/outbox/`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from aiokafka.errors import KafkaError, KafkaTimeoutError

from commerce_contracts import Event, Topic
from commerce_kit import messaging, metrics, telemetry
from commerce_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

BUCKETS = 16  # the rows of outbox_leases


def bucket_of(key: str) -> int:
    return zlib.crc32(key.encode()) % BUCKETS


async def add(conn: asyncpg.Connection, topic: Topic, event: Event) -> None:
    """Record `event` for publication, in the caller's transaction."""
    headers = {k: v.decode() for k, v in telemetry.inject_headers()}
    await conn.execute(
        "INSERT INTO outbox (topic, key, bucket, event_id, event_type, payload, headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        topic.name,
        event.key,
        bucket_of(event.key),
        event.event_id,
        event.type_name(),
        orjson.loads(event.model_dump_json()),
        headers,
    )


async def add_many(conn: asyncpg.Connection, topic: Topic, events: list[Event]) -> None:
    if not events:
        return
    headers = {k: v.decode() for k, v in telemetry.inject_headers()}
    await conn.executemany(
        "INSERT INTO outbox (topic, key, bucket, event_id, event_type, payload, headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                topic.name,
                e.key,
                bucket_of(e.key),
                e.event_id,
                e.type_name(),
                orjson.loads(e.model_dump_json()),
                headers,
            )
            for e in events
        ],
    )


def _is_outage(exc: BaseException) -> bool:
    """Failures of the broker, the network or the producer, as opposed to failures of one message.
    OutOfOrderSequenceNumber and its kind are not retriable for aiokafka, yet they are the producer's
    state after an outage, never the row's fault: messaging.RenewingProducer renews the producer and
    the row goes out on a later attempt, so they must not count towards `max_attempts`."""
    return (
        isinstance(exc, TimeoutError | KafkaTimeoutError)
        or (isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False)))
        or messaging.is_producer_failure(exc)
    )


@dataclass
class _Row:
    id: int
    bucket: int
    topic: str
    key: str
    payload: Any
    headers: dict[str, str]
    attempts: int


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: messaging.RenewingProducer,
        settings: ServiceSettings,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        gather_seconds: float = 0.025,
        lease_seconds: float = 10.0,
        publish_timeout: float = 4.0,
        max_attempts: int = 10,
    ) -> None:
        assert publish_timeout < lease_seconds / 2, "a batch must finish well within its lease"
        self.pool, self.producer, self.settings = pool, producer, settings
        self.batch_size, self.poll_seconds, self.gather_seconds = batch_size, poll_seconds, gather_seconds
        self.lease_seconds, self.publish_timeout, self.max_attempts = (
            lease_seconds,
            publish_timeout,
            max_attempts,
        )
        self.owner = f"{settings.service}-{uuid.uuid4().hex[:12]}"
        self.channel = f"{settings.db_schema}_outbox"
        self._wake = asyncio.Event()
        self._backoff_until: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._owned: set[int] = set()
        self._renew_at = 0.0  # loop time

    async def run(self) -> None:
        """Relay until cancelled."""
        listener = await self.pool.acquire()
        try:
            await listener.add_listener(self.channel, self._on_notify)
            while True:
                if not await self.cycle():  # caught up: wait for more
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                    # arrives as the awaited task finishes, and the relay would never stop.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_seconds):
                            await self._wake.wait()
                            await asyncio.sleep(self.gather_seconds)  # let more rows come
                    self._wake.clear()
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(self.channel, self._on_notify)
            await self.pool.release(listener)
            await self.release_leases()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def cycle(self) -> bool:
        """Renew the leases when due, then publish one batch from the owned buckets. True when it
        left rows behind (a full batch, or a failure): the next cycle may start at once."""
        now = asyncio.get_running_loop().time()
        if now >= self._renew_at:
            self._owned = await self._renew_leases()
            # Well before they lapse: a batch needs `publish_timeout` of lease left to start.
            self._renew_at = now + self.lease_seconds / 3
        ready = [b for b in sorted(self._owned) if self._backoff_until.get(b, 0) <= now]
        return await self._publish(ready) if ready else False

    async def _renew_leases(self) -> set[int]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO outbox_relays (owner, alive_until) VALUES ($1, now() + make_interval(secs => $2))
                ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until
                """,
                self.owner,
                self.lease_seconds,
            )
            live = await conn.fetchval("SELECT count(*) FROM outbox_relays WHERE alive_until > now()")
            share = math.ceil(BUCKETS / max(1, live))
            rows = await conn.fetch(
                """
                SELECT bucket, owner = $1 AS mine FROM outbox_leases
                WHERE owner = $1 OR owner IS NULL OR lease_until < now()
                ORDER BY (owner = $1) DESC NULLS LAST, bucket
                FOR UPDATE SKIP LOCKED
                """,
                self.owner,
            )
            keep = [r["bucket"] for r in rows][:share]
            drop = [r["bucket"] for r in rows[share:] if r["mine"]]
            await conn.execute(
                "UPDATE outbox_leases SET owner = $1, lease_until = now() + make_interval(secs => $2)"
                " WHERE bucket = ANY($3::smallint[])",
                self.owner,
                self.lease_seconds,
                keep,
            )
            if drop:  # more than our share: let a newer relay have them
                await conn.execute(
                    "UPDATE outbox_leases SET owner = NULL, lease_until = NULL"
                    " WHERE bucket = ANY($1::smallint[])",
                    drop,
                )
        return set(keep)

    async def release_leases(self) -> None:
        with contextlib.suppress(Exception):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE outbox_leases SET owner = NULL, lease_until = NULL WHERE owner = $1", self.owner
                )
                await conn.execute(
                    "DELETE FROM outbox_relays WHERE owner = $1 OR alive_until < now() - interval '1 hour'",
                    self.owner,
                )

    async def _publish(self, buckets: list[int]) -> bool:
        """The next rows of these buckets, in id order (so in order within each bucket), each read
        only while its lease has `publish_timeout` left; published, then deleted once acknowledged.
        On a failure the failed row's bucket backs off; rows after it are read again next time.
        True when rows were left behind (as `cycle`)."""
        async with self.pool.acquire() as conn:
            rows = [
                _Row(r["id"], r["bucket"], r["topic"], r["key"], r["payload"], r["headers"], r["attempts"])
                for r in await conn.fetch(
                    """
                    SELECT o.id, o.bucket, o.topic, o.key, o.payload, o.headers, o.attempts
                    FROM outbox o JOIN outbox_leases l ON l.bucket = o.bucket
                    WHERE o.bucket = ANY($1::smallint[]) AND l.owner = $2
                      AND l.lease_until > now() + make_interval(secs => $4)
                    ORDER BY o.id LIMIT $3
                    """,
                    buckets,
                    self.owner,
                    self.batch_size,
                    self.publish_timeout,
                )
            ]
        if not rows:
            return False
        sent, error = await self._send(rows)
        if sent:
            await self.pool.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r.id for r in rows[:sent]]
            )
            metrics.OUTBOX_PUBLISHED.labels(self.settings.service).inc(sent)
        for bucket in {r.bucket for r in rows[:sent]}:  # they moved on: their backoff starts over
            self._failures.pop(bucket, None)
        if error is not None:
            await self._failed(rows[sent], error)
        return len(rows) == self.batch_size or error is not None

    async def _send(self, rows: list[_Row]) -> tuple[int, BaseException | None]:
        """Publish in order; returns how many leading rows Kafka acknowledged, and the first error.
        The whole batch, including waiting for metadata when the broker is away, is bounded."""
        futures: list[asyncio.Future[Any]] = []

        async def send_all() -> list[Any]:
            for row in rows:
                futures.append(
                    await self.producer.send(
                        self.settings.topic(row.topic),
                        orjson.dumps(row.payload),
                        row.key.encode(),
                        headers=[(k, v.encode()) for k, v in row.headers.items()] or None,
                    )
                )
            return await asyncio.gather(*futures, return_exceptions=True)

        try:
            async with asyncio.timeout(self.publish_timeout):
                results = await send_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            for future in futures:
                future.cancel()
            return 0, exc
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                return index, result
        return len(rows), None

    async def _failed(self, row: _Row, error: BaseException) -> None:
        bucket = row.bucket
        metrics.OUTBOX_FAILURES.labels(self.settings.service).inc()
        failures = self._failures[bucket] = self._failures.get(bucket, 0) + 1
        delay = min(30.0, 0.1 * 2 ** min(failures, 9))
        self._backoff_until[bucket] = asyncio.get_running_loop().time() + delay
        if _is_outage(error):
            log.warning("outbox: Kafka unavailable (%r); bucket %d retries in %.1fs", error, bucket, delay)
            return
        async with self.pool.acquire() as conn, conn.transaction():
            attempts = await conn.fetchval(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1 RETURNING attempts",
                row.id,
                repr(error)[:1000],
            )
            if attempts is not None and attempts >= self.max_attempts:
                await conn.execute(
                    "WITH dead AS (DELETE FROM outbox WHERE id = $1 RETURNING *)"
                    " INSERT INTO outbox_dead SELECT *, now() FROM dead",
                    row.id,
                )
                metrics.OUTBOX_DEAD.labels(self.settings.service).inc()
                log.error("outbox: row %d given up after %d attempts: %r", row.id, attempts, error)
                self._backoff_until.pop(bucket, None)

    async def report(self) -> None:
        """Refresh the outbox gauges (pending rows, age of the oldest)."""
        row = await self.pool.fetchrow(
            "SELECT count(*) AS pending,"
            " coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM outbox"
        )
        metrics.OUTBOX_PENDING.labels(self.settings.service).set(row["pending"])
        metrics.OUTBOX_OLDEST_SECONDS.labels(self.settings.service).set(float(row["age"]))
