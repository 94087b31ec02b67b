"""Consuming through FastStream, reliably.

Each `Consumer` or `BatchConsumer` becomes a FastStream subscriber of its own router:
- an explicit `group_id` per consuming service and purpose, reading from the earliest offset;
- the handler is the service's own typed function: FastStream hands it the event (or the list of
  events of a batch), decoded by `EventDecoder` / `BatchDecoder` from the topic's event classes;
- FastStream's `AckPolicy.NACK_ON_ERROR`: the offset is committed once the handler's middleware
  returns, that is once the message was handled or parked (`retry.RetryPolicy`, applied by the
  router's middleware); a message that cannot even be parked is nacked (re-read) after a pause,
  never acknowledged unhandled;
- undecodable messages go to the dead-letter topic at once (retrying cannot fix them);
- a batch that keeps failing is retried one event at a time, so that only the culprits are parked;
- while tracing is on, the processing of a message is a span continuing the trace whose context
  the message's headers carry.

Nothing in a handler's path runs in a worker thread: the decoders, the middleware and the handlers
are coroutines, and handlers take no context parameters (fast_depends resolves those with
synchronous functions in a thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from faststream import AckPolicy, BaseMiddleware
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaRouter
from faststream.message import StreamMessage
from opentelemetry.trace import SpanKind

from commerce_contracts import Event, Topic, UndecodableEvent, decode_event
from commerce_kit import metrics, telemetry
from commerce_kit.messaging.broker import Broker
from commerce_kit.messaging.retry import DeadLetterHook, Failure, Parked, Retry, RetryPolicy
from commerce_kit.outages import Outages
from commerce_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

#: How long a message whose dead-letter topic cannot be written waits before it is read again.
REREAD_PAUSE = 1.0


@dataclass
class Consumer:
    """One reliable subscription: `handler` receives each event, typed."""

    topic: Topic
    group_id: str
    handler: Callable[[Any], Awaitable[None]]
    retry: Retry = field(default_factory=Retry)
    on_dead_letter: DeadLetterHook | None = None
    #: How outages are waited out (default: backoff from 0.1 s, capped at 2 s, labelled by group).
    outages: Outages | None = None


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
    #: aiokafka fetches a partition again only once its records are consumed, and a fetch for
    #: partitions with nothing new waits up to fetch_max_wait_ms at the broker, holding up the next
    #: fetch of the busy one: so room for several batches per fetch.
    max_partition_fetch_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class Subscription:
    group_id: str
    subscriber: Any  # FastStream's; its `.consumer` is the aiokafka consumer once started


class EventDecoder:
    """FastStream's decoder for a subscriber of `events`' topic: the record's value as the event
    class its `type` names (`commerce_contracts.decode_event`); UndecodableEvent when it is none."""

    def __init__(self, events: tuple[type[Event], ...]) -> None:
        self.events = events

    async def __call__(self, msg: StreamMessage[Any]) -> Event:
        decoded: Event = decode_event(msg.body or b"", self.events)
        return decoded


class DecodedBatch(list[Event]):
    """A batch's events, in order, with the record each came from (`records`), and the records that
    hold no event (`rejected`, each with the reason)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[Any] = []
        self.rejected: list[tuple[Any, str]] = []


class BatchDecoder:
    """FastStream's decoder for a batch subscriber: each record decoded once, into a DecodedBatch."""

    def __init__(self, events: tuple[type[Event], ...]) -> None:
        self.events = events

    async def __call__(self, msg: StreamMessage[Any]) -> DecodedBatch:
        batch = DecodedBatch()
        for record in msg.raw_message:
            try:
                event = decode_event(record.value or b"", self.events)
            except UndecodableEvent as exc:
                batch.rejected.append((record, f"undecodable: {exc}"))
                continue
            batch.append(event)
            batch.records.append(record)
        return batch


class _Traced:
    """A router's middleware while tracing is on: the processing of a message (its retries and
    parking included) as a span that continues the trace whose context the message's headers carry
    (a batch's: its first message's)."""

    def __init__(self, group: str, topic: str) -> None:
        self.group, self.name, self.tracer = group, f"{topic} process", telemetry.tracer("commerce.kafka")

    def __call__(self, msg: Any, /, *, context: Any) -> BaseMiddleware:
        return _TracedScope(msg, context=context, traced=self)


class _TracedScope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, traced: _Traced) -> None:
        super().__init__(msg, context=context)
        self.traced = traced

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        traced, parent = self.traced, telemetry.extract_context(msg.headers.items())
        with traced.tracer.start_as_current_span(traced.name, context=parent, kind=SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.consumer.group.name", traced.group)
            span.set_attribute("messaging.message.id", msg.message_id)
            return await call_next(msg)


class _Reliably:
    """A router's middleware (FastStream builds one per message with `__call__`): the subscription's
    RetryPolicy around its handler."""

    def __init__(
        self, policy: RetryPolicy, handler: Callable[[Any], Awaitable[None]], *, batch: bool
    ) -> None:
        self.policy, self.handler, self.batch = policy, handler, batch

    def __call__(self, msg: Any, /, *, context: Any) -> BaseMiddleware:
        if self.batch:
            return _BatchReliably(msg, context=context, policy=self.policy, handler=self.handler)
        return _EachReliably(msg, context=context, policy=self.policy)


class _EachReliably(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, policy: RetryPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        record = msg.raw_message
        try:
            event = await msg.decode()
        except UndecodableEvent as exc:
            await _park(self.policy, [Parked(record, None, Failure(f"undecodable: {exc}", 0))])
            return None
        failure = await self.policy.attempt(lambda: call_next(msg))
        if failure is not None:
            await _park(self.policy, [Parked(record, event, failure)])
            return None
        self.policy.handled()
        return None


class _BatchReliably(BaseMiddleware):
    def __init__(
        self, msg: Any, /, *, context: Any, policy: RetryPolicy, handler: Callable[[Any], Awaitable[None]]
    ) -> None:
        super().__init__(msg, context=context)
        self.policy, self.handler = policy, handler

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        batch = await msg.decode()
        assert isinstance(batch, DecodedBatch)  # BatchDecoder's
        parked = [Parked(record, None, Failure(reason, 0)) for record, reason in batch.rejected]
        if batch and await self.policy.attempt(lambda: call_next(msg)) is not None:
            # The batch keeps failing: one event at a time (straight to the handler, each event
            # already typed), so that only the culprits are parked.
            for record, event in zip(batch.records, batch, strict=True):
                failure = await self.policy.attempt(partial(self.handler, [event]))
                if failure is not None:
                    parked.append(Parked(record, event, failure))
        await _park(self.policy, parked)
        self.policy.handled(len(batch))
        return None


async def _park(policy: RetryPolicy, parked: list[Parked]) -> None:
    """Park, or have FastStream nack the message (it is read again) after a pause if that fails."""
    if not parked:
        return
    try:
        await policy.park(parked)
    except Exception as exc:
        log.exception("could not park a message of %s: it will be read again", policy.group)
        await asyncio.sleep(REREAD_PAUSE)
        raise NackMessage() from exc


def _policy(broker: Broker, settings: ServiceSettings, consumer: Consumer | BatchConsumer) -> RetryPolicy:
    # The group takes the topic prefix too: two suites sharing a broker (`make run` and `make test`,
    # two test sessions) must not share consumer groups, or each rebalances the other.
    return RetryPolicy(
        broker.producer,
        group=settings.topic(consumer.group_id),
        topic=consumer.topic,
        dead_letter_topic=settings.topic(consumer.topic.dead_letter),
        retry=consumer.retry,
        outages=consumer.outages or Outages(consumer.group_id),
        on_dead_letter=consumer.on_dead_letter,
    )


def _middlewares(
    policy: RetryPolicy, topic: str, handler: Callable[[Any], Awaitable[None]], *, batch: bool
) -> list[Any]:
    """A subscription's middlewares, the outermost first: its span (while tracing is on: spans cost
    CPU that a run without a collector would throw away), then its retry policy."""
    reliably = _Reliably(policy, handler, batch=batch)
    return [_Traced(policy.group, topic), reliably] if telemetry.tracing() else [reliably]


def subscribe(broker: Broker, settings: ServiceSettings, consumer: Consumer) -> Subscription:
    """Register `consumer` on `broker` (before the broker starts)."""
    return _subscribe(broker, settings, consumer, EventDecoder(consumer.topic.events), batch=False)


def subscribe_batch(broker: Broker, settings: ServiceSettings, consumer: BatchConsumer) -> Subscription:
    """Register a batch consumer on `broker` (before the broker starts)."""
    return _subscribe(
        broker,
        settings,
        consumer,
        BatchDecoder(consumer.topic.events),
        batch=True,
        max_records=consumer.max_records,
        batch_timeout_ms=consumer.batch_timeout_ms,
        fetch_max_wait_ms=consumer.fetch_max_wait_ms or consumer.batch_timeout_ms,
        fetch_min_bytes=consumer.fetch_min_bytes,
        max_partition_fetch_bytes=consumer.max_partition_fetch_bytes,
    )


def _subscribe(
    broker: Broker,
    settings: ServiceSettings,
    consumer: Consumer | BatchConsumer,
    decoder: Any,
    *,
    batch: bool,
    **fetching: Any,
) -> Subscription:
    """The subscriber of its own router, with the subscription's middlewares on that router."""
    policy, router = _policy(broker, settings, consumer), KafkaRouter()
    topic = settings.topic(consumer.topic.name)
    subscriber = router.subscriber(
        topic,
        group_id=policy.group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_poll_interval_ms=300_000,
        decoder=decoder,
        batch=batch,
        title=f"{policy.group}:{topic}",
        **fetching,
    )
    subscriber(consumer.handler)
    middlewares = _middlewares(policy, topic, consumer.handler, batch=batch)
    broker.faststream.include_router(router, middlewares=middlewares)
    return Subscription(policy.group, subscriber)


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
