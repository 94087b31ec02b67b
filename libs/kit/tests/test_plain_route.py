"""install_plain_route: a route's own function answering its well-formed requests ahead of the app's
stack, a JSON body validated by the route's model. Every request is sent twice, once as it comes and
once with a query string (which the plain lane never takes, so FastAPI's route answers it): both
answers must be the same, whatever the request."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Header, Request, Response
from fastapi.routing import APIRoute
from pydantic import Field, StrictInt

from commerce_kit.api import ApiRequest, ApiResponse, BodyId, path_id
from commerce_kit.errors import Conflict
from commerce_kit.testing import tokens
from commerce_kit.testing.apps import bare_app, client_of
from commerce_kit.web import Caller, InternalCaller, install_plain_route


class LineIn(ApiRequest):
    option_id: BodyId
    quantity: Annotated[StrictInt, Field(ge=1, le=1000)]


class TakeIn(ApiRequest):
    lines: list[LineIn] = Field(min_length=1, max_length=3)
    note: str | None = Field(None, max_length=10)


class TakeOut(ApiResponse):
    payment_id: int
    taken: int
    note: str | None


def shop() -> tuple[object, list[str]]:
    router = APIRouter()
    lanes: list[str] = []

    @router.put("/stock-takes/{paymentId}", response_model=TakeOut, status_code=201)
    async def take(
        payment_id: Annotated[int, path_id("paymentId")],
        body: TakeIn,
        caller: InternalCaller,
        request: Request,
    ) -> TakeOut:
        lanes.append("fastapi" if request.url.query else "plain")
        if payment_id == 13:
            raise Conflict("Payment 13 took other lines", code="PAYMENT_MISMATCH")
        return TakeOut(payment_id=payment_id, taken=sum(line.quantity for line in body.lines), note=body.note)

    @router.get("/stock-takes/{paymentId}", response_model=TakeOut)
    async def outcome(payment_id: Annotated[int, path_id("paymentId")], caller: InternalCaller) -> dict:
        return {"payment_id": payment_id, "taken": 0, "note": None}  # validated into the model

    @router.post("/payments", response_model=TakeOut, status_code=201)
    async def pay(
        body: TakeIn,
        caller: Caller,
        request: Request,
        response: Response,
        key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=8)] = None,
    ) -> TakeOut:
        lanes.append("fastapi" if request.url.query else "plain")
        if key == "taken":
            raise Conflict("The key is another request's", code="IDEMPOTENCY_KEY_REUSED")
        response.headers["Location"] = f"/payments/{caller.user_id}"
        if key == "replayed":
            response.status_code = 200
        return TakeOut(payment_id=caller.user_id, taken=len(body.lines), note=key)

    app = bare_app(router, service="kit-plain-route", body_limit=2048)
    routes = {(r.path, *r.methods): r for r in router.routes if isinstance(r, APIRoute)}
    install_plain_route(app, routes[("/stock-takes/{paymentId}", "PUT")], path="/stock-takes/{paymentId:int}")
    install_plain_route(app, routes[("/stock-takes/{paymentId}", "GET")], path="/stock-takes/{paymentId:int}")
    install_plain_route(app, routes[("/payments", "POST")], path="/payments")
    return app, lanes


@pytest.fixture
async def http():
    app, lanes = shop()
    async with client_of(app) as client:
        client.lanes = lanes
        yield client


JSON = {"Content-Type": "application/json"}
GOOD = '{"lines": [{"optionId": 7, "quantity": 2}, {"optionId": 8, "quantity": 1}], "note": "été"}'.encode()
CASES = [
    ("a well-formed take", 5, GOOD, JSON | tokens.service()),
    ("an app error", 13, GOOD, JSON | tokens.service()),
    ("a user's token", 5, GOOD, JSON | tokens.bearer(5)),
    ("no token", 5, GOOD, JSON),
    ("an expired token", 5, GOOD, JSON | tokens.bearer("svc:x", "SERVICE", ttl=-1)),
    ("a string for a number", 5, b'{"lines": [{"optionId": "7", "quantity": 2}]}', JSON | tokens.service()),
    ("a float for a number", 5, b'{"lines": [{"optionId": 7.0, "quantity": 2}]}', JSON | tokens.service()),
    ("a field too many", 5, b'{"lines": [{"optionId": 7, "quantity": 2}], "x": 1}', JSON | tokens.service()),
    ("a missing field", 5, b'{"lines": [{"optionId": 7}]}', JSON | tokens.service()),
    ("snake case", 5, b'{"lines": [{"option_id": 7, "quantity": 2}]}', JSON | tokens.service()),
    (
        "too many lines",
        5,
        b'{"lines": [' + b",".join([b'{"optionId": 7, "quantity": 1}'] * 4) + b"]}",
        JSON | tokens.service(),
    ),
    ("2^63", 5, b'{"lines": [{"optionId": 9223372036854775808, "quantity": 1}]}', JSON | tokens.service()),
    (
        "a note too long",
        5,
        b'{"lines": [{"optionId": 7, "quantity": 1}], "note": "' + "é".encode() * 11 + b'"}',
        JSON | tokens.service(),
    ),
    ("malformed JSON", 5, b'{"lines": [', JSON | tokens.service()),
    ("an empty body", 5, b"", JSON | tokens.service()),
    ("a list", 5, b"[]", JSON | tokens.service()),
    ("not JSON", 5, GOOD, {"Content-Type": "text/plain"} | tokens.service()),
    ("no content type", 5, GOOD, tokens.service()),
    ("a body over the limit", 5, b'{"lines": [], "note": "' + b"x" * 3000 + b'"}', JSON | tokens.service()),
    ("an id out of range", 9223372036854775808, GOOD, JSON | tokens.service()),
    ("an id of 0", 0, GOOD, JSON | tokens.service()),
]


@pytest.mark.parametrize(("what", "payment_id", "body", "headers"), CASES, ids=[c[0] for c in CASES])
async def test_both_lanes_answer_every_request_the_same(http, what, payment_id, body, headers):
    plain = await http.put(f"/stock-takes/{payment_id}", content=body, headers=headers)
    routed = await http.put(f"/stock-takes/{payment_id}?via=fastapi", content=body, headers=headers)
    assert plain.status_code == routed.status_code, (what, plain.text, routed.text)
    assert plain.headers["content-type"] == routed.headers["content-type"]
    assert plain.json() == routed.json() | (
        {"instance": plain.json()["instance"]} if "instance" in plain.json() else {}
    )
    assert plain.status_code < 500


PAY = b'{"lines": [{"optionId": 7, "quantity": 2}]}'
PAYMENTS = [
    ("no key", [], tokens.bearer(5)),
    ("a key", [("Idempotency-Key", "k-1")], tokens.bearer(5)),
    ("a key the route refuses", [("Idempotency-Key", "taken")], tokens.bearer(5)),
    ("a key that sets the status", [("Idempotency-Key", "replayed")], tokens.bearer(5)),
    ("a key too long", [("Idempotency-Key", "123456789")], tokens.bearer(5)),
    ("a key twice", [("Idempotency-Key", "a"), ("Idempotency-Key", "b")], tokens.bearer(5)),
    ("a service's token", [], tokens.service()),
    ("no token", [], {}),
]


@pytest.mark.parametrize(("what", "keys", "token"), PAYMENTS, ids=[c[0] for c in PAYMENTS])
async def test_headers_the_route_reads_and_sets_are_the_same_in_both_lanes(http, what, keys, token):
    headers = [("Content-Type", "application/json"), *token.items(), *keys]
    plain = await http.post("/payments", content=PAY, headers=headers)
    routed = await http.post("/payments?via=fastapi", content=PAY, headers=headers)
    assert plain.status_code == routed.status_code, (what, plain.text, routed.text)
    assert plain.headers.get("location") == routed.headers.get("location")
    assert plain.headers["content-type"] == routed.headers["content-type"]
    assert plain.json() == routed.json() | (
        {"instance": plain.json()["instance"]} if "instance" in plain.json() else {}
    )


async def test_well_formed_requests_take_the_plain_lane_and_the_rest_fastapis(http):
    service = JSON | tokens.service()
    taken = await http.put("/stock-takes/5", content=GOOD, headers=service)
    assert taken.status_code == 201 and taken.json() == {"paymentId": 5, "taken": 3, "note": "été"}
    refused = await http.put("/stock-takes/5", content=b'{"lines": []}', headers=service)
    assert refused.status_code == 400 and refused.json()["code"] == "VALIDATION_FAILED"
    assert http.lanes == ["plain"]  # the refused body was replayed to FastAPI's route, which refused it
    read = await http.get("/stock-takes/5", headers=tokens.service())
    assert read.status_code == 200 and read.json() == {"paymentId": 5, "taken": 0, "note": None}


def test_a_route_the_plain_lane_cannot_take_is_refused_at_install():
    router = APIRouter()

    @router.get("/things/{thingId}")
    async def thing(
        thing_id: Annotated[int, path_id("thingId")], caller: InternalCaller, size: int = 5
    ) -> dict:
        return {}

    @router.get("/open/{thingId}")
    async def open_thing(thing_id: Annotated[int, path_id("thingId")]) -> dict:
        return {}

    app, _ = shop()
    for route in router.routes:
        with pytest.raises(TypeError):
            install_plain_route(app, route, path=route.path.replace("}", ":int}"))


async def test_a_header_the_plain_lane_is_not_sure_of_goes_to_fastapi(http):
    json = {"Content-Type": "application/json"} | tokens.bearer(5)
    paid = await http.post("/payments", content=PAY, headers=json | {"Idempotency-Key": "k-2"})
    assert paid.status_code == 201 and paid.headers["location"] == "/payments/5"
    assert paid.json() == {"paymentId": 5, "taken": 1, "note": "k-2"}
    too_long = await http.post("/payments", content=PAY, headers=json | {"Idempotency-Key": "123456789"})
    assert too_long.status_code == 400 and too_long.json()["code"] == "VALIDATION_FAILED"
    assert http.lanes == ["plain"]  # the one too long never reached the route
