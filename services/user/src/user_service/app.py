"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from commerce_kit import idempotency
from commerce_kit.runtime import Runtime
from commerce_kit.web import install_plain_routes, service_app
from user_service.domain.wallet import WalletLimits
from user_service.entrypoints import http, internal
from user_service.entrypoints.consumers import transaction_history_consumers
from user_service.service_layer.wallets import Wallets
from user_service.settings import UserSettings


def create_app(settings: UserSettings | None = None) -> FastAPI:
    settings = settings or UserSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Runtime(settings, kafka=True) as rt:
            app.state.pool = rt.pool
            wallets = Wallets(rt.pool, WalletLimits(settings.max_single_charge, settings.max_balance))
            app.state.wallets = wallets
            for consumer in transaction_history_consumers(wallets):
                rt.consume(consumer)
            rt.background.every(
                "forget-idempotency-keys",
                3600,
                lambda: idempotency.forget_older_than(rt.pool, settings.idempotency_ttl_hours),
            )
            await rt.start()
            app.state.runtime = rt
            yield

    app = service_app(
        settings,
        title="User service",
        description="Users, wallets and transaction history.",
        lifespan=lifespan,
        routers=[http.router, internal.router],
    )
    install_plain_routes(app, internal.router, internal.PLAIN_ROUTES)
    return app
