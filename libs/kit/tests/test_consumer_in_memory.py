"""The reliable consumer in memory, on FastStream's TestKafkaBroker: typed handlers, bounded retries,
dead letters with their reasons, a failing batch retried one event at a time, and a message that
cannot be parked read again instead of acknowledged. test_consumer.py runs the same policy on a
real broker."""

from __future__ import annotations

import uuid
from typing import Any, cast

from aiokafka.errors import KafkaConnectionError
from faststream import BaseMiddleware
from faststream.kafka import TestKafkaBroker
from faststream.message import AckStatus, StreamMessage

from commerce_contracts import Event, encode_event
from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit.messaging import (
    BatchConsumer,
    Broker,
    Consumer,
    Permanent,
    RenewingProducer,
    Retry,
    consuming,
    create_broker,
    subscribe,
    subscribe_batch,
)
from commerce_kit.settings import ServiceSettings
from commerce_kit.testing.events import payment_completed as payment

FAST = Retry(attempts=3, first_delay=0.001, max_delay=0.002)
TOPIC = PAYMENT_COMPLETED.name  # no prefix in memory
DEAD_LETTERS = PAYMENT_COMPLETED.dead_letter


class Settings(ServiceSettings):
    service = "user"


class DeadLetters:
    """Stands in for the broker's producer: keeps what is dead-lettered, or fails like a Kafka
    that is away."""

    def __init__(self, *, away: bool = False) -> None:
        self.away = away
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Any = None
    ) -> None:
        if self.away:
            raise KafkaConnectionError("Kafka is away")
        self.sent.append((topic, value, {k: v.decode() for k, v in headers or ()}))


class Acknowledgements:
    """A broker middleware that keeps each message it sees; once FastStream settled one, its
    `committed` says how (acknowledged, or nacked to be read again)."""

    def __init__(self) -> None:
        self.messages: list[StreamMessage[Any]] = []

    def __call__(self, msg: Any, /, *, context: Any) -> BaseMiddleware:
        messages = self.messages

        class Keep(BaseMiddleware):
            async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
                messages.append(msg)
                return await call_next(msg)

        return Keep(msg, context=context)


def broker_with(consumer: Consumer | BatchConsumer, dead_letters: DeadLetters) -> Broker:
    settings = Settings()
    # A stand-in for the producer: dead-lettering calls its send_and_wait alone.
    producer = cast(RenewingProducer, dead_letters)
    broker = Broker(create_broker(settings, client_id="kit-in-memory").faststream, producer)
    if isinstance(consumer, BatchConsumer):
        subscribe_batch(broker, settings, consumer)
    else:
        subscribe(broker, settings, consumer)
    return broker


async def test_the_handler_gets_the_event_typed_and_a_failure_is_retried():
    got: list[PaymentCompleted] = []

    async def handle(event: PaymentCompleted) -> None:
        got.append(event)
        if len(got) < 3:
            raise ValueError("not yet")

    broker = broker_with(Consumer(PAYMENT_COMPLETED, "g", handle, FAST), DeadLetters())
    acknowledgements = Acknowledgements()
    broker.faststream.add_middleware(acknowledgements)
    sent = payment(1)
    async with TestKafkaBroker(broker.faststream) as memory:
        await memory.publish(encode_event(sent), TOPIC, key=b"1")
    assert got == [sent, sent, sent] and isinstance(got[0], PaymentCompleted)
    assert [m.committed for m in acknowledgements.messages] == [AckStatus.ACKED]  # once handled


async def test_a_message_that_keeps_failing_is_parked_with_its_reason_and_told_to_the_hook():
    parked: list[tuple[Event | None, str]] = []

    async def handle(event: PaymentCompleted) -> None:
        raise ValueError("unlucky")

    async def on_dead_letter(event: Event | None, reason: str) -> None:
        parked.append((event, reason))

    letters = DeadLetters()
    broker = broker_with(Consumer(PAYMENT_COMPLETED, "g", handle, FAST, on_dead_letter), letters)
    sent = payment(13)
    async with TestKafkaBroker(broker.faststream) as memory:
        await memory.publish(encode_event(sent), TOPIC, key=b"1")
    assert parked == [(sent, "failed 3 times, last: ValueError: unlucky")]
    [(topic, value, headers)] = letters.sent
    assert topic == DEAD_LETTERS and value == encode_event(sent)
    assert headers["x-dead-letter-reason"] == parked[0][1] and headers["x-attempts"] == "3"
    assert headers["x-original-topic"] == TOPIC and headers["x-consumer-group"] == "g"


async def test_permanent_failures_and_undecodable_messages_are_parked_at_once():
    attempts: list[uuid.UUID] = []

    async def handle(event: PaymentCompleted) -> None:
        attempts.append(event.event_id)
        raise Permanent("no such order")

    letters = DeadLetters()
    broker = broker_with(Consumer(PAYMENT_COMPLETED, "g", handle, FAST), letters)
    async with TestKafkaBroker(broker.faststream) as memory:
        await memory.publish(encode_event(payment(31)), TOPIC, key=b"1")
        await memory.publish(b"\x00 not json", TOPIC, key=b"1")
        await memory.publish(b'{"type": "payment.teleported", "version": 1}', TOPIC, key=b"1")
    assert len(attempts) == 1
    reasons = [headers["x-dead-letter-reason"] for _, _, headers in letters.sent]
    assert reasons[0] == "permanent: no such order"
    assert reasons[1].startswith("undecodable: not an event envelope")
    assert reasons[2] == "undecodable: unexpected event type 'payment.teleported'"


async def test_a_failing_batch_is_retried_one_event_at_a_time_and_only_the_culprits_are_parked():
    calls: list[list[int]] = []

    async def handle(events: list[PaymentCompleted]) -> None:
        calls.append([e.payment_id for e in events])
        if any(e.payment_id == 55 for e in events):
            raise ValueError("a bad one in the batch")

    letters = DeadLetters()
    broker = broker_with(BatchConsumer(PAYMENT_COMPLETED, "g", handle, FAST), letters)
    culprit = payment(55)
    async with TestKafkaBroker(broker.faststream) as memory:
        batch = [encode_event(payment(54)), b"garbage", encode_event(culprit), encode_event(payment(56))]
        await memory.publish_batch(*batch, topic=TOPIC)
    assert calls == [[54, 55, 56]] * 3 + [[54], [55], [55], [55], [56]]
    assert [(value, h["x-dead-letter-reason"][:6]) for _, value, h in letters.sent] == [
        (b"garbage", "undeco"),
        (encode_event(culprit), "failed"),
    ]


async def test_a_message_that_cannot_be_parked_is_read_again_not_acknowledged(monkeypatch):
    monkeypatch.setattr(consuming, "REREAD_PAUSE", 0.0)
    told: list[str] = []

    async def handle(event: PaymentCompleted) -> None:
        raise Permanent("refused")

    async def on_dead_letter(event: Event | None, reason: str) -> None:
        told.append(reason)

    broker = broker_with(
        Consumer(PAYMENT_COMPLETED, "g", handle, FAST, on_dead_letter), DeadLetters(away=True)
    )
    acknowledgements = Acknowledgements()
    broker.faststream.add_middleware(acknowledgements)
    async with TestKafkaBroker(broker.faststream) as memory:
        await memory.publish(encode_event(payment(61)), TOPIC, key=b"1")
        await memory.publish(encode_event(payment(62)), TOPIC, key=b"1")
    assert told == []  # nothing was parked
    assert [m.committed for m in acknowledgements.messages] == [AckStatus.NACKED, AckStatus.NACKED]
