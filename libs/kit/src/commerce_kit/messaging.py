"""Kafka through FastStream, made reliable.

FastStream's Kafka defaults are at-most-once (the offset is committed before the handler runs), its
`nack` re-reads at once and forever, and it has no dead-letter support. So every consumer in the
suite goes through `subscribe()` below, written once:

- an explicit `group_id` per consuming service and purpose, reading from the earliest offset;
- manual acknowledgement: the offset is committed only once the message is handled or parked;
- bounded retries with exponential backoff, then the message goes to the topic's dead-letter topic
  (`<topic>.dlt`) with the reason in its headers, and the partition moves on;
- undecodable messages go to the dead-letter topic at once (retrying cannot fix them);
- when even the dead-letter topic cannot be written, the message is re-read (`nack`) after a pause:
  never acknowledged unhandled;
- the trace context travels in the headers.

Handlers must be idempotent (redelivery happens: a crash between the effect and the commit): the
`inbox` module gives them the `INSERT ... ON CONFLICT DO NOTHING` guard in the effect's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from commerce_contracts import Event, Topic, UndecodableEvent, decode_event, encode_event
from commerce_kit import metrics, telemetry
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


def create_broker(
    settings: ServiceSettings, *, client_id: str, graceful_timeout: float = 10.0
) -> KafkaBroker:
    """`graceful_timeout`: how long stopping waits for handlers in flight (they are then cancelled,
    unacknowledged, and their messages are read again by whoever takes the partition)."""
    return KafkaBroker(
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


def suite_topics(prefix: str = "") -> list[tuple[str, int]]:
    from commerce_contracts import TOPICS

    names: list[tuple[str, int]] = []
    for topic in TOPICS:
        names.append((prefix + topic.name, topic.partitions))
        names.append((prefix + topic.dead_letter, 1))
    return names


async def publish(broker: KafkaBroker, settings: ServiceSettings, topic: Topic, event: Event) -> None:
    """Publish one event and wait for the broker's acknowledgement (acks=all)."""
    headers = dict((k, v.decode()) for k, v in telemetry.inject_headers())
    await broker.publish(
        encode_event(event), settings.topic(topic.name), key=event.key.encode(), headers=headers or None
    )


@dataclass(frozen=True)
class Subscription:
    group_id: str
    subscriber: Any  # FastStream's; its `.consumer` is the aiokafka consumer once started


def subscribe(broker: KafkaBroker, settings: ServiceSettings, consumer: Consumer) -> Subscription:
    """Register `consumer` on `broker` (before the broker starts)."""
    topic_name = settings.topic(consumer.topic.name)
    dead_letter_topic = settings.topic(consumer.topic.dead_letter)
    group = consumer.group_id
    tracer = telemetry.tracer("commerce.kafka")

    async def park(message: KafkaMessage, event: Event | None, reason: str, attempts: int) -> None:
        raw = message.raw_message
        headers = {
            "x-dead-letter-reason": reason[:1000],
            "x-original-topic": raw.topic,
            "x-original-partition": str(raw.partition),
            "x-original-offset": str(raw.offset),
            "x-consumer-group": group,
            "x-attempts": str(attempts),
        }
        await broker.publish(raw.value, dead_letter_topic, key=raw.key, headers=headers)
        metrics.CONSUMED.labels(group, consumer.topic.name, "dead_lettered").inc()
        log.error(
            "message parked in %s: %s",
            dead_letter_topic,
            reason,
            extra={"fields": {"offset": raw.offset, "partition": raw.partition, "group": group}},
        )
        if consumer.on_dead_letter is not None:
            await consumer.on_dead_letter(event, reason)

    async def handle(message: KafkaMessage) -> None:
        raw = message.raw_message
        try:
            event = decode_event(raw.value, consumer.topic.events)
        except UndecodableEvent as exc:
            await _settle(message, park(message, None, f"undecodable: {exc}", 0))
            return
        parent = telemetry.extract_context(raw.headers)
        for attempt in range(1, consumer.retry.attempts + 1):
            try:
                with tracer.start_as_current_span(f"{topic_name} process", context=parent) as span:
                    span.set_attribute("messaging.consumer.group.name", group)
                    span.set_attribute("messaging.message.id", str(event.event_id))
                    await consumer.handler(event)
                metrics.CONSUMED.labels(group, consumer.topic.name, "handled").inc()
                await message.ack()
                return
            except Permanent as exc:
                await _settle(message, park(message, event, f"permanent: {exc}", attempt))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == consumer.retry.attempts:
                    reason = f"failed {attempt} times, last: {type(exc).__name__}: {exc}"
                    await _settle(message, park(message, event, reason, attempt))
                    return
                metrics.CONSUMED.labels(group, consumer.topic.name, "retried").inc()
                log.warning("handler failed (attempt %d), retrying: %r", attempt, exc)
                await asyncio.sleep(consumer.retry.delay(attempt))

    subscriber = broker.subscriber(
        topic_name,
        group_id=group,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        max_poll_interval_ms=300_000,
        title=f"{group}:{topic_name}",
    )
    subscriber(handle)
    return Subscription(group, subscriber)


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
    "Consumer",
    "Permanent",
    "Retry",
    "Subscription",
    "create_broker",
    "ensure_topics",
    "publish",
    "subscribe",
    "suite_topics",
]
