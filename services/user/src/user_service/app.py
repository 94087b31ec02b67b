"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from commerce_kit import db, idempotency, telemetry
from commerce_kit.auth import TokenVerifier
from commerce_kit.background import Background
from commerce_kit.web import create_app as create_service_app
from fastapi import FastAPI

from user_service.domain.wallet import WalletLimits
from user_service.entrypoints import http, internal
from user_service.service_layer.wallets import Wallets
from user_service.settings import UserSettings


def create_app(settings: UserSettings | None = None) -> FastAPI:
    settings = settings or UserSettings()
    telemetry.configure_tracing(settings.service, settings.otel_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.create_pool(
            settings.database_url,
            settings.db_schema,
            application_name="user-service",
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
        )
        background = Background()
        try:
            app.state.pool = pool
            app.state.wallets = Wallets(pool, WalletLimits(settings.max_single_charge, settings.max_balance))
            background.every(
                "forget-idempotency-keys",
                3600,
                lambda: idempotency.forget_older_than(pool, settings.idempotency_ttl_hours),
            )
            yield
        finally:
            await background.stop()
            await pool.close()

    app = create_service_app(
        title="User service",
        description="Users, wallets and transaction history.",
        version="1.0.0",
        service=settings.service,
        verifier_factory=lambda: TokenVerifier(settings.jwt_secret, issuer=settings.jwt_issuer),
        lifespan=lifespan,
        routers=[http.router, internal.router],
        readiness=lambda app: {"postgres": lambda: app.state.pool.fetchval("SELECT 1")},
    )
    telemetry.instrument_app(app)
    return app
