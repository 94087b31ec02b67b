from __future__ import annotations

import hashlib
import hmac

from pydantic import Field

from commerce_kit.settings import ServiceSettings


class CouponSettings(ServiceSettings):
    service = "coupon"

    issue_batch: int = Field(
        3000,
        alias="COUPON_ISSUE_BATCH",
        ge=1,
        le=5000,
        description="Requests the consumer settles per round trip",
    )
    policy_cache_seconds: float = Field(
        2.0,
        alias="COUPON_POLICY_CACHE_SECONDS",
        ge=0,
        description="How long the issue route trusts a cached policy (window, existence)",
    )
    issue_consumer: bool = Field(
        True,
        alias="COUPON_ISSUE_CONSUMER",
        description="Run CouponIssueConsumer in this process (false: an API-only instance)",
    )
    issue_rate_per_user: int = Field(
        5, alias="COUPON_ISSUE_RATE_PER_USER", ge=1, description="Issue requests per second one user may make"
    )
    reconcile_seconds: float = Field(10.0, alias="COUPON_RECONCILE_SECONDS", gt=0)

    @property
    def reservation_key(self) -> bytes:
        """Signs reservation ids; derived from the JWT secret so no new secret has to be managed."""
        return hmac.new(self.jwt_secret.encode(), b"coupon-reservation-ids", hashlib.sha256).digest()
