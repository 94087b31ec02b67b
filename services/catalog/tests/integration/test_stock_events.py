"""Every stock change reaches Kafka's stock-events topic through the outbox: one event per option,
keyed by the option id (SPEC.md "Contracts")."""

from aiokafka import AIOKafkaConsumer

from commerce_contracts import decode_event
from commerce_contracts.events.stock import StockGivenBack, StockSet, StockTaken
from commerce_contracts.registry import STOCK_EVENTS
from commerce_kit.testing import eventually


async def events_of(settings, option_ids: set[int], expected: int) -> list:
    """(key, event) of the options' events on the session's stock-events topic, read from the start."""
    consumer = AIOKafkaConsumer(
        settings.topic(STOCK_EVENTS.name),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = decode_event(record.value, STOCK_EVENTS.events)
                    if event.option_id in option_ids:
                        found.append((record.key, event))
            return len(found) >= expected

        await eventually(enough, timeout=30, what=f"{expected} stock events")
    finally:
        await consumer.stop()
    return found


async def test_a_take_a_give_back_and_a_setting_each_publish_one_event_per_option(
    settings, new_product, take, give_back, set_stock, payment_id, pool
):
    product = await new_product((5_000, 10), (6_000, 4))
    first, second = product["options"]
    pid = payment_id()
    assert (await take(pid, (first["id"], 3), (second["id"], 4))).json()["status"] == "TAKEN"
    assert (await give_back(pid)).json()["status"] == "GIVEN_BACK"
    await set_stock(product, first, 25)
    found = await events_of(settings, {first["id"], second["id"]}, expected=7)
    assert all(key == str(event.option_id).encode() for key, event in found)
    by_option = {
        option: [
            (type(e).__name__, e.stock_after, getattr(e, "quantity", None))
            for _, e in found
            if e.option_id == option
        ]
        for option in (first["id"], second["id"])
    }
    # In order per option: created (StockSet), taken, given back, then set by the admin.
    assert by_option[first["id"]] == [
        ("StockSet", 10, None),
        ("StockTaken", 7, 3),
        ("StockGivenBack", 10, 3),
        ("StockSet", 25, None),
    ]
    assert by_option[second["id"]] == [("StockSet", 4, None), ("StockTaken", 0, 4), ("StockGivenBack", 4, 4)]
    events = [e for _, e in found]
    assert {e.product_id for e in events} == {product["id"]}
    assert {e.payment_id for e in events if isinstance(e, StockTaken | StockGivenBack)} == {pid}
    assert len({e.event_id for e in events}) == 7
    assert all(isinstance(e, StockTaken | StockGivenBack | StockSet) for e in events)
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), what="an empty outbox once published"
    )


async def test_a_refused_take_publishes_nothing(settings, new_product, take, set_stock, payment_id):
    product = await new_product((5_000, 1))
    option = product["options"][0]
    assert (await take(payment_id(), (option["id"], 2))).json()["status"] == "REFUSED"
    await set_stock(product, option, 9)  # a later event: once it is there, anything before it is too
    found = await events_of(settings, {option["id"]}, expected=2)
    assert [(type(e).__name__, e.stock_after) for _, e in found] == [("StockSet", 1), ("StockSet", 9)]
