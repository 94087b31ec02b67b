"""The public API of the ranking service (API.md "Products": `GET /products/popular`,
`POST /admin/rankings/rebuild`), plus the status of a rebuild run."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from commerce_kit.api import ApiResponse, path_id, problems
from commerce_kit.errors import NotFound
from commerce_kit.web import Admin, Caller, FastJSONResponse
from ranking_service.domain.calendar import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS
from ranking_service.service_layer.popular import PopularProducts
from ranking_service.service_layer.rebuild import Rebuilder, Trigger

router = APIRouter(prefix="/api/v1", tags=["popular products"])

Days = Annotated[
    int,
    Query(
        ge=MIN_DAYS,
        le=MAX_DAYS,
        description="Calendar days in APP_ZONE, today included (3 = today and the two days before)",
    ),
]
Limit = Annotated[int, Query(ge=1, le=100, description="How many products (1-100)")]


class PopularProductOut(ApiResponse):
    rank: int = Field(description="1, 2, 3, ...: quantity sold, most first; ties by product id")
    product_id: int
    name: str
    sold_quantity: int = Field(description="Units in paid, not refunded orders of the window")


class PopularOut(ApiResponse):
    items: list[PopularProductOut]


class RebuildOut(ApiResponse):
    status: str = Field(description="STARTED, or ALREADY_RUNNING (on this instance or another)")
    run_id: int | None = Field(
        description="The run started, or the one running (null in the instant before it is recorded)"
    )


class RunOut(ApiResponse):
    run_id: int
    trigger: str = Field(description="ADMIN, SCHEDULED (00:00 APP_ZONE), STARTUP or MANUAL")
    status: str = Field(description="RUNNING, DONE, FAILED or INTERRUPTED")
    first_day: date
    last_day: date
    backfilled_sales: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None


def _popular(request: Request) -> PopularProducts:
    return request.app.state.popular


def _rebuilder(request: Request) -> Rebuilder:
    return request.app.state.rebuilder


@router.get("/products/popular", response_model=PopularOut, responses=problems(400, 401))
async def popular(caller: Caller, request: Request, days: Days = DEFAULT_DAYS, limit: Limit = 5) -> Response:
    """Top products by quantity sold in paid, not refunded orders over the last `days` calendar days
    (APP_ZONE). Served from a cache of at most a few seconds (see service_layer/popular.py)."""
    return await _popular_answer(request, days, limit)


async def _popular_answer(request: Request, days: int, limit: int) -> Response:
    items = await _popular(request).top(days, limit)
    return FastJSONResponse(
        {
            "items": [
                {"rank": p.rank, "productId": p.product_id, "name": p.name, "soldQuantity": p.sold_quantity}
                for p in items
            ]
        }
    )


class FastPopular:
    """The shop's front page asks for popular products on every visit, so its well-formed requests
    skip FastAPI's dependency solving and parameter models (about a third of the route's CPU, made
    for `make bench`): this plain ASGI endpoint, placed ahead of FastAPI's route, answers a query of
    at most `days` and `limit`, each given once as plain digits within its bounds, with the token
    checked from the verifier's cache. Anything else goes to FastAPI's own route (`fallback`), which
    answers it, its problems included; both answer through `_popular_answer`."""

    BOUNDS: ClassVar[dict[str, tuple[int, int]]] = {"days": (MIN_DAYS, MAX_DAYS), "limit": (1, 100)}

    def __init__(self, fallback: APIRoute) -> None:
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = self._plain_query(scope.get("query_string", b""))
        if query is None:
            await self.fallback.handle(scope, receive, send)
            return
        request = Request(scope, receive)
        request.app.state.verifier.from_header(request.headers.get("authorization"))
        response = await _popular_answer(request, query.get("days", DEFAULT_DAYS), query.get("limit", 5))
        await response(scope, receive, send)

    def _plain_query(self, raw: bytes) -> dict[str, int] | None:
        found: dict[str, int] = {}
        for pair in raw.decode("latin-1").split("&") if raw else ():
            name, sep, value = pair.partition("=")
            bounds = self.BOUNDS.get(name)
            if not sep or bounds is None or name in found or not (value.isdigit() and len(value) <= 3):
                return None
            number = int(value)
            if not bounds[0] <= number <= bounds[1]:
                return None
            found[name] = number
        return found


def install_fast_route(app: FastAPI) -> None:
    """Put the plain endpoint first: Starlette tries routes in order. Errors raised there (a missing
    or bad token) reach the app's problem handlers like any route's."""
    path = "/api/v1/products/popular"
    own = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == path)
    app.router.routes.insert(0, Route(path, FastPopular(own), methods=["GET"]))


@router.post(
    "/admin/rankings/rebuild", status_code=202, response_model=RebuildOut, responses=problems(401, 403)
)
async def rebuild(caller: Admin, request: Request, response: Response) -> RebuildOut:
    """Recompute the ranking from the stored sales (backfilling from the order service first when the
    ranking started empty). Always 202: the run goes on in the background, on one instance only;
    follow it at `Location`. A rebuild already running anywhere answers `ALREADY_RUNNING`."""
    started = await _rebuilder(request).start(Trigger.ADMIN)
    if started.run_id is not None:
        response.headers["Location"] = f"/api/v1/admin/rankings/rebuilds/{started.run_id}"
    return RebuildOut(status=started.status.value, run_id=started.run_id)


@router.get("/admin/rankings/rebuilds/{runId}", response_model=RunOut, responses=problems(400, 401, 403, 404))
async def rebuild_run(run_id: Annotated[int, path_id("runId")], caller: Admin, request: Request) -> RunOut:
    """One rebuild run: where it stands, or how it ended."""
    report = await _rebuilder(request).report(run_id)
    if report is None:
        raise NotFound(f"No rebuild run {run_id}")
    return RunOut(run_id=report.id, **{k: v for k, v in vars(report).items() if k != "id"})
