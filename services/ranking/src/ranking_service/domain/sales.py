"""Sales as the ranking sees them: a payment's lines (product and quantity) and when it was paid.

A sale counts for the calendar day of its `paid_at` in APP_ZONE; a refund takes exactly that back
from that same day (it uses the stored sale, never the refund's own copy of it). One payment is
one sale, so everything is idempotent on the payment id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ranking_service.domain.calendar import day_of


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int
    product_name: str | None = None

    def __post_init__(self) -> None:
        if self.product_id < 1 or self.quantity < 1:
            raise ValueError("a line needs a product id and a quantity of at least 1")


@dataclass(frozen=True)
class Sale:
    payment_id: int
    order_id: int
    user_id: int
    paid_at: datetime
    lines: tuple[Line, ...]
    refunded_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a sale has at least one line")
        if self.paid_at.tzinfo is None or (self.refunded_at is not None and self.refunded_at.tzinfo is None):
            raise ValueError("instants must carry their offset")

    @property
    def refunded(self) -> bool:
        return self.refunded_at is not None

    def day(self, zone: ZoneInfo) -> date:
        return day_of(self.paid_at, zone)

    def quantities(self) -> tuple[tuple[int, int], ...]:
        """(product id, quantity) per product, summed over its lines (two options of one product are
        one product here), in product id order: the order in which counters are locked, so two
        sales never wait on each other in a cycle."""
        totals: dict[int, int] = {}
        for line in self.lines:
            totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
        return tuple(sorted(totals.items()))

    def counted(self) -> tuple[tuple[int, int], ...]:
        """What recording the sale adds to its day's counters."""
        return self.quantities()

    def uncounted(self) -> tuple[tuple[int, int], ...]:
        """What its refund takes back from that day: the same quantities, negated."""
        return tuple((product, -quantity) for product, quantity in self.quantities())

    def names(self) -> dict[int, str]:
        """The product names this sale carries (`product_name` is optional in the events: a line
        without one says nothing about the name, so it changes nothing)."""
        return {line.product_id: line.product_name for line in self.lines if line.product_name}


def latest_names(sales: Iterable[Sale]) -> list[tuple[int, str, datetime]]:
    """(product id, name, paid at) with, per product, the name of the latest sale that carries one:
    a product is renamed by newer sales, never by late or redelivered older ones. Product id order."""
    latest: dict[int, tuple[str, datetime]] = {}
    for sale in sales:
        for product, name in sale.names().items():
            known = latest.get(product)
            if known is None or known[1] < sale.paid_at:
                latest[product] = (name, sale.paid_at)
    return [(product, name, at) for product, (name, at) in sorted(latest.items())]


def counts_by_day(sales: Iterable[Sale], zone: ZoneInfo) -> list[tuple[date, tuple[tuple[int, int], ...]]]:
    """What recording `sales` adds to the per-day counters: per day, in day order, the quantity per
    product, in product id order. The counters are locked in that order, so two batches of sales
    never wait on each other in a cycle."""
    days: dict[date, dict[int, int]] = {}
    for sale in sales:
        totals = days.setdefault(sale.day(zone), {})
        for product, quantity in sale.counted():
            totals[product] = totals.get(product, 0) + quantity
    return [(day, tuple(sorted(days[day].items()))) for day in sorted(days)]
