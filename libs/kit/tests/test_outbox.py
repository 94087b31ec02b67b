"""The outbox relay on real PostgreSQL and Kafka: published iff committed, in order per key, through
broker trouble, with N relays."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime

import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from commerce_contracts import decode_event
from commerce_contracts.events.stock import StockSet
from commerce_contracts.registry import STOCK_EVENTS
from commerce_kit import outbox
from commerce_kit.db import KitTables, create_pool, migrate_kit_tables
from commerce_kit.messaging import create_broker, ensure_topics
from commerce_kit.outbox import OutboxRelay
from commerce_kit.testing import eventually


@pytest_asyncio.fixture
async def schema_pool(test_database_url):
    """A schema of this test's own with the outbox tables, and a pool on it."""
    schema = f"outbox_{secrets.token_hex(3)}"
    await asyncio.to_thread(migrate_kit_tables, test_database_url, schema, [KitTables.OUTBOX])
    pool = await create_pool(test_database_url, schema, application_name="kit-outbox-test", min_size=1)
    yield schema, pool
    await pool.close()


@pytest_asyncio.fixture
async def relay_env(kit_settings, schema_pool, fresh_topics):
    schema, pool = schema_pool
    settings = kit_settings.model_copy(update={"topic_prefix": fresh_topics})
    brokers = []

    async def relay(**options) -> OutboxRelay:
        broker = create_broker(settings, client_id="outbox-test")
        await broker.start()
        brokers.append(broker)
        found = OutboxRelay(pool, broker.producer, settings, **options)
        found.channel = f"{schema}_outbox"
        return found

    yield settings, pool, relay
    for broker in brokers:
        await broker.stop()


def stock_set(option: int, stock: int) -> StockSet:
    return StockSet(product_id=1, option_id=option, stock_after=stock, occurred_at=datetime.now(UTC))


async def read_all(settings, topic: str, expected: int, timeout: float = 30) -> list:  # noqa: ASYNC109
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list = []
    try:

        async def enough():
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(part)
            return len(records) >= expected

        await eventually(enough, timeout=timeout, what=f"{expected} records on {topic}")
    finally:
        await consumer.stop()
    return records


def option_stock_sequences(records) -> dict[int, list[int]]:
    seen: dict[int, list[int]] = {}
    for record in records:
        event = decode_event(record.value, STOCK_EVENTS.events)
        seen.setdefault(event.option_id, []).append(event.stock_after)
    return seen


@contextlib.asynccontextmanager
async def running(*relays: OutboxRelay):
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_committed_events_are_published_in_order_per_key_and_rolled_back_ones_never(relay_env):
    settings, pool, make_relay = relay_env
    async with pool.acquire() as conn:
        for stock in range(1, 21):
            for option in (1, 2, 3):
                async with conn.transaction():
                    await outbox.add(conn, STOCK_EVENTS, stock_set(option, stock))
        try:
            async with conn.transaction():
                await outbox.add(conn, STOCK_EVENTS, stock_set(4, 999))
                raise RuntimeError("the change fails after the event was written")
        except RuntimeError:
            pass
    async with running(await make_relay()):
        records = await read_all(settings, STOCK_EVENTS.name, 60)
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), what="an empty outbox")
    assert option_stock_sequences(records) == {o: list(range(1, 21)) for o in (1, 2, 3)}
    assert all(r.key == str(decode_event(r.value, StockSet).option_id).encode() for r in records)


async def test_a_notify_wakes_the_relay_without_waiting_for_the_poll(relay_env):
    settings, pool, make_relay = relay_env
    relay = await make_relay(poll_seconds=3600)
    async with running(relay):
        await eventually(lambda: asyncio.sleep(0, bool(relay._owned)), what="leases taken")
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, STOCK_EVENTS, stock_set(9, 1))
        await read_all(settings, STOCK_EVENTS.name, 1, timeout=10)


async def test_a_missing_topic_is_retried_until_it_exists_and_nothing_is_given_up(relay_env, infra):
    settings, pool, make_relay = relay_env
    settings_elsewhere = settings.model_copy(update={"topic_prefix": settings.topic_prefix + "later."})
    relay = await make_relay(publish_timeout=1.0, max_attempts=2)
    relay.settings = settings_elsewhere
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, STOCK_EVENTS, stock_set(5, 1))
    async with running(relay):
        await eventually(
            lambda: asyncio.sleep(0, sum(relay._failures.values()) >= 3), what="three failed attempts"
        )
        assert (
            await pool.fetchval("SELECT count(*) FROM outbox_dead") == 0
        )  # an outage is not the row's fault
        await ensure_topics(infra.kafka_bootstrap, [(settings_elsewhere.topic(STOCK_EVENTS.name), 1)])
        await read_all(settings_elsewhere, STOCK_EVENTS.name, 1)
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), what="an empty outbox")


async def test_a_row_kafka_refuses_is_given_up_after_its_attempts_and_the_bucket_moves_on(relay_env):
    settings, pool, make_relay = relay_env
    relay = await make_relay(max_attempts=2)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, STOCK_EVENTS, stock_set(6, 1))
        # Over the producer's 1 MiB request limit: no retry can send it.
        await conn.execute(
            "UPDATE outbox SET payload = jsonb_set(payload, '{pad}', to_jsonb(repeat('x', 2000000)))"
        )
        await outbox.add(conn, STOCK_EVENTS, stock_set(6, 2))
    async with running(relay):
        records = await read_all(settings, STOCK_EVENTS.name, 1)
        await eventually(lambda: pool.fetchval("SELECT count(*) = 1 FROM outbox_dead"), what="the dead row")
    assert [decode_event(r.value, StockSet).stock_after for r in records] == [2]
    assert "MessageSizeTooLarge" in await pool.fetchval("SELECT last_error FROM outbox_dead")


async def test_two_relays_share_the_buckets_and_a_dead_ones_buckets_are_taken_over(relay_env):
    settings, pool, make_relay = relay_env
    first = await make_relay(lease_seconds=3.0, publish_timeout=1.0)
    second = await make_relay(lease_seconds=3.0, publish_timeout=1.0)
    async with running(first, second) as (first_task, _):
        await eventually(
            lambda: asyncio.sleep(0, len(first._owned) == len(second._owned) == 8), what="an even split"
        )
        assert not first._owned & second._owned
        first_task.cancel()  # dies without a word; its leases lapse
        with contextlib.suppress(asyncio.CancelledError):
            await first_task
        # As if it had crashed: its leases and its heartbeat are left to lapse.
        await pool.execute(
            "UPDATE outbox_leases SET owner = $1, lease_until = now() + interval '3 seconds'"
            " WHERE owner IS NULL",
            first.owner,
        )
        await pool.execute("INSERT INTO outbox_relays VALUES ($1, now() + interval '3 seconds')", first.owner)
        async with pool.acquire() as conn:
            for stock in range(1, 11):
                async with conn.transaction():
                    for option in range(20, 36):  # spread over many buckets
                        await outbox.add(conn, STOCK_EVENTS, stock_set(option, stock))
        await eventually(lambda: asyncio.sleep(0, len(second._owned) == 16), timeout=15, what="a takeover")
        records = await read_all(settings, STOCK_EVENTS.name, 160)
    assert option_stock_sequences(records) == {o: list(range(1, 11)) for o in range(20, 36)}
