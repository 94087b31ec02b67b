"""The internal API the order service and the payment saga use (docs/internal-api.md "coupon"):
read a user coupon, use it for a payment and restore it, idempotent on the payment id."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from commerce_kit.testing import tokens
from coupon_service.service_layer.issuing import Issuing
from coupon_service.service_layer.user_coupons import UserCoupons


@pytest.fixture
async def held(new_coupon, issuing, fresh_id):
    """A fresh user holding a fresh coupon: (user id, user coupon id)."""
    coupon, user = await new_coupon(), fresh_id()
    return user, (await issuing.issue_to(user, coupon["id"])).user_coupon_id


async def read(client, copy_id):
    return await client.get(f"/internal/v1/user-coupons/{copy_id}", headers=tokens.service())


async def use(client, copy_id, payment, user, order=77, headers=None):
    return await client.put(
        f"/internal/v1/user-coupons/{copy_id}/use",
        json={"paymentId": payment, "userId": user, "orderId": order},
        headers=tokens.service() if headers is None else headers,
    )


async def restore(client, copy_id, payment):
    return await client.put(
        f"/internal/v1/user-coupons/{copy_id}/restore", json={"paymentId": payment}, headers=tokens.service()
    )


async def stored(pool, copy_id):
    return await pool.fetchrow(
        "SELECT status, used_at, used_by_payment_id, order_id FROM user_coupons WHERE id = $1", copy_id
    )


# --- read -------------------------------------------------------------------------------------------


async def test_a_service_reads_a_user_coupon_with_its_owner_and_terms(client, new_coupon, issuing, fresh_id):
    coupon, user = await new_coupon(targetProductId=7), fresh_id()
    copy_id = (await issuing.issue_to(user, coupon["id"])).user_coupon_id
    answer = await read(client, copy_id)
    assert answer.status_code == 200
    body = answer.json()
    assert datetime.fromisoformat(body.pop("expiresAt")) - datetime.fromisoformat(body.pop("issuedAt")) == (
        timedelta(days=30)
    )
    assert body == {
        "userCouponId": copy_id,
        "userId": user,
        "couponId": coupon["id"],
        "name": "Welcome 10%",
        "status": "ISSUED",
        "discountType": "RATE",
        "discountValue": 10,
        "maxDiscountAmount": 5_000,
        "targetProductId": 7,
        "usedAt": None,
        "usedByPaymentId": None,
        "orderId": None,
    }


async def test_a_coupon_past_its_expiry_reads_as_expired(client, pool, new_coupon, fresh_id):
    coupon, user = await new_coupon(validDays=1), fresh_id()
    yesterday = datetime.now(UTC) - timedelta(days=1)
    copy_id = (await Issuing(pool, clock=lambda: yesterday).issue_to(user, coupon["id"])).user_coupon_id
    assert (await read(client, copy_id)).json()["status"] == "EXPIRED"


async def test_an_unknown_user_coupon_is_not_found(client, problem):
    problem(await read(client, 987_654_321), 404, "COUPON_NOT_FOUND")


# --- use --------------------------------------------------------------------------------------------


async def test_using_a_coupon_marks_it_used_by_the_payment_for_the_order(client, pool, held, fresh_id):
    user, copy_id = held
    payment, order = fresh_id(), fresh_id()
    answer = await use(client, copy_id, payment, user, order)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    used_at = datetime.fromisoformat(body.pop("usedAt"))
    assert body == {"userCouponId": copy_id, "status": "USED", "usedByPaymentId": payment, "orderId": order}
    row = await stored(pool, copy_id)
    assert (row["status"], row["used_at"], row["used_by_payment_id"], row["order_id"]) == (
        "USED",
        used_at,
        payment,
        order,
    )
    detail = (await read(client, copy_id)).json()
    assert (detail["status"], detail["usedByPaymentId"], detail["orderId"]) == ("USED", payment, order)


async def test_using_it_again_for_the_same_payment_answers_the_same_and_changes_nothing(
    client, pool, held, fresh_id
):
    user, copy_id = held
    payment = fresh_id()
    first = await use(client, copy_id, payment, user)
    before = await stored(pool, copy_id)
    again = await use(client, copy_id, payment, user)
    assert again.status_code == 200 and again.json() == first.json()
    assert await stored(pool, copy_id) == before


async def test_a_coupon_used_by_one_payment_is_unavailable_to_another(client, pool, held, fresh_id, problem):
    user, copy_id = held
    first = fresh_id()
    await use(client, copy_id, first, user)
    problem(await use(client, copy_id, fresh_id(), user), 409, "COUPON_UNAVAILABLE")
    assert (await stored(pool, copy_id))["used_by_payment_id"] == first


async def test_another_users_coupon_is_unavailable(client, pool, held, fresh_id, problem):
    _, copy_id = held
    problem(await use(client, copy_id, fresh_id(), fresh_id()), 409, "COUPON_UNAVAILABLE")
    assert (await stored(pool, copy_id))["status"] == "ISSUED"


async def test_an_expired_coupon_is_unavailable(client, pool, new_coupon, fresh_id, problem):
    coupon, user = await new_coupon(validDays=1), fresh_id()
    long_ago = datetime.now(UTC) - timedelta(days=1, microseconds=1)
    copy_id = (await Issuing(pool, clock=lambda: long_ago).issue_to(user, coupon["id"])).user_coupon_id
    problem(await use(client, copy_id, fresh_id(), user), 409, "COUPON_UNAVAILABLE")
    assert (await stored(pool, copy_id))["status"] == "ISSUED"


async def test_using_an_unknown_coupon_is_unavailable(client, fresh_id, problem):
    problem(await use(client, 987_654_321, fresh_id(), fresh_id()), 409, "COUPON_UNAVAILABLE")


async def test_a_payment_uses_at_most_one_coupon(client, new_coupon, issuing, fresh_id, problem):
    user, payment = fresh_id(), fresh_id()
    first, second = [(await issuing.issue_to(user, (await new_coupon())["id"])).user_coupon_id for _ in "ab"]
    assert (await use(client, first, payment, user)).status_code == 200
    problem(await use(client, second, payment, user), 409, "COUPON_UNAVAILABLE")


async def test_the_same_payment_cannot_use_it_for_another_order(client, held, fresh_id, problem):
    user, copy_id = held
    payment = fresh_id()
    await use(client, copy_id, payment, user, order=1)
    problem(await use(client, copy_id, payment, user, order=2), 409, "COUPON_UNAVAILABLE")


# --- restore ----------------------------------------------------------------------------------------


async def test_restoring_for_the_payment_that_used_it_makes_it_issued_again_once(
    client, pool, held, fresh_id
):
    user, copy_id = held
    payment = fresh_id()
    await use(client, copy_id, payment, user)
    answers = [await restore(client, copy_id, payment) for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert all(
        a.json()
        == {
            "userCouponId": copy_id,
            "status": "ISSUED",
            "usedByPaymentId": None,
            "orderId": None,
            "usedAt": None,
            "outcome": "RESTORED",
        }
        for a in answers
    )
    row = await stored(pool, copy_id)
    assert tuple(row.values()) == ("ISSUED", None, None, None)


async def test_a_restored_coupon_may_be_used_by_a_new_payment_but_not_by_the_old_one(
    client, held, fresh_id, problem
):
    user, copy_id = held
    old, new = fresh_id(), fresh_id()
    await use(client, copy_id, old, user)
    await restore(client, copy_id, old)
    problem(await use(client, copy_id, old, user), 409, "COUPON_UNAVAILABLE")
    assert (await use(client, copy_id, new, user)).json()["usedByPaymentId"] == new


async def test_a_restore_for_another_payment_changes_nothing(client, pool, held, fresh_id):
    user, copy_id = held
    payment = fresh_id()
    await use(client, copy_id, payment, user)
    before = await stored(pool, copy_id)
    answer = await restore(client, copy_id, fresh_id())
    assert answer.status_code == 200
    assert answer.json()["status"] == "USED" and answer.json()["usedByPaymentId"] == payment
    assert await stored(pool, copy_id) == before


async def test_a_restore_before_the_use_makes_the_late_use_do_nothing(client, pool, held, fresh_id, problem):
    user, copy_id = held
    payment = fresh_id()
    early = await restore(client, copy_id, payment)
    assert early.json()["outcome"] == "VOIDED" and early.json()["status"] == "ISSUED"
    problem(await use(client, copy_id, payment, user), 409, "COUPON_UNAVAILABLE")
    assert (await stored(pool, copy_id))["status"] == "ISSUED"
    assert (await restore(client, copy_id, payment)).json()["outcome"] == "VOIDED"


async def test_restoring_a_coupon_the_payment_did_not_use_leaves_both_alone(
    client, pool, new_coupon, issuing, fresh_id
):
    user, payment = fresh_id(), fresh_id()
    used, other = [(await issuing.issue_to(user, (await new_coupon())["id"])).user_coupon_id for _ in "ab"]
    await use(client, used, payment, user)
    answer = await restore(client, other, payment)
    assert answer.json()["outcome"] == "UNCHANGED" and answer.json()["status"] == "ISSUED"
    assert (await stored(pool, used))["used_by_payment_id"] == payment


async def test_a_coupon_restored_after_its_expiry_is_shown_expired(client, pool, new_coupon, fresh_id):
    coupon, user, payment = await new_coupon(validDays=1), fresh_id(), fresh_id()
    issued_at = datetime.now(UTC) - timedelta(days=2)
    copy_id = (await Issuing(pool, clock=lambda: issued_at).issue_to(user, coupon["id"])).user_coupon_id
    assert copy_id is not None
    # used while it was valid, by an order paid the day it was issued
    await UserCoupons(pool, clock=lambda: issued_at + timedelta(hours=1)).use(copy_id, payment, user, 1)
    answer = await restore(client, copy_id, payment)
    assert answer.json()["status"] == "EXPIRED" and answer.json()["outcome"] == "RESTORED"
    assert (await stored(pool, copy_id))["status"] == "ISSUED"
    assert (await read(client, copy_id)).json()["status"] == "EXPIRED"


async def test_restoring_an_unknown_coupon_is_not_found(client, fresh_id, problem):
    problem(await restore(client, 987_654_321, fresh_id()), 404, "COUPON_NOT_FOUND")


# --- who may call, and bad bodies -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        (tokens.bearer(1), 403, "FORBIDDEN"),
        (tokens.admin(), 403, "FORBIDDEN"),
        ({}, 401, "UNAUTHENTICATED"),
    ],
)
async def test_only_services_may_call_the_internal_api(
    client, pool, held, fresh_id, problem, headers, status, code
):
    user, copy_id = held
    problem(await use(client, copy_id, fresh_id(), user, headers=headers), status, code)
    problem(await client.get(f"/internal/v1/user-coupons/{copy_id}", headers=headers), status, code)
    assert (await stored(pool, copy_id))["status"] == "ISSUED"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"paymentId": 1, "userId": 1},
        {"paymentId": "1", "userId": 1, "orderId": 1},
        {"paymentId": 0, "userId": 1, "orderId": 1},
        {"paymentId": 2**63, "userId": 1, "orderId": 1},
        {"paymentId": 1, "userId": 1, "orderId": 1, "amount": 5},
    ],
)
async def test_a_malformed_use_is_refused_and_changes_nothing(client, pool, held, problem, body):
    _, copy_id = held
    answer = await client.put(f"/internal/v1/user-coupons/{copy_id}/use", json=body, headers=tokens.service())
    problem(answer, 400, "VALIDATION_FAILED")
    assert (await stored(pool, copy_id))["status"] == "ISSUED"


# --- races ------------------------------------------------------------------------------------------


async def test_of_ten_payments_using_one_coupon_at_once_exactly_one_wins(client, pool, held, fresh_id):
    user, copy_id = held
    payments = [fresh_id() for _ in range(10)]
    answers = await asyncio.gather(*(use(client, copy_id, p, user) for p in payments))
    winners = [p for p, a in zip(payments, answers, strict=True) if a.status_code == 200]
    assert len(winners) == 1
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"COUPON_UNAVAILABLE"}
    assert (await stored(pool, copy_id))["used_by_payment_id"] == winners[0]
    steps = await pool.fetch("SELECT payment_id FROM coupon_payment_steps WHERE user_coupon_id = $1", copy_id)
    assert [s["payment_id"] for s in steps] == winners


async def test_the_same_use_sent_20_times_at_once_uses_the_coupon_once(client, pool, held, fresh_id):
    user, copy_id = held
    payment = fresh_id()
    answers = await asyncio.gather(*(use(client, copy_id, payment, user) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert (await stored(pool, copy_id))["used_by_payment_id"] == payment


async def test_one_payment_racing_for_two_coupons_binds_to_exactly_one(
    client, pool, new_coupon, issuing, fresh_id
):
    user, payment = fresh_id(), fresh_id()
    copies = [(await issuing.issue_to(user, (await new_coupon())["id"])).user_coupon_id for _ in "ab"]
    answers = await asyncio.gather(*(use(client, c, payment, user) for c in copies))
    assert sorted(a.status_code for a in answers) == [200, 409]
    statuses = [(await stored(pool, c))["status"] for c in copies]
    assert sorted(statuses) == ["ISSUED", "USED"]


async def test_a_use_and_a_restore_of_one_payment_racing_always_leave_the_coupon_usable(
    client, pool, new_coupon, issuing, fresh_id
):
    coupon = await new_coupon()
    for _ in range(10):
        owner, payment = fresh_id(), fresh_id()
        copy_id = (await issuing.issue_to(owner, coupon["id"])).user_coupon_id
        await asyncio.gather(use(client, copy_id, payment, owner), restore(client, copy_id, payment))
        # Whichever came first, the failed payment holds nothing: the coupon is ISSUED again and
        # that payment can no longer take it.
        assert (await stored(pool, copy_id))["status"] == "ISSUED"
        assert (await use(client, copy_id, payment, owner)).status_code == 409
