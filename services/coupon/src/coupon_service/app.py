"""The app: its routes, and the bootstrap that builds what they use when it starts (nothing connects at
import)."""

from __future__ import annotations

from commerce_kit.web import ServiceApp, service_app
from coupon_service.bootstrap import CouponDeps, bootstrap
from coupon_service.entrypoints import http, internal, issue
from coupon_service.settings import CouponSettings


def create_app(settings: CouponSettings | None = None) -> ServiceApp[CouponDeps]:
    configured = settings or CouponSettings()
    return service_app(
        configured,
        title="Coupon service",
        description="Coupon policies, first-come-first-served issue, and the users' coupons.",
        bootstrap=lambda: bootstrap(configured),
        routers=[issue.router, http.router, internal.router],
    )
