"""The database part of issuing a coupon: one copy of the stock taken and one user coupon written,
together or not at all.

`issue_in` works inside the caller's transaction, so that the first-come-first-served pipeline
(SPEC.md section 3, built later on this) can settle a batch of requests and record each reservation's
outcome in the same transaction as the issue itself. Anyone else (the demo data, the tests) calls
`Issuing.issue_to`: one transaction per issue.

The issue window is not checked here: it is checked when a request is accepted (at its requestedAt),
and a request accepted inside the window is honoured even when it is settled after the window closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from coupon_service.adapters import repository as repo
from coupon_service.domain.errors import CouponNotFound
from coupon_service.domain.user_coupon import UserCoupon
from coupon_service.service_layer.clock import Clock, utc_now


class IssueOutcome(StrEnum):
    ISSUED = "ISSUED"
    SOLD_OUT = "SOLD_OUT"
    ALREADY_ISSUED = "ALREADY_ISSUED"


@dataclass(frozen=True)
class Issue:
    outcome: IssueOutcome
    user_coupon_id: int | None  # the new copy, or the one the user already holds; None when sold out


class _AlreadyHeld(Exception):
    """Raised inside the savepoint to undo the stock taken for a copy the user already has."""


async def issue_in(conn: asyncpg.Connection, user_id: int, coupon_id: int, at: datetime) -> Issue:
    """Issues one copy inside the caller's transaction. A refusal changes nothing (a savepoint
    undoes the stock taken), so one transaction may settle many requests. Raises `CouponNotFound`
    for a coupon that does not exist."""
    # A cheap read first, so a repeated request neither touches the coupon's (hot) row nor reads as
    # SOLD_OUT to a user who has the coupon. The unique index below is the real guard.
    held = await repo.held_copy(conn, user_id, coupon_id)
    if held is not None:
        return Issue(IssueOutcome.ALREADY_ISSUED, held)
    try:
        async with conn.transaction():
            policy = await repo.take_one(conn, coupon_id)
            if policy is None:
                return await _nothing_taken(conn, user_id, coupon_id)
            copy_id = await repo.insert_user_coupon(conn, UserCoupon.issue(policy, coupon_id, user_id, at))
            if copy_id is None:
                raise _AlreadyHeld
            return Issue(IssueOutcome.ISSUED, copy_id)
    except _AlreadyHeld:
        return Issue(IssueOutcome.ALREADY_ISSUED, await repo.held_copy(conn, user_id, coupon_id))


async def _nothing_taken(conn: asyncpg.Connection, user_id: int, coupon_id: int) -> Issue:
    # The user's own earlier request may have taken the last copy while this one waited for the
    # coupon's row: they hold it, which says more than "sold out".
    held = await repo.held_copy(conn, user_id, coupon_id)
    if held is not None:
        return Issue(IssueOutcome.ALREADY_ISSUED, held)
    if not await repo.coupon_exists(conn, coupon_id):
        raise CouponNotFound(f"Coupon {coupon_id} does not exist")
    return Issue(IssueOutcome.SOLD_OUT, None)


class Issuing:
    def __init__(self, pool: asyncpg.Pool, clock: Clock = utc_now) -> None:
        self.pool, self.clock = pool, clock

    async def issue_to(self, user_id: int, coupon_id: int) -> Issue:
        """Issues one copy of the coupon to the user, in one transaction: ISSUED, SOLD_OUT (nothing
        left) or ALREADY_ISSUED (the user has one; nothing changed)."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await issue_in(conn, user_id, coupon_id, self.clock())
