"""The HTTP side every service shares: the app factory, problem+json rendering from one place,
authentication dependencies, health, metrics and docs.

A service builds its app with `create_app(...)`, passing its routers and a lifespan that opens its
resources (nothing connects at import time).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, get_args, get_type_hints

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce_kit import metrics
from commerce_kit.api import MAX_BIGINT
from commerce_kit.auth import Principal, TokenVerifier
from commerce_kit.errors import AppError, DependencyUnavailable, PayloadTooLarge
from commerce_kit.outages import is_outage
from commerce_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
DEFAULT_BODY_LIMIT = 64 * 1024

ReadinessCheck = Callable[[], Awaitable[Any]]


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


_bearer = HTTPBearer(auto_error=False, description="JWT (HS256): sub = user id, roles, exp")


# `async def`, all three: FastAPI runs a plain `def` dependency in a thread pool, a handoff that cost
# more than everything else an authenticated request does here (docs/performance.md).
async def _principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None
) -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.from_header(request.headers.get("authorization"))


#: A route's authenticated caller (401 when the token is missing or not valid).
Caller = Annotated[Principal, Depends(_principal)]


async def _admin(caller: Caller) -> Principal:
    caller.require_admin()
    return caller


async def _service(caller: Caller) -> Principal:
    caller.require_service()
    return caller


Admin = Annotated[Principal, Depends(_admin)]
InternalCaller = Annotated[Principal, Depends(_service)]


def health_router(timeout: float = 2.0) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up (touches no dependency)")
    async def live() -> Response:
        return Response(b'{"status":"UP"}', media_type="application/json")

    @router.get("/health/ready", summary="PostgreSQL, Redis and Kafka answer")
    async def ready(request: Request) -> Response:
        checks: dict[str, ReadinessCheck] = getattr(request.app.state, "readiness", {})

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
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
    readiness: Callable[[FastAPI], dict[str, ReadinessCheck]],
    body_limit: int = DEFAULT_BODY_LIMIT,
    service: str,
) -> FastAPI:
    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.verifier = verifier_factory()
        async with lifespan(app):
            app.state.readiness = readiness(app)
            yield

    app = ServiceApp(
        service=service,
        title=title,
        description=description,
        version=version,
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        responses={
            400: {"description": "Bad input (problem+json, code VALIDATION_FAILED)"},
            401: {"description": "Missing or invalid token (problem+json)"},
        },
    )
    app.body_limit = body_limit  # the plain lane's limit too
    install_problem_handlers(app)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit)
    app.add_middleware(metrics.HttpMetricsMiddleware, service=service)
    return app


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
    version: str = "1.0.0",
) -> FastAPI:
    """A service's app as every service builds it: traces when OTEL_EXPORTER_OTLP_ENDPOINT is set,
    tokens checked with its settings' key, and readiness from the `Runtime` its lifespan keeps in
    `app.state.runtime`."""
    from commerce_kit import telemetry

    telemetry.configure_tracing(settings.service, settings.otel_endpoint)
    app = create_app(
        title=title,
        description=description,
        version=version,
        service=settings.service,
        verifier_factory=lambda: TokenVerifier(settings.jwt_secret, issuer=settings.jwt_issuer),
        lifespan=lifespan,
        routers=routers,
        readiness=lambda app: app.state.runtime.readiness(),
    )
    telemetry.instrument_app(app)
    return app


# ----------------------------------------------------------------------------- plain hot endpoints

#: What a plain endpoint's `parse` makes of a request's scope (its `path_params` already converted):
#: the answer's keyword arguments, or None for "not mine" (FastAPI's route answers it).
Parse = Callable[[Scope], "dict[str, Any] | None"]


class PlainEndpoint:
    """A hot route's well-formed requests, answered ahead of everything FastAPI and Starlette do for a
    request (the middleware stack, routing, dependency solving, parameter models), which costs a
    route that answers from a cache, or hands its work to Redis and Kafka in batches, more CPU than
    its own work: measured by `make bench` (popular products went from 0.56x to 1.5x of the ranking
    service's liveness; the coupon issue route, docs/performance.md).

    `parse` takes only what it is sure of (plain digits within their bounds); anything else goes
    through the whole stack to FastAPI's own route, which answers it, its problems included, so the
    API's behaviour and its OpenAPI stay FastAPI's. An endpoint with a `body` model takes a JSON body
    of at most the body limit, validated by that model (the route's own): a body the model refuses
    is handed, replayed, to FastAPI's route. What the stack would add is done here too: the token is
    checked (the caller is passed on when `with_caller`), errors become the same problems, and the
    request is timed under the route's template."""

    def __init__(
        self,
        route: APIRoute,
        parse: Parse,
        answer: Callable[..., Awaitable[Response]],
        *,
        method: str,
        path: str,
        with_caller: bool,
        body: type[BaseModel] | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
    ) -> None:
        self.route, self.parse, self.answer = route, parse, answer
        self.method, self.with_caller, self.body, self.body_limit = method, with_caller, body, body_limit
        self.template = route.path
        self._regex, _, self._convertors = compile_path(path)

    def match(self, scope: Scope) -> dict[str, Any] | None:
        if scope["method"] != self.method:
            return None
        found = self._regex.match(scope["path"])
        if found is None:
            return None
        length, json = b"0", False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":  # chunked: FastAPI's route, with the body limit's checks
                return None
            elif name == b"content-type":
                json = value.partition(b";")[0].strip().lower() == b"application/json"
        if self.body is None:
            if length != b"0":  # a body where none is expected: FastAPI's route
                return None
        elif not (json and length.isdigit() and int(length) <= self.body_limit):
            return None
        scope["path_params"] = {k: self._convertors[k].convert(v) for k, v in found.groupdict().items()}
        return self.parse(scope)

    def read(self, raw: bytes) -> BaseModel | None:
        """The body as the route's model takes it, or None for FastAPI's route to answer."""
        assert self.body is not None
        try:
            return self.body.model_validate_json(raw)
        except ValidationError:
            return None


class ServiceApp(FastAPI):
    """Every service's app: FastAPI, with a lane ahead of it for its plain endpoints."""

    def __init__(self, *args: Any, service: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service
        self.body_limit = DEFAULT_BODY_LIMIT
        self.plain_endpoints: list[PlainEndpoint] = []
        self._plain_lane: ASGIApp = self._answer_plain
        self._timers: dict[tuple[str, str, int], Any] = {}

    def wrap_plain_lane(self, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put a middleware around the plain lane too (tracing: `telemetry.instrument_app`)."""
        self._plain_lane = wrap(self._plain_lane)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for endpoint in self.plain_endpoints:
                arguments = endpoint.match(scope)
                if arguments is None:
                    continue
                if endpoint.body is not None:
                    raw = await _read_body(receive)
                    body = None if raw is None else endpoint.read(raw)
                    if body is None:  # FastAPI's route answers it, from the same bytes
                        await super().__call__(scope, _replaying(raw or b"", receive), send)
                        return
                    arguments["body"] = body
                scope["app"], scope["route"] = self, endpoint.route
                scope[_PLAIN] = (endpoint, arguments)
                await self._plain_lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _answer_plain(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        endpoint, arguments = scope[_PLAIN]
        request = Request(scope, receive)
        try:
            authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            caller = self.state.verifier.from_header(authorization.decode("latin-1"))
            if endpoint.with_caller:
                arguments["caller"] = caller
            response = await endpoint.answer(request, **arguments)
        except AppError as exc:
            response = problem_response(exc, request)
        except Exception as exc:
            response = unexpected_problem(request, exc)
        try:
            await response(scope, receive, send)
        finally:
            self._timer(endpoint, response.status_code).observe(time.perf_counter() - start)

    def _timer(self, endpoint: PlainEndpoint, status: int) -> Any:
        """The route's histogram for `status` (prometheus_client's `labels()` costs a hot route a
        lock and a tuple each time; the children are kept here)."""
        key = (endpoint.method, endpoint.template, status)
        timer = self._timers.get(key)
        if timer is None:
            timer = self._timers[key] = metrics.HTTP_REQUESTS.labels(
                self.service, endpoint.method, endpoint.template, str(status)
            )
        return timer


_PLAIN = "commerce.plain_endpoint"


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (its length was checked against the limit); None when the client left."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def plain_query(scope: Scope, bounds: Mapping[str, tuple[int, int]]) -> dict[str, int] | None:
    """The query's integer parameters when each is one of `bounds`, given once, as plain digits
    within its bounds; None for anything else (an unknown parameter, a sign, a word, a repeat)."""
    raw: bytes = scope.get("query_string", b"")
    found: dict[str, int] = {}
    for pair in raw.decode("latin-1").split("&") if raw else ():
        name, sep, value = pair.partition("=")
        limits = bounds.get(name)
        if not sep or limits is None or name in found or not (value.isdigit() and len(value) <= 19):
            return None
        number = int(value)
        if not limits[0] <= number <= limits[1]:
            return None
        found[name] = number
    return found


def install_plain_endpoint(
    app: FastAPI,
    route: APIRoute,
    parse: Parse,
    answer: Callable[..., Awaitable[Response]],
    *,
    path: str | None = None,
    method: str = "GET",
    with_caller: bool = False,
    body: type[BaseModel] | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> None:
    """Answer `route`'s well-formed requests with `answer(request, **parse(scope))` (plus `caller=`
    the token's principal when `with_caller`) ahead of the app's stack. `path` may narrow the
    route's path with convertors (`/products/{productId:int}`), so that what does not match goes to
    FastAPI's route by routing alone."""
    if not isinstance(app, ServiceApp):
        raise TypeError("plain endpoints need a ServiceApp (commerce_kit.web.create_app builds one)")
    app.plain_endpoints.append(
        PlainEndpoint(
            route,
            parse,
            answer,
            method=method,
            path=path or route.path,
            with_caller=with_caller,
            body=body,
            body_limit=body_limit,
        )
    )


#: What a route's `caller` parameter checks, by the dependency it is declared with.
_ROLE_CHECKS: dict[Callable[..., Any], Callable[[Principal], None] | None] = {
    _principal: None,
    _service: Principal.require_service,
    _admin: Principal.require_admin,
}


def install_plain_route(app: FastAPI, route: APIRoute, *, path: str) -> None:
    """Answer `route`'s well-formed requests ahead of the app's stack with the route's own function,
    for routes whose parameters are only: ids in the path (`path_id`, 1 to 2^63-1; `path` gives each
    an `:int` convertor), a JSON body model named `body`, the caller named `caller` (its dependency's
    role check runs here too: `Caller`, `InternalCaller`, `Admin`), optional text headers with a
    maximum length, the request, and the `response` whose headers the route may set. No query
    string. The answer is rendered as FastAPI renders it: the response model, by alias, the route's
    status, the headers it set. The hot calls (the saga's steps, the order's lookups, placing an
    order and paying it) each cost their service more in FastAPI's machinery than in their own
    work (docs/performance.md)."""
    if not isinstance(app, ServiceApp):
        raise TypeError("plain routes need a ServiceApp (commerce_kit.web.create_app builds one)")
    hints = get_type_hints(route.endpoint, include_extras=True)
    types = get_type_hints(route.endpoint)  # without Annotated's extras
    ids = {field.alias: field.name for field in route.dependant.path_params}
    for field in route.dependant.path_params:
        bounds = {type(m).__name__: m for m in field.field_info.metadata}
        if getattr(bounds.get("Ge"), "ge", None) != 1 or getattr(bounds.get("Le"), "le", None) != MAX_BIGINT:
            raise TypeError(f"{route.path}: path parameter {field.alias} is not a path_id")
    headers: dict[bytes, tuple[str, int]] = {}  # header -> (parameter, maximum length)
    for field in route.dependant.header_params:
        longest = next(
            (m.max_length for m in field.field_info.metadata if type(m).__name__ == "MaxLen"), None
        )
        if types[field.name] != (str | None) or longest is None or field.field_info.default is not None:
            raise TypeError(f"{route.path}: header {field.alias} is not an optional text of a bounded length")
        headers[field.alias.lower().encode("latin-1")] = (field.name, longest)
    body_model, role, role_check = None, False, None
    parameters = inspect.signature(route.endpoint).parameters
    for name in parameters:
        if (
            name in ids.values()
            or name in ("request", "response")
            or any(h[0] == name for h in headers.values())
        ):
            continue
        if name == "body" and isinstance(hints[name], type) and issubclass(hints[name], BaseModel):
            body_model = hints[name]
        elif (
            name == "caller"
            and get_args(hints[name])[1:]
            and get_args(hints[name])[1].dependency in _ROLE_CHECKS
        ):
            role, role_check = True, _ROLE_CHECKS[get_args(hints[name])[1].dependency]
        else:
            raise TypeError(f"{route.path}: parameter {name} cannot be taken by a plain route")
    if not role:
        raise TypeError(f"{route.path}: a plain route checks the caller's token (a `caller` parameter)")
    status, model = route.status_code or 200, route.response_model
    takes_request, takes_response = "request" in parameters, "response" in parameters

    def parse(scope: Scope) -> dict[str, Any] | None:
        if scope.get("query_string"):
            return None
        arguments: dict[str, Any] = {name: None for name, _ in headers.values()}
        for alias, value in scope["path_params"].items():
            if not 1 <= value <= MAX_BIGINT:
                return None
            arguments[ids[alias]] = value
        if headers:
            seen = set()
            for raw, value in scope["headers"]:
                wanted = headers.get(raw)
                if wanted is not None:
                    text = value.decode("latin-1")
                    if raw in seen or len(text) > wanted[1]:  # twice, or too long: FastAPI's answer
                        return None
                    seen.add(raw)
                    arguments[wanted[0]] = text
        return arguments

    async def answer(request: Request, caller: Principal, **arguments: Any) -> Response:
        if role_check is not None:
            role_check(caller)
        if takes_request:
            arguments["request"] = request
        if takes_response:  # as FastAPI makes it: no status and no length of its own
            arguments["response"] = sub = Response()
            del sub.headers["content-length"]
            sub.status_code = None  # type: ignore[assignment]
        result = await route.endpoint(caller=caller, **arguments)
        if isinstance(result, Response):
            return result
        if model is not None and not isinstance(result, model):
            result = model.model_validate(result, from_attributes=True)
        content = result.model_dump(mode="json", by_alias=True) if isinstance(result, BaseModel) else result
        response = FastJSONResponse(content, status_code=status)
        if takes_response:
            response.headers.raw.extend(sub.headers.raw)
            if sub.status_code:
                response.status_code = sub.status_code
        return response

    install_plain_endpoint(
        app,
        route,
        parse,
        answer,
        path=path,
        method=next(iter(route.methods)),
        with_caller=True,
        body=body_model,
        body_limit=app.body_limit,  # the app's, as its middleware's
    )


def install_plain_routes(app: FastAPI, router: APIRouter, names: Iterable[str]) -> None:
    """`install_plain_route` for the routes of `router` whose functions are `names`, each path
    parameter given an `:int` convertor (a plain route's path parameters are all ids)."""
    by_name = {r.name: r for r in router.routes if isinstance(r, APIRoute)}
    for name in names:
        route = by_name[name]
        install_plain_route(app, route, path=re.sub(r"\{(\w+)\}", r"{\1:int}", route.path))
