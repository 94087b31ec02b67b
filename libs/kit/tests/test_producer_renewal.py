"""messaging.RenewingProducer: an idempotent producer left with a sequence gap (a send that failed
once numbered, as after a Kafka outage) is replaced by a new one on the next send, once, and the
failed send's error still reaches its caller. Unit tests on a fake producer, then the real thing: a
gap made in a real producer's sequence numbers, through `create_broker`'s broker and FastPublisher."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.structs import TopicPartition

from commerce_contracts import decode_event
from commerce_contracts.events.payments import PaidLine, PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit import outbox
from commerce_kit.messaging import FastPublisher, RenewingProducer, create_broker, publish
from commerce_kit.testing import eventually


class FakeProducer:
    """The part of AIOKafkaProducer RenewingProducer uses; each send's future is settled by the test."""

    def __init__(self, *, start_fails: bool = False, start_takes: float = 0.0) -> None:
        self.start_fails, self.start_takes = start_fails, start_takes
        self.started = self.stopped = False
        self.sent: list[asyncio.Future[str]] = []
        self.send_raises: BaseException | None = None

    async def start(self) -> None:
        await asyncio.sleep(self.start_takes)
        if self.start_fails:
            raise KafkaConnectionError("Unable to bootstrap")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
        if self.send_raises is not None:
            raise self.send_raises
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.sent.append(future)
        return future


class Factory:
    def __init__(self, *plans: dict) -> None:
        self.plans = list(plans)
        self.made: list[FakeProducer] = []

    def __call__(self) -> FakeProducer:
        producer = FakeProducer(**(self.plans.pop(0) if self.plans else {}))
        self.made.append(producer)
        return producer


async def started(factory: Factory, **options) -> RenewingProducer:
    producer = RenewingProducer(factory, **options)
    await producer.start()
    return producer


async def test_a_send_that_fails_once_queued_gets_its_error_and_the_next_send_a_new_producer():
    factory = Factory()
    producer = await started(factory)
    first = await producer.send("t", b"1")
    factory.made[0].sent[0].set_result("ok")
    assert await first == "ok"

    failed = await producer.send("t", b"2")
    factory.made[0].sent[1].set_exception(LeaderNotAvailableError())  # a batch expired, numbered
    await asyncio.sleep(0)  # its callbacks run
    with pytest.raises(LeaderNotAvailableError):
        await failed  # the caller learns it was not sent: nothing is reported sent unacknowledged
    assert len(factory.made) == 1  # replaced lazily, by the next send

    third = await producer.send("t", b"3")
    assert len(factory.made) == 2 and factory.made[1].started and producer.producer is factory.made[1]
    await asyncio.sleep(0)  # the old producer is stopped in the background
    assert factory.made[0].stopped and not factory.made[1].stopped
    factory.made[1].sent[0].set_result("ok")
    assert await third == "ok"
    await producer.stop()
    assert factory.made[1].stopped


async def test_concurrent_sends_after_a_failure_replace_the_producer_once():
    factory = Factory({}, {"start_takes": 0.05})
    producer = await started(factory)
    failed = await producer.send("t", b"0")
    factory.made[0].sent[0].set_exception(OutOfOrderSequenceNumber())
    await asyncio.sleep(0)
    with pytest.raises(OutOfOrderSequenceNumber):
        await failed
    await asyncio.gather(*(producer.send("t", str(n).encode()) for n in range(20)))
    assert len(factory.made) == 2 and len(factory.made[1].sent) == 20
    await producer.stop()


async def test_while_kafka_is_away_sends_fail_fast_and_the_producer_is_replaced_once_it_is_back():
    factory = Factory({}, {"start_fails": True}, {})
    producer = await started(factory, renew_every=0.2)
    failed = await producer.send("t", b"0")
    factory.made[0].sent[0].set_exception(LeaderNotAvailableError())
    await asyncio.sleep(0)
    with pytest.raises(LeaderNotAvailableError):
        await failed
    with pytest.raises(KafkaConnectionError):  # the attempt to replace it: Kafka is away
        await producer.send("t", b"1")
    assert factory.made[1].stopped  # a producer that could not start is not left behind
    for _ in range(5):  # meanwhile: no new attempt, a retriable error at once
        with pytest.raises(KafkaConnectionError, match="awaits its replacement"):
            await producer.send("t", b"2")
    assert len(factory.made) == 2
    await asyncio.sleep(0.25)
    await producer.send("t", b"3")
    assert len(factory.made) == 3 and producer.producer is factory.made[2]
    await producer.stop()


async def test_errors_before_queueing_replace_the_producer_only_when_they_are_about_its_state():
    factory = Factory()
    producer = await started(factory)
    for harmless in (KafkaTimeoutError(), MessageSizeTooLargeError()):  # no metadata / too large
        factory.made[0].send_raises = harmless
        with pytest.raises(type(harmless)):
            await producer.send("t", b"x")
        factory.made[0].send_raises = None
        await producer.send("t", b"x")
        assert len(factory.made) == 1
    factory.made[0].send_raises = UnknownProducerId()
    with pytest.raises(UnknownProducerId):
        await producer.send("t", b"x")
    await producer.send("t", b"x")
    assert len(factory.made) == 2
    await producer.stop()


async def test_cancelled_sends_and_late_failures_of_a_replaced_producer_replace_nothing():
    factory = Factory()
    producer = await started(factory)
    cancelled = await producer.send("t", b"0")
    late = await producer.send("t", b"1")
    cancelled.cancel()  # the caller gave up waiting: the message may still be sent
    await asyncio.sleep(0)
    assert producer.producer is factory.made[0]
    failed = await producer.send("t", b"2")
    failed.set_exception(OutOfOrderSequenceNumber())
    await asyncio.sleep(0)
    await producer.send("t", b"3")
    assert producer.producer is factory.made[1]
    late.set_exception(OutOfOrderSequenceNumber())  # the old producer's, settled while it stops
    await asyncio.sleep(0)
    await producer.send("t", b"4")
    assert len(factory.made) == 2
    for future in (failed, late):
        future.exception()
    await producer.stop()


def test_the_outbox_relay_retries_the_producers_failures_and_gives_up_only_on_the_rows():
    assert outbox._is_outage(OutOfOrderSequenceNumber())
    assert outbox._is_outage(UnknownProducerId())
    assert outbox._is_outage(LeaderNotAvailableError())
    assert outbox._is_outage(KafkaConnectionError())
    assert not outbox._is_outage(MessageSizeTooLargeError())


# The real producer. A gap in its sequence numbers is made by hand (what an expired batch leaves):
# the broker then refuses the partition's next batch with OutOfOrderSequenceNumber, and without the
# renewal every later one too.


def payment(n: int) -> PaymentCompleted:
    return PaymentCompleted(
        payment_id=n,
        order_id=1,  # one key: one partition
        user_id=1,
        amount=100,
        items=(PaidLine(product_id=1, option_id=1, quantity=1, unit_price=100),),
        paid_at=datetime.now(UTC),
    )


async def make_gap(renewing: RenewingProducer, topic: str) -> None:
    aio = renewing.producer
    for partition in await aio.partitions_for(topic):
        aio._txn_manager.increment_sequence_number(TopicPartition(topic, partition), 5)


async def read_payments(settings, expected: int) -> list[int]:
    consumer = AIOKafkaConsumer(
        settings.topic(PAYMENT_COMPLETED.name),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[int] = []
    try:

        async def read() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(decode_event(r.value, PaymentCompleted).payment_id for r in records)
            return len(found) >= expected

        await eventually(read, timeout=20, what=f"{expected} events")
        await asyncio.sleep(0.5)  # anything more would show too
        for records in (await consumer.getmany(timeout_ms=200)).values():
            found.extend(decode_event(r.value, PaymentCompleted).payment_id for r in records)
    finally:
        await consumer.stop()
    return found


async def test_the_brokers_producer_sends_again_after_a_sequence_gap(kit_settings, fresh_topics):
    settings = kit_settings.model_copy(update={"topic_prefix": fresh_topics})
    broker = create_broker(settings, client_id="kit-renewal-test")
    await broker.start()
    try:
        await publish(broker, settings, PAYMENT_COMPLETED, payment(1))
        await make_gap(broker.producer, settings.topic(PAYMENT_COMPLETED.name))
        with pytest.raises(OutOfOrderSequenceNumber):
            await publish(broker, settings, PAYMENT_COMPLETED, payment(2))
        await publish(broker, settings, PAYMENT_COMPLETED, payment(3))
        await publish(broker, settings, PAYMENT_COMPLETED, payment(4))
    finally:
        await broker.stop()
    assert await read_payments(settings, 3) == [1, 3, 4]


async def test_the_fast_publisher_sends_again_after_a_sequence_gap(kit_settings, fresh_topics):
    settings = kit_settings.model_copy(update={"topic_prefix": fresh_topics})
    publisher = FastPublisher(settings, client_id="kit-renewal-test")
    await publisher.start()
    try:
        await publisher.publish(PAYMENT_COMPLETED, payment(1))
        await make_gap(publisher.producer, settings.topic(PAYMENT_COMPLETED.name))
        with pytest.raises(OutOfOrderSequenceNumber):
            await publisher.publish(PAYMENT_COMPLETED, payment(2))
        await publisher.publish(PAYMENT_COMPLETED, payment(3))
    finally:
        await publisher.stop()
    assert await read_payments(settings, 2) == [1, 3]
