"""The app: its routes, and the bootstrap that builds what they use when it starts (nothing connects at
import)."""

from __future__ import annotations

from catalog_service.bootstrap import CatalogDeps, bootstrap
from catalog_service.entrypoints import http, internal
from catalog_service.settings import CatalogSettings
from commerce_kit.web import ServiceApp, service_app


def create_app(settings: CatalogSettings | None = None) -> ServiceApp[CatalogDeps]:
    configured = settings or CatalogSettings()
    return service_app(
        configured,
        title="Catalog service",
        description="Products, their options and stock.",
        bootstrap=lambda: bootstrap(configured),
        routers=[http.router, internal.router],
    )
