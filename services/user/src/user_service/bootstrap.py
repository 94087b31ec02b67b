"""The composition root: opens the service's resources, builds its use cases on them, and hands them,
typed, to the routes (`Deps`) for as long as the app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends

from commerce_kit import idempotency
from commerce_kit.runtime import Runtime
from commerce_kit.web import Started, provider
from user_service.domain.wallet import WalletLimits
from user_service.entrypoints.consumers import transaction_history_consumers
from user_service.service_layer.wallets import Wallets
from user_service.settings import UserSettings


@dataclass(frozen=True)
class UserDeps:
    pool: asyncpg.Pool
    wallets: Wallets


#: A route's parameter for the service's dependencies.
Deps = Annotated[UserDeps, Depends(provider(UserDeps))]


@asynccontextmanager
async def bootstrap(settings: UserSettings) -> AsyncIterator[Started[UserDeps]]:
    async with Runtime(settings) as rt:
        pool = await rt.open_pool()
        broker = rt.open_broker()
        wallets = Wallets(pool, WalletLimits(settings.max_single_charge, settings.max_balance))
        for consumer in transaction_history_consumers(wallets):
            rt.consume(broker, consumer)
        rt.background.every(
            "forget-idempotency-keys",
            3600,
            lambda: idempotency.forget_older_than(pool, settings.idempotency_ttl_hours),
        )
        await rt.start()
        yield Started(UserDeps(pool=pool, wallets=wallets), rt.readiness())
