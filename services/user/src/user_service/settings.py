from __future__ import annotations

from pydantic import Field

from commerce_kit.settings import ServiceSettings


class UserSettings(ServiceSettings):
    service = "user"

    max_single_charge: int = Field(1_000_000, alias="USER_MAX_SINGLE_CHARGE", ge=1)
    max_balance: int = Field(10_000_000, alias="USER_MAX_BALANCE", ge=1)
    idempotency_ttl_hours: int = Field(48, alias="IDEMPOTENCY_TTL_HOURS", ge=24)
