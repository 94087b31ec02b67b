"""My coupons (API.md `GET /users/{userId}/coupons`): the usable ones by default, all with
`status=ALL`, each from the snapshot taken at issue time, newest first."""

from datetime import UTC, datetime, timedelta

import pytest

from commerce_kit.testing import tokens
from coupon_service.service_layer.issuing import Issuing
from coupon_service.service_layer.user_coupons import UserCoupons


async def my_coupons(client, user, **params):
    answer = await client.get(f"/api/v1/users/{user}/coupons", headers=tokens.bearer(user), params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_users_coupon_is_shown_from_its_snapshot(client, new_coupon, issuing, fresh_id):
    coupon, user = await new_coupon(targetProductId=7), fresh_id()
    issue = await issuing.issue_to(user, coupon["id"])
    page = await my_coupons(client, user)
    assert page["nextCursor"] is None
    [item] = page["items"]
    issued_at = datetime.fromisoformat(item.pop("issuedAt"))
    expires_at = datetime.fromisoformat(item.pop("expiresAt"))
    assert expires_at - issued_at == timedelta(days=30)
    assert abs(datetime.now(UTC) - issued_at) < timedelta(minutes=1)
    assert item == {
        "userCouponId": issue.user_coupon_id,
        "couponId": coupon["id"],
        "name": "Welcome 10%",
        "discountType": "RATE",
        "discountValue": 10,
        "maxDiscountAmount": 5_000,
        "targetProductId": 7,
        "status": "ISSUED",
        "usedAt": None,
    }


async def test_a_copy_keeps_the_terms_it_was_issued_with_when_the_policy_changes(
    client, pool, new_coupon, issuing, fresh_id
):
    coupon, user = await new_coupon(), fresh_id()
    await issuing.issue_to(user, coupon["id"])
    # No API changes a policy today; a change made anyway must not reach copies already issued.
    await pool.execute("UPDATE coupons SET name = 'Renamed', discount_value = 50 WHERE id = $1", coupon["id"])
    [item] = (await my_coupons(client, user))["items"]
    assert (item["name"], item["discountValue"]) == ("Welcome 10%", 10)


async def a_user_with_one_coupon_of_each_kind(client, pool, new_coupon, issuing, fresh_id):
    """A user holding a usable coupon, a used one, an expired one and (restored after its expiry) an
    expired-again one; another user holds a copy of the usable coupon too."""
    user, someone_else, now = fresh_id(), fresh_id(), datetime.now(UTC)
    usable, used, expired, restored = [
        await new_coupon(name=n) for n in ("usable", "used", "expired", "restored")
    ]
    ids = {"usable": (await issuing.issue_to(user, usable["id"])).user_coupon_id}
    await issuing.issue_to(someone_else, usable["id"])
    ids["used"] = (await issuing.issue_to(user, used["id"])).user_coupon_id
    answer = await client.put(
        f"/internal/v1/user-coupons/{ids['used']}/use",
        json={"paymentId": fresh_id(), "userId": user, "orderId": fresh_id()},
        headers=tokens.service(),
    )
    assert answer.status_code == 200, answer.text
    long_ago = now - timedelta(days=31)  # the coupons are valid for 30 days
    ids["expired"] = (
        await Issuing(pool, clock=lambda: long_ago).issue_to(user, expired["id"])
    ).user_coupon_id
    ids["restored"] = (
        await Issuing(pool, clock=lambda: long_ago).issue_to(user, restored["id"])
    ).user_coupon_id
    payment = fresh_id()
    await UserCoupons(pool, clock=lambda: long_ago + timedelta(days=1)).use(ids["restored"], payment, user, 1)
    await UserCoupons(pool).restore(ids["restored"], payment)
    return user, ids


async def test_by_default_only_usable_coupons_are_shown(client, pool, new_coupon, issuing, fresh_id):
    user, ids = await a_user_with_one_coupon_of_each_kind(client, pool, new_coupon, issuing, fresh_id)
    for params in ({}, {"status": "ISSUED"}):
        items = (await my_coupons(client, user, **params))["items"]
        assert [(i["userCouponId"], i["status"]) for i in items] == [(ids["usable"], "ISSUED")]


async def test_all_shows_every_coupon_of_the_user_with_its_status_newest_first(
    client, pool, new_coupon, issuing, fresh_id
):
    user, ids = await a_user_with_one_coupon_of_each_kind(client, pool, new_coupon, issuing, fresh_id)
    items = (await my_coupons(client, user, status="ALL"))["items"]
    # The two issued 31 days ago come last; of those issued at the same instant, the later first.
    assert [(i["userCouponId"], i["status"]) for i in items] == [
        (ids["used"], "USED"),
        (ids["usable"], "ISSUED"),
        (ids["restored"], "EXPIRED"),
        (ids["expired"], "EXPIRED"),
    ]
    used = items[0]
    assert used["usedAt"] is not None and datetime.fromisoformat(used["usedAt"]) <= datetime.now(UTC)


async def test_all_is_paged_by_cursor_without_losing_or_repeating_a_coupon(
    client, pool, new_coupon, fresh_id
):
    user, start = fresh_id(), datetime(2026, 1, 1, tzinfo=UTC)
    expected: list[int | None] = []
    for day in range(5):
        coupon = await new_coupon(name=f"day {day}")

        def clock(d: int = day) -> datetime:
            return start + timedelta(days=d)

        issued = await Issuing(pool, clock=clock).issue_to(user, coupon["id"])
        expected.insert(0, issued.user_coupon_id)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"status": "ALL", "size": 2} | ({"cursor": cursor} if cursor else {})
        page = await my_coupons(client, user, **params)
        seen += [i["userCouponId"] for i in page["items"]]
        pages, cursor = pages + 1, page["nextCursor"]
        if cursor is None:
            break
    assert seen == expected and pages == 3


async def test_a_user_without_coupons_has_an_empty_list(client, fresh_id):
    assert await my_coupons(client, fresh_id(), status="ALL") == {"items": [], "nextCursor": None}


async def test_an_admin_may_read_anyones_coupons(client, new_coupon, issuing, fresh_id):
    coupon, user = await new_coupon(), fresh_id()
    await issuing.issue_to(user, coupon["id"])
    answer = await client.get(f"/api/v1/users/{user}/coupons", headers=tokens.admin())
    assert answer.status_code == 200 and len(answer.json()["items"]) == 1


async def test_a_user_cannot_read_another_users_coupons(client, new_coupon, issuing, fresh_id, problem):
    coupon, alice, bob = await new_coupon(), fresh_id(), fresh_id()
    await issuing.issue_to(alice, coupon["id"])
    answer = await client.get(f"/api/v1/users/{alice}/coupons", headers=tokens.bearer(bob))
    problem(answer, 403, "FORBIDDEN")


async def test_a_service_is_not_a_user(client, fresh_id, problem):
    answer = await client.get(f"/api/v1/users/{fresh_id()}/coupons", headers=tokens.service())
    problem(answer, 403, "FORBIDDEN")


async def test_my_coupons_need_a_valid_token(client, fresh_id, problem):
    user = fresh_id()
    for headers in ({}, tokens.bearer(user, ttl=-10)):
        problem(await client.get(f"/api/v1/users/{user}/coupons", headers=headers), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "params",
    [
        {"status": "USED"},
        {"status": "EXPIRED"},
        {"status": "all"},
        {"status": ""},
        {"size": 0},
        {"size": 101},
        {"size": "x"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WzFd"},  # [1]: one key, two expected
        {"cursor": "WyJhIiwxXQ"},  # ["a",1]: not a position
        {"cursor": "Wzk5OTk5OTk5OTk5OTk5OTk5OSwxXQ"},  # a time beyond any calendar
    ],
)
async def test_bad_list_parameters_are_refused(client, fresh_id, problem, params):
    user = fresh_id()
    answer = await client.get(f"/api/v1/users/{user}/coupons", headers=tokens.bearer(user), params=params)
    problem(answer, 400, "VALIDATION_FAILED")
