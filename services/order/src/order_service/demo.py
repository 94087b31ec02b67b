"""Demo data for `make run`: none. Orders come from users placing them, priced by the catalog."""

from __future__ import annotations

from order_service.settings import OrderSettings


async def load(settings: OrderSettings) -> None:
    print("order: no demo data (orders are placed by users)")
