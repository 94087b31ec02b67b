"""GET /api/v1/products/popular (API.md): who may read it, what it answers, and what it refuses.
The sales here are recorded through the service's own use case; test_event_path.py brings them
through the broker."""

from datetime import timedelta

import pytest

from commerce_kit.testing import tokens
from ranking_service.domain.sales import Line, Sale


@pytest.fixture
def record(app, fresh_id):
    """`await record({product: quantity or (quantity, name)}, paid_at)`: a sale, recorded as the
    payment-completed consumer records it."""

    async def sale(lines, paid_at):
        items = tuple(Line(p, *(v if isinstance(v, tuple) else (v,))) for p, v in lines.items())
        assert await app.deps.sales.record_sale(Sale(fresh_id(), fresh_id(), fresh_id(), paid_at, items))

    return sale


def ranked(items):
    return [(i["rank"], i["productId"], i["soldQuantity"]) for i in items]


async def test_a_user_reads_the_best_sellers_of_the_last_three_days_by_default(
    record, read_popular, today, seoul, fresh_id
):
    a, b, c, old = (fresh_id() for _ in range(4))
    await record({a: 2, b: 5}, seoul(today, 9))
    await record({a: 4}, seoul(today - timedelta(days=2), 0, 0, 0))  # first second of the window
    await record({c: 1}, seoul(today - timedelta(days=1)))
    await record({old: 50}, seoul(today - timedelta(days=3), 23, 59, 59))  # last second before it
    assert ranked(await read_popular()) == [(1, a, 6), (2, b, 5), (3, c, 1)]


async def test_a_sale_at_23_59_59_is_yesterdays_and_one_at_midnight_todays(
    record, read_popular, today, seoul, fresh_id
):
    late, early = fresh_id(), fresh_id()
    await record({late: 3}, seoul(today - timedelta(days=1), 23, 59, 59))
    await record({early: 1}, seoul(today, 0, 0, 0))
    assert ranked(await read_popular(days=1)) == [(1, early, 1)]
    assert ranked(await read_popular(days=2)) == [(1, late, 3), (2, early, 1)]
    assert ranked(await read_popular(days=3)) == [(1, late, 3), (2, early, 1)]


async def test_the_window_follows_the_calendar_day_of_app_zone_not_of_utc(
    record, read_popular, today, seoul, clock, fresh_id
):
    product = fresh_id()
    await record({product: 1}, seoul(today, 0, 30))  # 15:30 UTC the day before
    clock.now = seoul(today, 8, 59)  # still "yesterday" in UTC, already today in Seoul
    assert ranked(await read_popular(days=1)) == [(1, product, 1)]
    clock.now = seoul(today + timedelta(days=1), 0, 0, 1)  # one second into tomorrow: a new window
    assert await read_popular(days=1) == []
    assert ranked(await read_popular(days=2)) == [(1, product, 1)]


async def test_equal_quantities_are_ranked_by_the_smaller_product_id_first(
    record, read_popular, today, seoul, fresh_id
):
    first, second, third = sorted(fresh_id() for _ in range(3))
    await record({third: 4, first: 4}, seoul(today, 10))
    await record({second: 4}, seoul(today, 11))
    assert ranked(await read_popular()) == [(1, first, 4), (2, second, 4), (3, third, 4)]


async def test_the_limit_says_how_many_and_the_rest_is_left_out(record, read_popular, today, seoul, fresh_id):
    products = [fresh_id() for _ in range(12)]
    await record({p: 100 - n for n, p in enumerate(products)}, seoul(today))
    assert [i["productId"] for i in await read_popular()] == products[:5]
    assert [i["productId"] for i in await read_popular(limit=1)] == products[:1]
    assert [i["productId"] for i in await read_popular(limit=100)] == products


async def test_thirty_days_reach_back_to_the_29th_day_before_today(
    record, read_popular, today, seoul, fresh_id
):
    edge, beyond = fresh_id(), fresh_id()
    await record({edge: 1}, seoul(today - timedelta(days=29), 0, 0, 0))
    await record({beyond: 1}, seoul(today - timedelta(days=30), 23, 59, 59))
    assert [i["productId"] for i in await read_popular(days=30)] == [edge]


async def test_names_are_the_latest_the_events_gave_and_product_and_id_when_none_did(
    record, read_popular, today, seoul, fresh_id
):
    renamed, kept, unnamed = fresh_id(), fresh_id(), fresh_id()
    await record({renamed: (3, "Green tea"), kept: (2, "Mug")}, seoul(today, 9))
    await record({renamed: (1, "Green tea 2.0"), kept: (1, None), unnamed: (1, None)}, seoul(today, 10))
    await record({renamed: (1, "Green tea (old label)")}, seoul(today, 8))  # a late, older sale
    items = {i["productId"]: i["name"] for i in await read_popular(limit=10)}
    assert items == {renamed: "Green tea 2.0", kept: "Mug", unnamed: f"Product {unnamed}"}


async def test_a_sale_recorded_by_this_instance_shows_at_once_despite_the_cache(
    record, read_popular, today, seoul, fresh_id
):
    product = fresh_id()
    assert await read_popular() == []  # now cached
    await record({product: 2}, seoul(today))
    assert ranked(await read_popular()) == [(1, product, 2)]


async def test_the_answer_has_exactly_the_documented_fields(record, client, today, seoul, fresh_id):
    product = fresh_id()
    await record({product: (2, "Tea")}, seoul(today))
    answer = await client.get("/api/v1/products/popular", headers=tokens.bearer(3))
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"items": [{"rank": 1, "productId": product, "name": "Tea", "soldQuantity": 2}]}


async def test_an_admin_reads_it_too(client, today):
    answer = await client.get("/api/v1/products/popular", headers=tokens.admin())
    assert answer.status_code == 200 and answer.json() == {"items": []}


BAD_PARAMETERS = {
    "days 0": "days=0",
    "days 31": "days=31",
    "days negative": "days=-1",
    "days a word": "days=three",
    "days a fraction": "days=1.5",
    "days empty": "days=",
    "days huge": "days=99999999999999999999999999",
    "limit 0": "limit=0",
    "limit 101": "limit=101",
    "limit negative": "limit=-5",
    "limit a word": "limit=all",
    "limit an exponent": "limit=1e2",
    "both bad": "days=0&limit=0",
}


@pytest.mark.parametrize("query", BAD_PARAMETERS.values(), ids=BAD_PARAMETERS.keys())
async def test_bad_query_parameters_are_refused_with_a_problem(client, problem, query):
    answer = await client.get(f"/api/v1/products/popular?{query}", headers=tokens.bearer(3))
    body = problem(answer, 400, "VALIDATION_FAILED")
    assert body["errors"] and all(e["field"].startswith("query.") for e in body["errors"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not.a.jwt"}, tokens.bearer(3, ttl=-10), tokens.bearer(3, secret="x" * 40)],
    ids=["no token", "garbage", "expired", "another key"],
)
async def test_without_a_valid_token_it_is_unauthenticated(client, problem, headers):
    problem(await client.get("/api/v1/products/popular", headers=headers), 401, "UNAUTHENTICATED")


async def test_health_metrics_and_docs_need_no_token(client):
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": "UP", "kafka": "UP"}
    for path in ("/health/live", "/openapi.json", "/docs", "/metrics"):
        assert (await client.get(path)).status_code == 200, path
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/products/popular", "/api/v1/admin/rankings/rebuild"} <= set(paths)


async def test_a_query_parameter_the_route_does_not_take_changes_nothing(
    record, client, today, seoul, fresh_id
):
    """An extra query parameter (a tracking tag) is ignored: the answer is the one given without it."""
    product = fresh_id()
    await record({product: (4, "Marker")}, seoul(today, 10))
    headers = tokens.bearer(3)
    bare = await client.get("/api/v1/products/popular?days=1&limit=100", headers=headers)
    tagged = await client.get("/api/v1/products/popular?days=1&limit=100&utm=ad", headers=headers)
    assert bare.status_code == tagged.status_code == 200
    assert bare.json() == tagged.json() and any(i["productId"] == product for i in bare.json()["items"])
    assert bare.headers["content-type"] == tagged.headers["content-type"]


async def test_a_batch_of_sales_counts_each_payment_once_however_often_it_is_in_it(
    app, read_popular, today, seoul, fresh_id
):
    tea, cup = fresh_id(), fresh_id()
    recorded = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today, 8), (Line(tea, 1),))
    assert await app.deps.sales.record_sale(recorded)
    first = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today, 9), (Line(tea, 2), Line(cup, 1)))
    second = Sale(fresh_id(), fresh_id(), fresh_id(), seoul(today - timedelta(days=1), 9), (Line(cup, 5),))
    # A redelivered batch: one sale twice, one recorded before; only the two new ones count.
    assert await app.deps.sales.record_sales([first, recorded, second, first]) == 2
    assert await app.deps.sales.record_sales([first, second]) == 0
    assert ranked(await read_popular()) == [(1, cup, 6), (2, tea, 3)]
