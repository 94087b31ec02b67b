"""The app: its routes, and the bootstrap that builds what they use when it starts (nothing connects at
import)."""

from __future__ import annotations

from commerce_kit.web import ServiceApp, service_app
from user_service.bootstrap import UserDeps, bootstrap
from user_service.entrypoints import http, internal
from user_service.settings import UserSettings


def create_app(settings: UserSettings | None = None) -> ServiceApp[UserDeps]:
    configured = settings or UserSettings()
    return service_app(
        configured,
        title="User service",
        description="Users, wallets and transaction history.",
        bootstrap=lambda: bootstrap(configured),
        routers=[http.router, internal.router],
    )
