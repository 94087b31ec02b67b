"""The public API of the user service (API.md "Users and wallet")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field, StringConstraints

from commerce_kit.api import (
    ApiRequest,
    ApiResponse,
    Cursor,
    IdempotencyKey,
    Money,
    PageSize,
    Text,
    path_id,
    problems,
)
from commerce_kit.idempotency import validate_key
from commerce_kit.paging import Page
from commerce_kit.web import Admin, Caller, ProblemResponse
from user_service.bootstrap import Deps

router = APIRouter(prefix="/api/v1", tags=["users and wallet"])

UserId = Annotated[int, path_id("userId")]


class NewUser(ApiRequest):
    name: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class UserOut(ApiResponse):
    id: int
    name: str


class ChargeRequest(ApiRequest):
    amount: Money = Field(description="KRW to add: > 0 and at most the single-charge limit")


class BalanceOut(ApiResponse):
    user_id: int
    balance: int


class ChargeOut(BalanceOut):
    transaction_id: int


class TransactionOut(ApiResponse):
    id: int
    type: str
    amount: int
    balance_after: int
    order_id: int | None
    payment_id: int | None
    created_at: datetime


@router.post("/admin/users", status_code=201, response_model=UserOut, responses=problems(400, 401, 403))
async def create_user(body: NewUser, caller: Admin, deps: Deps) -> UserOut:
    user = await deps.wallets.register(body.name)
    return UserOut(id=user.id, name=user.name)


@router.get("/users/{userId}/balance", response_model=BalanceOut, responses=problems(401, 403, 404))
async def get_balance(user_id: UserId, caller: Caller, deps: Deps) -> BalanceOut:
    caller.require_owner(user_id, admin_may=True)
    return BalanceOut(user_id=user_id, balance=await deps.wallets.balance(user_id))


@router.post(
    "/users/{userId}/balance/charge",
    response_model=ChargeOut,
    responses=problems(400, 401, 403, 404, 409, 422),
)
async def charge(
    user_id: UserId,
    body: ChargeRequest,
    caller: Caller,
    deps: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add money to the wallet. With an `Idempotency-Key`, a retry replays the first answer."""
    caller.require_owner(user_id)
    answer = await deps.wallets.charge(user_id, body.amount, validate_key(idempotency_key))
    if answer.status_code >= 400:
        return ProblemResponse(answer.body, status_code=answer.status_code)
    return Response(ChargeOut.model_validate(answer.body).model_dump_json(), media_type="application/json")


@router.get(
    "/users/{userId}/transactions",
    response_model=Page[TransactionOut],
    responses=problems(400, 401, 403, 404),
)
async def transactions(
    user_id: UserId, caller: Caller, deps: Deps, size: PageSize = 20, cursor: Cursor = None
) -> Page[TransactionOut]:
    """The wallet's history, newest first."""
    caller.require_owner(user_id, admin_may=True)
    items, next_cursor = await deps.wallets.history(user_id, cursor, size)
    return Page[TransactionOut](
        items=[TransactionOut.model_validate(t, from_attributes=True) for t in items], nextCursor=next_cursor
    )
