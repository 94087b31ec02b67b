"""What the payment service does on its own: one live payment per order, leases, and never guessing
when the services it needs do not answer."""

import itertools
import time

import asyncpg
import httpx
import pytest

from commerce_contracts.events.payments import PaidLine
from commerce_kit.ratelimit import RateLimiter
from commerce_kit.testing import tokens
from payment_service.adapters import repository as repo
from payment_service.adapters.services import Order
from payment_service.domain.saga import Status, Step

_orders = itertools.count(int(time.time() * 1000) % 10**11)


async def start(pool, order_id, owner="tester", lease=15.0, coupon=None):
    async with pool.acquire() as conn:
        started = await repo.start(
            conn,
            order_id=order_id,
            user_id=7,
            amount=1000,
            user_coupon_id=coupon,
            items=(PaidLine(product_id=1, option_id=2, quantity=1, unit_price=1000),),
            idem=None,
            lease_owner=owner,
            lease_seconds=lease,
            attempting=Step.TAKE_STOCK,
        )
    return None if started is None else started.id


async def test_an_order_has_at_most_one_live_payment(pool):
    order = next(_orders)
    first = await start(pool, order)
    assert first is not None
    assert await start(pool, order) is None
    await pool.execute("UPDATE payments SET status = 'FAILED' WHERE id = $1", first)
    assert await start(pool, order) is not None  # a failed payment does not block a new one


async def test_a_lease_keeps_other_drivers_out_until_it_lapses(pool):
    payment = await start(pool, next(_orders), owner="a", lease=30)
    assert not await repo.claim(pool, payment, "b", 30)
    assert await repo.claim(pool, payment, "a", 30)  # the holder renews
    await pool.execute("UPDATE payments SET lease_until = now() - interval '1 second' WHERE id = $1", payment)
    assert await repo.claim(pool, payment, "b", 30)


async def test_recovery_takes_only_due_unleased_unfinished_sagas(pool):
    leased = await start(pool, next(_orders), owner="alive", lease=60)
    lapsed = await start(pool, next(_orders), owner="dead", lease=60)
    done = await start(pool, next(_orders), owner="dead", lease=60)
    await pool.execute(
        "UPDATE payments SET lease_until = now() - interval '1 second' WHERE id = ANY($1::bigint[])",
        [lapsed, done],
    )
    await pool.execute("UPDATE payments SET status = 'COMPLETED' WHERE id = $1", done)
    claimed = await repo.claim_due(pool, "recovery", 30, 1000)
    assert lapsed in claimed and leased not in claimed and done not in claimed


async def test_a_payment_whose_order_service_is_away_answers_503_and_stores_nothing(client, pool):
    user, order = 11, next(_orders)
    started = time.monotonic()
    answer = await client.post("/api/v1/payments", json={"orderId": order}, headers=tokens.bearer(user))
    assert answer.status_code == 503 and answer.json()["code"] == "DEPENDENCY_UNAVAILABLE"
    assert time.monotonic() - started < 10  # bounded: short timeouts, not a hang
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE order_id = $1", order) == 0


async def test_a_key_whose_first_try_found_the_services_away_may_try_again(client, pool):
    headers = {**tokens.bearer(12), "Idempotency-Key": f"k-{next(_orders)}"}
    order = next(_orders)
    first = await client.post("/api/v1/payments", json={"orderId": order}, headers=headers)
    again = await client.post("/api/v1/payments", json={"orderId": order}, headers=headers)
    assert first.status_code == again.status_code == 503  # tried again, not IDEMPOTENCY_IN_PROGRESS
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE user_id = 12") == 0


async def test_a_step_without_an_answer_is_sent_again_later_never_guessed(app, pool):
    payments = app.deps.payments
    payment = await start(pool, next(_orders), owner=payments.owner)
    # Driven as POST /payments drives it: with the payment as started (attempting its first step).
    record = await payments.driver.drive(payment, budget=2, record=await repo.load(pool, payment))
    assert record.saga.status is Status.PENDING and record.saga.attempted is Step.TAKE_STOCK
    row = await pool.fetchrow(
        "SELECT lease_owner, retries, next_attempt_at > now() AS later FROM payments WHERE id = $1", payment
    )
    assert row["lease_owner"] is None and row["retries"] == 1 and row["later"]
    # The recovery worker sends the same step again once it is due; still no answer: still pending.
    await pool.execute("UPDATE payments SET next_attempt_at = now() WHERE id = $1", payment)
    assert await payments.recover() >= 1
    again = await repo.load(pool, payment)
    assert again is not None
    assert again.saga.status is Status.PENDING and again.saga.done == () and again.retries == 2
    events = [r["event"] for r in await repo.transitions(pool, payment)]
    assert events == ["STARTED", "ATTEMPT", "RESUMED", "ATTEMPT"]


@pytest.mark.parametrize(
    "body", [{}, {"orderId": "1"}, {"orderId": 0}, {"orderId": 2**63}, {"orderId": 1, "x": 1}]
)
async def test_a_malformed_payment_request_is_refused(client, body):
    answer = await client.post("/api/v1/payments", json=body, headers=tokens.bearer(1))
    assert answer.status_code == 400 and answer.json()["code"] == "VALIDATION_FAILED"


async def test_an_unknown_payment_is_not_found_and_needs_a_token(client):
    assert (await client.get("/api/v1/payments/123456789", headers=tokens.admin())).json()[
        "code"
    ] == "PAYMENT_NOT_FOUND"
    assert (await client.get("/api/v1/payments/123456789")).status_code == 401


async def test_a_payment_is_read_by_its_owner_or_an_admin_only(client, pool):
    payment = await start(pool, next(_orders))  # user 7
    assert (await client.get(f"/api/v1/payments/{payment}", headers=tokens.bearer(7))).json()[
        "status"
    ] == "PENDING"
    assert (await client.get(f"/api/v1/payments/{payment}", headers=tokens.admin())).status_code == 200
    assert (await client.get(f"/api/v1/payments/{payment}", headers=tokens.bearer(8))).status_code == 403


async def test_only_services_may_ask_for_a_refund(client, pool):
    payment = await start(pool, next(_orders))
    answer = await client.put(f"/internal/v1/payments/{payment}/refund", headers=tokens.bearer(7))
    assert answer.status_code == 403
    not_paid = await client.put(f"/internal/v1/payments/{payment}/refund", headers=tokens.service("order"))
    assert not_paid.status_code == 409 and not_paid.json()["code"] == "INVALID_ORDER_STATE"


async def test_a_user_paying_too_often_is_rate_limited(client, app, monkeypatch):
    limiter = RateLimiter(app.deps.redis, "payments-test", 2, window_seconds=60)
    monkeypatch.setattr(app.deps.payments, "limiter", limiter)
    answers = [
        await client.post("/api/v1/payments", json={"orderId": next(_orders)}, headers=tokens.bearer(13))
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [
        503,
        503,
        429,
        429,
    ]  # the first two reach the (absent) order service
    assert answers[-1].json()["code"] == "RATE_LIMITED" and answers[-1].headers["retry-after"] == "1"


async def test_a_request_cut_after_claiming_its_key_leaves_no_claim_behind(app, pool, monkeypatch):
    """The key is claimed in the transaction that starts the saga, never on its own: a request cut
    in between (its connection cut, its process killed) leaves nothing, and a retry with the same
    key starts the payment, instead of IDEMPOTENCY_IN_PROGRESS until the key expires."""
    payments, user, order = app.deps.payments, 14, next(_orders)

    async def an_order(order_id: int) -> Order:
        return Order(
            order_id=order_id,
            user_id=user,
            status="PENDING_PAYMENT",
            pay_amount=1000,
            items=(PaidLine(product_id=1, option_id=2, quantity=1, unit_price=1000),),
        )

    real_start = repo.start

    async def cut_after_the_claim(conn, **kwargs):
        await real_start(conn, **kwargs)
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed mid-operation")

    monkeypatch.setattr(payments.services, "load_order", an_order)
    monkeypatch.setattr(repo, "start", cut_after_the_claim)
    headers = {**tokens.bearer(user), "Idempotency-Key": f"cut-{order}"}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://payment") as http:
        cut = await http.post("/api/v1/payments", json={"orderId": order}, headers=headers)
        assert (cut.status_code, cut.json()["code"]) == (503, "DEPENDENCY_UNAVAILABLE"), cut.text
        assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE user_id = $1", user) == 0
        assert await pool.fetchval("SELECT count(*) FROM payments WHERE order_id = $1", order) == 0
        monkeypatch.setattr(repo, "start", real_start)
        # The retry starts the saga (whose steps find the other services away: still running) ...
        again = await http.post("/api/v1/payments", json={"orderId": order}, headers=headers)
        assert again.status_code == 503, again.text
        started = await pool.fetchrow(
            "SELECT idem_user_id, idem_key FROM payments WHERE order_id = $1", order
        )
        assert (started["idem_user_id"], started["idem_key"]) == (user, f"cut-{order}")
        # ... and from then on the key is that saga's, in progress until it is final.
        third = await http.post("/api/v1/payments", json={"orderId": order}, headers=headers)
        assert (third.status_code, third.json()["code"]) == (409, "IDEMPOTENCY_IN_PROGRESS"), third.text


async def test_a_final_saga_gives_its_lease_up_so_a_refund_may_start_anywhere(pool):
    payment = await start(pool, next(_orders), owner="driver", lease=60)
    record = await repo.load(pool, payment)
    assert record is not None
    saga = record.saga
    for step in (Step.TAKE_STOCK, Step.TAKE_BALANCE, Step.MARK_ORDER_PAID):
        saga = saga.attempting(step).succeeded(step)
    assert saga.status is Status.COMPLETED
    saved = await repo.save(pool, payment, saga, owner="driver", lease_seconds=60, step=None, event="DONE")
    assert saved is not None and saved.saga.status is Status.COMPLETED
    assert await pool.fetchval("SELECT lease_owner FROM payments WHERE id = $1", payment) is None
    assert await repo.claim(pool, payment, "another instance", 60)  # at once, not in 60 s
