"""A coupon policy (SPEC.md section 3), free of any framework or database: what an admin may define,
and what every copy issued from it carries.

A policy discounts by a `RATE` (1-100 percent, optionally capped by `max_discount_amount`) or by a
`FIXED` amount of KRW, on one target product's lines or (no target) on the whole order. It may be
issued `total_quantity` times, optionally only inside an issue window, and each copy is valid for
`valid_days` days from the instant it was issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from coupon_service.domain.errors import InvalidCoupon

MAX_NAME_LENGTH = 100
MAX_RATE = 100
#: A fixed discount or a cap above this is a typing mistake, not a promotion (and stays far from
#: bigint so no amount computed from it can overflow).
MAX_AMOUNT = 100_000_000
MAX_TOTAL_QUANTITY = 10_000_000
MAX_VALID_DAYS = 3650


class DiscountType(StrEnum):
    RATE = "RATE"  # percent of the applicable amount, floored, optionally capped
    FIXED = "FIXED"  # KRW off the applicable amount


@dataclass(frozen=True)
class Snapshot:
    """The terms a user coupon keeps from its policy at issue time: a later change of the policy
    never changes a copy already issued."""

    name: str
    discount_type: DiscountType
    discount_value: int
    max_discount_amount: int | None
    target_product_id: int | None


@dataclass(frozen=True)
class CouponPolicy:
    name: str
    discount_type: DiscountType
    discount_value: int
    max_discount_amount: int | None
    target_product_id: int | None
    total_quantity: int
    valid_days: int
    issue_start_at: datetime | None = None
    issue_end_at: datetime | None = None

    @classmethod
    def define(
        cls,
        *,
        name: str,
        discount_type: DiscountType | str,
        discount_value: int,
        max_discount_amount: int | None = None,
        target_product_id: int | None = None,
        total_quantity: int,
        valid_days: int,
        issue_start_at: datetime | None = None,
        issue_end_at: datetime | None = None,
    ) -> CouponPolicy:
        """A new policy, or `InvalidCoupon` naming the first rule it breaks."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise InvalidCoupon(f"name must be 1-{MAX_NAME_LENGTH} characters")
        try:
            kind = DiscountType(discount_type)
        except ValueError:
            raise InvalidCoupon("discountType must be RATE or FIXED") from None
        _check_discount(kind, discount_value, max_discount_amount)
        if target_product_id is not None and target_product_id < 1:
            raise InvalidCoupon("targetProductId must be a product id (>= 1)")
        if not 1 <= total_quantity <= MAX_TOTAL_QUANTITY:
            raise InvalidCoupon(f"totalQuantity must be 1-{MAX_TOTAL_QUANTITY:,}")
        if not 1 <= valid_days <= MAX_VALID_DAYS:
            raise InvalidCoupon(f"validDays must be 1-{MAX_VALID_DAYS}")
        for field, at in (("issueStartAt", issue_start_at), ("issueEndAt", issue_end_at)):
            if at is not None and at.utcoffset() is None:
                raise InvalidCoupon(f"{field} needs a UTC offset (e.g. 2026-01-01T00:00:00+09:00)")
        if issue_start_at is not None and issue_end_at is not None and issue_start_at >= issue_end_at:
            raise InvalidCoupon("issueStartAt must be before issueEndAt")
        return cls(
            name,
            kind,
            discount_value,
            max_discount_amount,
            target_product_id,
            total_quantity,
            valid_days,
            issue_start_at,
            issue_end_at,
        )

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.name,
            self.discount_type,
            self.discount_value,
            self.max_discount_amount,
            self.target_product_id,
        )

    def expiry_of_copy_issued_at(self, issued_at: datetime) -> datetime:
        return issued_at + timedelta(days=self.valid_days)

    def window_open_at(self, at: datetime) -> bool:
        """Whether a request made at `at` falls in the issue window [start, end)."""
        if self.issue_start_at is not None and at < self.issue_start_at:
            return False
        return self.issue_end_at is None or at < self.issue_end_at


def _check_discount(kind: DiscountType, value: int, cap: int | None) -> None:
    if kind is DiscountType.RATE:
        if not 1 <= value <= MAX_RATE:
            raise InvalidCoupon(f"A RATE discountValue is a percentage, 1-{MAX_RATE}")
        if cap is not None and not 1 <= cap <= MAX_AMOUNT:
            raise InvalidCoupon(f"maxDiscountAmount must be 1-{MAX_AMOUNT:,} KRW")
    else:
        if not 1 <= value <= MAX_AMOUNT:
            raise InvalidCoupon(f"A FIXED discountValue is KRW, 1-{MAX_AMOUNT:,}")
        if cap is not None:
            raise InvalidCoupon("maxDiscountAmount applies to RATE coupons only")
