"""Use cases: pay an order (POST /payments), refund a payment (the order service's cancel of a paid
order), read a payment, and recover the sagas their drivers left behind."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg

from commerce_kit import idempotency
from commerce_kit.errors import (
    AppError,
    DependencyUnavailable,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
)
from commerce_kit.ratelimit import RateLimiter
from payment_service.adapters import repository as repo
from payment_service.adapters.repository import PaymentRecord
from payment_service.adapters.services import Services
from payment_service.domain.errors import InvalidOrderState, OrderNotFound, PaymentNotFound
from payment_service.domain.saga import Saga, Status, Step
from payment_service.service_layer.answers import PayAnswer, answer_for, replayed
from payment_service.service_layer.driver import SagaDriver
from payment_service.settings import PaymentSettings

log = logging.getLogger(__name__)


def first_step(*, has_coupon: bool) -> Step:
    step = Saga.start(has_coupon=has_coupon).next_step()
    assert step is not None, "a saga starts with a step"
    return step


class StillRunning(DependencyUnavailable):
    title = "The payment is still being processed"


class Payments:
    def __init__(
        self, pool: asyncpg.Pool, services: Services, settings: PaymentSettings, limiter: RateLimiter
    ) -> None:
        self.pool, self.services, self.settings = pool, services, settings
        self.limiter = limiter  # PAYMENT_RATE_PER_USER: a user's payment requests per second
        self.owner = f"payment-{uuid.uuid4().hex[:12]}"
        self.driver = SagaDriver(pool, services, owner=self.owner, lease_seconds=settings.lease_seconds)

    # --- POST /payments ------------------------------------------------------------------------------

    async def pay(self, user_id: int, order_id: int, key: str | None) -> PayAnswer:
        """Run the saga for the order and answer the payment or the 409 of the step that refused (a
        user beyond PAYMENT_RATE_PER_USER is refused first: 429). `key`: the Idempotency-Key as sent.
        A saga that cannot finish within the request's budget is left to the recovery worker (503; a
        retry with the same key gets IDEMPOTENCY_IN_PROGRESS until it is final, then its answer).

        The key is claimed in the transaction that starts the saga, never before: whatever cuts the
        request short (its process killed, its connection cut) leaves either nothing, and the retry
        starts afresh, or a saga that the recovery worker finishes and that completes the key."""
        await self.limiter.check(user_id)
        key = idempotency.validate_key(key)
        print_ = idempotency.fingerprint("pay", {"orderId": order_id})
        if key is not None:
            async with self.pool.acquire() as conn:
                stored = await idempotency.lookup(conn, user_id, key, print_)
            if stored is not None:
                return replayed(stored)
        try:
            started = await self._start(user_id, order_id, key, print_)
        except (DependencyUnavailable, IdempotencyInProgress, IdempotencyKeyReused):
            raise  # nothing happened (the same key may try again), or the key is another request's
        except AppError as refused:
            answer = idempotency.StoredAnswer(refused.status, refused.problem())
            if key is None:
                return answer
            async with self.pool.acquire() as conn:
                return replayed(await idempotency.remember(conn, user_id, key, print_, answer))
        if isinstance(started, idempotency.StoredAnswer):
            return replayed(started)
        payment = await self.driver.drive(started.id, self.settings.request_budget_seconds, started)
        if payment.saga.status.final:
            return answer_for(payment)
        raise StillRunning(
            f"Payment {payment.id} is still being processed; retry with the same Idempotency-Key"
            " or read it later",
            paymentId=payment.id,
        )

    async def _start(
        self, user_id: int, order_id: int, key: str | None, print_: bytes
    ) -> PaymentRecord | idempotency.StoredAnswer:
        """The new saga, attempting its first step; or, when a request with the same key started one
        meanwhile, its answer."""
        order = await self.services.load_order(order_id)
        if order is None:
            raise OrderNotFound(f"Order {order_id} does not exist")
        if order.user_id != user_id:
            raise Forbidden("Only the order's owner may pay it")
        if order.status != "PENDING_PAYMENT":
            raise InvalidOrderState(f"Order {order_id} is {order.status}, not PENDING_PAYMENT")
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                # A duplicate that got here first holds the key's row: this waits for its commit.
                stored = await idempotency.claim(conn, user_id, key, print_)
                if stored is not None:
                    return stored
            started = await repo.start(
                conn,
                order_id=order_id,
                user_id=user_id,
                amount=order.pay_amount,
                user_coupon_id=order.user_coupon_id,
                items=order.items,
                idem=(user_id, key) if key else None,
                lease_owner=self.owner,
                lease_seconds=self.settings.lease_seconds,
                attempting=first_step(has_coupon=order.user_coupon_id is not None),
            )
            if started is None:  # rolls the claim back: `pay` stores this answer for the key
                raise InvalidOrderState(f"Order {order_id} is already being paid or is paid")
        return started

    # --- reads ---------------------------------------------------------------------------------------

    async def get(self, payment_id: int) -> PaymentRecord:
        found = await repo.load(self.pool, payment_id)
        if found is None:
            raise PaymentNotFound(f"Payment {payment_id} does not exist")
        return found

    # --- refunds (internal: the order service's cancel of a paid order) -------------------------------

    async def refund(self, payment_id: int) -> PaymentRecord:
        """Give back everything a completed payment took and mark its order refunded (idempotent)."""
        payment = await self.get(payment_id)
        status = payment.saga.status
        if status is Status.REFUNDED:
            return payment
        if status not in (Status.COMPLETED, Status.REFUNDING):
            raise InvalidOrderState(f"Payment {payment_id} is {status}: only a completed payment is refunded")
        if not await repo.claim(self.pool, payment_id, self.owner, self.settings.lease_seconds):
            raise StillRunning(f"The refund of payment {payment_id} is under way")
        if status is Status.COMPLETED:
            async with self.pool.acquire() as conn:
                await repo.save(
                    conn,
                    payment_id,
                    payment.saga.refund(),
                    owner=self.owner,
                    lease_seconds=self.settings.lease_seconds,
                    step=None,
                    event="REFUND_REQUESTED",
                )
        payment = await self.driver.drive(payment_id, self.settings.request_budget_seconds)
        if payment.saga.status is not Status.REFUNDED:
            raise StillRunning(f"The refund of payment {payment_id} is under way")
        return payment

    # --- recovery ------------------------------------------------------------------------------------

    async def recover(self, batch: int = 50) -> int:
        """Resume or compensate the sagas no one is driving (their request ended, or its process died).
        Runs on every instance; the lease and SKIP LOCKED give each saga to one of them."""
        ids = await repo.claim_due(self.pool, self.owner, self.settings.lease_seconds, batch)
        if ids:
            results = await asyncio.gather(
                *(self.driver.drive(i, self.settings.lease_seconds / 2) for i in ids), return_exceptions=True
            )
            for payment_id, result in zip(ids, results, strict=True):
                if isinstance(result, BaseException):
                    log.error("recovery of payment %d failed: %r", payment_id, result)
                    await repo.release(self.pool, payment_id, self.owner, retry_in=1.0)
        return len(ids)
