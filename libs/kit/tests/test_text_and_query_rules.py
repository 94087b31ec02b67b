"""Bad text and loosely typed query parameters are a 400 VALIDATION_FAILED, by the kit's types
(`Text`, `MultiLineText`, `QueryInt`, `Cursor`, `IdempotencyKey`) and its URL check, and the
document declares the text rule as a pattern."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Path, Query
from pydantic import StringConstraints

from commerce_kit.api import (
    MULTI_LINE,
    ONE_LINE,
    ApiRequest,
    Cursor,
    IdempotencyKey,
    MultiLineText,
    PageSize,
    QueryInt,
    Text,
)
from commerce_kit.web import UrlCheckMiddleware, install_problem_handlers


class Thing(ApiRequest):
    name: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    note: Annotated[MultiLineText, StringConstraints(max_length=50)] = ""


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(UrlCheckMiddleware)

    @app.post("/things")
    async def create(body: Thing, key: IdempotencyKey = None) -> dict[str, Any]:
        return {"name": body.name, "note": body.note, "key": key}

    @app.get("/things")
    async def listing(size: PageSize = 20, cursor: Cursor = None) -> dict[str, Any]:
        return {"size": size, "cursor": cursor}

    @app.get("/days")
    async def days(days: Annotated[QueryInt, Query(ge=1, le=30)] = 3) -> dict[str, Any]:
        return {"days": days}

    @app.get("/things/{thingId}")
    async def one(thing_id: Annotated[Text, Path(alias="thingId", max_length=10)]) -> dict[str, Any]:
        return {"id": thing_id}

    return app


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as c:
        yield c


def refused(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "VALIDATION_FAILED" and answer.json()["detail"]


BAD_NAMES = {
    "NUL": '{"name": "a\\u0000b"}',
    "escape": '{"name": "a\\u001bb"}',
    "unit separator": '{"name": "a\\u001fb"}',
    "DEL": '{"name": "a\\u007fb"}',
    "C1 (NEL)": '{"name": "a\\u0085b"}',
    "line feed inside": '{"name": "a\\nb"}',
    "tab inside": '{"name": "a\\tb"}',
    "lone high surrogate": '{"name": "a\\ud800b"}',
    "lone low surrogate": '{"name": "a\\udfffb"}',
    "surrogates out of order": '{"name": "\\ude00\\ud83d"}',
    "too long": '{"name": "' + "x" * 21 + '"}',
    "blank": '{"name": "   "}',
}


@pytest.mark.parametrize("body", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_text_in_a_body_is_refused(client, body):
    refused(await client.post("/things", content=body, headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize(
    "raw", [b"\xed\xa0\x80", b"\xff", b"\xc3"], ids=["U+D800 as UTF-8", "0xFF", "cut short"]
)
async def test_text_that_is_not_utf8_is_refused(client, raw):
    # json.loads reads the bytes with "surrogatepass": ED A0 80 arrives as U+D800.
    body = b'{"name": "a' + raw + b'b"}'
    refused(await client.post("/things", content=body, headers={"Content-Type": "application/json"}))


GOOD_NAMES = {
    "Korean": "테스트 상품",
    "accents": "Crème brûlée",
    "emoji": "gift \U0001f381",
    "replacement character": "a\ufffdb",
    "edges stripped": "  spaced  ",
}


@pytest.mark.parametrize("name", GOOD_NAMES.values(), ids=GOOD_NAMES.keys())
async def test_ordinary_text_is_taken(client, name):
    answer = await client.post("/things", json={"name": name})
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == name.strip()


async def test_a_surrogate_pair_escaped_in_json_is_one_character_and_taken(client):
    body = '{"name": "gift \\ud83c\\udf81"}'
    answer = await client.post("/things", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "gift \U0001f381"


async def test_multi_line_text_takes_tabs_and_line_breaks_but_no_other_control(client):
    note = "line one\r\n\tline two\n"
    answer = await client.post("/things", json={"name": "n", "note": note})
    assert answer.status_code == 200, answer.text
    assert answer.json()["note"] == note
    refused(await client.post("/things", json={"name": "n", "note": "a\x00b"}))
    refused(await client.post("/things", json={"name": "n", "note": "a\x0bb"}))


@pytest.mark.parametrize("key", [b"a\x00b", b"a\x1bb", b"a\x85b", b"x" * 201, b""])
async def test_a_bad_idempotency_key_is_refused(client, key):
    refused(await client.post("/things", json={"name": "n"}, headers={"Idempotency-Key": key}))


async def test_a_good_idempotency_key_is_taken(client):
    answer = await client.post("/things", json={"name": "n"}, headers={"Idempotency-Key": "k-1 2:3"})
    assert answer.status_code == 200 and answer.json()["key"] == "k-1 2:3"


@pytest.mark.parametrize(
    "path",
    [
        "/things/a%00b",
        "/things/a%0Ab",
        "/things/ab%0A",  # a line feed at the end: the pattern's `$` is the end of the text
        "/things/a%7Fb",
        "/things/a%C2%85b",  # C1 NEL, as UTF-8
        "/things/a%ED%A0%80b",  # U+D800 as (invalid) UTF-8
        "/things/a%FFb",  # a stray byte
        "/things/" + "x" * 11,
    ],
)
async def test_bad_text_in_the_path_is_refused(client, path):
    refused(await client.get(path))


async def test_a_real_replacement_character_in_the_path_is_text_like_any_other(client):
    answer = await client.get("/things/a%EF%BF%BDb")
    assert answer.status_code == 200 and answer.json()["id"] == "a\ufffdb"


@pytest.mark.parametrize(
    "query",
    [
        "cursor=a%00b",
        "cursor=a%1Bb",
        "cursor=a%ED%A0%80b",
        "cursor=a%FFb",
        "cursor=" + "x" * 201,
        "size=1&size=2",
        "size=1&size=1",
        "cursor=a&cursor=b",
        "size=1.5",
        "size=2.0",
        "size=1e1",
        "size=%202",
        "size=+2",
        "size=0x10",
        "size=",
    ],
)
async def test_bad_query_text_and_loose_integers_are_refused(client, query):
    refused(await client.get(f"/things?{query}"))


@pytest.mark.parametrize("query", ["days=2.0", "days=3&days=3", "days=-0.0", "days=1_0"])
async def test_any_integer_query_parameter_is_strict(client, query):
    refused(await client.get(f"/days?{query}"))


async def test_well_formed_query_parameters_are_taken(client):
    answer = await client.get("/things?size=07&cursor=abc-_")
    assert answer.status_code == 200 and answer.json() == {"size": 7, "cursor": "abc-_"}
    assert (await client.get("/days?days=30")).json() == {"days": 30}
    assert (await client.get("/things")).json() == {"size": 20, "cursor": None}


def test_the_document_declares_the_text_rule_and_the_bounds():
    document = make_app().openapi()
    thing = document["components"]["schemas"]["Thing"]["properties"]
    assert thing["name"]["pattern"] == ONE_LINE and thing["name"]["maxLength"] == 20
    assert thing["note"]["pattern"] == MULTI_LINE and thing["note"]["maxLength"] == 50
    params = {
        p["name"]: p
        for op in (document["paths"]["/things"]["post"], document["paths"]["/things"]["get"])
        for p in op.get("parameters", [])
    }
    key = params["Idempotency-Key"]["schema"]
    key = next(s for s in key.get("anyOf", [key]) if s.get("type") == "string")
    assert key["pattern"] == ONE_LINE and key["maxLength"] == 200 and key["minLength"] == 1
    cursor = params["cursor"]["schema"]
    cursor = next(s for s in cursor.get("anyOf", [cursor]) if s.get("type") == "string")
    assert cursor["pattern"] == ONE_LINE and cursor["maxLength"] == 200
    assert params["size"]["schema"]["type"] == "integer"
