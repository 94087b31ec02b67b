"""The app: its routes, and the bootstrap that builds what they use when it starts (nothing connects at
import)."""

from __future__ import annotations

from commerce_kit.web import ServiceApp, service_app
from order_service.bootstrap import OrderDeps, bootstrap
from order_service.entrypoints import http, internal
from order_service.settings import OrderSettings


def create_app(settings: OrderSettings | None = None) -> ServiceApp[OrderDeps]:
    configured = settings or OrderSettings()
    return service_app(
        configured,
        title="Order service",
        description="Orders: placing, reading, cancelling, expiry, and the payment saga's steps.",
        bootstrap=lambda: bootstrap(configured),
        routers=[http.router, internal.router],
    )
