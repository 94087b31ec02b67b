"""Building blocks of the public JSON API: camelCase field names (API.md), strict request bodies
(unknown fields, strings for numbers and floats for integers are refused with 400), ids bounded to
PostgreSQL's bigint, and the problem+json documentation of error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

MAX_BIGINT = 2**63 - 1

#: A positive integer that fits PostgreSQL's bigint, strict in bodies ("1" and 1.0 are refused).
BodyId = Annotated[StrictInt, Field(ge=1, le=MAX_BIGINT)]
#: A KRW amount: a strict integer that fits bigint (the rules say which values are allowed).
Money = Annotated[StrictInt, Field(ge=-MAX_BIGINT, le=MAX_BIGINT)]

PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")]
Cursor = Annotated[str | None, Query(max_length=200, description="`nextCursor` of the previous page")]


def path_id(name: str) -> Any:
    return Path(alias=name, ge=1, le=MAX_BIGINT, description=f"The {name}")


class ApiRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True)


class ApiResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code (API.md)")
    instance: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error answers a route may give."""
    text = {
        400: "Bad input (VALIDATION_FAILED)",
        401: "Missing or invalid token (UNAUTHENTICATED)",
        403: "Not yours (FORBIDDEN)",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Body too large",
        422: "Refused by a business rule",
        429: "Too many requests (RATE_LIMITED)",
        503: "A dependency is unavailable",
    }
    return {
        s: {
            "model": Problem,
            "description": text.get(s, "Error"),
            "content": {"application/problem+json": {}},
        }
        for s in statuses
    }
