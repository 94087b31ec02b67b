"""The history reads like a bank statement (issue 17, point 7): each row's time is the moment its
balance changed, rows are newest first by that moment (ties by id), paged on that order, and each
row's balance after follows from the row below it, however the charges, debits, give-backs and the
history consumer's late rows interleave."""

import asyncio
import itertools
import random
import time
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import create_broker, publish
from commerce_kit.paging import encode_cursor
from commerce_kit.testing import eventually, tokens

_ids = itertools.count(int(time.time() * 1000) % 10**11 + 2 * 10**12)
_LINE = PaidLine(product_id=1, option_id=2, quantity=1, unit_price=1)


@pytest_asyncio.fixture(scope="module")
async def broker(settings):
    broker = create_broker(settings, client_id="user-test-history-order")
    await broker.start()
    yield broker
    await broker.stop()


async def statement(client, user, size):
    """Every row of the user's history, page after page, as the API gives them."""
    rows, cursor = [], None
    while True:
        params = {"size": size} | ({"cursor": cursor} if cursor else {})
        page = await client.get(
            f"/api/v1/users/{user}/transactions", params=params, headers=tokens.bearer(user)
        )
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return rows


async def test_concurrent_charges_payments_and_refunds_leave_a_statement_whose_rows_chain(
    client, new_user, pool, broker, settings
):
    user = await new_user()
    me = tokens.bearer(user)

    async def charge(amount):
        answer = await client.post(
            f"/api/v1/users/{user}/balance/charge", json={"amount": amount}, headers=me
        )
        assert answer.status_code == 200, answer.text

    async def pay(amount, refunded):
        """The saga's calls and the payment service's events, as the payment service makes them."""
        payment_id, order_id = next(_ids), next(_ids)
        debit = await client.put(
            f"/internal/v1/payments/{payment_id}/debit",
            json={"userId": user, "amount": amount, "orderId": order_id},
            headers=tokens.service(),
        )
        assert debit.json()["status"] == "TAKEN", debit.text
        paid_at = datetime.now(UTC)
        completed = PaymentCompleted(
            payment_id=payment_id,
            order_id=order_id,
            user_id=user,
            amount=amount,
            items=(_LINE,),
            paid_at=paid_at,
            balance_after=debit.json()["balanceAfter"],
        )
        await publish(broker, settings, PAYMENT_COMPLETED, completed)
        if refunded:
            back = await client.put(
                f"/internal/v1/payments/{payment_id}/give-back",
                json={"userId": user},
                headers=tokens.service(),
            )
            assert back.json()["status"] == "GIVEN_BACK", back.text
            refund = PaymentRefunded(
                payment_id=payment_id,
                order_id=order_id,
                user_id=user,
                amount=amount,
                items=(_LINE,),
                paid_at=paid_at,
                refunded_at=datetime.now(UTC),
                balance_after=back.json()["balanceAfter"],
            )
            await publish(broker, settings, PAYMENT_REFUNDED, refund)

    await charge(1_000_000)  # enough that no payment below is refused
    work = [charge(1_000 + i) for i in range(40)] + [pay(2_000 + i, refunded=i % 3 == 0) for i in range(40)]
    random.shuffle(work)
    await asyncio.gather(*work)
    expected = 1 + 40 + 40 + 14

    async def all_rows():
        count = await pool.fetchval("SELECT count(*) FROM wallet_transactions WHERE user_id = $1", user)
        return count == expected

    await eventually(all_rows, timeout=60, what="every PAYMENT and REFUND row")

    rows = await statement(client, user, size=7)
    assert len(rows) == expected and len({r["id"] for r in rows}) == expected  # each row once
    keys = [(datetime.fromisoformat(r["createdAt"]), r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)  # newest first (ties by id)
    assert len({at for at, _ in keys}) == expected  # one wallet's moments never tie
    sign = {"CHARGE": 1, "REFUND": 1, "PAYMENT": -1}
    for row, below in itertools.pairwise(rows):
        assert row["balanceAfter"] == below["balanceAfter"] + sign[row["type"]] * row["amount"], (row, below)
    assert rows[-1]["type"] == "CHARGE" and rows[-1]["balanceAfter"] == rows[-1]["amount"]
    balance = await client.get(f"/api/v1/users/{user}/balance", headers=me)
    assert rows[0]["balanceAfter"] == balance.json()["balance"]
    # A PAYMENT or REFUND row takes the moment its debit or give-back recorded, not the event's.
    debits = {
        r["payment_id"]: r for r in await pool.fetch("SELECT * FROM payment_debits WHERE user_id = $1", user)
    }
    for row in rows:
        if row["type"] != "CHARGE":
            debit = debits[row["paymentId"]]
            at = debit["taken_at"] if row["type"] == "PAYMENT" else debit["returned_at"]
            assert datetime.fromisoformat(row["createdAt"]) == at


async def test_the_moments_of_a_wallet_never_go_back_even_when_the_clock_does(client, new_user, pool):
    user = await new_user()
    ahead = datetime.now(UTC) + timedelta(hours=1)  # a clock that has since stepped back by an hour
    await pool.execute("UPDATE wallets SET updated_at = $2 WHERE user_id = $1", user, ahead)
    for amount in (1_000, 2_000):
        answer = await client.post(
            f"/api/v1/users/{user}/balance/charge", json={"amount": amount}, headers=tokens.bearer(user)
        )
        assert answer.status_code == 200
    rows = await statement(client, user, size=1)
    times = [datetime.fromisoformat(r["createdAt"]) for r in rows]
    assert [r["amount"] for r in rows] == [2_000, 1_000]
    assert times == [ahead + timedelta(microseconds=2), ahead + timedelta(microseconds=1)]


async def test_a_cursor_of_the_order_by_id_is_refused_with_a_clear_400(client, new_user):
    user = await new_user()
    for cursor in (encode_cursor([12]), encode_cursor(["x", 12]), encode_cursor([2**62, 12])):
        answer = await client.get(
            f"/api/v1/users/{user}/transactions", params={"cursor": cursor}, headers=tokens.bearer(user)
        )
        assert answer.status_code == 400 and answer.json()["code"] == "VALIDATION_FAILED", cursor
    old = await client.get(
        f"/api/v1/users/{user}/transactions",
        params={"cursor": encode_cursor([12])},
        headers=tokens.bearer(user),
    )
    assert "first page" in old.json()["detail"]
