"""The rebuild (the seed's batch): it recomputes the per-day counts from the stored sales and gives
what the event path gives, one run at a time however it is triggered, without losing the sales
recorded while it runs. Who may trigger it and read its runs."""

import asyncio
import logging
import random
from datetime import timedelta

import pytest

from commerce_kit.testing import eventually, tokens
from ranking_service.adapters import batch
from ranking_service.domain.calendar import day_bounds
from ranking_service.domain.sales import Line, Sale
from ranking_service.service_layer.rebuild import Outcome, Trigger

WINDOWS = [(1, 100), (3, 100), (7, 100), (30, 100), (3, 2)]


async def answers(read_popular):
    return {window: await read_popular(*window) for window in WINDOWS}


async def test_the_batch_gives_the_same_ranking_as_the_event_path(
    events, read_popular, rebuilt, pool, today, seoul, fresh_id
):
    a, b, c, d = sorted(fresh_id() for _ in range(4))
    order = fresh_id()
    refunded = events.paid({a: 10, c: 1}, seoul(today, 8), order_id=order)
    refunded_first = events.paid({d: 9}, seoul(today - timedelta(days=1)), order_id=order)
    await events.publish(
        events.paid({a: 2, b: 3}, seoul(today, 9), order_id=order),
        events.paid({b: 1, c: 4}, seoul(today - timedelta(days=1), 23, 59, 59), order_id=order),
        events.paid({c: 2, d: 5}, seoul(today - timedelta(days=5), 0, 0, 0), order_id=order),
        events.paid({d: 7}, seoul(today - timedelta(days=29)), order_id=order),
        refunded,
        events.refunded(refunded_first),
        refunded_first,
    )
    await events.publish(events.refunded(refunded))
    await events.settle(order)
    by_events = await answers(read_popular)
    assert by_events[(3, 100)] == [
        {"rank": 1, "productId": b, "name": f"Name of {b}", "soldQuantity": 4},  # a tie: b < c
        {"rank": 2, "productId": c, "name": f"Name of {c}", "soldQuantity": 4},
        {"rank": 3, "productId": a, "name": f"Name of {a}", "soldQuantity": 2},
    ]
    assert [(i["productId"], i["soldQuantity"]) for i in by_events[(30, 100)]] == [
        (d, 12),
        (c, 6),
        (b, 4),
        (a, 2),
    ]

    # Counters gone astray (lost, or counted twice): the batch recomputes them from the sales alone.
    first = today - timedelta(days=29)
    await pool.execute(
        "DELETE FROM product_day_sales WHERE day BETWEEN $1 AND $2 AND product_id = $3", first, today, a
    )
    await pool.execute(
        "UPDATE product_day_sales SET quantity = quantity * 3 WHERE product_id = ANY($1::bigint[])", [b, c, d]
    )
    run = await rebuilt()

    assert run["status"] == "DONE" and run["error"] is None
    assert (run["firstDay"], run["lastDay"]) == (str(first), str(today))
    assert await answers(read_popular) == by_events


async def test_a_rebuild_recomputes_day_by_day_and_logs_its_progress(
    app, rebuilt, caplog, today, seoul, fresh_id
):
    product = fresh_id()
    sale = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today - timedelta(days=2)), (Line(product, 4),))
    await app.deps.sales.record_sale(sale)
    caplog.set_level(logging.INFO, logger="ranking_service")

    run = await rebuilt()

    progress = [r.getMessage() for r in caplog.records if "recomputed" in r.getMessage()]
    assert len(progress) == 30
    assert progress[0].startswith(f"rebuild {run['runId']}: {today - timedelta(days=29)} recomputed (1/30)")
    assert progress[27].startswith(
        f"rebuild {run['runId']}: {today - timedelta(days=2)} recomputed (28/30): 1 products, 4 units in "
    )
    assert progress[-1].startswith(f"rebuild {run['runId']}: {today} recomputed (30/30)")


async def test_counters_older_than_any_window_are_dropped_and_the_sales_kept(
    app, rebuilt, pool, today, seoul, fresh_id
):
    product = fresh_id()
    old = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today - timedelta(days=30)), (Line(product, 1),))
    await app.deps.sales.record_sale(old)
    counters = "SELECT count(*) FROM product_day_sales WHERE product_id = $1"
    assert await pool.fetchval(counters, product) == 1

    await rebuilt()

    assert await pool.fetchval(counters, product) == 0
    assert await pool.fetchval("SELECT count(*) FROM sales WHERE payment_id = $1", old.payment_id) == 1


async def test_while_a_rebuild_runs_every_other_trigger_answers_already_running(
    client, held_counts, run_ended, today
):
    await held_counts.hold()
    first = await client.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin())
    assert first.status_code == 202 and first.json()["status"] == "STARTED"
    run_id = first.json()["runId"]
    assert first.headers["location"] == f"/api/v1/admin/rankings/rebuilds/{run_id}"
    await eventually(held_counts.waiting, what="the run waiting for the counts table")

    others = await asyncio.gather(
        *(client.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin()) for _ in range(8))
    )
    assert [(o.status_code, o.json()) for o in others] == [
        (202, {"status": "ALREADY_RUNNING", "runId": run_id})
    ] * 8

    await held_counts.release()
    assert (await run_ended(client, run_id))["status"] == "DONE"
    again = await client.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin())
    assert again.json()["status"] == "STARTED"  # the lock went with the run
    await run_ended(client, again.json()["runId"])


async def test_concurrent_triggers_start_exactly_one_run(app, pool, run_ended, client, today):
    runs_before = await pool.fetchval("SELECT count(*) FROM rebuild_runs")
    started = await asyncio.gather(*(app.deps.rebuilder.start(Trigger.ADMIN) for _ in range(12)))
    winners = [s for s in started if s.status is Outcome.STARTED]
    assert len(winners) == 1
    assert all(s.status is Outcome.ALREADY_RUNNING for s in started if s not in winners)
    await run_ended(client, winners[0].run_id)
    assert await pool.fetchval("SELECT count(*) FROM rebuild_runs") == runs_before + 1


async def test_the_daily_run_happens_once_for_its_day(app, client, run_ended, today):
    rebuilder = app.deps.rebuilder
    first = await rebuilder.start(Trigger.SCHEDULED, scheduled_for=today)
    assert first.status is Outcome.STARTED
    run = await run_ended(client, first.run_id)
    assert (run["trigger"], run["status"]) == ("SCHEDULED", "DONE")
    # Another instance waking a little later for the same midnight does nothing.
    late = await rebuilder.start(Trigger.SCHEDULED, scheduled_for=today)
    assert (late.status, late.run_id) == (Outcome.ALREADY_DONE, None)
    assert (await rebuilder.start(Trigger.ADMIN)).status is Outcome.STARTED  # the lock was let go


async def test_a_sale_recorded_while_its_day_is_recomputed_waits_for_it_and_is_counted_on_top(
    app, pool, today, seoul, fresh_id
):
    product, zone = fresh_id(), app.deps.popular.zone
    sale = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today, 10), (Line(product, 3),))
    start, end = day_bounds(today, zone)
    async with pool.acquire() as rebuild, rebuild.transaction():  # one day of a rebuild, step by step
        await batch.lock_counters(rebuild)
        await rebuild.execute("DELETE FROM product_day_sales WHERE day = $1", today)
        during = asyncio.create_task(app.deps.sales.record_sale(sale))
        # Its sale is in, its counter waits: the day is recomputed without it, then it adds itself.
        await eventually(lambda: waiting_for_a_lock(pool), what="the sale waiting for the day")
        assert await batch.recompute_day(rebuild, today, start, end) == (0, 0)  # the sale is in flight
        assert not during.done()
    assert await during
    counted = "SELECT quantity FROM product_day_sales WHERE day = $1 AND product_id = $2"
    assert await pool.fetchval(counted, today, product) == 3


async def waiting_for_a_lock(pool) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%product_day_sales%'"
        )
    )


@pytest.mark.slow
async def test_sales_and_refunds_recorded_while_the_rebuild_runs_are_neither_lost_nor_counted_twice(
    app, client, read_popular, run_ended, today, seoul, fresh_id
):
    sales, products = app.deps.sales, sorted(fresh_id() for _ in range(6))
    expected = dict.fromkeys(products, 0)
    recorded: list[Sale] = []

    async def sell(n: int) -> None:
        # On every day of the run's window, so that each day's recomputation meets sales of its day.
        paid_at = seoul(today - timedelta(days=n % 30), n % 24, n % 60)
        lines = tuple(Line(p, 1 + (n + i) % 4) for i, p in enumerate(random.sample(products, 3)))
        sale = Sale(fresh_id(), fresh_id(), fresh_id(), paid_at, lines)
        assert await sales.record_sale(sale)
        recorded.append(sale)
        for line in lines:
            expected[line.product_id] += line.quantity
        if n % 5 == 0:  # and refund an earlier one
            refund = recorded.pop(random.randrange(len(recorded)))
            assert await sales.record_refund(Sale(**{**vars(refund), "refunded_at": seoul(today)}))
            for line in refund.lines:
                expected[line.product_id] -= line.quantity

    for n in range(60):  # some sales before the runs
        await sell(n)
    n = 60
    for _ in range(10):  # each run meets the sales at different moments
        started = await app.deps.rebuilder.start(Trigger.ADMIN)
        assert started.status is Outcome.STARTED
        run = asyncio.create_task(run_ended(client, started.run_id, interval=0.001))
        while not run.done():  # keep selling, 16 at a time, until the run has ended
            await asyncio.gather(*(sell(n + k) for k in range(16)))
            n += 16
        assert (await run)["status"] == "DONE"

    items = await read_popular(days=30, limit=100)
    assert {i["productId"]: i["soldQuantity"] for i in items if i["productId"] in expected} == {
        p: q for p, q in expected.items() if q > 0
    }


async def test_only_an_admin_may_rebuild_or_read_its_runs(client, problem, rebuilt):
    run_id = (await rebuilt())["runId"]
    rebuild, run = "/api/v1/admin/rankings/rebuild", f"/api/v1/admin/rankings/rebuilds/{run_id}"
    problem(await client.post(rebuild, headers=tokens.bearer(5)), 403, "FORBIDDEN")
    problem(await client.post(rebuild), 401, "UNAUTHENTICATED")
    problem(await client.get(run, headers=tokens.bearer(5)), 403, "FORBIDDEN")
    problem(await client.get(run), 401, "UNAUTHENTICATED")
    assert (await client.get(run, headers=tokens.admin())).json()["runId"] == run_id


@pytest.mark.parametrize("run_id", ["0", "-1", "x", "9223372036854775808"])
async def test_a_malformed_run_id_is_refused(client, problem, run_id):
    answer = await client.get(f"/api/v1/admin/rankings/rebuilds/{run_id}", headers=tokens.admin())
    problem(answer, 400, "VALIDATION_FAILED")


async def test_an_unknown_run_is_not_found(client, problem):
    answer = await client.get("/api/v1/admin/rankings/rebuilds/987654321", headers=tokens.admin())
    problem(answer, 404, "NOT_FOUND")
