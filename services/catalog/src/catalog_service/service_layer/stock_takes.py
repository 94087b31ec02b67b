"""Use cases of the internal API: what the order service and the payment saga ask of the catalog.
None reads through the cache. Each saga step is idempotent on the payment id: its outcome is
recorded in stock_takes in the same transaction as the stock it changes, and a retry answers that
record instead of acting again."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter

from catalog_service.adapters import repository as repo
from catalog_service.domain.errors import PaymentMismatch
from catalog_service.domain.stock import (
    Line,
    StockChange,
    TakeStatus,
    give_back_all,
    in_stock_deltas,
    merge_lines,
    take_all,
)
from commerce_contracts.events.stock import StockGivenBack, StockTaken
from commerce_contracts.registry import STOCK_EVENTS
from commerce_kit import outbox

OUTCOMES = Counter("catalog_stock_takes_total", "Stock takes and give-backs, by outcome", ["step", "status"])

#: Products.forget: drop the cached pages of products whose stock changed.
Forget = Callable[..., None]


@dataclass(frozen=True)
class OptionInfo:
    option_id: int
    product_id: int
    product_name: str
    option_name: str
    price: int
    stock: int


@dataclass(frozen=True)
class TakenLine:
    option_id: int
    product_id: int
    quantity: int
    stock_after: int


@dataclass(frozen=True)
class StockTake:
    """The outcome of one payment's stock take, the same on every retry."""

    payment_id: int
    status: TakeStatus
    lines: tuple[TakenLine, ...] = ()
    short_option_ids: tuple[int, ...] = ()


class StockTakes:
    def __init__(self, pool: asyncpg.Pool, forget: Forget) -> None:
        self.pool, self.forget = pool, forget

    async def lookup(self, option_ids: Sequence[int]) -> list[OptionInfo]:
        """The options that exist among `option_ids`, as the database has them now."""
        async with self.pool.acquire() as conn:
            return [OptionInfo(**dict(r)) for r in await repo.lookup_options(conn, option_ids)]

    async def take(self, payment_id: int, lines: Iterable[tuple[int, int]]) -> StockTake:
        """Take every line's quantity for this payment, or nothing (REFUSED) when an option is short.
        404 OPTION_NOT_FOUND (and nothing recorded) when an option does not exist."""
        wanted = merge_lines(lines)
        async with self.pool.acquire() as conn, conn.transaction():
            # The payment's row first: a concurrent retry or give-back of this payment waits here
            # (holding no option), then finds the recorded outcome.
            if not await repo.claim_take(conn, payment_id):
                return await self._replayed(conn, await repo.take_record(conn, payment_id, lock=True), wanted)
            options = await repo.option_stocks(conn, [line.option_id for line in wanted], lock=True)
            decision = take_all(options, wanted)  # OPTION_NOT_FOUND rolls the claim back too
            if decision.status is TakeStatus.TAKEN:
                afters = [c.after.stock for c in decision.changes]
            else:
                afters = [o.stock for o in decision.found]
            recorded = [
                (line, o.product_id, after)
                for line, o, after in zip(wanted, decision.found, afters, strict=True)
            ]
            await repo.settle_take(conn, payment_id, decision.status, decision.short_option_ids, recorded)
            if decision.status is TakeStatus.TAKEN:
                await self._apply(conn, decision.changes)
                await outbox.add_many(
                    conn,
                    STOCK_EVENTS,
                    [
                        StockTaken(
                            product_id=c.after.product_id,
                            option_id=c.after.option_id,
                            stock_after=c.after.stock,
                            payment_id=payment_id,
                            quantity=c.quantity,
                        )
                        for c in decision.changes
                    ],
                )
        if decision.status is TakeStatus.TAKEN:
            self._forget(decision.changes)
        OUTCOMES.labels("take", decision.status.value).inc()
        return StockTake(
            payment_id,
            decision.status,
            tuple(TakenLine(line.option_id, p, line.quantity, after) for line, p, after in recorded),
            decision.short_option_ids,
        )

    async def give_back(self, payment_id: int) -> StockTake:
        """Return what this payment took, once. A give-back before any take leaves a VOIDED
        tombstone (so the late take does nothing); a REFUSED take had nothing to return."""
        async with self.pool.acquire() as conn, conn.transaction():
            record = await repo.take_record(conn, payment_id, lock=True)
            if record is None and await repo.void_take(conn, payment_id):
                OUTCOMES.labels("give-back", TakeStatus.VOIDED.value).inc()
                return StockTake(payment_id, TakeStatus.VOIDED)
            record = record or await repo.take_record(conn, payment_id, lock=True)
            assert record is not None  # the tombstone's insert met a conflict: a take row exists
            if TakeStatus(record["status"]) is not TakeStatus.TAKEN:
                return await self._outcome(conn, record)
            lines = await repo.take_lines(conn, payment_id)
            options = await repo.option_stocks(conn, [r["option_id"] for r in lines], lock=True)
            changes = give_back_all(options, tuple(Line(r["option_id"], r["quantity"]) for r in lines))
            await self._apply(conn, changes)
            await repo.mark_given_back(conn, payment_id, changes)
            await outbox.add_many(
                conn,
                STOCK_EVENTS,
                [
                    StockGivenBack(
                        product_id=c.after.product_id,
                        option_id=c.after.option_id,
                        stock_after=c.after.stock,
                        payment_id=payment_id,
                        quantity=c.quantity,
                    )
                    for c in changes
                ],
            )
        self._forget(changes)
        OUTCOMES.labels("give-back", TakeStatus.GIVEN_BACK.value).inc()
        return StockTake(
            payment_id,
            TakeStatus.GIVEN_BACK,
            tuple(
                TakenLine(c.after.option_id, c.after.product_id, c.quantity, c.after.stock) for c in changes
            ),
        )

    async def outcome(self, payment_id: int) -> StockTake | None:
        """The saga asks what became of a take whose answer it did not get."""
        async with self.pool.acquire() as conn:
            record = await repo.take_record(conn, payment_id)
            return None if record is None else await self._outcome(conn, record)

    # ---------------------------------------------------------------------------------------------

    @staticmethod
    async def _apply(conn: asyncpg.Connection, changes: Sequence[StockChange]) -> None:
        # Options are locked already; the products whose in-stock count moves are locked now, after
        # every option and in id order.
        await repo.save_stocks(conn, changes)
        await repo.shift_in_stock(conn, in_stock_deltas(changes))

    def _forget(self, changes: Sequence[StockChange]) -> None:
        self.forget({c.after.product_id for c in changes}, lists=any(c.crossing for c in changes))

    async def _replayed(
        self, conn: asyncpg.Connection, record: asyncpg.Record, wanted: tuple[Line, ...]
    ) -> StockTake:
        outcome = await self._outcome(conn, record)
        if outcome.status is not TakeStatus.VOIDED:
            recorded = tuple(Line(line.option_id, line.quantity) for line in outcome.lines)
            if recorded != wanted:
                raise PaymentMismatch(f"Payment {outcome.payment_id} took stock with other lines")
        return outcome

    @staticmethod
    async def _outcome(conn: asyncpg.Connection, record: asyncpg.Record) -> StockTake:
        status = TakeStatus(record["status"])
        rows = await repo.take_lines(conn, record["payment_id"])
        given_back = status is TakeStatus.GIVEN_BACK
        return StockTake(
            record["payment_id"],
            status,
            tuple(
                TakenLine(
                    r["option_id"],
                    r["product_id"],
                    r["quantity"],
                    r["returned_after"] if given_back else r["stock_after"],
                )
                for r in rows
            ),
            tuple(record["short_option_ids"]),
        )
