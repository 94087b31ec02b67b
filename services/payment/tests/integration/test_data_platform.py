"""ExternalDataConsumer against a real HTTP stand-in of the data platform: every completed payment is
delivered, once after deduplication, in the platform's format, through the platform's bad moments."""

import itertools
import time
from datetime import UTC, datetime

import httpx
import pytest_asyncio

from commerce_contracts.events.payments import PaidLine, PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit.messaging import create_broker, publish
from commerce_kit.testing import eventually

_ids = itertools.count(int(time.time() * 1000) % 10**11 + 3 * 10**11)


@pytest_asyncio.fixture(scope="module")
async def broker(settings):
    broker = create_broker(settings, client_id="payment-test-producer")
    await broker.start()
    yield broker
    await broker.stop()


def completed(payment_id: int) -> PaymentCompleted:
    return PaymentCompleted(
        payment_id=payment_id,
        order_id=payment_id + 1,
        user_id=3,
        amount=27_000,
        items=(PaidLine(product_id=10, option_id=101, quantity=2, unit_price=15_000),),
        user_coupon_id=5,
        balance_after=73_000,
        paid_at=datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
    )


async def mode(url: str, value: str, delay: float = 10.0, refuse: tuple[int, ...] = ()) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(
            url.replace("/payments", "/_mode"),
            json={"mode": value, "delaySeconds": delay, "refusePaymentIds": list(refuse)},
        )


async def test_each_payment_reaches_the_platform_once_in_its_format(app, platform, broker, settings):
    stand_in, _ = platform
    event = completed(next(_ids))
    for _ in range(3):  # redelivered: the inbox and the platform's dedup both hold
        await publish(broker, settings, PAYMENT_COMPLETED, event)
    key = str(event.event_id)
    await eventually(lambda: _true(key in stand_in.payments), what="the delivery")
    assert stand_in.payments[key] == {
        "eventId": key,
        "paymentId": event.payment_id,
        "orderId": event.order_id,
        "userId": 3,
        "amount": 27_000,
        "items": [{"productId": 10, "optionId": 101, "quantity": 2, "unitPrice": 15_000}],
        "paidAt": "2026-11-24T03:00:00+00:00",
    }


async def test_a_platform_that_fails_for_a_while_still_gets_every_payment(app, platform, broker, settings):
    stand_in, url = platform
    await mode(url, "fail")
    events = [completed(next(_ids)) for _ in range(3)]
    for event in events:
        await publish(broker, settings, PAYMENT_COMPLETED, event)
    failures = await eventually(lambda: _metric("data_platform_failures_total"), what="failed attempts")
    assert failures >= 1 and not any(str(e.event_id) in stand_in.payments for e in events)
    await mode(url, "ok")
    await eventually(
        lambda: _true(all(str(e.event_id) in stand_in.payments for e in events)),
        timeout=60,
        what="every payment delivered after the platform recovered",
    )


async def test_a_slow_platform_times_out_and_is_retried(app, platform, broker, settings):
    stand_in, url = platform
    await mode(url, "slow", delay=5)  # longer than the 1 s delivery timeout of these tests
    event = completed(next(_ids))
    await publish(broker, settings, PAYMENT_COMPLETED, event)
    await eventually(lambda: _metric("data_platform_failures_total", reason="unreachable"), what="a timeout")
    await mode(url, "ok")
    await eventually(lambda: _true(str(event.event_id) in stand_in.payments), timeout=60, what="the delivery")


async def test_a_payment_the_platform_refuses_is_dead_lettered_and_the_rest_of_its_batch_delivered(
    app, platform, broker, settings
):
    stand_in, url = platform
    events = [completed(next(_ids)) for _ in range(4)]
    refused = events[1]
    await mode(url, "ok", refuse=(refused.payment_id,))
    parked = await _metric("kafka_messages_consumed_total", outcome="dead_lettered")
    try:
        for event in events:  # most likely one batch: the refusal must not hold the others back
            await publish(broker, settings, PAYMENT_COMPLETED, event)
        await eventually(
            lambda: _true(all(str(e.event_id) in stand_in.payments for e in events if e is not refused)),
            what="the others delivered",
        )
        await eventually(
            lambda: _true(parked < _metric_now("kafka_messages_consumed_total", outcome="dead_lettered")),
            what="the refused payment dead-lettered",
        )
    finally:
        await mode(url, "ok")
    assert str(refused.event_id) not in stand_in.payments
    assert await _metric("kafka_messages_consumed_total", outcome="dead_lettered") == parked + 1


async def _true(value: bool) -> bool:
    return value


async def _metric(name: str, **labels: str) -> float:
    return _metric_now(name, **labels)


def _metric_now(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
