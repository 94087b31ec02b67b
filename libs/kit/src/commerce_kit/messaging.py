"""Kafka through FastStream, made reliable.

FastStream's Kafka defaults are at-most-once (the offset is committed before the handler runs), its
`nack` re-reads at once and forever, and it has no dead-letter support. So every consumer in the
suite goes through `subscribe()` below, written once:

- an explicit `group_id` per consuming service and purpose, reading from the earliest offset;
- manual acknowledgement: the offset is committed only once the message is handled or parked;
- bounded retries with exponential backoff, then the message goes to the topic's dead-letter topic
  (`<topic>.dlt`) with the reason in its headers, and the partition moves on;
- an outage of our own infrastructure (PostgreSQL, Redis: `commerce_kit.outages`) is not a failure:
  the handler is tried again, without limit, until it is over; the partition waits meanwhile;
- undecodable messages go to the dead-letter topic at once (retrying cannot fix them);
- when even the dead-letter topic cannot be written, the message is re-read (`nack`) after a pause:
  never acknowledged unhandled;
- the trace context travels in the headers.

Publishing (`create_broker`'s broker, `FastPublisher`) goes through `RenewingProducer`: aiokafka's
idempotent producer, replaced by a new one when a failed send has left it unable to send again.

Handlers must be idempotent (redelivery happens: a crash between the effect and the commit): the
`inbox` module gives them the `INSERT ... ON CONFLICT DO NOTHING` guard in the effect's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaConnectionError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl

from commerce_contracts import Event, Topic, UndecodableEvent, decode_event, encode_event
from commerce_kit import metrics, telemetry
from commerce_kit.outages import Outages
from commerce_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]
DeadLetterHook = Callable[[Event | None, str], Awaitable[None]]


class Permanent(Exception):
    """Raised by a handler for a message no retry can fix: it goes to the dead-letter topic at once."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter: instances do not retry in step


@dataclass
class Consumer:
    """One reliable subscription: `handler` receives the decoded event."""

    topic: Topic
    group_id: str
    handler: Handler
    retry: Retry = field(default_factory=Retry)
    on_dead_letter: DeadLetterHook | None = None
    #: How outages are waited out (default: backoff from 0.1 s, capped at 2 s, labelled by group).
    outages: Outages | None = None


def create_broker(
    settings: ServiceSettings, *, client_id: str, graceful_timeout: float = 10.0
) -> KafkaBroker:
    """`graceful_timeout`: how long stopping waits for handlers in flight (they are then cancelled,
    unacknowledged, and their messages are read again by whoever takes the partition)."""
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=10_000,
        allow_auto_create_topics=False,  # topics are created with their partition counts: ensure_topics
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
    )
    # Every publish through the broker (`publish`, the outbox relay, dead-lettering) goes through a
    # RenewingProducer built from the options FastStream builds its own producer from.
    options = broker._connection_kwargs
    broker.config.broker_config.producer = _BrokerProducer(lambda: AIOKafkaProducer(**options))
    return broker


async def ensure_topics(bootstrap: str, names_and_partitions: Sequence[tuple[str, int]]) -> None:
    """Create the topics that do not exist yet (local runs and tests; Kubernetes uses KafkaTopic)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, p, 1) for n, p in names_and_partitions if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:  # another process won the race
                pass
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic under `prefix`, which a test or a bench run made for itself, when it is
    done (best effort: a broker that is away keeps them). Left behind, they pile up on a long-lived
    broker: devstack's had 14,400 partitions after some days (the coupon pipeline's kill test and
    the kit's `fresh_topics` never deleted theirs), with 490 MB of its heap live; its collector marked
    concurrently for half a second at a time, and the machine (two cores) stalled for 100-500 ms
    in those moments (docs/performance.md, 2026-12-02 evening)."""
    if not prefix:
        raise ValueError("no prefix: that would be every topic of the broker")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(30):
            await admin.start()
            names = [name for name in await admin.list_topics() if name.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
    except Exception as exc:  # cleanup only: say so, never fail the run that asked for it
        log.warning("could not delete the topics under %r: %r", prefix, exc)
    finally:
        await admin.close()


def suite_topics(prefix: str = "") -> list[tuple[str, int]]:
    from commerce_contracts import TOPICS

    names: list[tuple[str, int]] = []
    for topic in TOPICS:
        names.append((prefix + topic.name, topic.partitions))
        names.append((prefix + topic.dead_letter, 1))
    return names


# Why RenewingProducer: aiokafka's idempotent producer (0.14) numbers each partition's batches as they
# leave its queue and never renumbers them, so a batch that fails once numbered leaves a gap the broker
# never forgives: it refuses every later batch to the partition with OutOfOrderSequenceNumber, for the
# life of the producer. A Kafka outage does that: while the broker is away (stopped cleanly, it
# announced its partitions leaderless first) the producer's metadata has no leader for them, and
# `MessageAccumulator.drain_by_nodes` numbers each batch older than request_timeout_ms (`_pop_batch`)
# and then fails it with LeaderNotAvailableError (aiokafka/producer/message_accumulator.py:482-490;
# the expiry that sender.py:884 `_can_retry` spares idempotent producers). A batch the broker refuses
# leaves the same gap (sender.py:861-868). Java's producer bumps its epoch and renumbers (KIP-360);
# aiokafka does not, so the remedy is a new producer: a new producer id, every partition from 0.
#
# So: once a send fails after it was queued (with idempotence every such failure leaves a gap) or
# fails with an error about the producer's state, the next send first replaces the producer, once
# (the first caller in line, under a lock; while Kafka is still away, at most one attempt every
# `renew_every` seconds, the others failing at once). Failed sends still fail for their callers, who
# treat the message as not sent (the coupon route answers 503, the outbox relay retries the row); the
# old producer is stopped in the background, so what it still holds is delivered or fails, and each
# caller learns which. Nothing is reported sent that Kafka did not acknowledge (acks=all).

_PRODUCER_STATE_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerIdMapping,
    InvalidProducerEpoch,
    ProducerFenced,
)


def is_producer_failure(exc: BaseException) -> bool:
    """A failure of the producer (its state, or it being replaced), not of the message sent: sending
    the same message again, later, succeeds."""
    return isinstance(exc, (*_PRODUCER_STATE_ERRORS, ProducerClosed))


class RenewingProducer:
    """An idempotent aiokafka producer that replaces itself when a failed send poisoned it (above).
    It has the part of AIOKafkaProducer's interface that FastStream's publisher and FastPublisher
    use; `make` builds each producer."""

    def __init__(
        self,
        make: Callable[[], AIOKafkaProducer],
        *,
        first: AIOKafkaProducer | None = None,
        start_timeout: float = 10.0,
        renew_every: float = 1.0,
    ) -> None:
        self._make, self._start_timeout, self._renew_every = make, start_timeout, renew_every
        self._producer = first if first is not None else make()
        self._poisoned: BaseException | None = None
        self._lock = asyncio.Lock()
        self._next_renewal = 0.0
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False  # FastStream reads it

    @property
    def producer(self) -> AIOKafkaProducer:
        return self._producer

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        self._closed = True
        try:
            await self._producer.stop()
        finally:
            await asyncio.gather(*self._retiring)

    async def flush(self) -> None:
        await self._producer.flush()

    def create_batch(self) -> Any:
        return self._producer.create_batch()

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> asyncio.Future[Any]:
        """Queue one message; the future resolves once Kafka acknowledged it, or fails."""
        producer = self._producer if self._poisoned is None else await self._healthy()
        return await self._queue(producer, producer.send(topic, value, key, partition, timestamp_ms, headers))

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        producer = self._producer if self._poisoned is None else await self._healthy()
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
        if not future.cancelled() and future.exception() is not None:
            self._poison(producer, future.exception())  # type: ignore[arg-type]

    def _poison(self, producer: AIOKafkaProducer, exc: BaseException) -> None:
        if producer is self._producer and self._poisoned is None and not self._closed:
            log.warning("a Kafka send failed (%r), leaving a gap: the producer will be replaced", exc)
            self._poisoned = exc

    async def _healthy(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._poisoned is not None:  # the first in line renews; the others find it done
                await self._renew(self._poisoned)
        return self._producer

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
        old, self._producer, self._poisoned = self._producer, fresh, None
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


class _BrokerProducer(AioKafkaFastProducerImpl):
    """FastStream's publisher, sending through a RenewingProducer (it replaces the one KafkaBroker
    made, with the same parser and decoder: none)."""

    def __init__(self, make: Callable[[], AIOKafkaProducer]) -> None:
        super().__init__(parser=None, decoder=None)
        self._make = make

    async def connect(self, producer: Any, serializer: Any, codec: Any = None) -> None:
        # `producer`: FastStream's own, built from the same options; it is the first one.
        await super().connect(RenewingProducer(self._make, first=producer), serializer, codec)


async def publish(broker: KafkaBroker, settings: ServiceSettings, topic: Topic, event: Event) -> None:
    """Publish one event and wait for the broker's acknowledgement (acks=all)."""
    headers = dict((k, v.decode()) for k, v in telemetry.inject_headers())
    await broker.publish(
        encode_event(event), settings.topic(topic.name), key=event.key.encode(), headers=headers or None
    )


@dataclass
class BatchConsumer:
    """A reliable subscription whose handler receives many events at once, in partition order (the
    coupon pipeline settles hundreds of requests per round trip). When a batch keeps failing, its
    events are retried one at a time, so that only the culprit is dead-lettered."""

    topic: Topic
    group_id: str
    handler: Callable[[list[Any]], Awaitable[None]]
    retry: Retry = field(default_factory=Retry)
    on_dead_letter: DeadLetterHook | None = None
    #: How outages are waited out (default: backoff from 0.1 s, capped at 2 s, labelled by group).
    outages: Outages | None = None
    max_records: int = 500
    batch_timeout_ms: int = 50
    #: What a fetch waits for at the broker: at least `fetch_min_bytes`, for at most
    #: `fetch_max_wait_ms` (None: `batch_timeout_ms`). More bytes per fetch make bigger batches
    #: under a moderate flow, and a batch costs its handler round trips of its own, a fetch and an
    #: offset commit, whatever its size. The default suits the consumers of a steady flow whose
    #: effects may trail by a tenth of a second (16 KB: some thirty payment events); 1 byte would
    #: answer each fetch as soon as anything arrived, a batch per event at a moderate rate.
    fetch_min_bytes: int = 16 * 1024
    fetch_max_wait_ms: int | None = 100


class FastPublisher:
    """Publishing on a hot path (the coupon issue route): aiokafka directly, many messages per call.

    A request queues its message and awaits a future. One sender task hands what is queued to
    aiokafka as one record batch per partition (`create_batch` / `send_batch`), and each batch's
    acknowledgement settles its requests. While aiokafka holds a partition's batch (it hands over
    a new one only when the previous one went out), requests keep queueing, so the next batch takes
    them all: the busier the route, the bigger the batches, and nothing waits for a timer (a lone
    request goes out at once). aiokafka's per-message `send` cost the route about 80 µs of CPU per
    request (metadata wait, accumulator, a future and a wake-up each; measured with make bench's
    202 line). Same guarantees as `send`: acks=all, the idempotent producer (renewed when
    poisoned: RenewingProducer), the key's partition as aiokafka's default partitioner picks it,
    per-partition order as queued (one sender, batches handed over in order), the trace context
    in each message's headers."""

    def __init__(self, settings: ServiceSettings, *, client_id: str) -> None:
        self.settings = settings
        self._producer = RenewingProducer(
            lambda: AIOKafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                # The batches handed over are whole already: aiokafka's linger would hold each
                # one 2 ms more (it lingers batches added with send_batch too), a latency every
                # request of the route pays and that bounds its throughput at a given concurrency.
                linger_ms=0,
                request_timeout_ms=10_000,
            )
        )
        self._partitioner = DefaultPartitioner()
        self._queued: list[_Queued] = []
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._producer.stop()

    async def publish(self, topic: Topic, event: Event) -> None:
        """Publish and wait for the broker's acknowledgement."""
        await self.publish_encoded(topic, event.key.encode(), encode_event(event))

    async def publish_encoded(self, topic: Topic, key: bytes, value: bytes) -> None:
        """`publish` for an event its caller encoded already (an event of `topic`, keyed as it says)."""
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append(
            _Queued(self.settings.topic(topic.name), key, value, telemetry.inject_headers(), acked)
        )
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_queued())  # runs on the loop's next turn
        await acked

    async def _send_queued(self) -> None:
        while self._queued:
            queued, self._queued = self._queued, []
            handed: set[int] = set()  # ids of the messages aiokafka has: their acks settle them
            try:
                await self._hand_over(queued, handed)
            except BaseException as exc:  # the requests not handed over learn of it (and answer 503)
                cause = exc if isinstance(exc, Exception) else RuntimeError("cancelled")
                _fail_queued([q for q in queued if id(q) not in handed], cause)
                if not isinstance(exc, Exception):
                    _fail_queued(self._queued, RuntimeError("cancelled"))
                    raise

    async def _hand_over(self, queued: list[_Queued], handed: set[int]) -> None:
        by_partition: dict[tuple[str, int], list[_Queued]] = {}
        partitions: dict[str, list[int]] = {}
        chosen: dict[tuple[str, bytes], int] = {}  # a flood's messages share a key: hash it once
        for q in queued:
            partition = chosen.get((q.topic, q.key))
            if partition is None:
                if q.topic not in partitions:
                    partitions[q.topic] = sorted(await self._producer.producer.partitions_for(q.topic))
                every = partitions[q.topic]
                partition = chosen[(q.topic, q.key)] = self._partitioner(q.key, every, every)
            by_partition.setdefault((q.topic, partition), []).append(q)
        for (topic, partition), messages in by_partition.items():
            while messages:
                batch, messages = self._fill(messages)
                sent = await self._producer.send_batch(batch.builder, topic, partition=partition)
                sent.add_done_callback(partial(_acknowledge, batch.messages))
                handed.update(id(q) for q in batch.messages)

    def _fill(self, messages: list[_Queued]) -> tuple[_Batch, list[_Queued]]:
        """As many of `messages` as one record batch holds (at least one), and the rest."""
        builder = self._producer.create_batch()
        taken = 0
        for q in messages:
            if builder.append(timestamp=None, key=q.key, value=q.value, headers=q.headers) is None:
                break
            taken += 1
        if taken == 0:
            raise ValueError(f"a message of {len(messages[0].value)} bytes does not fit a record batch")
        return _Batch(builder, messages[:taken]), messages[taken:]


class _Queued(NamedTuple):  # a tuple: one is made per request of the hottest route
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    acked: asyncio.Future[None]


@dataclass(frozen=True)
class _Batch:
    builder: Any
    messages: list[_Queued]


def _acknowledge(messages: list[_Queued], sent: asyncio.Future[Any]) -> None:
    if sent.cancelled():
        _fail_queued(messages, RuntimeError("the batch was cancelled"))
    elif sent.exception() is not None:
        _fail_queued(messages, sent.exception())  # type: ignore[arg-type]
    else:
        for q in messages:
            if not q.acked.done():
                q.acked.set_result(None)


def _fail_queued(messages: list[_Queued], exc: BaseException) -> None:
    for q in messages:
        if not q.acked.done():
            q.acked.set_exception(exc)


@dataclass(frozen=True)
class Failure:
    reason: str
    attempts: int


@dataclass(frozen=True)
class Subscription:
    group_id: str
    subscriber: Any  # FastStream's; its `.consumer` is the aiokafka consumer once started


class _Parking:
    """What both kinds of subscription share: decoding, bounded retries, and the dead-letter topic."""

    def __init__(
        self, broker: KafkaBroker, settings: ServiceSettings, consumer: Consumer | BatchConsumer
    ) -> None:
        self.broker, self.consumer = broker, consumer
        # The group takes the topic prefix too: two suites sharing a broker (`make run` and `make
        # test`, two test sessions) must not share consumer groups, or each rebalances the other.
        self.group, self.topic = settings.topic(consumer.group_id), consumer.topic
        self.topic_name = settings.topic(consumer.topic.name)
        self.dead_letter_topic = settings.topic(consumer.topic.dead_letter)
        self.tracer = telemetry.tracer("commerce.kafka")
        self.outages = consumer.outages or Outages(consumer.group_id)

    def decode(self, record: Any) -> Event:
        return decode_event(record.value, self.topic.events)

    async def attempt(self, call: Callable[[], Awaitable[None]], headers: Any, label: str) -> Failure | None:
        """Run `call` with the retry policy. None when it succeeded, else why it finally failed."""
        parent = telemetry.extract_context(headers)
        retry = self.consumer.retry
        for attempt in range(1, retry.attempts + 1):
            try:
                with self.tracer.start_as_current_span(f"{self.topic_name} process", context=parent) as span:
                    span.set_attribute("messaging.consumer.group.name", self.group)
                    span.set_attribute("messaging.message.id", label)
                    await self.outages.wait_out(call)  # only other errors count as attempts
                return None
            except Permanent as exc:
                return Failure(f"permanent: {exc}", attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == retry.attempts:
                    return Failure(f"failed {attempt} times, last: {type(exc).__name__}: {exc}", attempt)
                metrics.CONSUMED.labels(self.group, self.topic.name, "retried").inc()
                log.warning("handler failed (attempt %d), retrying: %r", attempt, exc)
                await asyncio.sleep(retry.delay(attempt))
        raise AssertionError("unreachable")

    async def park(self, record: Any, event: Event | None, failure: Failure) -> None:
        reason = failure.reason
        headers = {
            "x-dead-letter-reason": reason[:1000],
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
            "x-consumer-group": self.group,
            "x-attempts": str(failure.attempts),
        }
        await self.broker.publish(record.value, self.dead_letter_topic, key=record.key, headers=headers)
        metrics.CONSUMED.labels(self.group, self.topic.name, "dead_lettered").inc()
        log.error(
            "message parked in %s: %s",
            self.dead_letter_topic,
            reason,
            extra={"fields": {"offset": record.offset, "partition": record.partition, "group": self.group}},
        )
        if self.consumer.on_dead_letter is not None:
            try:
                hook = self.consumer.on_dead_letter
                await self.outages.wait_out(lambda: hook(event, reason))
            except Exception:  # the message is safe in the dead-letter topic; do not block the partition
                log.exception("the dead-letter hook of %s failed", self.group)

    def handled(self, count: int = 1) -> None:
        metrics.CONSUMED.labels(self.group, self.topic.name, "handled").inc(count)


async def _not_decoded(message: Any) -> None:
    """FastStream's decoder for our subscribers: none. It would parse every message's body as JSON
    for the handler's parameters, but the handlers take the raw records and decode them into our
    events themselves (`decode_event`): for a batch, FastStream parsed each record twice more
    (some 14% of the coupon issuer's CPU, profiled under make bench's 202 line)."""
    return None


def _current_message(broker: KafkaBroker) -> KafkaMessage:
    """The message being handled, from the broker's context. Our handlers take no parameters and
    read it here: a parameter annotated `KafkaMessage` is a context field that FastStream resolves
    with a synchronous function, which fast_depends runs in a worker thread, a thread handoff per
    message (6% of the ranking service's CPU, profiled under make bench's payments)."""
    message: KafkaMessage = broker.context.get_local("message")
    return message


def subscribe(broker: KafkaBroker, settings: ServiceSettings, consumer: Consumer) -> Subscription:
    """Register `consumer` on `broker` (before the broker starts)."""
    parking = _Parking(broker, settings, consumer)

    async def handle() -> None:
        message = _current_message(broker)
        record = message.raw_message
        try:
            event = parking.decode(record)
        except UndecodableEvent as exc:
            await _settle(message, parking.park(record, None, Failure(f"undecodable: {exc}", 0)))
            return
        failure = await parking.attempt(lambda: consumer.handler(event), record.headers, str(event.event_id))
        if failure is not None:
            await _settle(message, parking.park(record, event, failure))
            return
        parking.handled()
        await message.ack()

    subscriber = broker.subscriber(
        parking.topic_name,
        group_id=parking.group,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        max_poll_interval_ms=300_000,
        decoder=_not_decoded,
        title=f"{parking.group}:{parking.topic_name}",
    )
    subscriber(handle)
    return Subscription(parking.group, subscriber)


def subscribe_batch(broker: KafkaBroker, settings: ServiceSettings, consumer: BatchConsumer) -> Subscription:
    """Register a batch consumer on `broker` (before the broker starts)."""
    parking = _Parking(broker, settings, consumer)

    async def handle() -> None:
        message = _current_message(broker)
        records = message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)
        decoded: list[tuple[Any, Event]] = []
        parked: list[Awaitable[None]] = []
        for record in records:
            try:
                decoded.append((record, parking.decode(record)))
            except UndecodableEvent as exc:
                parked.append(parking.park(record, None, Failure(f"undecodable: {exc}", 0)))
        events = [event for _, event in decoded]
        headers = records[0].headers if records else None
        if events and await parking.attempt(
            lambda: consumer.handler(events), headers, f"batch of {len(events)}"
        ):
            # The batch keeps failing: one at a time, so that only the culprits are parked.
            for record, event in decoded:
                failure = await parking.attempt(
                    lambda e=event: consumer.handler([e]), record.headers, str(event.event_id)
                )
                if failure is not None:
                    parked.append(parking.park(record, event, failure))
        await _settle(message, _all(parked))
        parking.handled(len(events))

    subscriber = broker.subscriber(
        parking.topic_name,
        group_id=parking.group,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        max_poll_interval_ms=300_000,
        decoder=_not_decoded,
        batch=True,
        max_records=consumer.max_records,
        batch_timeout_ms=consumer.batch_timeout_ms,
        # aiokafka fetches a partition again only once its records are consumed, and a fetch for
        # partitions with nothing new waits up to fetch_max_wait_ms at the broker, holding up the
        # next fetch of the busy one: so a short wait, and room for several batches per fetch.
        fetch_max_wait_ms=consumer.fetch_max_wait_ms or consumer.batch_timeout_ms,
        fetch_min_bytes=consumer.fetch_min_bytes,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        title=f"{parking.group}:{parking.topic_name}",
    )
    subscriber(handle)
    return Subscription(parking.group, subscriber)


async def _all(parkings: list[Awaitable[None]]) -> None:
    for parking in parkings:  # in order: the dead-letter topic keeps the partition's order
        await parking


async def _settle(message: KafkaMessage, parking: Awaitable[None]) -> None:
    """Park then acknowledge; if parking fails, re-read the message later instead of losing it."""
    try:
        await parking
    except Exception:
        log.exception("could not park a message: it will be read again")
        await asyncio.sleep(1.0)
        await message.nack()
        return
    await message.ack()


async def report_lag(subscriptions: Sequence[Subscription]) -> None:
    """Refresh the consumer-lag gauge from each subscription's assignment (highwater - position)."""
    for sub in subscriptions:
        aio = getattr(sub.subscriber, "consumer", None)
        if aio is None:
            continue
        for tp in aio.assignment():
            high = aio.highwater(tp)
            if high is None:
                continue
            try:
                position = await aio.position(tp)
            except Exception:  # mid-rebalance
                continue
            metrics.CONSUMER_LAG.labels(sub.group_id, tp.topic, str(tp.partition)).set(
                max(0, high - position)
            )


__all__ = [
    "BatchConsumer",
    "Consumer",
    "FastPublisher",
    "Permanent",
    "RenewingProducer",
    "Retry",
    "Subscription",
    "create_broker",
    "ensure_topics",
    "is_producer_failure",
    "publish",
    "subscribe",
    "subscribe_batch",
    "suite_topics",
]
