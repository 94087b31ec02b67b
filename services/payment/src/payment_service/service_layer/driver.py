"""Runs one saga, step by step: the state is persisted before each step ("attempting") and after each
outcome, under a lease so that one driver at a time runs a saga (the API request that started it, or
the recovery worker once that request's lease has lapsed).

A step whose service does not answer (down, too slow, 5xx) is not guessed at: the saga is handed back
to the recovery worker, which sends the same step again later (every step is idempotent on the payment
id). Only a definite refusal turns the saga to compensation (see domain/saga.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from prometheus_client import Counter, Histogram

from commerce_contracts.events.payments import PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit import idempotency, outbox
from commerce_kit.clients import RemoteError
from commerce_kit.errors import DependencyUnavailable
from payment_service.adapters import repository as repo
from payment_service.adapters.repository import PaymentRecord, Stamps
from payment_service.adapters.services import Outcome, Services
from payment_service.domain.saga import Saga, SagaError, Status, Step
from payment_service.service_layer.answers import answer_for, stored

log = logging.getLogger(__name__)

SAGA_OUTCOMES = Counter("payment_saga_outcomes_total", "Sagas that ended", ["status", "code"])
SAGA_SECONDS = Histogram(
    "payment_saga_duration_seconds",
    "From start to final state",
    ["status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STEP_RETRIES = Counter(
    "payment_saga_step_retries_total", "Steps handed to recovery for lack of an answer", ["step"]
)


class LeaseLost(Exception):
    pass


def backoff(retries: int) -> float:
    return min(30.0, 0.2 * 2 ** min(retries, 8))


class SagaDriver:
    def __init__(self, pool: asyncpg.Pool, services: Services, *, owner: str, lease_seconds: float) -> None:
        self.pool, self.services = pool, services
        self.owner, self.lease_seconds = owner, lease_seconds

    async def drive(
        self, payment_id: int, budget: float, record: PaymentRecord | None = None
    ) -> PaymentRecord:
        """Drive a saga whose lease this driver holds until it is final, the budget is spent, or a
        step gets no answer. Returns the payment as it then stands. `record`: the payment as its
        starter saved it (attempting its first step), so that it need not be read again.

        One write between two steps: a step's outcome is saved together with the next step's
        attempt (the state is still persisted before every step is sent), each write returning the
        payment as saved."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        just_started = record is not None
        if record is None:
            record = await repo.load(self.pool, payment_id)
            assert record is not None
        step = record.saga.next_step()
        if step is None:
            return record
        try:
            # A saga resumed (recovery, a refund) logs its attempt again, under this driver's lease.
            if not (just_started and record.saga.attempted is step):
                if loop.time() >= deadline:
                    await repo.release(self.pool, payment_id, self.owner, retry_in=0)
                    return record
                record = await self._attempt(record, step)
            while True:
                try:
                    outcome = await self._run(step, record)
                except (DependencyUnavailable, RemoteError) as exc:
                    # No answer (or an answer that makes no sense for an undo): the same step later.
                    STEP_RETRIES.labels(step.value).inc()
                    log.warning(
                        "payment %d: %s got no usable answer (%s); retried later", payment_id, step, exc
                    )
                    await repo.release(self.pool, payment_id, self.owner, retry_in=backoff(record.retries))
                    reloaded = await repo.load(self.pool, payment_id)
                    assert reloaded is not None  # a payment is never deleted
                    return reloaded
                record, step = await self._record(record, step, outcome, in_time=loop.time() < deadline)
                if step is None:
                    return record
        except LeaseLost:
            return record

    async def _attempt(self, record: PaymentRecord, step: Step) -> PaymentRecord:
        saved = await repo.save(
            self.pool,
            record.id,
            record.saga.attempting(step),
            owner=self.owner,
            lease_seconds=self.lease_seconds,
            step=step,
            event="ATTEMPT",
            stamps=Stamps(paid_at=_paid_at(record, step)),
        )
        if saved is None:
            raise LeaseLost
        return saved

    async def _run(self, step: Step, p: PaymentRecord) -> Outcome:
        s = self.services
        if step is Step.TAKE_STOCK:
            return await s.take_stock(p.id, p.items)
        if step is Step.TAKE_BALANCE:
            return await s.take_balance(p.id, p.user_id, p.amount, p.order_id)
        if step is Step.USE_COUPON:
            return await s.use_coupon(p.user_coupon_id or 0, p.id, p.user_id, p.order_id)
        if step is Step.MARK_ORDER_PAID:
            return await s.mark_order_paid(p.order_id, p.id, p.paid_at or datetime.now(UTC))
        if step is Step.GIVE_BACK_STOCK:
            return await s.give_back_stock(p.id)
        if step is Step.GIVE_BACK_BALANCE:
            return await s.give_back_balance(p.id, p.user_id)
        if step is Step.RESTORE_COUPON:
            return await s.restore_coupon(p.user_coupon_id or 0, p.id)
        if step is Step.MARK_ORDER_REFUNDED:
            return await s.mark_order_refunded(p.order_id, p.id)
        raise AssertionError(step)

    async def _record(
        self, record: PaymentRecord, step: Step, outcome: Outcome, *, in_time: bool
    ) -> tuple[PaymentRecord, Step | None]:
        """Save the step's outcome, and with it the attempt of the next step when there is one and
        the budget allows; returns the payment as saved and the step to run next (None: stop here,
        the saga final or handed back to the recovery worker)."""
        saga: Saga = record.saga.succeeded(step) if outcome.ok else record.saga.refused(step, outcome.detail)
        stamps = Stamps(
            balance_after=outcome.balance_after,
            refunded_at=datetime.now(UTC) if saga.status is Status.REFUNDED else None,
        )

        async def save(
            conn: asyncpg.Connection | asyncpg.Pool, saga: Saga, stamps: Stamps, then: Step | None = None
        ) -> PaymentRecord | None:
            return await repo.save(
                conn,
                record.id,
                saga,
                owner=self.owner,
                lease_seconds=self.lease_seconds,
                step=step,
                event="DONE" if outcome.ok else "REFUSED",
                detail=outcome.detail or None,
                stamps=stamps,
                then=(then, "ATTEMPT") if then is not None else None,
            )

        if saga.status.final:  # the final state, its event and its stored answer: together or not at all
            async with self.pool.acquire() as conn, conn.transaction():
                saved = await save(conn, saga, stamps)
                if saved is not None:
                    await self._finish(conn, saved)
            if saved is None:
                raise LeaseLost
            return saved, None
        after = saga.next_step()
        if after is not None and in_time:
            stamps = replace(stamps, paid_at=_paid_at(record, after))
            saved = await save(self.pool, saga.attempting(after), stamps, then=after)
        else:
            saved = await save(self.pool, saga, stamps)
        if saved is None:
            raise LeaseLost
        if after is not None and not in_time:  # the budget is spent: the recovery worker goes on
            await repo.release(self.pool, record.id, self.owner, retry_in=0)
            return saved, None
        return saved, after

    async def _finish(self, conn: asyncpg.Connection, p: PaymentRecord) -> None:
        """In the transaction that makes the saga final: its event, and the stored answer for the
        Idempotency-Key that started it."""
        status = p.saga.status
        if status is Status.COMPLETED:
            await outbox.add(conn, PAYMENT_COMPLETED, completed(p))
        elif status is Status.REFUNDED:
            await outbox.add(conn, PAYMENT_REFUNDED, refunded(p))
        if (
            status in (Status.COMPLETED, Status.FAILED)
            and p.idem_key is not None
            and p.idem_user_id is not None
        ):
            await idempotency.complete(conn, p.idem_user_id, p.idem_key, stored(answer_for(p)))
        SAGA_OUTCOMES.labels(status.value, p.saga.failure_code or "").inc()
        SAGA_SECONDS.labels(status.value).observe((datetime.now(UTC) - p.created_at).total_seconds())


def completed(p: PaymentRecord) -> PaymentCompleted:
    """The event of a completed payment: its lines are the saga's own `PaidLine`s, as stored."""
    return PaymentCompleted(
        payment_id=p.id,
        order_id=p.order_id,
        user_id=p.user_id,
        amount=p.amount,
        items=p.items,
        user_coupon_id=p.user_coupon_id,
        balance_after=p.balance_after,
        paid_at=_stamp(p, p.paid_at, "paid_at"),
    )


def refunded(p: PaymentRecord) -> PaymentRefunded:
    """The event of a refunded payment, with the same lines."""
    return PaymentRefunded(
        payment_id=p.id,
        order_id=p.order_id,
        user_id=p.user_id,
        amount=p.amount,
        items=p.items,
        paid_at=_stamp(p, p.paid_at, "paid_at"),
        refunded_at=_stamp(p, p.refunded_at, "refunded_at"),
    )


def _stamp(p: PaymentRecord, at: datetime | None, name: str) -> datetime:
    """A stamp the saga set on its way to this final state (the driver sets it before the state)."""
    if at is None:
        raise SagaError(f"payment {p.id} is {p.saga.status} without its {name}")
    return at


def _paid_at(record: PaymentRecord, step: Step) -> datetime | None:
    """The instant a payment is paid at, fixed when marking its order paid is first attempted: the
    order and PaymentCompleted carry the same one, however often the step is sent."""
    if step is Step.MARK_ORDER_PAID and record.paid_at is None:
        return datetime.now(UTC)
    return None
