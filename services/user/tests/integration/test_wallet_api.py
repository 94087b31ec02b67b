"""The public API of users and wallets (API.md), on a real database."""

import pytest

from commerce_kit.testing import tokens


async def balance_of(client, user_id):
    answer = await client.get(f"/api/v1/users/{user_id}/balance", headers=tokens.bearer(user_id))
    assert answer.status_code == 200
    return answer.json()["balance"]


async def history_of(client, user_id, **params):
    answer = await client.get(
        f"/api/v1/users/{user_id}/transactions", headers=tokens.bearer(user_id), params=params
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_problem(answer, status, code):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code and body["status"] == status and body["title"] and body["detail"]


# --- users ------------------------------------------------------------------------------------------


async def test_an_admin_creates_a_user(client):
    answer = await client.post("/api/v1/admin/users", json={"name": "  Dora  "}, headers=tokens.admin())
    assert answer.status_code == 201
    assert answer.json()["name"] == "Dora" and answer.json()["id"] >= 1


async def test_a_user_cannot_create_users(client):
    answer = await client.post("/api/v1/admin/users", json={"name": "Eve"}, headers=tokens.bearer(5))
    assert_problem(answer, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 7}, {"name": None}]
)
async def test_a_user_needs_a_name_of_1_to_100_characters(client, body):
    answer = await client.post("/api/v1/admin/users", json=body, headers=tokens.admin())
    assert_problem(answer, 400, "VALIDATION_FAILED")


# --- balance ----------------------------------------------------------------------------------------


async def test_the_balance_of_an_unknown_user_is_not_found(client):
    answer = await client.get("/api/v1/users/987654321/balance", headers=tokens.admin())
    assert_problem(answer, 404, "USER_NOT_FOUND")


async def test_a_user_cannot_read_another_users_balance(client, new_user):
    alice, bob = await new_user("Alice"), await new_user("Bob")
    answer = await client.get(f"/api/v1/users/{alice}/balance", headers=tokens.bearer(bob))
    assert_problem(answer, 403, "FORBIDDEN")


async def test_an_admin_may_read_any_balance(client, new_user):
    alice = await new_user("Alice")
    answer = await client.get(f"/api/v1/users/{alice}/balance", headers=tokens.admin())
    assert answer.json() == {"userId": alice, "balance": 0}


# --- charge -----------------------------------------------------------------------------------------


async def test_a_charge_adds_to_the_balance_and_writes_one_charge_row(client, new_user):
    user = await new_user()
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 5_000}, headers=tokens.bearer(user)
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["userId"] == user and body["balance"] == 5_000 and body["transactionId"] >= 1
    history = await history_of(client, user)
    assert [(t["type"], t["amount"], t["balanceAfter"], t["id"]) for t in history["items"]] == [
        ("CHARGE", 5_000, 5_000, body["transactionId"])
    ]
    assert history["items"][0]["orderId"] is None and history["items"][0]["paymentId"] is None


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        (0, 400, "VALIDATION_FAILED"),
        (-1, 400, "VALIDATION_FAILED"),
        (1_000_001, 422, "CHARGE_LIMIT_EXCEEDED"),
        (2**63 - 1, 422, "CHARGE_LIMIT_EXCEEDED"),
    ],
)
async def test_a_charge_outside_the_limits_is_refused_and_changes_nothing(
    client, new_user, amount, status, code
):
    user = await new_user()
    await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 100}, headers=tokens.bearer(user)
    )
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": amount}, headers=tokens.bearer(user)
    )
    assert_problem(answer, status, code)
    assert await balance_of(client, user) == 100
    assert len((await history_of(client, user))["items"]) == 1


async def test_a_charge_that_would_pass_the_balance_limit_is_refused(client, new_user):
    user = await new_user()
    for _ in range(10):
        ok = await client.post(
            f"/api/v1/users/{user}/balance/charge", json={"amount": 1_000_000}, headers=tokens.bearer(user)
        )
        assert ok.status_code == 200
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 1}, headers=tokens.bearer(user)
    )
    assert_problem(answer, 422, "BALANCE_LIMIT_EXCEEDED")
    assert await balance_of(client, user) == 10_000_000


async def test_only_the_owner_may_charge_a_wallet_not_even_an_admin(client, new_user):
    alice, bob = await new_user(), await new_user()
    for headers in (tokens.bearer(bob), tokens.admin()):
        answer = await client.post(
            f"/api/v1/users/{alice}/balance/charge", json={"amount": 10}, headers=headers
        )
        assert_problem(answer, 403, "FORBIDDEN")
    assert await balance_of(client, alice) == 0


async def test_charging_an_unknown_user_is_not_found(client):
    answer = await client.post(
        "/api/v1/users/987654320/balance/charge", json={"amount": 10}, headers=tokens.bearer(987654320)
    )
    assert_problem(answer, 404, "USER_NOT_FOUND")


# --- history ----------------------------------------------------------------------------------------


async def test_the_history_is_newest_first_and_cursor_paged(client, new_user):
    user = await new_user()
    for amount in (1, 2, 3, 4, 5):
        await client.post(
            f"/api/v1/users/{user}/balance/charge", json={"amount": amount}, headers=tokens.bearer(user)
        )
    seen, cursor, pages = [], None, 0
    while True:
        params = {"size": 2} | ({"cursor": cursor} if cursor else {})
        page = await history_of(client, user, **params)
        seen += [t["amount"] for t in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1] and pages == 3


@pytest.mark.parametrize(
    "params",
    [{"size": 0}, {"size": 101}, {"size": "x"}, {"cursor": "not-a-cursor"}, {"cursor": "WzEsMiwzXQ"}],
)
async def test_bad_paging_parameters_are_refused(client, new_user, params):
    user = await new_user()
    answer = await client.get(
        f"/api/v1/users/{user}/transactions", headers=tokens.bearer(user), params=params
    )
    assert_problem(answer, 400, "VALIDATION_FAILED")


async def test_a_user_cannot_read_another_users_history(client, new_user):
    alice, bob = await new_user(), await new_user()
    answer = await client.get(f"/api/v1/users/{alice}/transactions", headers=tokens.bearer(bob))
    assert_problem(answer, 403, "FORBIDDEN")


async def test_the_history_of_an_unknown_user_is_not_found(client):
    answer = await client.get("/api/v1/users/987654322/transactions", headers=tokens.admin())
    assert_problem(answer, 404, "USER_NOT_FOUND")


# --- Idempotency-Key --------------------------------------------------------------------------------


async def charge_with_key(client, user, amount, key, headers=None):
    return await client.post(
        f"/api/v1/users/{user}/balance/charge",
        json={"amount": amount},
        headers={**(headers or tokens.bearer(user)), "Idempotency-Key": key},
    )


async def test_a_retried_charge_with_the_same_key_charges_once_and_replays_the_answer(client, new_user):
    user = await new_user()
    first = await charge_with_key(client, user, 700, "k-1")
    again = await charge_with_key(client, user, 700, "k-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert await balance_of(client, user) == 700


async def test_the_same_key_with_another_body_is_refused(client, new_user):
    user = await new_user()
    assert (await charge_with_key(client, user, 700, "k-2")).status_code == 200
    answer = await charge_with_key(client, user, 800, "k-2")
    assert_problem(answer, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await balance_of(client, user) == 700


async def test_keys_are_scoped_per_user(client, new_user):
    alice, bob = await new_user(), await new_user()
    assert (await charge_with_key(client, alice, 10, "shared")).status_code == 200
    assert (await charge_with_key(client, bob, 10, "shared")).status_code == 200
    assert await balance_of(client, alice) == 10 and await balance_of(client, bob) == 10


async def test_a_refused_charge_is_replayed_as_refused_even_when_it_would_now_succeed(client, new_user):
    user = await new_user()
    for _ in range(10):
        await client.post(
            f"/api/v1/users/{user}/balance/charge", json={"amount": 1_000_000}, headers=tokens.bearer(user)
        )
    refused = await charge_with_key(client, user, 5, "k-3")
    assert_problem(refused, 422, "BALANCE_LIMIT_EXCEEDED")
    # The user's balance does not change between the two calls here, but the answer is replayed
    # from the key's record, not computed again: same status, same body.
    again = await charge_with_key(client, user, 5, "k-3")
    assert again.status_code == 422 and again.json() == refused.json()


@pytest.mark.parametrize("key", ["", "x" * 201])
async def test_a_malformed_key_is_refused(client, new_user, key):
    user = await new_user()
    answer = await charge_with_key(client, user, 10, key)
    assert_problem(answer, 400, "VALIDATION_FAILED")
    assert await balance_of(client, user) == 0
