"""POST /internal/v1/options/lookup: what the order service reads to price an order."""

import pytest

from commerce_kit.testing import tokens


async def lookup(client, ids, headers=None):
    return await client.post(
        "/internal/v1/options/lookup",
        json={"optionIds": ids},
        headers=tokens.service("order") if headers is None else headers,
    )


async def test_the_lookup_answers_the_options_that_exist_with_their_product(client, new_product):
    product = await new_product((5_000, 3), (6_000, 0), name="무선 이어폰")
    first, second = product["options"]
    answer = await lookup(client, [second["id"], 987654321, first["id"], second["id"]])
    assert answer.status_code == 200
    assert answer.json() == {
        "options": [
            {
                "optionId": first["id"],
                "productId": product["id"],
                "productName": "무선 이어폰",
                "optionName": "옵션 1",
                "price": 5_000,
                "stock": 3,
            },
            {
                "optionId": second["id"],
                "productId": product["id"],
                "productName": "무선 이어폰",
                "optionName": "옵션 2",
                "price": 6_000,
                "stock": 0,
            },
        ]
    }


async def test_a_lookup_of_unknown_options_only_answers_an_empty_list(client):
    answer = await lookup(client, [987654321, 987654322])
    assert answer.status_code == 200 and answer.json() == {"options": []}


async def test_the_lookup_shows_the_stock_as_it_is_now(client, new_product, take, payment_id):
    product = await new_product((5_000, 3))
    option = product["options"][0]["id"]
    await take(payment_id(), (option, 2))
    assert (await lookup(client, [option])).json()["options"][0]["stock"] == 1


async def test_a_lookup_of_a_hundred_options_is_fine(client):
    assert (await lookup(client, list(range(1, 101)))).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [(tokens.bearer(1), 403), (tokens.admin(), 403), ({}, 401)],
    ids=["user", "admin", "none"],
)
async def test_only_services_may_look_options_up(client, headers, status):
    answer = await lookup(client, [1], headers=headers)
    assert answer.status_code == status
