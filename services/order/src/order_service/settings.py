from __future__ import annotations

from pydantic import Field

from commerce_kit.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    """The kit's settings (among them INTERNAL_HTTP_TIMEOUT_SECONDS, the timeout of each call to the
    catalog and coupon services, and <NAME>_SERVICE_URL, where they are), plus the order's own."""

    service = "order"

    payment_timeout_minutes: int = Field(
        30, alias="ORDER_PAYMENT_TIMEOUT_MINUTES", ge=1, description="Unpaid orders expire after this."
    )
    expiry_interval_seconds: float = Field(
        30.0, alias="ORDER_EXPIRY_INTERVAL_SECONDS", gt=0, description="How often the expiry job runs."
    )
    expiry_batch_size: int = Field(500, alias="ORDER_EXPIRY_BATCH_SIZE", ge=1, le=10_000)
    dependency_retries: int = Field(
        1, alias="ORDER_DEPENDENCY_RETRIES", ge=0, le=3, description="Retries of a read that failed."
    )
