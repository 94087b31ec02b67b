"""CouponIssueConsumer's use case: settle a batch of reservations in partition order (SPEC.md
section 3, the seed's flow, many requests per round trip):

1. reservations already settled (a redelivery) are skipped, and whatever units they still hold at
   the gate are given back or released (idempotent);
2. the fast gate (Redis) takes a unit per reservation that may win (the first of each user who does
   not hold a copy yet), in order, in one script; a missing counter is rebuilt from PostgreSQL and
   the take retried;
3. one PostgreSQL transaction, under the coupon's row lock: who holds it already, who gets a copy
   (`domain.reservation.decide`), the copies inserted, `remaining` decremented (never below 0), and
   every outcome recorded;
4. units taken at the gate by reservations that got no copy go back to the gate (idempotent per
   reservation), and the units that became copies are released from the gate's "taken" set, in
   one script.

A crash anywhere leaves the batch unacknowledged: it is read again and the steps above make the
second pass do exactly what the first one did not.
"""

from __future__ import annotations

import collections
import logging
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
from prometheus_client import Counter

from commerce_contracts.events.coupon_issue import CouponIssueRequested
from coupon_service.adapters import issue_requests as sql
from coupon_service.adapters.gate import Gate
from coupon_service.adapters.issue_requests import Settled
from coupon_service.domain.reservation import Decision, Reason, Request, Status, decide
from coupon_service.domain.user_coupon import UserCoupon

log = logging.getLogger(__name__)

SETTLED = Counter("coupon_issue_settled_total", "Reservations settled", ["status", "reason"])
GATE_REBUILT = Counter("coupon_gate_rebuilt_total", "Stock counters rebuilt from PostgreSQL")
GATE_CORRECTED = Counter("coupon_gate_corrected_total", "Stock counters found wrong and corrected")


class Settlement:
    def __init__(self, pool: asyncpg.Pool, gate: Gate) -> None:
        self.pool, self.gate = pool, gate

    async def settle(self, events: list[CouponIssueRequested]) -> None:
        by_coupon: dict[int, list[CouponIssueRequested]] = defaultdict(list)
        for event in events:  # partition order is kept within each coupon
            by_coupon[event.coupon_id].append(event)
        for coupon_id, requests in by_coupon.items():
            await self._settle_coupon(coupon_id, requests)

    async def _settle_coupon(self, coupon_id: int, events: list[CouponIssueRequested]) -> None:
        done = await sql.settled(self.pool, [e.reservation_id for e in events])
        if done:
            await self._release(coupon_id, list(done.values()))
        fresh = [e for e in events if e.reservation_id not in done]
        if not fresh:
            return
        candidates = await self._candidates(coupon_id, fresh)
        took = await self._take(coupon_id, candidates) if candidates else []
        if took is None:  # the coupon does not exist: nothing to take
            outcomes = [
                Settled(
                    e.reservation_id, coupon_id, e.user_id, Status.REJECTED, Reason.COUPON_NOT_FOUND, None
                )
                for e in fresh
            ]
            async with self.pool.acquire() as conn:
                await sql.record(conn, outcomes, {e.reservation_id: e.requested_at for e in fresh})
            self._count(outcomes)
            return
        units = dict(zip(candidates, took, strict=True))
        requests = [Request(e.reservation_id, e.user_id, units.get(e.reservation_id, False)) for e in fresh]
        outcomes, give_back = await self._issue(
            coupon_id, requests, {e.reservation_id: e.requested_at for e in fresh}
        )
        # The others took no unit in this pass, but one may hold a unit from an earlier pass (a
        # redelivery, its user a holder since): it goes back (a no-op for a reservation holding none).
        give_back += [e.reservation_id for e in fresh if e.reservation_id not in units]
        await self.gate.finish(
            coupon_id, give_back, [o.reservation_id for o in outcomes if o.status is Status.ISSUED]
        )
        self._count(outcomes)

    async def _candidates(self, coupon_id: int, fresh: list[CouponIssueRequested]) -> list[str]:
        """The requests that may win a copy, in order: the first of each user who does not hold one.
        Only they take a unit at the gate. A unit taken by a request that cannot win (a second
        reservation of a user, made after Redis forgot the first) goes back only once the batch is
        settled: within the batch, the first-timer after it would find the gate empty while the
        database still had that copy, and a later request would get it."""
        held = await sql.holders(self.pool, coupon_id, sorted({e.user_id for e in fresh}))
        seen, candidates = set(held), []
        for e in fresh:
            if e.user_id not in seen:
                seen.add(e.user_id)
                candidates.append(e.reservation_id)
        return candidates

    async def _take(self, coupon_id: int, reservation_ids: list[str]) -> list[bool] | None:
        took = await self.gate.take(coupon_id, reservation_ids)
        if took is not None:
            return took
        remaining = await sql.remaining(self.pool, coupon_id)
        if remaining is None:
            return None
        # Only this partition's consumer takes units of this coupon, and it has no batch in flight:
        # the database's remaining copies are exactly what the gate may let through.
        await self.gate.rebuild(coupon_id, remaining)
        GATE_REBUILT.inc()
        log.warning("coupon %d: gate counter was missing; rebuilt at %d", coupon_id, remaining)
        took = await self.gate.take(coupon_id, reservation_ids)
        if took is None:
            raise RuntimeError(f"coupon {coupon_id}: gate counter missing again right after its rebuild")
        return took

    async def _issue(
        self, coupon_id: int, requests: list[Request], requested_at: dict[str, datetime]
    ) -> tuple[list[Settled], list[str]]:
        """Decide and record the batch in one transaction; returns the outcomes and the reservations
        whose units go back. The outcomes are inserted as new ones (none was recorded when the batch
        began). Should another consumer have recorded some meanwhile (it held the partition a moment
        ago), the transaction is done again, deciding under the lock with its copies in view and
        keeping its outcomes: the units this pass took for its winners then go back, as they
        would have had the race been seen in time."""
        try:
            return await self._issue_once(coupon_id, requests, requested_at, fresh=True)
        except asyncpg.UniqueViolationError:
            log.warning(
                "coupon %d: outcomes recorded by another consumer meanwhile; deciding again", coupon_id
            )
            return await self._issue_once(coupon_id, requests, requested_at, fresh=False)

    async def _issue_once(
        self, coupon_id: int, requests: list[Request], requested_at: dict[str, datetime], *, fresh: bool
    ) -> tuple[list[Settled], list[str]]:
        now = datetime.now(UTC)
        held: dict[int, int] = {}
        copies: dict[int, int] = {}
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await sql.lock_coupon(conn, coupon_id)
            if locked is None:
                decisions = [
                    Decision(r.reservation_id, r.user_id, False, Reason.COUPON_NOT_FOUND, r.took_unit)
                    for r in requests
                ]
            else:
                policy, remaining = locked
                held = await sql.holders(conn, coupon_id, sorted({r.user_id for r in requests}))
                decisions = decide(requests, set(held), remaining)
                winners = [UserCoupon.issue(policy, coupon_id, d.user_id, now) for d in decisions if d.issued]
                copies = await sql.issue_copies(conn, coupon_id, winners)
            outcomes = [
                Settled(
                    d.reservation_id,
                    coupon_id,
                    d.user_id,
                    Status.ISSUED if d.issued else Status.REJECTED,
                    d.reason,
                    # the new copy, or the copy an ALREADY_ISSUED user holds (from before or this batch)
                    copies.get(d.user_id) or held.get(d.user_id)
                    if d.reason in (None, Reason.ALREADY_ISSUED)
                    else None,
                )
                for d in decisions
            ]
            # `decide` decided each reservation once (the same one may come twice in a batch).
            await sql.record(conn, outcomes, requested_at, fresh=fresh and locked is not None)
        return outcomes, [d.reservation_id for d in decisions if d.gives_back_unit]

    async def _release(self, coupon_id: int, done: list[Settled]) -> None:
        """Units still at the gate for reservations settled earlier (a crash after the commit)."""
        await self.gate.finish(
            coupon_id,
            [s.reservation_id for s in done if s.status is Status.REJECTED],
            [s.reservation_id for s in done if s.status is Status.ISSUED],
        )

    @staticmethod
    def _count(outcomes: list[Settled]) -> None:
        # One `labels()` per kind of outcome, not per outcome: it takes a lock and builds a key on
        # every call, thousands of times a second in a flood.
        kinds = collections.Counter((o.status.value, o.reason.value if o.reason else "") for o in outcomes)
        for (status, reason), n in kinds.items():
            SETTLED.labels(status, reason).inc(n)

    # --- the dead-letter hook and the safety net -----------------------------------------------------

    async def reject_unprocessable(self, event: CouponIssueRequested | None, reason: str) -> None:
        """A request that could not be settled after its retries: it ends REJECTED, and the unit it
        may hold at the gate goes back."""
        if event is None:
            return  # undecodable: no reservation to speak of (the dead-letter topic has the bytes)
        outcome = Settled(
            event.reservation_id, event.coupon_id, event.user_id, Status.REJECTED, Reason.UNPROCESSABLE, None
        )
        async with self.pool.acquire() as conn:
            await sql.record(conn, [outcome], {event.reservation_id: event.requested_at})
            await sql.stamp_settled(conn, event.coupon_id)
        await self.gate.give_back(event.coupon_id, [event.reservation_id])
        self._count([outcome])

    async def reconcile(self) -> int:
        """For coupons settled lately: when no unit is outstanding at the gate, its counter must equal
        the database's remaining copies (a stale counter could show a coupon sold out that is not);
        a counter Redis lost is put back, so that the API knows "sold out" again without waiting for
        the next request to be settled. Returns how many counters were corrected or restored."""
        corrected = 0
        for coupon_id, remaining in await sql.active_coupons(self.pool, since_seconds=600):
            if await self.gate.counter(coupon_id) is None:
                await self.gate.rebuild(coupon_id, remaining)
                GATE_REBUILT.inc()
                corrected += 1
                continue  # checked against the database on the next pass
            while True:
                fixed = await self.gate.reconcile(coupon_id, remaining)
                # A batch that committed between the read and the script would have made `remaining`
                # stale (its units left the gate's "taken" set after the commit): read and redo.
                now = await sql.remaining(self.pool, coupon_id)
                if now == remaining or now is None:
                    break
                remaining = now
            if fixed == 1:
                corrected += 1
                GATE_CORRECTED.inc()
                log.warning("coupon %d: gate counter corrected to %d", coupon_id, remaining)
        return corrected
