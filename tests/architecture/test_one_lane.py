"""Every request of every service goes through one stack: a middleware added to an app sees every
route the app declares, and the route it reaches is the declared one (no lane answers ahead of the
app's middlewares). The apps are built as the services build them; their resources are not opened
(a route that needs them answers an error, which is beside the point here)."""

from __future__ import annotations

import importlib
import re

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

SERVICES = ("user", "catalog", "coupon", "order", "payment", "ranking")


class Witness:
    """A middleware added after the app was built, as one added tomorrow would be."""

    seen: list[tuple[str, str, object]]

    def __init__(self, app: ASGIApp, seen: list[tuple[str, str, object]]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.seen.append((scope["method"], scope["path"], scope.get("route")))


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_middleware_added_to_an_app_sees_every_route(service: str) -> None:
    create_app = importlib.import_module(f"{service}_service.app").create_app
    app = create_app()
    seen: list[tuple[str, str, object]] = []
    app.add_middleware(Witness, seen=seen)
    # Every operation the app declares (its document), and the operational routes it leaves out of it.
    operations = [
        (method.upper(), template)
        for template, item in app.openapi()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ] + [("GET", "/metrics"), ("GET", "/docs")]
    assert sum(t.startswith("/api/v1/") for _, t in operations) >= 2, f"{service}: {operations}"
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
        for method, template in operations:
            path = _concrete(template)
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            headers = {"content-type": "application/json"} if body is not None else {}
            await client.request(method, path, content=body, headers=headers)
            # Seen by the middleware, and routed to the declared route behind it.
            assert seen, f"{service}: {method} {path} never reached the middleware"
            seen_method, seen_path, seen_route = seen.pop()
            assert (seen_method, seen_path) == (method, path)
            assert getattr(seen_route, "path", None) == template, f"{service}: {method} {path}"
