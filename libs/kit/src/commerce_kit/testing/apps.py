"""A service app with nothing behind it, for the kit's own tests of the HTTP side (routes,
problems, tracing): `create_app` with the given routers, no resources, no readiness checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI

from commerce_kit.auth import TokenVerifier
from commerce_kit.settings import LOCAL_JWT_SECRET
from commerce_kit.web import ServiceApp, Started, create_app


@asynccontextmanager
async def _nothing() -> AsyncIterator[Started[None]]:
    yield Started(None)


def bare_app(
    *routers: APIRouter, service: str, secret: str = LOCAL_JWT_SECRET, **options: Any
) -> ServiceApp[None]:
    return create_app(
        title=service,
        description=service,
        version="1",
        service=service,
        verifier_factory=lambda: TokenVerifier(secret),
        bootstrap=_nothing,
        routers=list(routers),
        **options,
    )


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan run) and an HTTP client calling it in process; an error the app
    lets out is answered 500 as a server would, not raised into the test."""
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            yield client
