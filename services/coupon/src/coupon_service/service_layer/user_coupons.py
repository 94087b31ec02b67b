"""Use cases of the users' coupons: "my coupons", and the payment saga's use and restore (internal
API), each in one transaction with the rules left to the domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import asyncpg

from commerce_kit.errors import ValidationFailed
from commerce_kit.paging import decode_cursor, page_of
from coupon_service.adapters import repository as repo
from coupon_service.domain import payment_steps as steps
from coupon_service.domain.errors import CouponNotFound, CouponUnavailable
from coupon_service.domain.policy import DiscountType
from coupon_service.domain.user_coupon import CouponStatus, UserCoupon
from coupon_service.service_layer.clock import Clock, utc_now

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Listing(StrEnum):
    ISSUED = "ISSUED"  # the usable ones: ISSUED and not expired
    ALL = "ALL"


class RestoreOutcome(StrEnum):
    RESTORED = "RESTORED"  # this payment had used the coupon; it is given back (now or before)
    VOIDED = "VOIDED"  # this payment had not used it; a later use by this payment will be refused
    UNCHANGED = "UNCHANGED"  # this payment is bound to another coupon; this one is not its to give back


@dataclass(frozen=True)
class UserCouponView:
    """A user coupon as shown at one instant: its terms, and its status at that instant."""

    user_coupon_id: int
    user_id: int
    coupon_id: int
    name: str
    discount_type: DiscountType
    discount_value: int
    max_discount_amount: int | None
    target_product_id: int | None
    status: CouponStatus
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by_payment_id: int | None
    order_id: int | None

    @classmethod
    def of(cls, copy: UserCoupon, now: datetime) -> UserCouponView:
        assert copy.id is not None
        terms = copy.terms
        return cls(
            copy.id,
            copy.user_id,
            copy.coupon_id,
            terms.name,
            terms.discount_type,
            terms.discount_value,
            terms.max_discount_amount,
            terms.target_product_id,
            copy.status_at(now),
            copy.issued_at,
            copy.expires_at,
            copy.used_at,
            copy.used_by_payment_id,
            copy.order_id,
        )


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _position(cursor: str | None) -> tuple[datetime, int] | None:
    """The (issued_at, id) of the last coupon of the previous page."""
    key = decode_cursor(cursor, arity=2)
    if key is None:
        return None
    micros, copy_id = key
    if not isinstance(micros, int) or not isinstance(copy_id, int):
        raise ValidationFailed("The cursor is not valid")
    try:
        return _EPOCH + timedelta(microseconds=micros), copy_id
    except OverflowError:
        raise ValidationFailed("The cursor is not valid") from None


class UserCoupons:
    def __init__(self, pool: asyncpg.Pool, clock: Clock = utc_now) -> None:
        self.pool, self.clock = pool, clock

    async def of_user(
        self, user_id: int, listing: Listing, cursor: str | None, size: int
    ) -> tuple[list[UserCouponView], str | None]:
        """The user's coupons, newest first: the usable ones, or all of them."""
        before, now = _position(cursor), self.clock()
        async with self.pool.acquire() as conn:
            copies = await repo.user_coupons_of(
                conn,
                user_id,
                usable_at=now if listing is Listing.ISSUED else None,
                before=before,
                limit=size + 1,
            )
        items, next_cursor = page_of(copies, size, lambda c: (_micros(c.issued_at), c.id))
        return [UserCouponView.of(c, now) for c in items], next_cursor

    async def get(self, user_coupon_id: int) -> UserCouponView:
        async with self.pool.acquire() as conn:
            copy = await repo.user_coupon(conn, user_coupon_id)
        if copy is None:
            raise CouponNotFound(f"User coupon {user_coupon_id} does not exist")
        return UserCouponView.of(copy, self.clock())

    # --- the payment saga's step, idempotent on the payment id (domain.payment_steps) -------------

    async def use(self, user_coupon_id: int, payment_id: int, user_id: int, order_id: int) -> UserCouponView:
        async with self.pool.acquire() as conn, conn.transaction():
            # The coupon's lock first: two payments on one coupon, or a retry of the same payment,
            # queue here, and the second finds what the first did.
            copy = await repo.user_coupon(conn, user_coupon_id, lock=True)
            if copy is None:
                # 409 rather than 404: for the saga an unknown coupon is one more coupon it cannot use.
                raise CouponUnavailable(f"User coupon {user_coupon_id} does not exist")
            step = await repo.payment_step(conn, payment_id)
            now = self.clock()
            used, new_step = steps.use(
                copy, step, payment_id=payment_id, user_id=user_id, order_id=order_id, now=now
            )
            # A payment's first step; a concurrent use of the same payment on another coupon (whose
            # lock is another row) may have recorded one meanwhile.
            if step is None and not await repo.record_step(conn, new_step):
                raise CouponUnavailable(f"Payment {payment_id} is bound to another user coupon")
            if used != copy:
                await repo.save_use(conn, used)
            return UserCouponView.of(used, now)

    async def restore(self, user_coupon_id: int, payment_id: int) -> tuple[UserCouponView, RestoreOutcome]:
        async with self.pool.acquire() as conn, conn.transaction():
            copy = await repo.user_coupon(conn, user_coupon_id, lock=True)
            if copy is None:
                raise CouponNotFound(f"User coupon {user_coupon_id} does not exist")
            step = await repo.payment_step(conn, payment_id)
            restored, new_step = steps.restore(copy, step, payment_id=payment_id)
            if step is None:
                if not await repo.record_step(conn, new_step):
                    # The payment used another coupon meanwhile: this one is not its to give back.
                    recorded = await repo.payment_step(conn, payment_id)
                    assert recorded is not None
                    new_step = recorded
            elif new_step != step:
                await repo.update_step(conn, new_step)
            if restored != copy:
                await repo.save_use(conn, restored)
            return UserCouponView.of(restored, self.clock()), _outcome(new_step, user_coupon_id)


def _outcome(step: steps.PaymentStep, user_coupon_id: int) -> RestoreOutcome:
    if step.user_coupon_id != user_coupon_id:
        return RestoreOutcome.UNCHANGED
    if step.status is steps.StepStatus.VOIDED:
        return RestoreOutcome.VOIDED
    return RestoreOutcome.RESTORED
