"""The stock rules (SPEC.md sections 2 and 5), free of any framework or database.

- Stock never goes below 0. A payment's lines are taken all together or not at all: when any option
  is short, nothing is taken and the take is REFUSED, naming the short options.
- A give-back returns exactly what the payment took, once.
- A product is listed while at least one of its options is in stock. Each change says whether it
  crosses zero, so the product's count of in-stock options is kept with the change itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from catalog_service.domain.errors import InvalidStock, OptionNotFound
from catalog_service.domain.product import check_stock


class TakeStatus(StrEnum):
    """What became of the stock take of one payment (the saga's "take the stock" step)."""

    TAKEN = "TAKEN"  # every line was taken
    REFUSED = "REFUSED"  # an option was short: nothing taken, and the answer stays the same on retry
    GIVEN_BACK = "GIVEN_BACK"  # taken, then returned (compensation or refund)
    VOIDED = "VOIDED"  # given back before any take arrived: a late take does nothing


@dataclass(frozen=True, order=True)
class Line:
    option_id: int
    quantity: int


def merge_lines(lines: Iterable[tuple[int, int]]) -> tuple[Line, ...]:
    """One line per option (quantities of a repeated option add up), in option-id order: the order
    the options are locked in, so that two takes never wait on each other in a cycle."""
    total: dict[int, int] = defaultdict(int)
    for option_id, quantity in lines:
        if quantity <= 0:
            raise InvalidStock("A quantity must be at least 1")
        total[option_id] += quantity
    if not total:
        raise InvalidStock("A stock take needs at least one line")
    return tuple(Line(o, q) for o, q in sorted(total.items()))


@dataclass(frozen=True)
class OptionStock:
    option_id: int
    product_id: int
    stock: int

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def take(self, quantity: int) -> StockChange:
        if quantity <= 0:
            raise InvalidStock("A quantity must be at least 1")
        if quantity > self.stock:
            raise InvalidStock(f"Option {self.option_id} has {self.stock} left, {quantity} asked")
        return StockChange(self, self._with(self.stock - quantity), quantity)

    def give_back(self, quantity: int) -> StockChange:
        if quantity <= 0:
            raise InvalidStock("A quantity must be at least 1")
        return StockChange(self, self._with(self.stock + quantity), quantity)

    def set_to(self, stock: int) -> StockChange:
        return StockChange(self, self._with(check_stock(stock)), abs(stock - self.stock))

    def _with(self, stock: int) -> OptionStock:
        return OptionStock(self.option_id, self.product_id, stock)


@dataclass(frozen=True)
class StockChange:
    before: OptionStock
    after: OptionStock
    quantity: int

    @property
    def crossing(self) -> int:
        """+1 when the option comes back in stock, -1 when it sells out, 0 otherwise."""
        return int(self.after.in_stock) - int(self.before.in_stock)


@dataclass(frozen=True)
class TakeDecision:
    status: TakeStatus
    changes: tuple[StockChange, ...] = ()
    short_option_ids: tuple[int, ...] = ()
    #: The stock each option had when the take was decided (what a REFUSED answer shows).
    found: tuple[OptionStock, ...] = field(default=())


def _found(options: Mapping[int, OptionStock], lines: tuple[Line, ...]) -> list[OptionStock]:
    missing = [line.option_id for line in lines if line.option_id not in options]
    if missing:
        raise OptionNotFound(f"No option {', '.join(map(str, missing))}", optionIds=missing)
    return [options[line.option_id] for line in lines]


def take_all(options: Mapping[int, OptionStock], lines: tuple[Line, ...]) -> TakeDecision:
    """Take every line, or none when any option is short."""
    found = _found(options, lines)
    short = tuple(o.option_id for o, line in zip(found, lines, strict=True) if o.stock < line.quantity)
    if short:
        return TakeDecision(TakeStatus.REFUSED, short_option_ids=short, found=tuple(found))
    changes = tuple(o.take(line.quantity) for o, line in zip(found, lines, strict=True))
    return TakeDecision(TakeStatus.TAKEN, changes=changes, found=tuple(found))


def give_back_all(options: Mapping[int, OptionStock], lines: tuple[Line, ...]) -> tuple[StockChange, ...]:
    """Return what a payment took. An option is never deleted, so every line still has its option."""
    found = _found(options, lines)
    return tuple(o.give_back(line.quantity) for o, line in zip(found, lines, strict=True))


def in_stock_deltas(changes: Iterable[StockChange]) -> list[tuple[int, int]]:
    """(product id, change of its in-stock option count), products in id order (the order their
    rows are locked in, after every option) and only those whose count changes."""
    delta: dict[int, int] = defaultdict(int)
    for change in changes:
        if change.crossing:
            delta[change.after.product_id] += change.crossing
    return sorted((p, d) for p, d in delta.items() if d)
