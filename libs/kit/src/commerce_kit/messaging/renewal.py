"""The producer every publish of the suite goes through: aiokafka's idempotent producer, replaced
when a failed send has left it unable to send again (https://github.com/aio-libs/aiokafka/issues/1017).

The bug: aiokafka's idempotent producer numbers each partition's batches as they leave its queue
and never renumbers them, so a batch that fails once numbered leaves a gap the broker never
forgives: it refuses every later batch to the partition with OutOfOrderSequenceNumber, for the life
of the producer. A Kafka outage does that: while the broker is away (stopped cleanly, it announced
its partitions leaderless first) the producer's metadata has no leader for them, and aiokafka numbers
each batch older than `request_timeout_ms` and then fails it with LeaderNotAvailableError (the expiry
its sender spares idempotent producers elsewhere). A batch the broker refuses leaves the same gap.
Java's producer bumps its epoch and renumbers (KIP-360); aiokafka does not, so the remedy is a new
producer: a new producer id, every partition from 0.

So: once a send fails after it was queued (with idempotence every such failure leaves a gap) or fails
with an error about the producer's state, the next send first replaces the producer, once (the first
caller in line, under a lock; while Kafka is still away, at most one attempt every `renew_every`
seconds, the others failing at once). Failed sends still fail for their callers, who treat the
message as not sent (the coupon route answers 503, the outbox relay retries the row); the old
producer is stopped in the background, so what it still holds is delivered or fails, and each caller
learns which. Nothing is reported sent that Kafka did not acknowledge (acks=all).

One way to publish: every publish (the outbox relay, dead-lettering, `messaging.publish`, the coupon
route's FastPublisher) goes through a RenewingProducer, and FastStream's broker only consumes
(`consumer_only=True`). FastStream builds its own aiokafka producer inside `KafkaBroker.connect` and
offers no public way to supply another, so the workaround cannot sit under its publisher without
reaching into its private state; and nothing the suite publishes needs what FastStream's publisher
adds (request/reply, publisher middlewares): the events are encoded by `commerce_contracts` and the
trace context is put in the headers by `telemetry.inject_headers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaConnectionError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

log = logging.getLogger(__name__)

_PRODUCER_STATE_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerIdMapping,
    InvalidProducerEpoch,
    ProducerFenced,
)

Headers = list[tuple[str, bytes]]


def is_producer_failure(exc: BaseException) -> bool:
    """A failure of the producer (its state, or it being replaced), not of the message sent: sending
    the same message again, later, succeeds."""
    return isinstance(exc, (*_PRODUCER_STATE_ERRORS, ProducerClosed))


class RenewingProducer:
    """An idempotent aiokafka producer that replaces itself when a failed send poisoned it (above).
    It has the part of AIOKafkaProducer's interface the suite uses; `make` builds each producer."""

    def __init__(
        self,
        make: Callable[[], AIOKafkaProducer],
        *,
        start_timeout: float = 10.0,
        renew_every: float = 1.0,
    ) -> None:
        self._make, self._start_timeout, self._renew_every = make, start_timeout, renew_every
        self._producer: AIOKafkaProducer | None = None  # made by start(): nothing connects before
        self._poisoned: BaseException | None = None
        self._lock = asyncio.Lock()
        self._next_renewal = 0.0
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def producer(self) -> AIOKafkaProducer:
        """The aiokafka producer sends go to now."""
        if self._producer is None:
            raise ProducerClosed()
        return self._producer

    async def start(self) -> None:
        self._producer = self._make()
        await self._producer.start()

    async def stop(self) -> None:
        self._closed = True
        try:
            if self._producer is not None:
                await self._producer.stop()
        finally:
            await asyncio.gather(*self._retiring)

    def create_batch(self) -> Any:
        return self.producer.create_batch()

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one message; the future resolves once Kafka acknowledged it, or fails."""
        producer = self.producer if self._poisoned is None else await self._healthy()
        return await self._queue(producer, producer.send(topic, value, key, partition, timestamp_ms, headers))

    async def send_and_wait(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Send one message and wait for Kafka's acknowledgement."""
        await (await self.send(topic, value, key, headers=headers))

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        producer = self.producer if self._poisoned is None else await self._healthy()
        return await self._queue(producer, producer.send_batch(batch, topic, partition=partition))

    async def _queue(
        self, producer: AIOKafkaProducer, sending: Awaitable[asyncio.Future[Any]]
    ) -> asyncio.Future[Any]:
        try:
            future = await sending
        except _PRODUCER_STATE_ERRORS as exc:
            self._poison(producer, exc)
            raise
        future.add_done_callback(partial(self._settled, producer))
        return future

    def _settled(self, producer: AIOKafkaProducer, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            self._poison(producer, exc)

    def _poison(self, producer: AIOKafkaProducer, exc: BaseException) -> None:
        if producer is self._producer and self._poisoned is None and not self._closed:
            log.warning("a Kafka send failed (%r), leaving a gap: the producer will be replaced", exc)
            self._poisoned = exc

    async def _healthy(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._poisoned is not None:  # the first in line renews; the others find it done
                await self._renew(self._poisoned)
        return self.producer

    async def _renew(self, cause: BaseException) -> None:
        if self._closed:
            raise ProducerClosed()
        now = asyncio.get_running_loop().time()
        if now < self._next_renewal:  # the last attempt failed a moment ago: Kafka is still away
            raise KafkaConnectionError(f"the Kafka producer awaits its replacement (after {cause!r})")
        self._next_renewal = now + self._renew_every
        fresh = self._make()
        try:
            async with asyncio.timeout(self._start_timeout):  # start() waits for a producer id
                await fresh.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.stop()
            raise
        old, self._producer, self._poisoned = self.producer, fresh, None
        log.warning("the Kafka producer was replaced (after %r)", cause)
        retiring = asyncio.create_task(self._retire(old))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _retire(producer: AIOKafkaProducer) -> None:
        try:
            await producer.stop()  # flushes: what it holds is delivered or fails, to its callers
        except Exception:
            log.exception("stopping a replaced Kafka producer failed")
