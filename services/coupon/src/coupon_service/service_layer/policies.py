"""Use cases of the coupon policies (the admin's side): define a coupon, read it with its stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from coupon_service.adapters import repository as repo
from coupon_service.domain.errors import CouponNotFound
from coupon_service.domain.policy import CouponPolicy


@dataclass(frozen=True)
class Coupon:
    """A policy as the admin sees it, with how many copies were issued and how many are left."""

    id: int
    policy: CouponPolicy
    remaining_quantity: int
    created_at: datetime

    @property
    def issued_quantity(self) -> int:
        return self.policy.total_quantity - self.remaining_quantity


def _coupon(row: asyncpg.Record) -> Coupon:
    return Coupon(row["id"], repo.policy_of(row), row["remaining"], row["created_at"])


class Policies:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def define(self, **terms: Any) -> Coupon:
        """A new coupon from the admin's terms (`CouponPolicy.define` checks them; nothing is
        stored when one is wrong), with its whole quantity left to issue."""
        policy = CouponPolicy.define(**terms)
        async with self.pool.acquire() as conn:
            return _coupon(await repo.insert_coupon(conn, policy))

    async def get(self, coupon_id: int) -> Coupon:
        async with self.pool.acquire() as conn:
            row = await repo.coupon(conn, coupon_id)
        if row is None:
            raise CouponNotFound(f"Coupon {coupon_id} does not exist")
        return _coupon(row)
