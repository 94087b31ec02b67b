"""`issue_to`: the database part of an issue (SPEC.md section 3), on a real database. The stock and
the copies always agree: remaining = total - issued, never below 0, one copy per user."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from commerce_kit.testing import eventually
from coupon_service.domain.errors import CouponNotFound
from coupon_service.service_layer.issuing import Issue, IssueOutcome, Issuing, issue_in


async def remaining(pool, coupon_id) -> int:
    return await pool.fetchval("SELECT remaining FROM coupons WHERE id = $1", coupon_id)


async def copies(pool, coupon_id) -> list:
    return await pool.fetch("SELECT * FROM user_coupons WHERE coupon_id = $1 ORDER BY id", coupon_id)


async def test_an_issue_takes_one_from_the_stock_and_writes_the_users_copy(pool, new_coupon, fresh_id):
    coupon, user = await new_coupon(totalQuantity=3, validDays=30, targetProductId=7), fresh_id()
    issued_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    issue = await Issuing(pool, clock=lambda: issued_at).issue_to(user, coupon["id"])
    assert issue.outcome is IssueOutcome.ISSUED and issue.user_coupon_id is not None
    assert await remaining(pool, coupon["id"]) == 2
    [copy] = await copies(pool, coupon["id"])
    assert copy["id"] == issue.user_coupon_id and copy["user_id"] == user
    assert copy["status"] == "ISSUED" and copy["used_at"] is None and copy["used_by_payment_id"] is None
    assert copy["issued_at"] == issued_at and copy["expires_at"] == issued_at + timedelta(days=30)
    # the snapshot of the policy
    assert (
        copy["name"],
        copy["discount_type"],
        copy["discount_value"],
        copy["max_discount_amount"],
        copy["target_product_id"],
    ) == ("Welcome 10%", "RATE", 10, 5_000, 7)


async def test_a_second_issue_to_the_same_user_is_refused_and_changes_nothing(
    pool, issuing, new_coupon, fresh_id
):
    coupon, user = await new_coupon(totalQuantity=3), fresh_id()
    first = await issuing.issue_to(user, coupon["id"])
    again = await issuing.issue_to(user, coupon["id"])
    assert again == Issue(IssueOutcome.ALREADY_ISSUED, first.user_coupon_id)
    assert await remaining(pool, coupon["id"]) == 2
    assert len(await copies(pool, coupon["id"])) == 1


async def racing_twin_requests(pool, user, coupon_id) -> tuple[Issue, Issue]:
    """Two requests of one user, the second reaching the coupon's row while the first, which has
    issued but not yet committed, still holds it: the second passed the cheap "already held?" read
    and meets the first copy only at the unique index."""
    now = datetime.now(UTC)
    async with pool.acquire() as first_conn, pool.acquire() as second_conn:
        first_tx = first_conn.transaction()
        await first_tx.start()
        first = await issue_in(first_conn, user, coupon_id, now)

        async def second_request() -> Issue:
            async with second_conn.transaction():
                return await issue_in(second_conn, user, coupon_id, now)

        second_task = asyncio.create_task(second_request())
        pid = second_conn.get_server_pid()

        async def second_waits_for_the_row() -> bool:
            state = await pool.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
            return state == "Lock"

        await eventually(second_waits_for_the_row, timeout=10, what="the second request waiting")
        await first_tx.commit()
        return first, await second_task


async def test_a_duplicate_past_the_cheap_check_is_stopped_by_the_unique_index_and_gives_its_unit_back(
    pool, new_coupon, fresh_id
):
    coupon, user = await new_coupon(totalQuantity=3), fresh_id()
    first, second = await racing_twin_requests(pool, user, coupon["id"])
    assert first.outcome is IssueOutcome.ISSUED
    assert second == Issue(IssueOutcome.ALREADY_ISSUED, first.user_coupon_id)
    assert await remaining(pool, coupon["id"]) == 2  # the second took one, then gave it back
    assert len(await copies(pool, coupon["id"])) == 1


async def test_a_duplicate_that_finds_the_stock_gone_hears_it_holds_the_coupon_not_sold_out(
    pool, new_coupon, fresh_id
):
    coupon, user = await new_coupon(totalQuantity=1), fresh_id()
    first, second = await racing_twin_requests(pool, user, coupon["id"])
    assert second == Issue(IssueOutcome.ALREADY_ISSUED, first.user_coupon_id)
    assert await remaining(pool, coupon["id"]) == 0


async def test_a_coupon_is_sold_out_when_nothing_is_left(pool, issuing, new_coupon, fresh_id):
    coupon = await new_coupon(totalQuantity=2)
    for _ in range(2):
        assert (await issuing.issue_to(fresh_id(), coupon["id"])).outcome is IssueOutcome.ISSUED
    late = await issuing.issue_to(fresh_id(), coupon["id"])
    assert late == Issue(IssueOutcome.SOLD_OUT, None)
    assert await remaining(pool, coupon["id"]) == 0
    assert len(await copies(pool, coupon["id"])) == 2


async def test_issuing_an_unknown_coupon_raises_not_found_and_writes_nothing(pool, issuing, fresh_id):
    user = fresh_id()
    with pytest.raises(CouponNotFound):
        await issuing.issue_to(user, 987_654_321)
    assert await pool.fetchval("SELECT count(*) FROM user_coupons WHERE user_id = $1", user) == 0


async def test_many_issues_settle_in_one_transaction_each_refusal_undoing_only_itself(
    pool, new_coupon, fresh_id
):
    coupon = await new_coupon(totalQuantity=2)
    alice, bob, carol = fresh_id(), fresh_id(), fresh_id()
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        outcomes = [
            (await issue_in(conn, user, coupon["id"], now)).outcome for user in (alice, alice, bob, carol)
        ]
    assert outcomes == [
        IssueOutcome.ISSUED,
        IssueOutcome.ALREADY_ISSUED,
        IssueOutcome.ISSUED,
        IssueOutcome.SOLD_OUT,
    ]
    assert await remaining(pool, coupon["id"]) == 0
    assert sorted(c["user_id"] for c in await copies(pool, coupon["id"])) == sorted([alice, bob])


async def test_50_users_asking_twice_at_once_for_20_copies_get_exactly_20_one_each(
    pool, issuing, new_coupon, fresh_id
):
    coupon = await new_coupon(totalQuantity=20)
    users = [fresh_id() for _ in range(50)]
    requests = [user for user in users for _ in range(2)]
    random.shuffle(requests)
    issues = await asyncio.gather(*(issuing.issue_to(user, coupon["id"]) for user in requests))

    outcomes: dict[int, list[IssueOutcome]] = {user: [] for user in users}
    for user, issue in zip(requests, issues, strict=True):
        outcomes[user].append(issue.outcome)
    winners = [u for u, seen in outcomes.items() if IssueOutcome.ISSUED in seen]
    assert len(winners) == 20
    # A winner's other request hears that they hold it; a loser hears "sold out" twice.
    for user, seen in outcomes.items():
        expected = (
            [IssueOutcome.ALREADY_ISSUED, IssueOutcome.ISSUED]
            if user in winners
            else [IssueOutcome.SOLD_OUT] * 2
        )
        assert sorted(seen) == sorted(expected), user
    stored = await copies(pool, coupon["id"])
    assert sorted(c["user_id"] for c in stored) == sorted(winners)  # nobody twice
    assert await remaining(pool, coupon["id"]) == 0


async def test_when_stock_outnumbers_the_users_every_user_gets_exactly_one(
    pool, issuing, new_coupon, fresh_id
):
    coupon = await new_coupon(totalQuantity=100)
    users = [fresh_id() for _ in range(30)]
    requests = users * 3
    random.shuffle(requests)
    issues = await asyncio.gather(*(issuing.issue_to(user, coupon["id"]) for user in requests))
    assert sum(i.outcome is IssueOutcome.ISSUED for i in issues) == 30
    assert {i.outcome for i in issues} == {IssueOutcome.ISSUED, IssueOutcome.ALREADY_ISSUED}
    assert sorted(c["user_id"] for c in await copies(pool, coupon["id"])) == sorted(users)
    assert await remaining(pool, coupon["id"]) == 70


async def test_the_table_itself_refuses_stock_below_zero_or_above_the_total(pool, new_coupon):
    coupon = await new_coupon(totalQuantity=1)
    for remaining_value in (-1, 2):
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                "UPDATE coupons SET remaining = $2 WHERE id = $1", coupon["id"], remaining_value
            )
