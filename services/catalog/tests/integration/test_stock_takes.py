"""The payment saga's stock step (docs/internal-api.md "catalog"): all lines or none, idempotent on
the payment id, given back once, and a give-back that comes first voids the payment."""

import asyncio

import pytest

from commerce_kit.testing import tokens


async def outcome(client, pid):
    return await client.get(f"/internal/v1/stock-takes/{pid}", headers=tokens.service())


async def test_a_take_takes_every_line_and_says_what_is_left(client, new_product, take, stock_of, payment_id):
    product = await new_product((5_000, 10), (6_000, 3))
    first, second = (o["id"] for o in product["options"])
    pid = payment_id()
    answer = await take(pid, (second, 3), (first, 4))
    assert answer.status_code == 200
    assert answer.json() == {
        "paymentId": pid,
        "status": "TAKEN",
        "lines": [
            {"optionId": first, "productId": product["id"], "quantity": 4, "stockAfter": 6},
            {"optionId": second, "productId": product["id"], "quantity": 3, "stockAfter": 0},
        ],
        "shortOptionIds": [],
    }
    assert (await stock_of(first), await stock_of(second)) == (6, 0)
    assert (await outcome(client, pid)).json() == answer.json()


async def test_lines_of_one_option_are_taken_together(new_product, take, stock_of, payment_id):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    answer = await take(payment_id(), (option, 2), (option, 3))
    assert answer.json()["lines"] == [
        {"optionId": option, "productId": product["id"], "quantity": 5, "stockAfter": 5}
    ]
    assert await stock_of(option) == 5


async def test_a_take_with_one_short_option_takes_nothing_and_names_the_short_option(
    client, new_product, take, stock_of, payment_id
):
    product = await new_product((5_000, 10), (6_000, 1))
    first, second = (o["id"] for o in product["options"])
    pid = payment_id()
    answer = await take(pid, (first, 2), (second, 2))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "REFUSED" and body["shortOptionIds"] == [second]
    assert [(line["optionId"], line["stockAfter"]) for line in body["lines"]] == [(first, 10), (second, 1)]
    assert (await stock_of(first), await stock_of(second)) == (10, 1)
    assert (await outcome(client, pid)).json() == body


async def test_a_refused_take_stays_refused_even_once_the_stock_is_there(
    new_product, take, set_stock, stock_of, payment_id
):
    product = await new_product((5_000, 1))
    option = product["options"][0]
    pid = payment_id()
    assert (await take(pid, (option["id"], 2))).json()["status"] == "REFUSED"
    await set_stock(product, option, 50)
    assert (await take(pid, (option["id"], 2))).json()["status"] == "REFUSED"
    assert await stock_of(option["id"]) == 50


async def test_a_retried_take_answers_the_same_and_takes_once(new_product, take, stock_of, payment_id):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    pid = payment_id()
    first = await take(pid, (option, 4))
    again = await take(pid, (option, 4))
    assert again.status_code == 200 and again.json() == first.json()
    assert await stock_of(option) == 6


async def test_the_same_take_sent_20_times_at_once_takes_once(new_product, take, stock_of, payment_id):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    pid = payment_id()
    answers = await asyncio.gather(*(take(pid, (option, 3)) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1 and answers[0].json()["status"] == "TAKEN"
    assert await stock_of(option) == 7


async def test_a_payment_id_reused_with_other_lines_is_a_conflict_and_changes_nothing(
    new_product, take, stock_of, payment_id
):
    product = await new_product((5_000, 10), (6_000, 10))
    first, second = (o["id"] for o in product["options"])
    pid = payment_id()
    await take(pid, (first, 1))
    for lines in [((first, 2),), ((first, 1), (second, 1)), ((second, 1),)]:
        answer = await take(pid, *lines)
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "INVALID_ORDER_STATE"
    assert (await stock_of(first), await stock_of(second)) == (9, 10)


async def test_a_take_of_an_unknown_option_is_not_found_and_records_nothing(
    client, new_product, take, stock_of, payment_id
):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    pid = payment_id()
    answer = await take(pid, (option, 1), (987654321, 1))
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "OPTION_NOT_FOUND" and answer.json()["optionIds"] == [987654321]
    assert await stock_of(option) == 10
    unknown = await outcome(client, pid)
    assert unknown.status_code == 404 and unknown.json()["code"] == "PAYMENT_NOT_FOUND"
    assert (await take(pid, (option, 1))).json()["status"] == "TAKEN"  # the id is still free


async def test_giving_back_returns_what_was_taken_once(
    client, new_product, take, give_back, stock_of, payment_id
):
    product = await new_product((5_000, 10), (6_000, 5))
    first, second = (o["id"] for o in product["options"])
    pid = payment_id()
    await take(pid, (first, 4), (second, 5))
    answers = [await give_back(pid) for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert answers[0].json() == {
        "paymentId": pid,
        "status": "GIVEN_BACK",
        "lines": [
            {"optionId": first, "productId": product["id"], "quantity": 4, "stockAfter": 10},
            {"optionId": second, "productId": product["id"], "quantity": 5, "stockAfter": 5},
        ],
        "shortOptionIds": [],
    }
    assert (await stock_of(first), await stock_of(second)) == (10, 5)
    assert (await outcome(client, pid)).json() == answers[0].json()
    assert (await take(pid, (first, 4), (second, 5))).json()["status"] == "GIVEN_BACK"  # a late retry
    assert (await stock_of(first), await stock_of(second)) == (10, 5)


async def test_a_give_back_returns_the_quantity_taken_onto_the_stock_as_it_is_now(
    new_product, take, give_back, set_stock, stock_of, payment_id
):
    product = await new_product((5_000, 10))
    option = product["options"][0]
    pid = payment_id()
    await take(pid, (option["id"], 4))
    await set_stock(product, option, 100)  # an admin recounted meanwhile
    assert (await give_back(pid)).json()["lines"][0]["stockAfter"] == 104


async def test_giving_back_a_refused_take_gives_nothing(new_product, take, give_back, stock_of, payment_id):
    product = await new_product((5_000, 1))
    option = product["options"][0]["id"]
    pid = payment_id()
    await take(pid, (option, 5))
    answer = await give_back(pid)
    assert answer.json()["status"] == "REFUSED"
    assert await stock_of(option) == 1


async def test_a_give_back_before_the_take_voids_the_payment_so_a_late_take_takes_nothing(
    client, new_product, take, give_back, stock_of, payment_id
):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    pid = payment_id()
    voided = await give_back(pid)
    assert voided.status_code == 200
    assert voided.json() == {"paymentId": pid, "status": "VOIDED", "lines": [], "shortOptionIds": []}
    late = await take(pid, (option, 3))
    assert late.status_code == 200 and late.json()["status"] == "VOIDED"
    assert await stock_of(option) == 10
    assert (await outcome(client, pid)).json()["status"] == "VOIDED"
    assert (await give_back(pid)).json()["status"] == "VOIDED"


async def test_a_take_and_its_give_back_racing_always_end_with_the_stock_whole(
    new_product, take, give_back, stock_of, payment_id, client
):
    product = await new_product((5_000, 50))
    option = product["options"][0]["id"]
    for _ in range(10):
        pid = payment_id()
        answers = await asyncio.gather(
            *(take(pid, (option, 5)) for _ in range(5)), *(give_back(pid) for _ in range(5))
        )
        assert {a.status_code for a in answers} == {200}
        final = (await outcome(client, pid)).json()["status"]
        assert final in {"GIVEN_BACK", "VOIDED"}
        assert await stock_of(option) == 50  # taken and given back, or never taken


@pytest.mark.parametrize(
    ("headers", "status"),
    [(tokens.bearer(1), 403), (tokens.admin(), 403), ({}, 401)],
    ids=["user", "admin", "none"],
)
async def test_only_services_may_take_or_give_back_stock(
    client, new_product, take, stock_of, payment_id, headers, status
):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    pid = payment_id()
    assert (await take(pid, (option, 1), headers=headers)).status_code == status
    assert (
        await client.put(f"/internal/v1/stock-takes/{pid}/give-back", headers=headers)
    ).status_code == status
    assert (await client.get(f"/internal/v1/stock-takes/{pid}", headers=headers)).status_code == status
    assert await stock_of(option) == 10
