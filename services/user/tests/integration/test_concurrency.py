"""Concurrent charges never lose an update; one Idempotency-Key charges once (SPEC.md section 1)."""

import asyncio

from commerce_kit.testing import tokens


async def test_200_concurrent_charges_all_count(client, new_user, pool):
    user = await new_user()
    amounts = [1_000 + i for i in range(200)]
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/users/{user}/balance/charge", json={"amount": a}, headers=tokens.bearer(user)
            )
            for a in amounts
        )
    )
    assert [a.status_code for a in answers] == [200] * 200
    assert await pool.fetchval("SELECT balance FROM wallets WHERE user_id = $1", user) == sum(amounts)
    rows = await pool.fetch(
        "SELECT amount, balance_after FROM wallet_transactions WHERE user_id = $1 ORDER BY id", user
    )
    assert len(rows) == 200 and sorted(r["amount"] for r in rows) == amounts
    # The rows tell a consistent story: each balance_after is the previous one plus the amount.
    running = 0
    for row in rows:
        running += row["amount"]
        assert row["balance_after"] == running


async def test_one_key_retried_50_times_concurrently_charges_once(client, new_user, pool):
    user = await new_user()
    headers = {**tokens.bearer(user), "Idempotency-Key": "same-key"}
    answers = await asyncio.gather(
        *(
            client.post(f"/api/v1/users/{user}/balance/charge", json={"amount": 3_000}, headers=headers)
            for _ in range(50)
        )
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1  # every retry replays the first answer
    assert await pool.fetchval("SELECT balance FROM wallets WHERE user_id = $1", user) == 3_000
    assert await pool.fetchval("SELECT count(*) FROM wallet_transactions WHERE user_id = $1", user) == 1


async def test_concurrent_charges_stop_exactly_at_the_balance_limit(client, new_user, pool):
    user = await new_user()
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/users/{user}/balance/charge",
                json={"amount": 1_000_000},
                headers=tokens.bearer(user),
            )
            for _ in range(15)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 10 + [422] * 5
    assert await pool.fetchval("SELECT balance FROM wallets WHERE user_id = $1", user) == 10_000_000
    assert await pool.fetchval("SELECT count(*) FROM wallet_transactions WHERE user_id = $1", user) == 10
