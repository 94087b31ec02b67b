"""Placing an order: the checks, in the seed's order, and the amounts (SPEC.md section 4). Plain
Python: the use case gathers what the catalog and the coupon service say, then asks these rules.

Checks, each over every line before the next kind of check, so the answer does not depend on the
order of the lines:
1. each option exists (404 OPTION_NOT_FOUND, or PRODUCT_NOT_FOUND: see `priced_lines`),
2. belongs to the product named on its line (404 OPTION_NOT_FOUND),
3. has stock >= quantity (409 INSUFFICIENT_STOCK; the stock is only read here, the payment takes it);
4. the coupon belongs to the user, is ISSUED and not expired (409 COUPON_UNAVAILABLE),
5. and applies to something in the order (409 COUPON_NOT_APPLICABLE).

Amounts: line = unit price x quantity; applicable = the lines of the coupon's target product, or the
whole order when it has none; RATE = floor(applicable x rate / 100) capped by maxDiscountAmount;
FIXED = min(value, applicable); pay = total - discount, never negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from order_service.domain.errors import (
    CouponNotApplicable,
    CouponUnavailable,
    DuplicateOption,
    InsufficientStock,
    OptionNotFound,
    OrderTooLarge,
    ProductNotFound,
)
from order_service.domain.order import AppliedCoupon, CouponTerms, DiscountType, OrderLine

#: PostgreSQL's bigint: no amount we store may pass it.
MAX_AMOUNT = 2**63 - 1


@dataclass(frozen=True)
class RequestedLine:
    product_id: int
    option_id: int
    quantity: int


@dataclass(frozen=True)
class CatalogOption:
    """An option as the catalog reports it now (its lookup is fresh, never cached)."""

    option_id: int
    product_id: int
    product_name: str
    option_name: str
    price: int
    stock: int


@dataclass(frozen=True)
class UserCoupon:
    """A user coupon as the coupon service reports it now."""

    user_coupon_id: int
    user_id: int
    coupon_id: int
    status: str  # ISSUED, USED or EXPIRED
    terms: CouponTerms
    expires_at: datetime | None


@dataclass(frozen=True)
class OrderDraft:
    """A checked, priced order, ready to be saved as PENDING_PAYMENT."""

    user_id: int
    lines: tuple[OrderLine, ...]
    total_amount: int
    discount_amount: int
    pay_amount: int
    coupon: AppliedCoupon | None


def refuse_duplicate_options(requested: Sequence[RequestedLine]) -> None:
    """Two lines of one option are refused rather than merged: they would be checked against the same
    stock one by one (each passing while their sum does not), and a payment taking stock per line
    could not say which line fell short. The client sends one line with the summed quantity."""
    seen: set[int] = set()
    for line in requested:
        if line.option_id in seen:
            raise DuplicateOption(
                f"Option {line.option_id} is on more than one line: send one line with the total quantity"
            )
        seen.add(line.option_id)


def priced_lines(
    requested: Sequence[RequestedLine],
    options: Mapping[int, CatalogOption],
    known_products: Iterable[int] | None = None,
) -> tuple[OrderLine, ...]:
    """Check every line against the catalog and price it from the catalog (never from the client).

    Telling an unknown option from an unknown product: the catalog's lookup answers for options only
    (`options`: the ones that exist), so a product is known to exist when the catalog vouches for it
    (`known_products`; by default the products of the options found, since every product has options).
    An option the catalog does not have is OPTION_NOT_FOUND when its line's product is known, and
    PRODUCT_NOT_FOUND when the catalog vouches for neither the option nor the product. An option that
    exists under another product is OPTION_NOT_FOUND (the option exists; it is not this product's),
    with both product ids in the detail.

    The limit of the lookup: an unknown option of a real product none of whose options is in the
    order is answered PRODUCT_NOT_FOUND, since nothing the catalog said vouches for that product. A
    lookup that also answered for product ids would make it exact: its adapter would pass them as
    `known_products`, and nothing here would change.
    """
    known = {o.product_id for o in options.values()} if known_products is None else set(known_products)

    missing = [line for line in requested if line.option_id not in options]
    if missing:
        line = missing[0]
        if line.product_id not in known:
            raise ProductNotFound(
                f"Product {line.product_id} was not found (nor its option {line.option_id})",
                productIds=sorted({m.product_id for m in missing if m.product_id not in known}),
            )
        raise OptionNotFound(
            f"Product {line.product_id} has no option {line.option_id}",
            optionIds=[m.option_id for m in missing],
        )

    misplaced = [line for line in requested if options[line.option_id].product_id != line.product_id]
    if misplaced:
        line = misplaced[0]
        raise OptionNotFound(
            f"Option {line.option_id} belongs to product {options[line.option_id].product_id},"
            f" not to product {line.product_id}",
            optionIds=[m.option_id for m in misplaced],
        )

    short = [line for line in requested if options[line.option_id].stock < line.quantity]
    if short:
        line = short[0]
        raise InsufficientStock(
            f"Option {line.option_id} has {options[line.option_id].stock} in stock;"
            f" {line.quantity} were ordered",
            optionIds=[s.option_id for s in short],
        )

    return tuple(
        OrderLine(
            product_id=line.product_id,
            option_id=line.option_id,
            product_name=options[line.option_id].product_name,
            option_name=options[line.option_id].option_name,
            unit_price=options[line.option_id].price,
            quantity=line.quantity,
        )
        for line in requested
    )


def usable_coupon(found: UserCoupon | None, user_coupon_id: int, user_id: int, now: datetime) -> UserCoupon:
    """The coupon must be the user's, ISSUED and not past its expiry."""
    # An unknown coupon and another user's coupon get the same answer, so that the API does not tell
    # anyone which user coupon ids exist.
    if found is None or found.user_id != user_id:
        raise CouponUnavailable(f"User coupon {user_coupon_id} is not one of your coupons")
    if found.status != "ISSUED":
        raise CouponUnavailable(f"User coupon {user_coupon_id} is {found.status}, not ISSUED")
    # The coupon service marks a coupon EXPIRED when read past its expiry; checking the time here too
    # covers the moments between.
    if found.expires_at is not None and found.expires_at <= now:
        raise CouponUnavailable(f"User coupon {user_coupon_id} expired at {found.expires_at.isoformat()}")
    return found


def discount(terms: CouponTerms, lines: Sequence[OrderLine]) -> int:
    """The discount the terms give on these lines; COUPON_NOT_APPLICABLE when no line qualifies.

    A coupon applies when a line qualifies, even one priced 0 (the discount is then 0)."""
    applicable_lines = [line for line in lines if terms.target_product_id in (None, line.product_id)]
    if not applicable_lines:
        raise CouponNotApplicable(f"The coupon applies to product {terms.target_product_id} only")
    applicable = sum(line.line_amount for line in applicable_lines)
    if terms.discount_type is DiscountType.RATE:
        amount = applicable * terms.discount_value // 100  # integer KRW, rounded down
        if terms.max_discount_amount is not None:
            amount = min(amount, terms.max_discount_amount)
    else:
        amount = min(terms.discount_value, applicable)
    return amount


def draft_order(user_id: int, lines: tuple[OrderLine, ...], coupon: UserCoupon | None) -> OrderDraft:
    total = sum(line.line_amount for line in lines)
    if total > MAX_AMOUNT:
        raise OrderTooLarge(f"The order's total must not exceed {MAX_AMOUNT} KRW")
    off = discount(coupon.terms, lines) if coupon else 0
    applied = AppliedCoupon(coupon.user_coupon_id, coupon.coupon_id, coupon.terms) if coupon else None
    return OrderDraft(
        user_id=user_id,
        lines=lines,
        total_amount=total,
        discount_amount=off,
        pay_amount=max(0, total - off),
        coupon=applied,
    )
