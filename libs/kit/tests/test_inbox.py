"""The inbox on a real database: what a consumer handled is remembered once, per consumer."""

import uuid

import pytest_asyncio

from commerce_kit import inbox
from commerce_kit.db import KitTables


@pytest_asyncio.fixture(scope="module")
async def pool(schema_pool):
    async with schema_pool("kit_inbox", KitTables.INBOX) as pool:
        yield pool


async def test_a_batch_is_remembered_once_and_per_consumer(pool):
    first, second, third = (uuid.uuid4() for _ in range(3))
    assert await inbox.handled(pool, "platform", [first, second]) == set()
    await inbox.remember(pool, "platform", [first, second])
    await inbox.remember(pool, "platform", [second, third, third])  # a redelivery, a repeat
    assert await inbox.handled(pool, "platform", [first, second, third, uuid.uuid4()]) == {
        first,
        second,
        third,
    }
    assert await inbox.handled(pool, "history", [first]) == set()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])", [first, second, third]
        )
        == 3
    )


async def test_old_entries_are_forgotten(pool):
    old, new = uuid.uuid4(), uuid.uuid4()
    await inbox.remember(pool, "platform", [old, new])
    await pool.execute("UPDATE inbox SET handled_at = now() - interval '40 days' WHERE event_id = $1", old)
    assert await inbox.forget_older_than(pool, 30) >= 1
    assert await inbox.handled(pool, "platform", [old, new]) == {new}
