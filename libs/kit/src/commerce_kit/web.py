"""The HTTP side every service shares: the app factory, problem+json rendering from one place,
authentication dependencies, health, metrics and docs.

A service builds its app with `service_app(...)`, passing its routers and its bootstrap (the
composition root that opens its resources and builds its use cases when the app starts; nothing
connects at import time). Every request goes through the same stack: each cross-cutting concern
(body limit, authentication, problems, metrics, tracing) exists once, here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.datastructures import Default
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce_kit import metrics
from commerce_kit.auth import Principal, TokenVerifier
from commerce_kit.errors import AppError, DependencyUnavailable, PayloadTooLarge, ValidationFailed
from commerce_kit.outages import is_outage
from commerce_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
DEFAULT_BODY_LIMIT = 64 * 1024

ReadinessCheck = Callable[[], Awaitable[Any]]
D = TypeVar("D")


class ProblemResponse(Response):
    media_type = PROBLEM

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem_response(error: AppError, request: Request | None = None) -> ProblemResponse:
    instance = request.url.path if request is not None else None
    headers = {"Retry-After": "1"} if error.status in (429, 503) else None
    return ProblemResponse(error.problem(instance), status_code=error.status, headers=headers)


_STATUS_CODES = {
    400: ("VALIDATION_FAILED", "The request is not valid"),
    401: ("UNAUTHENTICATED", "A valid bearer token is required"),
    403: ("FORBIDDEN", "Not allowed"),
    404: ("NOT_FOUND", "No such resource"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send application/json"),
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Location and message only: never echo the (possibly huge or secret) input back.
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
            "message": err.get("msg"),
        }
        for err in exc.errors()[:20]
    ]


def unexpected_problem(request: Request, exc: Exception) -> Response:
    """The answer to an exception no handler expected: our own PostgreSQL or Redis away is "not
    now" (503), anything else a bug (500, logged with its trace)."""
    if is_outage(exc):
        log.warning("%s %s: dependency unavailable: %r", request.method, request.url.path, exc)
        away = DependencyUnavailable("A server this request needs is unavailable; retry later")
        return problem_response(away, request)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = AppError("The server could not complete the request", code="INTERNAL_ERROR")
    error.status, error.title = 500, "Internal error"
    return problem_response(error, request)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        error = AppError(detail or "The request is not valid", errors=errors)
        return problem_response(error, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code, title = _STATUS_CODES.get(exc.status_code, ("HTTP_ERROR", "Request failed"))
        error = AppError(str(exc.detail) if exc.detail else title, code=code)
        error.status, error.title = exc.status_code, title
        return problem_response(error, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return unexpected_problem(request, exc)


class BodyLimitMiddleware:
    """Refuses bodies over `limit` bytes with 413, whether or not Content-Length was sent (the
    gateway limits too; a service must not trust that it sits behind one)."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = None, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None and not chunked:
            if not length.isdigit() or int(length) > self.limit:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if not chunked:  # neither: no body (HTTP/1.1), nothing to count
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body first, at most limit + 1 bytes, then replay it.
        # (Raising from inside the app's `receive` would not do: FastAPI turns it into a 400.)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
        await self.app(scope, _replaying(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"The body must not exceed {self.limit} bytes")
        await ProblemResponse(error.problem(scope.get("path")), status_code=413)(scope, receive, send)


class UrlCheckMiddleware:
    """Refuses with 400 what the framework would take silently: a path or query whose percent-encoding
    is not UTF-8 (a lone surrogate, %ED%A0%80, would reach a route as U+FFFD), and a repeated query
    parameter (FastAPI keeps the last value; every query parameter of the API takes one value). A
    request without a query string and with a plain path costs a lookup and a search of its path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fault = _url_fault(scope)
            if fault is not None:
                error = ValidationFailed(fault)
                await ProblemResponse(error.problem(scope.get("path")), status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _url_fault(scope: Scope) -> str | None:
    raw_path = scope.get("raw_path")
    if "\ufffd" in scope["path"] and raw_path is not None:
        try:
            unquote_to_bytes(raw_path.split(b"?", 1)[0].decode("latin-1")).decode("utf-8")
        except UnicodeDecodeError:
            return "The path is not UTF-8 once percent-decoded"
    query = scope.get("query_string")
    if not query:
        return None
    names: list[str] | list[bytes]
    if b"%" in query:
        try:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            return "The query is not UTF-8 once percent-decoded"
        names = [name for name, _ in pairs]
    else:  # nothing to decode: the names compare as they came
        names = [part.partition(b"=")[0] for part in query.split(b"&") if part]
    seen: set[str | bytes] = set()
    for name in names:
        if name in seen:
            shown = name if isinstance(name, str) else name.decode("latin-1")
            if len(shown) > 40 or not shown.isprintable():
                shown = "a query parameter"
            return f"{shown}: repeated; each query parameter takes one value"
        seen.add(name)
    return None


class ServiceApp(FastAPI, Generic[D]):
    """Every service's app: FastAPI, holding what its bootstrap built while it runs (typed: `deps`),
    the token verifier and the readiness checks. They are set by the lifespan, never at import."""

    def __init__(self, *args: Any, service: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service
        self._started: Started[D] | None = None
        self._verifier: TokenVerifier | None = None

    @property
    def deps(self) -> D:
        """The service's dependencies, as its bootstrap built them (only while the app runs)."""
        if self._started is None:
            raise RuntimeError(f"the {self.service} app is not started (its lifespan has not run)")
        return self._started.deps

    @property
    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            raise RuntimeError(f"the {self.service} app is not started (its lifespan has not run)")
        return self._verifier

    @property
    def readiness(self) -> Mapping[str, ReadinessCheck]:
        return self._started.readiness if self._started is not None else {}


@dataclass(frozen=True)
class Started(Generic[D]):
    """What a service's bootstrap yields: its dependencies, and how `/health/ready` checks them."""

    deps: D
    readiness: Mapping[str, ReadinessCheck] = field(default_factory=dict)


#: A service's composition root: opens its resources, builds its use cases on them, yields them while
#: the app runs, and closes everything on the way out.
Bootstrap = Callable[[], AbstractAsyncContextManager[Started[D]]]


def service_of(request: Request) -> ServiceApp[Any]:
    app = request.app
    if not isinstance(app, ServiceApp):
        raise TypeError("the route is not served by a commerce_kit ServiceApp")
    return app


def provider(kind: type[D]) -> Callable[[Request], Awaitable[D]]:
    """The FastAPI dependency that hands a route its service's dependencies, typed:

        Deps = Annotated[CouponDeps, Depends(provider(CouponDeps))]

    (`async def`: FastAPI runs a plain `def` dependency in a thread pool, a handoff per request.)"""

    async def provide(request: Request) -> D:
        deps = service_of(request).deps
        if not isinstance(deps, kind):
            raise TypeError(f"the app's dependencies are a {type(deps).__name__}, not a {kind.__name__}")
        return deps

    provide.__name__ = f"provide_{kind.__name__}"
    return provide


class _BearerCaller(HTTPBearer):
    """The caller, from the request's bearer token, with a role check where one is needed: one
    dependency per request (the OpenAPI document shows it as the bearer security scheme, being an
    HTTPBearer). `async`: FastAPI runs a plain `def` dependency in a thread pool."""

    def __init__(self, check: Callable[[Principal], None] | None = None) -> None:
        super().__init__(
            auto_error=False, scheme_name="HTTPBearer", description="JWT (HS256): sub = user id, roles, exp"
        )
        self.check = check

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]  # a Principal, not the credentials
        caller = service_of(request).verifier.from_header(request.headers.get("authorization"))
        if self.check is not None:
            self.check(caller)
        return caller


#: A route's authenticated caller (401 when the token is missing or not valid).
Caller = Annotated[Principal, Depends(_BearerCaller())]
#: An authenticated caller with the ADMIN role (403 otherwise).
Admin = Annotated[Principal, Depends(_BearerCaller(Principal.require_admin))]
#: Another service of the suite (role SERVICE; 403 otherwise).
InternalCaller = Annotated[Principal, Depends(_BearerCaller(Principal.require_service))]


def health_router(timeout: float = 2.0) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up (touches no dependency)")
    async def live() -> Response:
        return Response(b'{"status":"UP"}', media_type="application/json")

    @router.get("/health/ready", summary="PostgreSQL, Redis and Kafka answer")
    async def ready(request: Request) -> Response:
        checks = service_of(request).readiness

        async def run(check: ReadinessCheck) -> str:
            try:
                async with asyncio.timeout(timeout):
                    await check()
                return "UP"
            except Exception as exc:  # a failed check is an answer, not an error
                return f"DOWN: {type(exc).__name__}"

        names = list(checks)
        results = await asyncio.gather(*(run(checks[n]) for n in names))
        body = {
            "status": "UP" if all(r == "UP" for r in results) else "DOWN",
            "checks": dict(zip(names, results, strict=True)),
        }
        return FastJSONResponse(body, status_code=200 if body["status"] == "UP" else 503)

    @router.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return PlainTextResponse(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # Behind the gateway the docs live under /docs/<service>; it says so in X-Forwarded-Prefix.
        prefix = request.headers.get("x-forwarded-prefix", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{prefix}/openapi.json", title=request.app.title)

    return router


def create_app(
    *,
    title: str,
    description: str,
    version: str,
    verifier_factory: Callable[[], TokenVerifier],
    bootstrap: Bootstrap[D],
    routers: Sequence[APIRouter],
    body_limit: int = DEFAULT_BODY_LIMIT,
    service: str,
) -> ServiceApp[D]:
    """The one stack every request of every service goes through: its middlewares (metrics, body
    limit, the URL check, and tracing when configured), FastAPI's routing and validation,
    problem+json answers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert isinstance(app, ServiceApp)
        app._verifier = verifier_factory()
        async with bootstrap() as started:
            app._started = started
            try:
                yield
            finally:
                app._started = None

    app: ServiceApp[D] = ServiceApp(
        service=service,
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Answers are serialized once: a route's response model straight to JSON bytes by pydantic
        # (FastAPI takes that path only while the class is its default placeholder), anything else
        # by orjson.
        default_response_class=Default(FastJSONResponse),
        responses={
            400: {"description": "Bad input (problem+json, code VALIDATION_FAILED)"},
            401: {"description": "Missing or invalid token (problem+json)"},
        },
    )
    install_problem_handlers(app)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    app.add_middleware(UrlCheckMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit)
    app.add_middleware(metrics.HttpMetricsMiddleware, service=service)
    return app


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    bootstrap: Bootstrap[D],
    routers: Sequence[APIRouter],
    version: str = "1.0.0",
) -> ServiceApp[D]:
    """A service's app as every service builds it: traces when OTEL_EXPORTER_OTLP_ENDPOINT is set,
    tokens checked with its settings' key, its dependencies and readiness from its `bootstrap`."""
    from commerce_kit import telemetry

    telemetry.configure_tracing(settings.service, settings.otel_endpoint)
    app = create_app(
        title=title,
        description=description,
        version=version,
        service=settings.service,
        verifier_factory=lambda: TokenVerifier(settings.jwt_secret, issuer=settings.jwt_issuer),
        bootstrap=bootstrap,
        routers=routers,
    )
    telemetry.instrument_app(app)
    return app


def _replaying(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
