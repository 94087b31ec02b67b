from __future__ import annotations

from pydantic import Field

from commerce_kit.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    service = "payment"

    request_budget_seconds: float = Field(
        8.0,
        alias="PAYMENT_REQUEST_BUDGET_SECONDS",
        gt=0,
        description="How long POST /payments drives the saga before answering 503 and leaving it to recovery",
    )
    lease_seconds: float = Field(15.0, alias="PAYMENT_LEASE_SECONDS", gt=1)
    recovery_interval_seconds: float = Field(1.0, alias="PAYMENT_RECOVERY_INTERVAL_SECONDS", gt=0)
    rate_per_user: int = Field(
        5, alias="PAYMENT_RATE_PER_USER", ge=1, description="Payment requests per second one user may make"
    )
    idempotency_ttl_hours: int = Field(48, alias="IDEMPOTENCY_TTL_HOURS", ge=24)
    data_platform_url: str = Field("http://127.0.0.1:8199/payments", alias="DATA_PLATFORM_URL")
    data_platform_timeout_seconds: float = Field(3.0, alias="DATA_PLATFORM_TIMEOUT_SECONDS", gt=0)
    data_platform_attempts: int = Field(
        20,
        alias="DATA_PLATFORM_ATTEMPTS",
        ge=1,
        description="Tries per payment before it is dead-lettered (with backoff up to 30 s: ~8 minutes)",
    )
