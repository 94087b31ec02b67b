"""The order of the popular-products list (SPEC.md section 6).

Products are ranked by quantity sold in the window, most first; equal quantities are broken by the
smaller product id first, so the same data always gives the same list. Ranks run 1, 2, 3, ... with
no shared ranks (the tie-break decides). A product whose sales were all refunded (0 left) is not
listed. The SQL of the read path orders by the same key (`sold DESC, product_id ASC`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProductTotal:
    product_id: int
    sold_quantity: int
    name: str | None = None


@dataclass(frozen=True)
class RankedProduct:
    rank: int
    product_id: int
    name: str
    sold_quantity: int


def display_name(product_id: int, name: str | None) -> str:
    """The latest name the events gave the product; "Product <id>" when none ever did."""
    return name or f"Product {product_id}"


def rank(totals: Iterable[ProductTotal], limit: int) -> list[RankedProduct]:
    listed = sorted(
        (t for t in totals if t.sold_quantity > 0), key=lambda t: (-t.sold_quantity, t.product_id)
    )
    return [
        RankedProduct(n, t.product_id, display_name(t.product_id, t.name), t.sold_quantity)
        for n, t in enumerate(listed[:limit], start=1)
    ]
