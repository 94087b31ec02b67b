"""Popular products end to end, through the gateway (SPEC.md section 6): real payments make the
ranking (event path); then, on a ranking schema emptied as a new deployment starts, the rebuild
backfills from the order service's paid orders and gives the same ranking (batch path)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest_asyncio
from shop import Shop, assert_problem, line

from commerce_kit.testing import eventually

POPULAR = "/api/v1/products/popular"


@pytest_asyncio.fixture(scope="module")
async def ranking_db(suite) -> Any:
    conn = await asyncpg.connect(suite.env.get("RANKING_DATABASE_URL") or suite.env["DATABASE_URL"])
    yield conn
    await conn.close()


async def buyer(shop: Shop) -> int:
    user = await shop.new_user("Ranking buyer")
    await shop.charge(user, 500_000)
    return user


async def bought(shop: Shop, user: int, *lines: dict[str, int]) -> int:
    order = await shop.placed(user, list(lines))
    paid = await shop.pay(user, order["orderId"])
    assert paid.status_code == 201, paid.text
    return order["orderId"]


async def popular(shop: Shop, days: int = 1, limit: int = 100) -> list[dict[str, Any]]:
    answer = await shop.http.get(POPULAR, params={"days": days, "limit": limit}, headers=shop.user(2))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def of(items: list[dict[str, Any]], products: set[int]) -> list[tuple[int, str, int]]:
    return [(i["productId"], i["name"], i["soldQuantity"]) for i in items if i["productId"] in products]


async def test_the_rebuild_of_an_empty_ranking_from_the_paid_orders_gives_what_the_payments_gave(
    shop, ranking_db
):
    tea = await shop.new_product("E2E Tea", ("Box", 1_000, 100))
    mug = await shop.new_product("E2E Mug", ("Blue", 2_000, 100))
    pot = await shop.new_product("E2E Pot", ("Iron", 3_000, 100))
    ours = {tea["id"], mug["id"], pot["id"]}
    alice, bob = await buyer(shop), await buyer(shop)

    await bought(shop, alice, line(tea, 0, 3), line(mug, 0, 1))
    await bought(shop, bob, line(mug, 0, 2))
    await bought(shop, bob, line(pot, 0, 1))
    refunded = await bought(shop, alice, line(pot, 0, 5))
    cancelled = await shop.cancel(alice, refunded)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "REFUNDED", cancelled.text
    await shop.placed(alice, [line(tea, 0, 9)])  # never paid: never counted

    # Tea and Mug tie at 3: the smaller product id first. The refunded pots are not counted.
    first, second = sorted([tea, mug], key=lambda p: p["id"])
    expected = [(first["id"], first["name"], 3), (second["id"], second["name"], 3), (pot["id"], "E2E Pot", 1)]

    async def shows_the_payments() -> bool:
        return of(await popular(shop), ours) == expected

    await eventually(shows_the_payments, timeout=60, what="the payments in the ranking (event path)")
    by_events = await popular(shop)

    # A new deployment: the ranking schema holds nothing (its backfill is DONE since the suite
    # started, but with no sales at all the next rebuild backfills again).
    refused = await shop.http.post("/api/v1/admin/rankings/rebuild", headers=shop.user(alice))
    assert_problem(refused, 403, "FORBIDDEN")

    async def rebuild_of_an_emptied_schema() -> dict[str, Any]:
        await ranking_db.execute(
            "TRUNCATE rankings.sales, rankings.product_day_sales, rankings.product_names"
        )
        started = await shop.http.post("/api/v1/admin/rankings/rebuild", headers=shop.admin())
        assert started.status_code == 202 and started.json()["status"] == "STARTED", started.text

        async def ended() -> dict[str, Any] | None:
            run = await shop.http.get(started.headers["location"], headers=shop.admin())
            assert run.status_code == 200, run.text
            return run.json() if run.json()["status"] != "RUNNING" else None

        return await eventually(ended, timeout=120, what="the rebuild and its backfill")

    # An event of an earlier test's payment that lands between the TRUNCATE and the rebuild leaves
    # the schema not empty, and the rebuild rightly backfills nothing: only then, empty it again.
    for _ in range(3):
        run = await rebuild_of_an_emptied_schema()
        late = await ranking_db.fetchval("SELECT count(*) FROM rankings.sales WHERE source <> 'BACKFILL'")
        if run["backfilledSales"] > 0 or late == 0:
            break
    assert run["status"] == "DONE", run
    assert run["backfilledSales"] >= 4  # ours (the refunded one too) and every other test's

    assert of(await popular(shop), ours) == expected
    assert await popular(shop) == by_events
    assert await popular(shop, days=30) == await popular(shop, days=1)  # all of it is today's
