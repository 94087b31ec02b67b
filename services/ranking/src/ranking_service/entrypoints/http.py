"""The public API of the ranking service (API.md "Products": `GET /products/popular`,
`POST /admin/rankings/rebuild`), plus the status of a rebuild run."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.types import Scope

from commerce_kit.api import ApiResponse, path_id, problems
from commerce_kit.errors import NotFound
from commerce_kit.web import Admin, Caller, FastJSONResponse, install_plain_endpoint, plain_query
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


#: The plain endpoint's bounds (the same as `Days` and `Limit`): popular products are on the shop's
#: front page, asked for on every visit.
POPULAR_QUERY = {"days": (MIN_DAYS, MAX_DAYS), "limit": (1, 100)}


def install_fast_route(app: FastAPI) -> None:
    """Well-formed requests for popular products skip FastAPI's machinery (`PlainEndpoint`)."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/api/v1/products/popular")

    def parse(scope: Scope) -> dict[str, int] | None:
        query = plain_query(scope, POPULAR_QUERY)
        return (
            None
            if query is None
            else {"days": query.get("days", DEFAULT_DAYS), "limit": query.get("limit", 5)}
        )

    install_plain_endpoint(app, route, parse, _popular_answer)


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
