"""The backfill: a ranking that starts empty reads every paid order of the order service, page by
page, inside the rebuild, idempotent on the payment id, resuming where it stopped.

The order service's `GET /internal/v1/orders/paid` is being added by the lead: here a stand-in
serves it as documented (conftest.OrderStandIn); tests/e2e_pending/test_backfill.py is the same
story against the real order service, through the gateway."""

from datetime import timedelta

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import ServiceClient
from commerce_kit.settings import LOCAL_JWT_SECRET
from ranking_service.adapters.orders import PaidOrders
from ranking_service.domain.sales import Line, Sale
from ranking_service.service_layer.backfill import Backfill
from ranking_service.service_layer.rebuild import Outcome, Rebuilder, Trigger


def paid_order(payment_id, paid_at, lines, *, refunded_at=None):
    """An order as the paid-orders API answers it; `lines`: [(product, quantity, name or None)]."""
    return {
        "orderId": payment_id + 1,
        "paymentId": payment_id,
        "userId": 7,
        "status": "REFUNDED" if refunded_at else "PAID",
        "paidAt": paid_at.isoformat(),
        "refundedAt": refunded_at.isoformat() if refunded_at else None,
        "items": [
            {"productId": p, "productName": n, "optionId": p * 10, "quantity": q, "unitPrice": 1000}
            for p, q, n in lines
        ],
    }


def sold(items):
    return [(i["productId"], i["name"], i["soldQuantity"]) for i in items]


async def test_a_ranking_that_starts_empty_backfills_every_page_of_paid_orders(
    pending_backfill, rebuilt, read_popular, pool, today, seoul, fresh_id
):
    tea, mug, old = sorted(fresh_id() for _ in range(3))
    orders = [paid_order(fresh_id(), seoul(today, 9), [(tea, 1, "Tea"), (mug, 2, None)]) for _ in range(1100)]
    orders += [
        paid_order(fresh_id(), seoul(today, 10), [(mug, 50, "Mug")], refunded_at=seoul(today, 11)),
        paid_order(fresh_id(), seoul(today - timedelta(days=3)), [(old, 9, "Old")]),  # before the window
        paid_order(0, seoul(today), [(tea, 99, "Tea")]),  # no payment id: cannot be keyed, skipped
    ]
    pending_backfill.reset(orders)

    run = await rebuilt()

    assert (run["status"], run["backfilledSales"]) == ("DONE", 1102)
    assert len(pending_backfill.cursors_asked) == 3  # 500 + 500 + 102, each page asked once
    assert pending_backfill.cursors_asked[0] is None and len(set(pending_backfill.cursors_asked)) == 3
    assert sold(await read_popular()) == [(mug, "Mug", 2200), (tea, "Tea", 1100)]
    assert sold(await read_popular(days=4)) == [(mug, "Mug", 2200), (tea, "Tea", 1100), (old, "Old", 9)]
    state = await pool.fetchrow("SELECT status, cursor, pages, sales FROM backfill")
    assert dict(state) == {"status": "DONE", "cursor": None, "pages": 3, "sales": 1102}


async def test_an_interrupted_backfill_resumes_after_its_last_page(
    pending_backfill, rebuilt, read_popular, pool, today, seoul, fresh_id
):
    product = fresh_id()
    payments = [fresh_id() for _ in range(1200)]
    pending_backfill.reset([paid_order(p, seoul(today), [(product, 1, "Tea")]) for p in payments])
    pending_backfill.fail_from_request = 2  # the second page fails, and so do its retries

    failed = await rebuilt()

    assert failed["status"] == "FAILED" and "DependencyUnavailable" in failed["error"]
    state = await pool.fetchrow("SELECT status, cursor, pages, sales FROM backfill")
    assert (state["status"], state["pages"], state["sales"]) == ("PENDING", 1, 500)
    second_page = state["cursor"]
    assert await read_popular() == []  # the counters were not touched by the failed run

    pending_backfill.fail_from_request, asked_before = None, len(pending_backfill.cursors_asked)
    done = await rebuilt()

    assert done["status"] == "DONE"
    resumed = pending_backfill.cursors_asked[asked_before:]
    assert len(resumed) == 2 and resumed[0] == second_page  # the second page, then the third
    assert pending_backfill.cursors_asked.count(None) == 1  # the first page was asked once, ever
    assert sold(await read_popular()) == [(product, "Tea", 1200)]
    stored = await pool.fetchval("SELECT count(*) FROM sales WHERE payment_id = ANY($1::bigint[])", payments)
    assert stored == 1200


async def test_sales_already_recorded_from_the_events_are_not_counted_twice(
    app, pending_backfill, rebuilt, read_popular, today, seoul, fresh_id
):
    product = fresh_id()
    orders = [paid_order(fresh_id(), seoul(today, 9), [(product, 2, "Tea")]) for _ in range(10)]
    for order in orders[:4]:  # these four came through payment-completed first
        sale = Sale(order["paymentId"], order["orderId"], 7, seoul(today, 9), (Line(product, 2),))
        assert await app.state.sales.record_sale(sale)
    refunded = paid_order(fresh_id(), seoul(today, 9), [(product, 5, "Tea")], refunded_at=seoul(today, 12))
    pending_backfill.reset([*orders, refunded])

    run = await rebuilt()

    assert (run["status"], run["backfilledSales"]) == ("DONE", 7)
    assert sold(await read_popular()) == [(product, "Tea", 20)]


async def test_with_the_order_service_away_the_run_fails_and_changes_nothing(
    app, pending_backfill, read_popular, run_ended, client, clock, today, seoul, fresh_id
):
    product = fresh_id()
    await app.state.sales.record_sale(Sale(fresh_id(), fresh_id(), 7, seoul(today), (Line(product, 3),)))
    before = await read_popular()
    away = ServiceClient(
        "order", "http://127.0.0.1:9", ServiceToken(LOCAL_JWT_SECRET, "ranking"), timeout=0.5
    )
    rebuilder = Rebuilder(
        app.state.pool,
        Backfill(PaidOrders(away)),
        app.state.popular.zone,
        clock,
        30,
        lambda: None,
    )
    try:
        started, report = await rebuilder.run(Trigger.ADMIN)
    finally:
        await away.aclose()

    assert started.status is Outcome.STARTED
    assert report.status == "FAILED" and "did not answer" in report.error
    assert await rebuilder.backfill_pending()
    assert await read_popular() == before
    # The lock went with the failed run: the next rebuild, on the service's own instance, runs.
    again = await app.state.rebuilder.start(Trigger.ADMIN)
    assert again.status is Outcome.STARTED
    assert (await run_ended(client, again.run_id))["status"] == "DONE"
