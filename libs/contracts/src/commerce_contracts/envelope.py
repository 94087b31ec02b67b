"""The envelope every event shares, and the one way to turn events into bytes and back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: the envelope. Subclasses declare `type: Literal[...]`, the payload,
    and `key` (the aggregate id, used as the Kafka message key so one aggregate stays in order)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: Highest schema version of this event the code understands; bump only for breaking changes
    #: (which also need a new topic version). Additive changes keep the version.
    VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Stable id, the dedup key.")
    occurred_at: AwareDatetime = Field(default_factory=utc_now, description="UTC instant of the change.")
    type: str
    version: int = 1
    correlation_id: str | None = Field(default=None, description="Id of the request that started it.")
    causation_id: str | None = Field(default=None, description="Id of the event or command that caused it.")

    @property
    def key(self) -> str:
        raise NotImplementedError

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].default


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()


class UndecodableEvent(ValueError):
    """The bytes are not an event we understand: a poison message for the consumer."""


def decode_event(raw: bytes | str, expected: type[Event] | tuple[type[Event], ...]) -> Any:
    """Parse `raw` into one of the `expected` classes, chosen by its `type` member. The envelope is
    looked at with orjson, the event validated by its model from the bytes, so that each message is
    parsed by pydantic once (a pydantic model of the envelope would parse it twice)."""
    classes = expected if isinstance(expected, tuple) else (expected,)
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UndecodableEvent(f"not an event envelope: invalid JSON ({exc})") from exc
    kind = envelope.get("type") if isinstance(envelope, dict) else None
    version = envelope.get("version", 1) if isinstance(envelope, dict) else None
    if not isinstance(kind, str) or type(version) is not int:
        raise UndecodableEvent("not an event envelope: it needs a type (text) and a version (a number)")
    for cls in classes:
        if cls.type_name() == kind:
            if version > cls.VERSION:
                raise UndecodableEvent(f"{kind} v{version} is newer than v{cls.VERSION}")
            try:
                return cls.model_validate_json(raw)
            except ValidationError as exc:
                raise UndecodableEvent(f"invalid {kind}: {exc}") from exc
    raise UndecodableEvent(f"unexpected event type {kind!r}")
