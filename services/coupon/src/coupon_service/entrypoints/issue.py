"""First-come-first-served issue (API.md "Coupons").

The issue route is the hottest path of a sale day: it takes only what it needs (the coupon id, the
caller, the service's dependencies), hands the request to `Reservations.request` (a Redis script and
an acknowledged Kafka publish), and its answer, a small model, is serialized once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from commerce_kit.api import ApiResponse, Text, path_id, problems
from commerce_kit.web import Caller
from coupon_service.bootstrap import Deps
from coupon_service.domain.errors import ReservationNotFound
from coupon_service.service_layer.reservations import Answer

router = APIRouter(prefix="/api/v1", tags=["first-come-first-served issue"])


class ReservationOut(ApiResponse):
    reservation_id: str
    status: str


class ReservationStatusOut(ReservationOut):
    coupon_id: int
    user_id: int
    reason: str | None
    user_coupon_id: int | None


_REPEAT: dict[int | str, dict[str, Any]] = {
    200: {"description": "A repeat: the user's first reservation", "model": ReservationOut}
}


@router.post(
    "/coupons/{couponId}/issue",
    status_code=202,
    response_model=ReservationOut,
    responses=_REPEAT | problems(401, 404, 409, 429, 503),
)
async def request_issue(
    coupon_id: Annotated[int, path_id("couponId")], caller: Caller, deps: Deps, response: Response
) -> ReservationOut:
    """Ask for a copy of the coupon: 202 with a reservation to follow at once (200 with the first one
    for a repeat); the reservation ends ISSUED or REJECTED. 409 COUPON_SOLD_OUT when the coupon is
    known to be gone, COUPON_NOT_ISSUABLE outside its issue window."""
    answer = await deps.reservations.request(caller.user_id, coupon_id, datetime.now(UTC))
    response.status_code = answer.status_code
    return ReservationOut(reservation_id=answer.reservation_id, status=answer.status.value)


@router.get(
    "/coupons/issue-requests/{reservationId}",
    response_model=ReservationStatusOut,
    responses=problems(401, 403, 404),
)
async def reservation_status(
    reservation_id: Annotated[Text, Path(alias="reservationId", max_length=100)],
    caller: Caller,
    deps: Deps,
) -> ReservationStatusOut:
    """Where a reservation stands: PENDING, then ISSUED (with the user coupon) or REJECTED (with why)."""
    if not caller.subject.isdigit():
        raise ReservationNotFound("No such reservation")
    return _out(await deps.reservations.status(reservation_id, caller.user_id))


def _out(a: Answer) -> ReservationStatusOut:
    return ReservationStatusOut(
        reservation_id=a.reservation_id,
        status=a.status.value,
        coupon_id=a.coupon_id,
        user_id=a.user_id,
        reason=a.reason.value if a.reason else None,
        user_coupon_id=a.user_coupon_id,
    )
