"""A service's Kafka: FastStream's broker for its subscribers, and the one producer every publish
goes through (`renewal` says why publishing does not go through FastStream)."""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker

from commerce_contracts import Event, Topic, encode_event
from commerce_kit import telemetry
from commerce_kit.messaging.producing import create_producer
from commerce_kit.messaging.renewal import RenewingProducer
from commerce_kit.settings import ServiceSettings


class Broker:
    """`faststream`: FastStream's KafkaBroker, consumer-only (the subscribers: `consuming`; use it
    with FastStream's tools, e.g. `TestKafkaBroker(broker.faststream)`). `producer`: what every
    publish goes through. Started and stopped together."""

    def __init__(self, faststream: KafkaBroker, producer: RenewingProducer) -> None:
        self.faststream, self.producer = faststream, producer

    async def start(self) -> None:
        await self.producer.start()  # first: handlers may dead-letter as soon as they run
        await self.faststream.start()

    async def stop(self) -> None:
        try:
            await self.faststream.stop()  # waits for the handlers in flight, which may dead-letter
        finally:
            await self.producer.stop()

    async def ping(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Kafka answers a metadata request within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self.producer.producer.client.fetch_all_metadata()
        except Exception:
            return False
        return True


def create_broker(settings: ServiceSettings, *, client_id: str, graceful_timeout: float = 10.0) -> Broker:
    """`graceful_timeout`: how long stopping waits for handlers in flight (they are then cancelled,
    unacknowledged, and their messages are read again by whoever takes the partition)."""
    faststream = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        consumer_only=True,
        request_timeout_ms=10_000,
        allow_auto_create_topics=False,  # topics are created with their partition counts: ensure_topics
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
    )
    return Broker(faststream, create_producer(settings, client_id=client_id))


async def publish(broker: Broker, settings: ServiceSettings, topic: Topic, event: Event) -> None:
    """Publish one event, keyed as it says, with the trace context, and wait for the broker's
    acknowledgement (acks=all)."""
    await broker.producer.send_and_wait(
        settings.topic(topic.name),
        encode_event(event),
        key=event.key.encode(),
        headers=telemetry.inject_headers() or None,
    )
