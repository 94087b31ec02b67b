"""The app: its routes, and the bootstrap that builds what they use when it starts (nothing connects at
import)."""

from __future__ import annotations

from commerce_kit.web import ServiceApp, service_app
from payment_service.bootstrap import PaymentDeps, bootstrap
from payment_service.entrypoints import http, internal
from payment_service.settings import PaymentSettings


def create_app(settings: PaymentSettings | None = None) -> ServiceApp[PaymentDeps]:
    configured = settings or PaymentSettings()
    return service_app(
        configured,
        title="Payment service",
        description="The payment saga across catalog, user, coupon and order; refunds; the data platform.",
        bootstrap=lambda: bootstrap(configured),
        routers=[http.router, internal.router],
    )
