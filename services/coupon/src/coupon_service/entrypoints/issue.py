"""First-come-first-served issue (API.md "Coupons").

The issue route is the hottest path of a sale day. Its well-formed requests are answered by a plain
endpoint ahead of the app's whole stack (`install_fast_route`, `commerce_kit.web.PlainEndpoint`): no
middleware, routing, dependency solving or parameter models, the answer rendered by hand. FastAPI's
own route below documents the operation (OpenAPI) and answers what the plain endpoint does not take
(a coupon id that is not a number or out of range: its 400 problem). Both give the same answers,
through `answer_for`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Scope

from commerce_kit.api import MAX_BIGINT, ApiResponse, path_id, problems
from commerce_kit.auth import Principal
from commerce_kit.web import Caller, install_plain_endpoint
from coupon_service.domain.errors import ReservationNotFound
from coupon_service.service_layer.reservations import Answer, Reservations

router = APIRouter(prefix="/api/v1", tags=["first-come-first-served issue"])


class ReservationOut(ApiResponse):
    reservation_id: str
    status: str


class ReservationStatusOut(ReservationOut):
    coupon_id: int
    user_id: int
    reason: str | None
    user_coupon_id: int | None


@router.post(
    "/coupons/{couponId}/issue",
    status_code=202,
    response_model=ReservationOut,
    responses={200: {"description": "A repeat: the user's first reservation", "model": ReservationOut}}
    | problems(401, 404, 409, 429, 503),
)
async def request_issue(
    coupon_id: Annotated[int, path_id("couponId")], caller: Caller, request: Request
) -> Response:
    """Ask for a copy of the coupon: 202 with a reservation to follow at once (200 with the first one
    for a repeat); the reservation ends ISSUED or REJECTED. 409 COUPON_SOLD_OUT when the coupon is
    known to be gone, COUPON_NOT_ISSUABLE outside its issue window."""
    return await answer_for(request, caller.user_id, coupon_id)


async def answer_for(request: Request, user_id: int, coupon_id: int) -> Response:
    reservations: Reservations = request.app.state.reservations
    answer = await reservations.request(user_id, coupon_id, datetime.now(UTC))
    return Response(
        orjson.dumps({"reservationId": answer.reservation_id, "status": answer.status.value}),
        status_code=answer.status_code,
        media_type="application/json",
    )


def install_fast_route(app: FastAPI) -> None:
    """The issue request's well-formed requests (a coupon id in range, no query, no body) are
    answered ahead of the app's stack; anything else goes to `request_issue`."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.name == "request_issue")

    def parse(scope: Scope) -> dict[str, int] | None:
        coupon_id = scope["path_params"]["couponId"]  # digits, by the path's convertor
        plain = 1 <= coupon_id <= MAX_BIGINT and not scope["query_string"]
        return {"coupon_id": coupon_id} if plain else None

    async def plain(request: Request, coupon_id: int, caller: Principal) -> Response:
        return await answer_for(request, caller.user_id, coupon_id)

    install_plain_endpoint(
        app,
        route,
        parse,
        plain,
        path="/api/v1/coupons/{couponId:int}/issue",
        method="POST",
        with_caller=True,
    )


@router.get(
    "/coupons/issue-requests/{reservationId}",
    response_model=ReservationStatusOut,
    responses=problems(401, 403, 404),
)
async def reservation_status(
    reservation_id: Annotated[str, Path(alias="reservationId", max_length=100)],
    caller: Caller,
    request: Request,
) -> ReservationStatusOut:
    """Where a reservation stands: PENDING, then ISSUED (with the user coupon) or REJECTED (with why)."""
    reservations: Reservations = request.app.state.reservations
    if not caller.subject.isdigit():
        raise ReservationNotFound("No such reservation")
    return _out(await reservations.status(reservation_id, caller.user_id))


def _out(a: Answer) -> ReservationStatusOut:
    return ReservationStatusOut(
        reservation_id=a.reservation_id,
        status=a.status.value,
        coupon_id=a.coupon_id,
        user_id=a.user_id,
        reason=a.reason.value if a.reason else None,
        user_coupon_id=a.user_coupon_id,
    )
