"""Building blocks of the public JSON API: camelCase field names (API.md), strict request bodies
(unknown fields, strings for numbers and floats for integers are refused with 400), ids bounded to
PostgreSQL's bigint, text that PostgreSQL and a reader can take, query integers written as integers,
and the problem+json documentation of error answers."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints
from pydantic.alias_generators import to_camel

from commerce_kit.idempotency import MAX_KEY_LENGTH

MAX_BIGINT = 2**63 - 1

# Text is refused (400) when it holds a control character: PostgreSQL refuses NUL in text, and the
# rest are invisible or break a line where one is not expected. The rule is a pattern, so the
# document declares it and pydantic checks it in one pass of a compiled regex (`$` is the end of the
# text there, as in JSON Schema). A lone surrogate ("\ud800" in JSON) has no UTF-8 form: pydantic
# refuses it in any constrained string before the pattern runs.
#: One line: no C0 or C1 control character, no DEL.
ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f]*$"
#: Several lines: the same, except tab, line feed and carriage return.
MULTI_LINE = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"

#: Text on one line (a name, a key, an opaque token); add its length with `StringConstraints`, or
#: with `max_length` in `Query`/`Path`/`Header`.
Text = Annotated[str, StringConstraints(strict=True, pattern=ONE_LINE)]
#: Text that may span lines (a description).
MultiLineText = Annotated[str, StringConstraints(strict=True, pattern=MULTI_LINE)]

_WHOLE = re.compile(r"-?[0-9]+")


def _written_whole(value: object) -> object:
    # Lax parsing would read "2.0" or " 2" as 2: a query integer is digits, as the document's
    # `integer` says.
    if isinstance(value, str) and not _WHOLE.fullmatch(value):
        raise ValueError("must be a whole number written in digits")
    return value


#: An integer query parameter: "2.0", "1e3" and "+2" are refused (400).
QueryInt = Annotated[int, BeforeValidator(_written_whole)]

#: A positive integer that fits PostgreSQL's bigint, strict in bodies ("1" and 1.0 are refused).
BodyId = Annotated[StrictInt, Field(ge=1, le=MAX_BIGINT)]
#: A KRW amount: a strict integer that fits bigint (the rules say which values are allowed).
Money = Annotated[StrictInt, Field(ge=-MAX_BIGINT, le=MAX_BIGINT)]

PageSize = Annotated[QueryInt, Query(ge=1, le=100, description="Items per page (1-100)")]
Cursor = Annotated[Text | None, Query(max_length=200, description="`nextCursor` of the previous page")]
#: The `Idempotency-Key` header (commerce_kit.idempotency): a retry with the same key replays the
#: first answer.
IdempotencyKey = Annotated[
    Text | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description=f"1-{MAX_KEY_LENGTH} characters of one line; a retry with it replays the first answer",
    ),
]


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
