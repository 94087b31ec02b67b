"""First-come-first-served issue (API.md "Coupons").

The issue route is the hottest path of a sale day. Its well-formed requests are served by
`fast_request_issue`, a plain Starlette route placed ahead of FastAPI's (see `install_fast_route`):
no dependency solving, no parameter models, the token checked from the verifier's cache, the answer
rendered by hand. FastAPI's own route below documents the operation (OpenAPI) and answers what the
fast route does not match (a coupon id that is not a number: its 400 problem). Both give the same
answers, through `answer_for`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, FastAPI, Path, Request, Response
from starlette.routing import Route

from commerce_kit.api import MAX_BIGINT, ApiResponse, path_id, problems
from commerce_kit.errors import ValidationFailed
from commerce_kit.web import Caller
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


async def fast_request_issue(request: Request) -> Response:
    coupon_id = request.path_params["couponId"]  # digits, by the route's convertor
    if not 1 <= coupon_id <= MAX_BIGINT:
        raise ValidationFailed("couponId must be between 1 and 2^63-1")
    caller = request.app.state.verifier.from_header(request.headers.get("authorization"))
    return await answer_for(request, caller.user_id, coupon_id)


def install_fast_route(app: FastAPI) -> None:
    """Put the plain route first: Starlette tries routes in order, so FastAPI's own route only sees
    the requests this one does not match. Errors raised here reach the app's problem handlers."""
    app.router.routes.insert(
        0, Route("/api/v1/coupons/{couponId:int}/issue", fast_request_issue, methods=["POST"])
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
