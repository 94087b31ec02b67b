"""The public API of the ranking service (API.md "Products": `GET /products/popular`,
`POST /admin/rankings/rebuild`), plus the status of a rebuild run."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from commerce_kit.api import ApiResponse, QueryInt, path_id, problems
from commerce_kit.errors import NotFound
from commerce_kit.web import Admin, Caller
from ranking_service.bootstrap import Deps
from ranking_service.domain.calendar import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS
from ranking_service.domain.ranking import RankedProduct
from ranking_service.service_layer.rebuild import Trigger

router = APIRouter(prefix="/api/v1", tags=["popular products"])

Days = Annotated[
    QueryInt,
    Query(
        ge=MIN_DAYS,
        le=MAX_DAYS,
        description="Calendar days in APP_ZONE, today included (3 = today and the two days before)",
    ),
]
Limit = Annotated[QueryInt, Query(ge=1, le=100, description="How many products (1-100)")]


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


# Popular products are on the shop's front page, asked for on every visit. The use case's answer is
# immutable and hashable, and its JSON is a pure function of it: each distinct answer is encoded once,
# by its response model, and a request for it after that costs a hash and a lookup.


@lru_cache(maxsize=1024)
def _popular_body(items: tuple[RankedProduct, ...]) -> bytes:
    answer = PopularOut(
        items=[
            PopularProductOut(
                rank=p.rank, product_id=p.product_id, name=p.name, sold_quantity=p.sold_quantity
            )
            for p in items
        ]
    )
    return answer.model_dump_json(by_alias=True).encode()


@router.get("/products/popular", response_model=PopularOut, responses=problems(400, 401))
async def popular(caller: Caller, deps: Deps, days: Days = DEFAULT_DAYS, limit: Limit = 5) -> Response:
    """Top products by quantity sold in paid, not refunded orders over the last `days` calendar days
    (APP_ZONE). Served from a cache of at most a few seconds (see service_layer/popular.py)."""
    return Response(_popular_body(await deps.popular.top(days, limit)), media_type="application/json")


@router.post(
    "/admin/rankings/rebuild", status_code=202, response_model=RebuildOut, responses=problems(401, 403)
)
async def rebuild(caller: Admin, deps: Deps, response: Response) -> RebuildOut:
    """Recompute the ranking from the stored sales (backfilling from the order service first when the
    ranking started empty). Always 202: the run goes on in the background, on one instance only;
    follow it at `Location`. A rebuild already running anywhere answers `ALREADY_RUNNING`."""
    started = await deps.rebuilder.start(Trigger.ADMIN)
    if started.run_id is not None:
        response.headers["Location"] = f"/api/v1/admin/rankings/rebuilds/{started.run_id}"
    return RebuildOut(status=started.status.value, run_id=started.run_id)


@router.get("/admin/rankings/rebuilds/{runId}", response_model=RunOut, responses=problems(400, 401, 403, 404))
async def rebuild_run(run_id: Annotated[int, path_id("runId")], caller: Admin, deps: Deps) -> RunOut:
    """One rebuild run: where it stands, or how it ended."""
    report = await deps.rebuilder.report(run_id)
    if report is None:
        raise NotFound(f"No rebuild run {run_id}")
    return RunOut(run_id=report.id, **{k: v for k, v in vars(report).items() if k != "id"})
