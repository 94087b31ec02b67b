"""The read cache's bound (CATALOG_CACHE_SECONDS): a change made through another instance, which
this one cannot invalidate, shows on this instance's pages within the bound; the internal lookup
never reads through the cache."""

import time

from commerce_kit.testing import eventually, tokens

#: Polling, request and scheduling time on top of the bound, for the assertion on elapsed time.
SLACK = 0.5


async def stock_shown(client, product_id) -> int:
    answer = await client.get(f"/api/v1/products/{product_id}", headers=tokens.bearer(31))
    return answer.json()["options"][0]["stock"]


async def test_stock_set_to_zero_on_another_instance_shows_here_within_the_bound(
    client, other_instance, new_product, settings
):
    bound = settings.cache_seconds
    product = await new_product((5_000, 4))
    primed_at = time.monotonic()
    assert await stock_shown(client, product["id"]) == 4  # cached here from now on
    option = product["options"][0]["id"]
    answer = await other_instance.put(
        f"/api/v1/admin/products/{product['id']}/options/{option}/stock",
        json={"stock": 0},
        headers=tokens.admin(),
    )
    assert answer.status_code == 200
    written_at = time.monotonic()
    if written_at - primed_at < bound:  # the page cached here has not expired yet: it is still shown
        assert await stock_shown(client, product["id"]) == 4
    await eventually(
        lambda: _is_zero(client, product["id"]), timeout=bound + 5, interval=0.02, what="the new stock here"
    )
    assert time.monotonic() - written_at <= bound + SLACK


async def _is_zero(client, product_id) -> bool:
    return await stock_shown(client, product_id) == 0


async def test_a_product_sold_out_on_another_instance_leaves_the_list_here_within_the_bound(
    client, other_instance, new_product, settings
):
    product = await new_product((5_000, 1))

    async def listed() -> bool:
        answer = await client.get("/api/v1/products", params={"size": 100}, headers=tokens.bearer(31))
        return product["id"] in {p["id"] for p in answer.json()["items"]}

    assert await listed()
    option = product["options"][0]["id"]
    await other_instance.put(
        f"/api/v1/admin/products/{product['id']}/options/{option}/stock",
        json={"stock": 0},
        headers=tokens.admin(),
    )
    written_at = time.monotonic()

    async def gone() -> bool:
        return not await listed()

    await eventually(gone, timeout=settings.cache_seconds + 5, interval=0.02, what="the product off the list")
    assert time.monotonic() - written_at <= settings.cache_seconds + SLACK


async def test_the_internal_lookup_is_fresh_even_while_the_public_page_is_cached(
    client, other_instance, new_product
):
    product = await new_product((5_000, 4))
    option = product["options"][0]["id"]
    assert await stock_shown(client, product["id"]) == 4
    await other_instance.put(
        f"/api/v1/admin/products/{product['id']}/options/{option}/stock",
        json={"stock": 1},
        headers=tokens.admin(),
    )
    answer = await client.post(
        "/internal/v1/options/lookup", json={"optionIds": [option]}, headers=tokens.service()
    )
    assert answer.json()["options"][0]["stock"] == 1
