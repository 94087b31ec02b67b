"""Two instances of the service on one database and broker, as N replicas run: the rebuild runs on
exactly one of them however they trigger it, and each sees the other's sales within its cache's TTL."""

import asyncio

from commerce_kit.testing import eventually, tokens
from ranking_service.domain.sales import Line, Sale


async def test_two_instances_triggering_the_rebuild_at_once_run_it_once(
    app, client, another_instance, held_counts, pool, run_ended, read_popular, today, seoul, fresh_id
):
    product = fresh_id()
    await app.deps.sales.record_sale(
        Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today), (Line(product, 4),))
    )
    await pool.execute(
        "UPDATE product_day_sales SET quantity = 99 WHERE day = $1 AND product_id = $2", today, product
    )
    runs_before = await pool.fetchval("SELECT count(*) FROM rebuild_runs")
    # The counts table is held by another session: the run waits on it, surely still going when the
    # other instance asks.
    await held_counts.hold()

    async with another_instance() as (_, second):
        answers = await asyncio.gather(
            *(c.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin()) for c in (client, second))
        )
        assert [a.status_code for a in answers] == [202, 202]
        statuses = sorted(a.json()["status"] for a in answers)
        assert statuses == ["ALREADY_RUNNING", "STARTED"]
        run_id = next(a.json()["runId"] for a in answers if a.json()["status"] == "STARTED")
        # The loser names the winner's run, unless it asked in the instant before that run was recorded.
        assert all(a.json()["runId"] in (run_id, None) for a in answers)

        await eventually(held_counts.waiting, what="the run waiting for the counts table")
        await held_counts.release()
        run = await run_ended(second, run_id)  # either instance tells the run's outcome

    assert run["status"] == "DONE"
    assert await pool.fetchval("SELECT count(*) FROM rebuild_runs") == runs_before + 1
    assert [(i["productId"], i["soldQuantity"]) for i in await read_popular()] == [(product, 4)]


async def test_an_instance_sees_the_other_instances_sales_within_its_cache_ttl(
    client, another_instance, read_popular, settings, today, seoul, fresh_id
):
    product = fresh_id()
    assert await read_popular() == []  # cached here now
    async with another_instance() as (second_app, second):
        sale = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today), (Line(product, 2),))
        await second_app.deps.sales.record_sale(sale)
        assert [i["productId"] for i in await read_popular(via=second)] == [product]  # at once there

        async def shows_here():
            return [i["productId"] for i in await read_popular()] == [product]

        await eventually(shows_here, timeout=settings.cache_ttl_seconds + 2, what="the sale seen here")


async def test_an_instance_stopped_mid_run_lets_go_of_the_lock_and_its_run_is_interrupted(
    app, client, another_instance, held_counts, run_ended, today
):
    await held_counts.hold()
    async with another_instance() as (_, second):
        started = await second.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin())
        assert started.json()["status"] == "STARTED"
        await eventually(held_counts.waiting, what="the run waiting for the counts table")
    # The second instance has stopped (a deploy, a crash): its session and its lock are gone.
    run = await client.get(
        f"/api/v1/admin/rankings/rebuilds/{started.json()['runId']}", headers=tokens.admin()
    )
    assert run.json()["status"] == "INTERRUPTED"
    await held_counts.release()
    again = await client.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin())
    assert again.json()["status"] == "STARTED"
    assert (await run_ended(client, again.json()["runId"]))["status"] == "DONE"
