"""One error base class carrying its stable `code` and HTTP status (API.md "Error codes").

Domain and use-case code raise these (they know nothing of HTTP frameworks); `commerce_kit.web`
renders every one as RFC 9457 `application/problem+json` from one handler.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "VALIDATION_FAILED"
    title: str = "The request is not valid"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:commerce:problem:{self.code.lower().replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class ValidationFailed(AppError):
    status, code, title = 400, "VALIDATION_FAILED", "The request is not valid"


class Unauthenticated(AppError):
    status, code, title = 401, "UNAUTHENTICATED", "A valid bearer token is required"


class Forbidden(AppError):
    status, code, title = 403, "FORBIDDEN", "Not allowed"


class NotFound(AppError):
    status, code, title = 404, "NOT_FOUND", "Not found"


class Conflict(AppError):
    status, code, title = 409, "CONFLICT", "The request conflicts with the current state"


class Unprocessable(AppError):
    status, code, title = 422, "UNPROCESSABLE", "The request cannot be carried out"


class PayloadTooLarge(AppError):
    status, code, title = 413, "PAYLOAD_TOO_LARGE", "The request body is too large"


class RateLimited(AppError):
    status, code, title = 429, "RATE_LIMITED", "Too many requests"


class IdempotencyKeyReused(AppError):
    status, code, title = 422, "IDEMPOTENCY_KEY_REUSED", "The Idempotency-Key was used with another request"


class IdempotencyInProgress(AppError):
    status, code, title = (
        409,
        "IDEMPOTENCY_IN_PROGRESS",
        "A request with this Idempotency-Key is still running",
    )


class DependencyUnavailable(AppError):
    """A service we depend on is down or too slow: the caller may retry later."""

    status, code, title = 503, "DEPENDENCY_UNAVAILABLE", "A service this request needs is unavailable"
