"""FastPublisher on a real broker: many requests publishing at once go out in shared record batches,
each message once, on its key's partition, in the order the requests queued them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from commerce_contracts import decode_event
from commerce_contracts.events.payments import PaidLine, PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit.messaging import FastPublisher
from commerce_kit.testing import eventually


def payment(n: int, order: int) -> PaymentCompleted:
    return PaymentCompleted(
        payment_id=n,
        order_id=order,
        user_id=1,
        amount=100,
        items=(PaidLine(product_id=1, option_id=1, quantity=1, unit_price=100),),
        paid_at=datetime.now(UTC),
    )


async def test_concurrent_publishes_arrive_once_each_in_order_per_key(kit_settings, fresh_topics):
    settings = kit_settings.model_copy(update={"topic_prefix": fresh_topics})
    topic = settings.topic(PAYMENT_COMPLETED.name)
    events = [payment(n, order=n % 7 + 1) for n in range(1, 601)]  # 7 keys, interleaved
    publisher = FastPublisher(settings, client_id="kit-fast-publisher-test")
    await publisher.start()
    try:
        await publisher.publish(PAYMENT_COMPLETED, events[0])  # alone: goes out at once
        await asyncio.gather(*(publisher.publish(PAYMENT_COMPLETED, e) for e in events[1:]))
        partitions = sorted(await publisher.producer.producer.partitions_for(topic))
    finally:
        await publisher.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    seen: dict[int, list[tuple[int, int]]] = defaultdict(list)  # partition -> (order, payment)
    try:

        async def all_read() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for r in records:
                    e = decode_event(r.value, PaymentCompleted)
                    assert r.key == e.key.encode()
                    seen[tp.partition].append((e.order_id, e.payment_id))
            return sum(len(v) for v in seen.values()) >= len(events)

        await eventually(all_read, timeout=20, what="every event read back")
    finally:
        await consumer.stop()

    got = sorted(p for records in seen.values() for _, p in records)
    assert got == list(range(1, 601))  # each once
    by_key = DefaultPartitioner()
    for partition, records in seen.items():
        for order, _ in records:  # each key on the partition aiokafka's own send would choose
            assert by_key(str(order).encode(), partitions, partitions) == partition
        for order in {o for o, _ in records}:  # and in the order published
            mine = [p for o, p in records if o == order]
            assert mine == sorted(mine)
