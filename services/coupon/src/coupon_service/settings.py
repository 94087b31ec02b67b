from __future__ import annotations

from commerce_kit.settings import ServiceSettings


class CouponSettings(ServiceSettings):
    """The shared settings only, for now: PostgreSQL is all the policies need. Redis and Kafka (and
    their COUPON_ settings) come with the first-come-first-served issue."""

    service = "coupon"
