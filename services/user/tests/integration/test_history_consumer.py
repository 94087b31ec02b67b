"""TransactionHistoryConsumer on a real broker: one PAYMENT row and one REFUND row per payment,
however often the events arrive, with the balance the debit and the give-back left."""

import itertools
import time
from datetime import UTC, datetime

import pytest_asyncio

from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import create_broker, publish
from commerce_kit.testing import eventually, tokens
from user_service.domain.wallet import HistoryEntry, TransactionType

_ids = itertools.count(int(time.time() * 1000) % 10**11 + 5 * 10**11)


@pytest_asyncio.fixture(scope="module")
async def broker(settings):
    broker = create_broker(settings, client_id="user-test-producer")
    await broker.start()
    yield broker
    await broker.stop()


async def rows(pool, payment_id):
    return await pool.fetch(
        "SELECT type, amount, balance_after, order_id FROM wallet_transactions"
        " WHERE payment_id = $1 ORDER BY id",
        payment_id,
    )


async def test_a_payment_and_its_refund_each_write_one_row_however_often_delivered(
    client, new_user, pool, broker, settings
):
    user, payment_id, order_id = await new_user(), next(_ids), next(_ids)
    await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 50_000}, headers=tokens.bearer(user)
    )
    taken = await client.put(
        f"/internal/v1/payments/{payment_id}/debit",
        json={"userId": user, "amount": 20_000, "orderId": order_id},
        headers=tokens.service(),
    )
    assert taken.json()["balanceAfter"] == 30_000
    line = PaidLine(product_id=1, option_id=2, quantity=1, unit_price=20_000)
    now = datetime.now(UTC)
    paid = PaymentCompleted(
        payment_id=payment_id, order_id=order_id, user_id=user, amount=20_000, items=(line,), paid_at=now
    )
    for _ in range(3):  # a redelivery, and a producer that published twice
        await publish(broker, settings, PAYMENT_COMPLETED, paid)
    await eventually(lambda: rows(pool, payment_id), what="the PAYMENT row")

    await client.put(
        f"/internal/v1/payments/{payment_id}/give-back", json={"userId": user}, headers=tokens.service()
    )
    refunded = PaymentRefunded(
        payment_id=payment_id,
        order_id=order_id,
        user_id=user,
        amount=20_000,
        items=(line,),
        paid_at=now,
        refunded_at=datetime.now(UTC),
    )
    await publish(broker, settings, PAYMENT_REFUNDED, refunded)
    await publish(broker, settings, PAYMENT_REFUNDED, refunded)

    async def both():
        found = await rows(pool, payment_id)
        return found if len(found) == 2 else None

    found = await eventually(both, what="the REFUND row")
    assert [(r["type"], r["amount"], r["balance_after"], r["order_id"]) for r in found] == [
        ("PAYMENT", 20_000, 30_000, order_id),
        ("REFUND", 20_000, 50_000, order_id),
    ]
    history = await client.get(f"/api/v1/users/{user}/transactions", headers=tokens.bearer(user))
    assert [t["type"] for t in history.json()["items"]] == ["REFUND", "PAYMENT", "CHARGE"]
    assert history.json()["items"][0]["paymentId"] == payment_id


async def test_a_batch_writes_one_row_per_payment_with_the_balance_its_debit_left(
    client, new_user, pool, app
):
    user, order_id = await new_user(), next(_ids)
    await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 50_000}, headers=tokens.bearer(user)
    )
    debited, recorded, unknown = next(_ids), next(_ids), next(_ids)
    taken = await client.put(
        f"/internal/v1/payments/{debited}/debit",
        json={"userId": user, "amount": 20_000, "orderId": order_id},
        headers=tokens.service(),
    )
    assert taken.json()["balanceAfter"] == 30_000
    now = datetime.now(UTC)

    def entry(payment_id: int, balance_after: int | None) -> HistoryEntry:
        return HistoryEntry(payment_id, user, order_id, 20_000, now, balance_after)

    wallets = app.deps.wallets
    assert await wallets.record_history(TransactionType.PAYMENT, [entry(recorded, 7)]) == 1
    # A redelivered batch: a payment twice, one recorded before, one whose debit this service has
    # not seen (its row takes the event's balance).
    batch = [entry(debited, 99), entry(recorded, 7), entry(debited, 99), entry(unknown, 5)]
    assert await wallets.record_history(TransactionType.PAYMENT, batch) == 2
    assert await wallets.record_history(TransactionType.PAYMENT, batch) == 0
    assert [(r["balance_after"]) for p in (debited, recorded, unknown) for r in await rows(pool, p)] == [
        30_000,  # the debit's, not the event's
        7,
        5,
    ]
