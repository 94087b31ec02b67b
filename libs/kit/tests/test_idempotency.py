"""Idempotency keys on a real database: claims never race (no check-then-insert)."""

import asyncio

import pytest
import pytest_asyncio

from commerce_kit import idempotency
from commerce_kit.db import KitTables
from commerce_kit.errors import IdempotencyInProgress, IdempotencyKeyReused


@pytest_asyncio.fixture(scope="module")
async def pool(schema_pool):
    async with schema_pool("kit_idem", KitTables.IDEMPOTENCY) as pool:
        yield pool


async def test_the_owner_completes_and_a_retry_replays(pool):
    print_ = idempotency.fingerprint("op", {"a": 1})
    async with pool.acquire() as conn, conn.transaction():
        assert await idempotency.claim(conn, 1, "k1", print_) is None
        await idempotency.complete(conn, 1, "k1", idempotency.StoredAnswer(201, {"id": 5}))
    async with pool.acquire() as conn:
        assert await idempotency.claim(conn, 1, "k1", print_) == idempotency.StoredAnswer(201, {"id": 5})


async def test_the_fingerprint_ignores_key_order_but_not_values():
    assert idempotency.fingerprint("op", {"a": 1, "b": 2}) == idempotency.fingerprint("op", {"b": 2, "a": 1})
    assert idempotency.fingerprint("op", {"a": 1}) != idempotency.fingerprint("op", {"a": 2})
    assert idempotency.fingerprint("op", {"a": 1}) != idempotency.fingerprint("other", {"a": 1})


async def test_another_request_with_the_key_is_refused(pool):
    async with pool.acquire() as conn, conn.transaction():
        await idempotency.claim(conn, 2, "k", idempotency.fingerprint("op", 1))
        await idempotency.complete(conn, 2, "k", idempotency.StoredAnswer(200, {}))
    async with pool.acquire() as conn:
        with pytest.raises(IdempotencyKeyReused):
            await idempotency.claim(conn, 2, "k", idempotency.fingerprint("op", 2))


async def test_lookup_is_read_only_and_says_what_a_claim_would(pool):
    print_ = idempotency.fingerprint("saga", 1)
    async with pool.acquire() as conn:
        assert await idempotency.lookup(conn, 3, "long", print_) is None
        assert await idempotency.lookup(conn, 3, "long", print_) is None  # it claimed nothing
        async with conn.transaction():  # the claim commits with the operation's start
            assert await idempotency.claim(conn, 3, "long", print_) is None
        with pytest.raises(IdempotencyInProgress):
            await idempotency.lookup(conn, 3, "long", print_)
        with pytest.raises(IdempotencyKeyReused):
            await idempotency.lookup(conn, 3, "long", idempotency.fingerprint("saga", 2))
        await idempotency.complete(conn, 3, "long", idempotency.StoredAnswer(201, {"id": 1}))
        assert await idempotency.lookup(conn, 3, "long", print_) == idempotency.StoredAnswer(201, {"id": 1})


async def test_remember_stores_a_refusal_unless_a_concurrent_request_answered_first(pool):
    print_ = idempotency.fingerprint("pay", {"orderId": 9})
    refused = idempotency.StoredAnswer(409, {"code": "INVALID_ORDER_STATE"})
    async with pool.acquire() as conn:
        assert await idempotency.remember(conn, 6, "r", print_, refused) == refused
        assert await idempotency.lookup(conn, 6, "r", print_) == refused
        # The key already holds an answer: that one is given, not the new one.
        other = idempotency.StoredAnswer(404, {"code": "ORDER_NOT_FOUND"})
        assert await idempotency.remember(conn, 6, "r", print_, other) == refused


async def test_concurrent_claims_in_transactions_wait_for_the_first_and_replay_it(pool):
    print_ = idempotency.fingerprint("op", "same")
    effects = 0

    async def attempt():
        nonlocal effects
        async with pool.acquire() as conn, conn.transaction():
            stored = await idempotency.claim(conn, 4, "race", print_)
            if stored is not None:
                return stored
            effects += 1
            await asyncio.sleep(0.05)  # the effect takes a while; the others must wait, not run
            answer = idempotency.StoredAnswer(200, {"n": effects})
            await idempotency.complete(conn, 4, "race", answer)
            return answer

    answers = await asyncio.gather(*(attempt() for _ in range(10)))
    assert effects == 1 and {a.body["n"] for a in answers} == {1}


async def test_old_keys_are_forgotten(pool):
    async with pool.acquire() as conn:
        await idempotency.claim(conn, 5, "old", b"x")
        await idempotency.complete(conn, 5, "old", idempotency.StoredAnswer(200, {}))
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '49 hours' WHERE user_id = 5"
        )
    assert await idempotency.forget_older_than(pool, 48) == 1
