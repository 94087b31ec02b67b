"""The reliable consumer on a real Kafka broker: at-least-once, bounded retries, dead letters, and a
partition that never stays blocked."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit.messaging import (
    BatchConsumer,
    Consumer,
    Permanent,
    Retry,
    create_broker,
    publish,
    subscribe,
    subscribe_batch,
)
from commerce_kit.testing import eventually
from commerce_kit.testing.events import payment_completed as payment

FAST = Retry(attempts=3, first_delay=0.01, max_delay=0.02)


async def dead_letters(settings, topic_name: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(
        settings.topic(topic_name),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list = []
    try:

        async def read():
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
            return len(records) >= expected

        await eventually(read, timeout=20, what=f"{expected} dead letters")
    finally:
        await consumer.stop()
    return records


def settings_with(kit_settings, prefix):
    return kit_settings.model_copy(update={"topic_prefix": prefix})


async def run(settings, consumer: Consumer):
    broker = create_broker(settings, client_id="kit-test")
    subscribe(broker, settings, consumer)
    await broker.start()
    return broker


async def test_each_event_is_handled_and_committed_once(kit_settings, fresh_topics):
    settings = settings_with(kit_settings, fresh_topics)
    seen: list[int] = []

    async def handle(event: PaymentCompleted) -> None:
        seen.append(event.payment_id)

    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-once", handle, FAST))
    for n in (1, 2, 3):
        await publish(broker, settings, PAYMENT_COMPLETED, payment(n))
    await eventually(lambda: asyncio.sleep(0, len(seen) == 3), timeout=20, what="three events")
    await broker.stop()

    # A new member of the same group starts from the committed offsets: nothing is read again.
    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-once", handle, FAST))
    await publish(broker, settings, PAYMENT_COMPLETED, payment(4))
    await eventually(lambda: asyncio.sleep(0, 4 in seen), timeout=20, what="the fourth event")
    await broker.stop()
    assert seen == [1, 2, 3, 4]


async def test_a_failing_handler_is_retried_and_then_succeeds(kit_settings, fresh_topics):
    settings = settings_with(kit_settings, fresh_topics)
    attempts: list[int] = []

    async def flaky(event: PaymentCompleted) -> None:
        attempts.append(event.payment_id)
        if len(attempts) < 3:
            raise ConnectionError("database briefly away")

    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-flaky", flaky, FAST))
    await publish(broker, settings, PAYMENT_COMPLETED, payment(7))
    await eventually(lambda: asyncio.sleep(0, len(attempts) == 3), timeout=20, what="three attempts")
    await broker.stop()
    assert attempts == [7, 7, 7]


async def test_a_message_that_keeps_failing_is_dead_lettered_and_the_partition_moves_on(
    kit_settings, fresh_topics
):
    settings = settings_with(kit_settings, fresh_topics)
    handled: list[int] = []
    parked: list[tuple[int | None, str]] = []

    async def handle(event: PaymentCompleted) -> None:
        if event.payment_id == 13:
            raise ValueError("unlucky")
        handled.append(event.payment_id)

    async def on_dead_letter(event, reason):
        parked.append((event.payment_id if event else None, reason))

    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-poison", handle, FAST, on_dead_letter))
    for n in (12, 13, 14):
        await publish(broker, settings, PAYMENT_COMPLETED, payment(n))
    await eventually(lambda: asyncio.sleep(0, handled == [12, 14]), timeout=20, what="12 and 14 handled")
    await broker.stop()
    assert parked == [(13, "failed 3 times, last: ValueError: unlucky")]
    [letter] = await dead_letters(settings, PAYMENT_COMPLETED.dead_letter, 1)
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["x-dead-letter-reason"].startswith("failed 3 times")
    assert headers["x-consumer-group"] == settings.topic("g-poison") and headers["x-attempts"] == "3"
    assert b'"payment_id":13' in letter.value and letter.key == b"1"


async def test_an_undecodable_message_is_dead_lettered_at_once(kit_settings, fresh_topics):
    settings = settings_with(kit_settings, fresh_topics)
    handled: list[int] = []
    parked: list[tuple[object, str]] = []

    async def handle(event: PaymentCompleted) -> None:
        handled.append(event.payment_id)

    async def on_dead_letter(event, reason):
        parked.append((event, reason))

    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-garbage", handle, FAST, on_dead_letter))
    await broker.producer.send_and_wait(
        settings.topic(PAYMENT_COMPLETED.name), b"\x00 definitely not json", key=b"1"
    )
    await publish(broker, settings, PAYMENT_COMPLETED, payment(21))
    await eventually(lambda: asyncio.sleep(0, handled == [21]), timeout=20, what="the good event")
    await broker.stop()
    assert len(parked) == 1 and parked[0][0] is None and parked[0][1].startswith("undecodable")
    [letter] = await dead_letters(settings, PAYMENT_COMPLETED.dead_letter, 1)
    assert letter.value == b"\x00 definitely not json"


async def test_a_permanent_failure_is_not_retried(kit_settings, fresh_topics):
    settings = settings_with(kit_settings, fresh_topics)
    attempts: list[int] = []

    async def handle(event: PaymentCompleted) -> None:
        attempts.append(event.payment_id)
        raise Permanent("no such order, and there never will be")

    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-permanent", handle, FAST))
    await publish(broker, settings, PAYMENT_COMPLETED, payment(31))
    [letter] = await dead_letters(settings, PAYMENT_COMPLETED.dead_letter, 1)
    await broker.stop()
    assert attempts == [31]
    assert dict(letter.headers)["x-dead-letter-reason"].startswith(b"permanent")


async def test_a_message_in_flight_when_the_consumer_dies_is_delivered_again(kit_settings, fresh_topics):
    settings = settings_with(kit_settings, fresh_topics)
    started = asyncio.Event()

    async def never_finishes(event: PaymentCompleted) -> None:
        started.set()
        await asyncio.Event().wait()

    broker = create_broker(settings, client_id="kit-test", graceful_timeout=0.5)
    subscribe(broker, settings, Consumer(PAYMENT_COMPLETED, "g-crash", never_finishes, FAST))
    await broker.start()
    await publish(broker, settings, PAYMENT_COMPLETED, payment(41))
    await asyncio.wait_for(started.wait(), 20)
    await broker.stop()  # the handler is cancelled: nothing was acknowledged

    redelivered: list[int] = []

    async def handle(event: PaymentCompleted) -> None:
        redelivered.append(event.payment_id)

    broker = await run(settings, Consumer(PAYMENT_COMPLETED, "g-crash", handle, FAST))
    await eventually(lambda: asyncio.sleep(0, redelivered == [41]), timeout=30, what="the redelivery")
    await broker.stop()


async def run_batch(settings, consumer: BatchConsumer):
    broker = create_broker(settings, client_id="kit-test")
    subscribe_batch(broker, settings, consumer)
    await broker.start()
    return broker


async def test_a_batch_consumer_gets_many_events_at_once_in_partition_order(kit_settings, fresh_topics):
    settings = settings_with(kit_settings, fresh_topics)
    batches: list[list[int]] = []

    async def handle(events: list[PaymentCompleted]) -> None:
        batches.append([e.payment_id for e in events])

    producer = create_broker(settings, client_id="kit-test-producer")
    await producer.start()
    for n in range(1, 201):
        await publish(producer, settings, PAYMENT_COMPLETED, payment(n))
    await producer.stop()
    broker = await run_batch(
        settings, BatchConsumer(PAYMENT_COMPLETED, "g-batch", handle, FAST, max_records=100)
    )
    await eventually(lambda: asyncio.sleep(0, sum(map(len, batches)) == 200), timeout=20, what="200 events")
    await broker.stop()
    assert [n for batch in batches for n in batch] == list(range(1, 201))
    assert max(map(len, batches)) > 1  # really batched


async def test_a_failing_batch_is_retried_one_by_one_and_only_the_culprit_is_parked(
    kit_settings, fresh_topics
):
    settings = settings_with(kit_settings, fresh_topics)
    settled: list[int] = []
    parked: list[int | None] = []

    async def handle(events: list[PaymentCompleted]) -> None:
        if any(e.payment_id == 55 for e in events):
            raise ValueError("a bad one in the batch")
        settled.extend(e.payment_id for e in events)

    async def on_dead_letter(event, reason):
        parked.append(event.payment_id if event else None)

    producer = create_broker(settings, client_id="kit-test-producer")
    await producer.start()
    for n in range(50, 60):
        await publish(producer, settings, PAYMENT_COMPLETED, payment(n))
    await producer.producer.send_and_wait(settings.topic(PAYMENT_COMPLETED.name), b"garbage", key=b"1")
    await producer.stop()
    broker = await run_batch(
        settings,
        BatchConsumer(PAYMENT_COMPLETED, "g-batch-poison", handle, FAST, on_dead_letter, max_records=100),
    )
    await eventually(
        lambda: asyncio.sleep(0, len(settled) == 9 and len(parked) == 2), timeout=30, what="settled"
    )
    await broker.stop()
    assert sorted(settled) == [50, 51, 52, 53, 54, 56, 57, 58, 59]
    assert sorted(parked, key=str) == [55, None]
    letters = await dead_letters(settings, PAYMENT_COMPLETED.dead_letter, 2)
    assert {dict(r.headers)["x-dead-letter-reason"][:6] for r in letters} == {b"undeco", b"failed"}
