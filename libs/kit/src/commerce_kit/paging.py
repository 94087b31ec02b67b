"""Cursor paging (API.md): `?size=20&cursor=<opaque>` -> `{"items": [...], "nextCursor": ...}`.

The cursor is the sort key of the last item returned, base64url-encoded so that clients treat it as
opaque; lists are read with keyset pagination (`WHERE key < cursor ORDER BY key DESC LIMIT size+1`),
which stays fast on any page, unlike OFFSET.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, Field

from commerce_kit.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_SIZE, MAX_SIZE = 20, 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, serialization_alias="nextCursor", alias="nextCursor")


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int = 1) -> list[Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValidationFailed("The cursor is not valid") from exc
    if not isinstance(key, list) or len(key) != arity or not all(_fits(k) for k in key):
        raise ValidationFailed("The cursor is not valid")
    return key


def decode_id_cursor(cursor: str | None) -> int | None:
    """The id a list's cursor holds (the last item's), or None for the first page; anything else, a
    text where the id should be included, is 400 VALIDATION_FAILED, never a query that fails."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if not isinstance(key[0], int):  # bools are refused by decode_cursor already
        raise ValidationFailed("The cursor is not valid")
    return key[0]


def _fits(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= 200


def page_of(rows: Sequence[T], size: int, key: Callable[[T], Sequence[Any]]) -> tuple[list[T], str | None]:
    """`rows` were fetched with LIMIT size+1: the extra row only says that another page exists."""
    if len(rows) > size:
        kept = list(rows[:size])
        return kept, encode_cursor(key(kept[-1]))
    return list(rows), None
