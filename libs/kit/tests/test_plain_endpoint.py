"""PlainEndpoint: well-formed requests answered ahead of FastAPI's route, everything else by it;
both authenticated, both timed under the route's template."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.routing import APIRoute

from commerce_kit import metrics
from commerce_kit.auth import TokenVerifier
from commerce_kit.settings import LOCAL_JWT_SECRET
from commerce_kit.testing import tokens
from commerce_kit.web import (
    Caller,
    FastJSONResponse,
    install_plain_endpoint,
    install_problem_handlers,
    plain_query,
)


def shop() -> tuple[FastAPI, list[str]]:
    served: list[str] = []
    router = APIRouter()

    async def answer(request: Request, size: int) -> Response:
        return FastJSONResponse({"size": size})

    @router.get("/things")
    async def things(caller: Caller, request: Request, size: int = Query(20, ge=1, le=100)) -> Response:
        served.append("fastapi")
        return await answer(request, size)

    async def plain(request: Request, size: int) -> Response:
        served.append("plain")
        return await answer(request, size)

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.add_middleware(metrics.HttpMetricsMiddleware, service="kit-test")
    app.state.verifier = TokenVerifier(LOCAL_JWT_SECRET)
    route = next(r for r in router.routes if isinstance(r, APIRoute))

    def parse(scope):
        query = plain_query(scope, {"size": (1, 100)})
        return None if query is None else {"size": query.get("size", 20)}

    install_plain_endpoint(app, route, parse, plain)
    return app, served


def timed(status: str) -> float:
    return metrics.HTTP_REQUESTS.labels("kit-test", "GET", "/things", status)._sum.get()


async def test_well_formed_requests_are_plain_and_the_rest_is_fastapis():
    app, served = shop()
    before, refused_before = timed("200"), timed("400")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as http:
        headers = tokens.bearer(5)
        assert (await http.get("/things?size=7", headers=headers)).json() == {"size": 7}
        assert (await http.get("/things", headers=headers)).json() == {"size": 20}
        assert (await http.get("/things?size=7&x=1", headers=headers)).json() == {"size": 7}
        bad = await http.get("/things?size=0", headers=headers)
        assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_FAILED"
        unauthenticated = await http.get("/things?size=7")
        assert unauthenticated.status_code == 401 and unauthenticated.json()["code"] == "UNAUTHENTICATED"
    assert served == ["plain", "plain", "fastapi"]
    # Both kinds are timed under the route's template, not as "unmatched".
    assert timed("200") > before and timed("400") > refused_before


def test_only_plain_digits_within_bounds_are_taken():
    bounds = {"size": (1, 100), "days": (1, 30)}

    def q(raw: str):
        return plain_query({"query_string": raw.encode()}, bounds)

    assert q("") == {} and q("size=5&days=3") == {"size": 5, "days": 3}
    for refused in ("size=0", "size=101", "size=-1", "size=+5", "size=5&size=6", "x=1", "size", "size=%35"):
        assert q(refused) is None, refused
