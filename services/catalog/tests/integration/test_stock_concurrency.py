"""Stock under real concurrency (SPEC.md section 5 invariants): it never goes negative, takes of
many options in any order never deadlock, and every unit is accounted for."""

import asyncio
import random


async def test_300_concurrent_takes_of_one_unit_on_a_stock_of_100_take_exactly_100(
    client, new_product, take, stock_of, payment_id, pool
):
    product = await new_product((5_000, 100))
    option = product["options"][0]["id"]
    answers = await asyncio.gather(*(take(payment_id(), (option, 1)) for _ in range(300)))
    assert {a.status_code for a in answers} == {200}
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("TAKEN") == 100 and statuses.count("REFUSED") == 200
    # Each take saw the one before it: the stocks left are 99, 98, ..., 0, each exactly once.
    left = sorted(a.json()["lines"][0]["stockAfter"] for a in answers if a.json()["status"] == "TAKEN")
    assert left == list(range(100))
    assert await stock_of(option) == 0
    assert await pool.fetchval("SELECT in_stock_options FROM products WHERE id = $1", product["id"]) == 0
    refused = next(a.json() for a in answers if a.json()["status"] == "REFUSED")
    assert refused["shortOptionIds"] == [option]


async def test_concurrent_takes_of_many_options_in_any_order_never_deadlock_and_conserve_stock(
    client, new_product, take, give_back, stock_of, payment_id, pool
):
    # Stocks small enough that options sell out and come back all the time, so products' in-stock
    # counts move too (their rows are locked after the options, in product-id order).
    products = [await new_product((1_000, 3), (2_000, 3), (3_000, 3)) for _ in range(3)]
    options = [(p["id"], o["id"]) for p in products for o in p["options"]]
    initial = {o: 3 for _, o in options}
    rng = random.Random(20261125)
    plans = []
    for _ in range(150):
        chosen = rng.sample([o for _, o in options], rng.randint(2, 5))  # in a random order
        plans.append((payment_id(), [(o, rng.randint(1, 2)) for o in chosen], rng.random() < 0.4))

    async def pay(pid, lines, then_give_back):
        taken = await take(pid, *lines)
        if then_give_back:
            return taken, await give_back(pid)
        return taken, None

    results = await asyncio.gather(*(pay(*plan) for plan in plans))
    for taken, given in results:
        assert taken.status_code == 200, taken.text  # a deadlock would have been a 500
        assert given is None or given.status_code == 200, given.text
    kept: dict[int, int] = dict.fromkeys(initial, 0)
    for (taken, given), (_, lines, _) in zip(results, plans, strict=True):
        if taken.json()["status"] == "TAKEN" and given is None:
            for option, quantity in lines:
                kept[option] += quantity
    statuses = {t.json()["status"] for t, _ in results}
    assert "TAKEN" in statuses and "REFUSED" in statuses  # the run did contend
    for option, start in initial.items():
        assert await stock_of(option) == start - kept[option] >= 0
    counts = await pool.fetch(
        """
        SELECT p.in_stock_options AS kept,
               (SELECT count(*) FROM options o WHERE o.product_id = p.id AND o.stock > 0) AS actual
        FROM products p WHERE p.id = ANY($1::bigint[])
        """,
        [p["id"] for p in products],
    )
    assert [r["kept"] for r in counts] == [r["actual"] for r in counts]


async def test_admin_stock_settings_racing_with_takes_never_deadlock(
    new_product, take, set_stock, payment_id, stock_of
):
    first, second = await new_product((1_000, 50), (2_000, 50)), await new_product((3_000, 50))
    lines = [(o["id"], 1) for o in first["options"] + second["options"]]
    takes = [take(payment_id(), *(lines[i % 3 :] + lines[: i % 3])) for i in range(60)]
    settings = [set_stock(p, p["options"][0], 40) for p in (first, second) for _ in range(30)]
    answers = await asyncio.gather(*takes, *settings)  # set_stock checks its own 200
    assert {a.status_code for a in answers[:60]} == {200}
    for option, _ in lines:
        assert await stock_of(option) >= 0
