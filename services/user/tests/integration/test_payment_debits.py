"""The internal API the payment saga uses: debit and give back, idempotent on the payment id."""

import asyncio
import itertools

import pytest

from commerce_kit.testing import tokens

_payment_ids = itertools.count(int(__import__("time").time() * 1000) % 10**12)


def payment_id() -> int:
    return next(_payment_ids)


async def funded_user(client, new_user, amount):
    user = await new_user()
    if amount:
        answer = await client.post(
            f"/api/v1/users/{user}/balance/charge", json={"amount": amount}, headers=tokens.bearer(user)
        )
        assert answer.status_code == 200
    return user


async def debit(client, pid, user, amount, headers=None):
    return await client.put(
        f"/internal/v1/payments/{pid}/debit",
        json={"userId": user, "amount": amount, "orderId": 77},
        headers=tokens.service() if headers is None else headers,
    )


async def give_back(client, pid, user):
    return await client.put(
        f"/internal/v1/payments/{pid}/give-back", json={"userId": user}, headers=tokens.service()
    )


async def balance(pool, user):
    return await pool.fetchval("SELECT balance FROM wallets WHERE user_id = $1", user)


async def test_a_debit_takes_the_amount_once_however_often_it_is_sent(client, new_user, pool):
    user, pid = await funded_user(client, new_user, 10_000), payment_id()
    first = await debit(client, pid, user, 4_000)
    assert first.status_code == 200
    assert first.json() == {
        "paymentId": pid,
        "userId": user,
        "amount": 4_000,
        "status": "TAKEN",
        "balanceAfter": 6_000,
    }
    again = await debit(client, pid, user, 4_000)
    assert again.json() == first.json()
    assert await balance(pool, user) == 6_000


async def test_a_debit_larger_than_the_balance_is_refused_and_stays_refused(client, new_user, pool):
    user, pid = await funded_user(client, new_user, 1_000), payment_id()
    refused = await debit(client, pid, user, 5_000)
    assert refused.json()["status"] == "REFUSED"
    await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 10_000}, headers=tokens.bearer(user)
    )
    assert (await debit(client, pid, user, 5_000)).json()["status"] == "REFUSED"  # same answer on retry
    assert await balance(pool, user) == 11_000


async def test_giving_back_returns_the_money_once(client, new_user, pool):
    user, pid = await funded_user(client, new_user, 10_000), payment_id()
    await debit(client, pid, user, 4_000)
    answers = [await give_back(client, pid, user) for _ in range(3)]
    assert {a.json()["status"] for a in answers} == {"GIVEN_BACK"}
    assert await balance(pool, user) == 10_000


async def test_a_give_back_before_the_debit_voids_the_payment_so_a_late_debit_takes_nothing(
    client, new_user, pool
):
    user, pid = await funded_user(client, new_user, 10_000), payment_id()
    assert (await give_back(client, pid, user)).json()["status"] == "VOIDED"
    late = await debit(client, pid, user, 4_000)
    assert late.json()["status"] == "VOIDED"
    assert await balance(pool, user) == 10_000


async def test_the_saga_can_ask_what_became_of_a_debit(client, new_user):
    user, pid = await funded_user(client, new_user, 10_000), payment_id()
    unknown = await client.get(f"/internal/v1/payments/{pid}/debit", headers=tokens.service())
    assert unknown.status_code == 404
    await debit(client, pid, user, 1_000)
    known = await client.get(f"/internal/v1/payments/{pid}/debit", headers=tokens.service())
    assert known.json()["status"] == "TAKEN" and known.json()["balanceAfter"] == 9_000


async def test_a_payment_id_reused_with_another_amount_is_a_conflict(client, new_user, pool):
    user, pid = await funded_user(client, new_user, 10_000), payment_id()
    await debit(client, pid, user, 1_000)
    answer = await debit(client, pid, user, 2_000)
    assert answer.status_code == 409
    assert await balance(pool, user) == 9_000


async def test_a_debit_for_an_unknown_user_is_not_found_and_records_nothing(client, pool):
    pid = payment_id()
    answer = await debit(client, pid, 987654323, 1_000)
    assert answer.status_code == 404 and answer.json()["code"] == "USER_NOT_FOUND"
    assert await pool.fetchval("SELECT count(*) FROM payment_debits WHERE payment_id = $1", pid) == 0


@pytest.mark.parametrize("headers", [tokens.bearer(1), tokens.admin(), {}])
async def test_only_services_may_call_the_internal_api(client, new_user, pool, headers):
    user = await funded_user(client, new_user, 10_000)
    answer = await debit(client, payment_id(), user, 1_000, headers=headers)
    assert answer.status_code in (401, 403)
    assert await balance(pool, user) == 10_000


async def test_concurrent_debits_never_take_more_than_the_balance(client, new_user, pool):
    user = await funded_user(client, new_user, 10_000)
    answers = await asyncio.gather(*(debit(client, payment_id(), user, 3_000) for _ in range(10)))
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["REFUSED"] * 7 + ["TAKEN"] * 3
    assert await balance(pool, user) == 1_000


async def test_the_same_debit_sent_20_times_at_once_takes_once(client, new_user, pool):
    user, pid = await funded_user(client, new_user, 10_000), payment_id()
    answers = await asyncio.gather(*(debit(client, pid, user, 2_500) for _ in range(20)))
    assert {a.json()["status"] for a in answers} == {"TAKEN"}
    assert await balance(pool, user) == 7_500
