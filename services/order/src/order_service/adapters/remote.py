"""What the order service needs from the other services' answers, shared by their adapters."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from commerce_kit.clients import RemoteError
from commerce_kit.errors import DependencyUnavailable

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


async def answer_of(service: str, call: Awaitable[Any]) -> Any:
    """The answer of `call`. The other service refusing our own service token (401/403) is our
    misconfiguration, not the client's fault: it becomes 503, not a 401/403 the client would read as
    about its own token. Other problems (404 ...) pass through for the adapter to interpret."""
    try:
        return await call
    except RemoteError as refused:
        if refused.status in (401, 403):
            log.error("the %s service refused our service token: %s", service, refused.detail)
            raise DependencyUnavailable(f"The {service} service refused this service's token") from refused
        raise


def parsed(service: str, model: type[M], answer: Any) -> M:
    """The answer in the shape the internal API promises; anything else is the other service's fault
    (503), never a 500 of ours."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        log.error("unexpected answer from the %s service: %s", service, exc)
        raise DependencyUnavailable(f"The {service} service gave an unexpected answer") from exc
