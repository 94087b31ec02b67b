"""The payment saga as a state machine (SPEC.md section 5), free of any I/O.

Forward steps, in the seed's order: take the stock (catalog), take the balance (user), use the
coupon (coupon; skipped without one), mark the order paid (order). The driver persists the saga
before each step and records each outcome here. A refusal (not enough stock, balance short, coupon
gone, order no longer payable) turns the saga to compensation: every step that was *attempted* is
undone, newest first. Undoing is safe even for a step whose outcome never came back: each "give back"
returns exactly what that payment took, or leaves a tombstone so that a late take does nothing.

Marking the order paid is different: it is the point of no return. Its outcome is never guessed: it
is re-sent (idempotent on the payment id) until the order service answers, paid or refused.

The refund saga (a paid order cancelled) only gives back, so it cannot be refused: each step is
retried until done.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Step(StrEnum):
    TAKE_STOCK = "TAKE_STOCK"
    TAKE_BALANCE = "TAKE_BALANCE"
    USE_COUPON = "USE_COUPON"
    MARK_ORDER_PAID = "MARK_ORDER_PAID"
    # undo, and refund
    GIVE_BACK_STOCK = "GIVE_BACK_STOCK"
    GIVE_BACK_BALANCE = "GIVE_BACK_BALANCE"
    RESTORE_COUPON = "RESTORE_COUPON"
    MARK_ORDER_REFUNDED = "MARK_ORDER_REFUNDED"


class Status(StrEnum):
    PENDING = "PENDING"  # forward steps under way
    COMPENSATING = "COMPENSATING"  # refused: undoing
    COMPLETED = "COMPLETED"  # final: paid
    FAILED = "FAILED"  # final: refused and undone
    REFUNDING = "REFUNDING"  # a paid order is being refunded
    REFUNDED = "REFUNDED"  # final: refunded

    @property
    def final(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.REFUNDED)


FORWARD = (Step.TAKE_STOCK, Step.TAKE_BALANCE, Step.USE_COUPON, Step.MARK_ORDER_PAID)
UNDO = {
    Step.TAKE_STOCK: Step.GIVE_BACK_STOCK,
    Step.TAKE_BALANCE: Step.GIVE_BACK_BALANCE,
    Step.USE_COUPON: Step.RESTORE_COUPON,
}
REFUND = (Step.GIVE_BACK_STOCK, Step.GIVE_BACK_BALANCE, Step.RESTORE_COUPON, Step.MARK_ORDER_REFUNDED)

#: What a refused step answers the client (API.md codes).
REFUSAL_CODES = {
    Step.TAKE_STOCK: "INSUFFICIENT_STOCK",
    Step.TAKE_BALANCE: "INSUFFICIENT_BALANCE",
    Step.USE_COUPON: "COUPON_UNAVAILABLE",
    Step.MARK_ORDER_PAID: "INVALID_ORDER_STATE",
}


class SagaError(ValueError):
    """A transition the state machine does not allow (a bug, never a user's mistake)."""


@dataclass(frozen=True)
class Saga:
    status: Status
    has_coupon: bool
    done: tuple[Step, ...] = ()  # steps completed, in order
    attempted: Step | None = None  # the step sent last, whose outcome may not be known yet
    failure_code: str | None = None
    failure_detail: str | None = None

    @classmethod
    def start(cls, *, has_coupon: bool) -> Saga:
        return cls(Status.PENDING, has_coupon)

    # --- what to do next -----------------------------------------------------------------------------

    def next_step(self) -> Step | None:
        if self.status is Status.PENDING:
            return next((s for s in self._forward() if s not in self.done), None)
        if self.status is Status.COMPENSATING:
            return next((s for s in self._undo_plan() if s not in self.done), None)
        if self.status is Status.REFUNDING:
            return next((s for s in self._refund_plan() if s not in self.done), None)
        return None

    def _forward(self) -> tuple[Step, ...]:
        return tuple(s for s in FORWARD if self.has_coupon or s is not Step.USE_COUPON)

    def _undo_plan(self) -> tuple[Step, ...]:
        # Everything attempted, newest first: a step whose answer was lost may have happened.
        reached = [s for s in self._forward() if s in self.done or s == self.attempted]
        return tuple(UNDO[s] for s in reversed(reached) if s in UNDO)

    def _refund_plan(self) -> tuple[Step, ...]:
        return tuple(s for s in REFUND if self.has_coupon or s is not Step.RESTORE_COUPON)

    # --- recording outcomes --------------------------------------------------------------------------

    def attempting(self, step: Step) -> Saga:
        if step != self.next_step():
            raise SagaError(f"{step} is not the next step of {self}")
        return replace(self, attempted=step)

    def succeeded(self, step: Step) -> Saga:
        if step != self.next_step():
            raise SagaError(f"{step} is not the next step of {self}")
        saga = replace(self, done=(*self.done, step), attempted=None)
        if saga.next_step() is None:
            final = {
                Status.PENDING: Status.COMPLETED,
                Status.COMPENSATING: Status.FAILED,
                Status.REFUNDING: Status.REFUNDED,
            }[saga.status]
            return replace(saga, status=final)
        return saga

    def refused(self, step: Step, detail: str) -> Saga:
        """A forward step was definitely refused: nothing happened for it; undo what came before."""
        if self.status is not Status.PENDING or step != self.next_step():
            raise SagaError(f"{step} cannot be refused in {self}")
        saga = replace(
            self,
            status=Status.COMPENSATING,
            attempted=None,
            failure_code=REFUSAL_CODES[step],
            failure_detail=detail,
        )
        # Only the steps done before the refused one are undone (the refused one did nothing);
        # `done` is kept for the record and the undo steps are appended to it as they complete.
        return saga if saga.next_step() is not None else replace(saga, status=Status.FAILED)

    def refund(self) -> Saga:
        if self.status is Status.REFUNDING or self.status is Status.REFUNDED:
            return self
        if self.status is not Status.COMPLETED:
            raise SagaError(f"only a completed payment can be refunded, not {self.status}")
        return replace(self, status=Status.REFUNDING, done=(), attempted=None)
