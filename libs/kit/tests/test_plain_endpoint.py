"""PlainEndpoint: well-formed requests answered ahead of the app's stack, everything else by FastAPI's
route; both authenticated, both timed under the route's template, both with the same problems."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.routing import APIRoute

from commerce_kit import metrics
from commerce_kit.auth import Principal
from commerce_kit.errors import Conflict
from commerce_kit.testing import tokens
from commerce_kit.testing.apps import bare_app, client_of
from commerce_kit.web import Caller, FastJSONResponse, install_plain_endpoint, plain_query


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

    async def take(request: Request, thing_id: int, caller: Principal) -> Response:
        if thing_id == 13:
            raise Conflict("Thing 13 is taken", code="THING_TAKEN")
        if thing_id == 66:
            raise RuntimeError("a bug")
        return FastJSONResponse({"thing": thing_id, "by": caller.user_id}, status_code=202)

    @router.post("/things/{thingId}/take", status_code=202)
    async def take_thing(
        caller: Caller, request: Request, thing_id: int = Path(alias="thingId", ge=1, le=1000)
    ) -> Response:
        served.append("fastapi")
        return await take(request, thing_id, caller)

    async def plain_take(request: Request, thing_id: int, caller: Principal) -> Response:
        served.append("plain")
        return await take(request, thing_id, caller)

    app = bare_app(router, service="kit-test")
    routes = {(r.path, *r.methods): r for r in router.routes if isinstance(r, APIRoute)}

    def parse(scope):
        query = plain_query(scope, {"size": (1, 100)})
        return None if query is None else {"size": query.get("size", 20)}

    def parse_take(scope):
        thing_id = scope["path_params"]["thingId"]
        return {"thing_id": thing_id} if 1 <= thing_id <= 1000 and not scope["query_string"] else None

    install_plain_endpoint(app, routes[("/things", "GET")], parse, plain)
    install_plain_endpoint(
        app,
        routes[("/things/{thingId}/take", "POST")],
        parse_take,
        plain_take,
        path="/things/{thingId:int}/take",
        method="POST",
        with_caller=True,
    )
    return app, served


@pytest.fixture
async def http():
    app, served = shop()
    async with client_of(app) as client:
        client.served = served
        yield client


def timed(status: str) -> float:
    return metrics.HTTP_REQUESTS.labels("kit-test", "GET", "/things", status)._sum.get()


async def test_well_formed_requests_are_plain_and_the_rest_is_fastapis(http):
    before, refused_before = timed("200"), timed("400")
    headers = tokens.bearer(5)
    assert (await http.get("/things?size=7", headers=headers)).json() == {"size": 7}
    assert (await http.get("/things", headers=headers)).json() == {"size": 20}
    assert (await http.get("/things?size=7&x=1", headers=headers)).json() == {"size": 7}
    bad = await http.get("/things?size=0", headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_FAILED"
    unauthenticated = await http.get("/things?size=7")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["code"] == "UNAUTHENTICATED"
    assert http.served == ["plain", "plain", "fastapi"]
    # Both kinds are timed under the route's template, not as "unmatched".
    assert timed("200") > before and timed("400") > refused_before


async def test_both_lanes_give_the_same_answers_and_problems(http):
    """The same request through the plain lane and through FastAPI's route (a query parameter
    the plain lane does not take sends it there) answers the same status, body and type."""
    headers = tokens.bearer(5)
    for thing, token in ((7, headers), (13, headers), (66, headers), (7, {}), (7, tokens.bearer(5, ttl=-1))):
        plain = await http.post(f"/things/{thing}/take", headers=token)
        routed = await http.post(f"/things/{thing}/take?via=fastapi", headers=token)
        assert plain.status_code == routed.status_code, thing
        assert plain.headers["content-type"] == routed.headers["content-type"]
        assert plain.json() == routed.json()
    assert http.served == ["plain", "fastapi"] * 3
    taken = await http.post("/things/7/take", headers=headers)
    assert taken.status_code == 202 and taken.json() == {"thing": 7, "by": 5}
    assert (await http.post("/things/13/take", headers=headers)).json()["code"] == "THING_TAKEN"
    bug = await http.post("/things/66/take", headers=headers)
    assert bug.status_code == 500 and bug.json()["code"] == "INTERNAL_ERROR"


async def test_what_the_plain_lane_does_not_take_goes_to_fastapi(http):
    headers = tokens.bearer(5)
    out_of_range = await http.post("/things/1001/take", headers=headers)
    assert out_of_range.status_code == 400 and out_of_range.json()["code"] == "VALIDATION_FAILED"
    word = await http.post("/things/abc/take", headers=headers)
    assert word.status_code == 400
    with_body = await http.post("/things/7/take", headers=headers, json={"x": 1})
    assert with_body.status_code == 202
    wrong_method = await http.get("/things/7/take", headers=headers)
    assert wrong_method.status_code == 405
    assert http.served == ["fastapi"]  # only the one with a body reached a route, FastAPI's


def test_only_plain_digits_within_bounds_are_taken():
    bounds = {"size": (1, 100), "days": (1, 30)}

    def q(raw: str):
        return plain_query({"query_string": raw.encode()}, bounds)

    assert q("") == {} and q("size=5&days=3") == {"size": 5, "days": 3}
    for refused in ("size=0", "size=101", "size=-1", "size=+5", "size=5&size=6", "x=1", "size", "size=%35"):
        assert q(refused) is None, refused
