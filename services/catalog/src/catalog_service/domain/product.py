"""What a product is (SPEC.md section 2): a name, a description and 1 to 50 options, each with its
own name, price (integer KRW) and stock (>= 0). The bounds are the API's; they keep every sum of
prices and stocks far inside bigint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from catalog_service.domain.errors import InvalidStock

MAX_NAME = 100
MAX_DESCRIPTION = 2_000
MAX_OPTIONS = 50
MAX_PRICE = 100_000_000  # KRW
MAX_STOCK = 1_000_000_000


@dataclass(frozen=True)
class NewOption:
    name: str
    price: int
    stock: int

    def __post_init__(self) -> None:
        if not 0 <= self.price <= MAX_PRICE:
            raise InvalidStock(f"A price is between 0 and {MAX_PRICE} KRW")
        check_stock(self.stock)


@dataclass(frozen=True)
class NewProduct:
    name: str
    description: str
    options: tuple[NewOption, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.options) <= MAX_OPTIONS:
            raise InvalidStock(f"A product has 1 to {MAX_OPTIONS} options")

    @property
    def in_stock_options(self) -> int:
        return sum(1 for o in self.options if o.stock > 0)


def check_stock(stock: int) -> int:
    """A stock an admin may set."""
    if not 0 <= stock <= MAX_STOCK:
        raise InvalidStock(f"A stock is between 0 and {MAX_STOCK}")
    return stock


def sold_out(stocks: Iterable[int]) -> bool:
    """Every option at 0: the detail still answers (200), saying so (SPEC.md: a timing exception)."""
    return all(s == 0 for s in stocks)
