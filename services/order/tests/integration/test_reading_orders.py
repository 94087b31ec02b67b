"""Reading orders (API.md "Orders and payments"): the owner and admins read an order; anyone else
is refused; the user's list is newest first and cursor-paged."""

import pytest

from commerce_kit.testing import tokens


async def test_the_owner_reads_the_order_with_its_price_snapshot(client, new_order, user):
    order = await new_order(user, shirts=2, mugs=1)
    answer = await client.get(f"/api/v1/orders/{order.id}", headers=tokens.bearer(user))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    created_at = body.pop("createdAt")
    assert created_at.startswith(str(order.created_at.year))
    assert body == {
        "orderId": order.id,
        "userId": user,
        "status": "PENDING_PAYMENT",
        "items": [
            {
                "productId": 10,
                "optionId": 101,
                "productName": "T-shirt",
                "optionName": "M",
                "unitPrice": 12_000,
                "quantity": 2,
                "lineAmount": 24_000,
            },
            {
                "productId": 20,
                "optionId": 201,
                "productName": "Mug",
                "optionName": "White",
                "unitPrice": 8_500,
                "quantity": 1,
                "lineAmount": 8_500,
            },
        ],
        "totalAmount": 32_500,
        "discountAmount": 0,
        "payAmount": 32_500,
        "userCouponId": None,
    }


async def test_an_admin_may_read_any_order(client, new_order, user):
    order = await new_order(user)
    answer = await client.get(f"/api/v1/orders/{order.id}", headers=tokens.admin())
    assert answer.status_code == 200 and answer.json()["userId"] == user


async def test_another_user_may_not_read_the_order(client, new_order, user, assert_problem):
    order = await new_order(user)
    answer = await client.get(f"/api/v1/orders/{order.id}", headers=tokens.bearer(user + 1))
    assert_problem(answer, 403, "FORBIDDEN")


async def test_an_unknown_order_is_not_found(client, assert_problem):
    answer = await client.get("/api/v1/orders/987654321987", headers=tokens.admin())
    assert_problem(answer, 404, "ORDER_NOT_FOUND")


async def test_reading_an_order_needs_a_token(client, new_order, user, assert_problem):
    order = await new_order(user)
    assert_problem(await client.get(f"/api/v1/orders/{order.id}"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("order_id", ["abc", "0", "-1", "1.5", "9223372036854775808"])
async def test_a_malformed_order_id_is_refused(client, order_id, assert_problem):
    answer = await client.get(f"/api/v1/orders/{order_id}", headers=tokens.admin())
    assert_problem(answer, 400, "VALIDATION_FAILED")


# --- the user's orders ----------------------------------------------------------------------------


async def read_all_pages(client, user_id, headers, size):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"size": size} | ({"cursor": cursor} if cursor else {})
        answer = await client.get(f"/api/v1/users/{user_id}/orders", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        seen += answer.json()["items"]
        pages += 1
        cursor = answer.json()["nextCursor"]
        if cursor is None:
            return seen, pages


async def test_the_users_orders_are_newest_first_and_cursor_paged(client, new_order, user):
    placed = [await new_order(user, shirts=n, mugs=0) for n in (1, 2, 3, 4, 5)]
    await new_order(user + 1)  # someone else's order never shows
    seen, pages = await read_all_pages(client, user, tokens.bearer(user), size=2)
    assert [o["orderId"] for o in seen] == [o.id for o in reversed(placed)]
    assert [o["items"][0]["quantity"] for o in seen] == [5, 4, 3, 2, 1]
    assert pages == 3


async def test_an_admin_may_list_any_users_orders(client, new_order, user):
    order = await new_order(user)
    seen, _ = await read_all_pages(client, user, tokens.admin(), size=20)
    assert [o["orderId"] for o in seen] == [order.id]


async def test_a_user_without_orders_has_an_empty_list(client, user):
    answer = await client.get(f"/api/v1/users/{user}/orders", headers=tokens.bearer(user))
    assert answer.json() == {"items": [], "nextCursor": None}


async def test_another_user_may_not_list_the_orders(client, new_order, user, assert_problem):
    await new_order(user)
    answer = await client.get(f"/api/v1/users/{user}/orders", headers=tokens.bearer(user + 1))
    assert_problem(answer, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "params", [{"size": 0}, {"size": 101}, {"size": "x"}, {"cursor": "not-a-cursor"}, {"cursor": "WzEsMl0"}]
)
async def test_bad_paging_parameters_are_refused(client, user, params, assert_problem):
    answer = await client.get(f"/api/v1/users/{user}/orders", headers=tokens.bearer(user), params=params)
    assert_problem(answer, 400, "VALIDATION_FAILED")


@pytest.mark.parametrize(
    "cursor",
    [
        "WyJhIl0",  # ["a"]: a text where the last order's id should be
        "WzEuNV0",  # [1.5]
        "W3RydWVd",  # [true]
        "WzEsMl0",  # [1, 2]
        "not-a-cursor",
    ],
)
async def test_a_cursor_the_list_did_not_give_is_refused(client, user, cursor, assert_problem):
    answer = await client.get(
        f"/api/v1/users/{user}/orders", headers=tokens.bearer(user), params={"cursor": cursor}
    )
    assert_problem(answer, 400, "VALIDATION_FAILED")
