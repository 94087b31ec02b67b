"""The API side of first-come-first-served issue (SPEC.md section 3): accept a request cheaply and
answer 202 with its reservation at once; read a reservation's status.

Accepting costs one Redis script (dedupe per user, its rate limit, and "sold out" when the gate knows
it) and one Kafka publish acknowledged by the broker (the request is durable before the answer); the
mark that it was published is written to Redis in batches. The coupon's policy comes from a short
in-process cache.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from prometheus_client import Counter
from redis.exceptions import RedisError

from commerce_contracts.events.coupon_issue import encode_issue_requested
from commerce_contracts.registry import COUPON_ISSUE
from commerce_kit.errors import DependencyUnavailable, Forbidden, RateLimited
from commerce_kit.messaging import FastPublisher
from coupon_service.adapters import issue_requests as sql
from coupon_service.adapters import repository as repo
from coupon_service.adapters.gate import Gate
from coupon_service.adapters.reserve_batcher import ReserveBatcher
from coupon_service.domain.errors import CouponNotFound, CouponNotIssuable, CouponSoldOut, ReservationNotFound
from coupon_service.domain.policy import CouponPolicy
from coupon_service.domain.reservation import Reason, ReservationIds, Status

ACCEPTED = Counter("coupon_issue_requests_total", "Issue requests answered by the API", ["outcome"])
# Each outcome's child, looked up once (`labels()` takes a lock and builds a key on every call).
_OUTCOMES = ("accepted", "repeat", "sold_out", "rate_limited", "not_found", "not_issuable", "unavailable")
COUNTED = {outcome: ACCEPTED.labels(outcome) for outcome in _OUTCOMES}


@dataclass(frozen=True)
class Answer:
    status_code: int
    reservation_id: str
    status: Status
    reason: Reason | None = None
    user_coupon_id: int | None = None
    coupon_id: int = 0
    user_id: int = 0


class PolicyCache:
    """Policies by coupon id for a few seconds (a flood asks for the same one thousands of times a
    second); unknown ids are remembered briefly too. Bounded. When an entry is missing or stale,
    one load serves every request that asks meanwhile: without it, each request in flight at that
    moment (hundreds, in a flood) queried PostgreSQL for the same row."""

    def __init__(self, pool: asyncpg.Pool, seconds: float, size: int = 10_000) -> None:
        self.pool, self.seconds, self.size = pool, seconds, size
        self._entries: OrderedDict[int, tuple[float, CouponPolicy | None]] = OrderedDict()
        self._loading: dict[int, asyncio.Future[CouponPolicy | None]] = {}

    async def get(self, coupon_id: int) -> CouponPolicy | None:
        hit = self._entries.get(coupon_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        loading = self._loading.get(coupon_id)
        if loading is None:
            loading = self._loading[coupon_id] = asyncio.ensure_future(self._load(coupon_id))
            loading.add_done_callback(lambda _: self._loading.pop(coupon_id, None))
        # Shielded: a request that gives up must not cancel the load the others wait for.
        return await asyncio.shield(loading)

    async def _load(self, coupon_id: int) -> CouponPolicy | None:
        async with self.pool.acquire() as conn:
            row = await repo.coupon(conn, coupon_id)
        policy = None if row is None else repo.policy_of(row)
        expires = time.monotonic() + (self.seconds if policy else min(1.0, self.seconds))
        self._entries[coupon_id] = (expires, policy)
        self._entries.move_to_end(coupon_id)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return policy


class Reservations:
    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: Gate,
        publisher: FastPublisher,
        ids: ReservationIds,
        policies: PolicyCache,
        rate_per_user: int = 5,
    ) -> None:
        self.pool, self.gate, self.publisher = pool, gate, publisher
        self.batcher = ReserveBatcher(gate)
        self.ids, self.policies = ids, policies
        self.rate_per_user = rate_per_user

    async def request(self, user_id: int, coupon_id: int, now: datetime) -> Answer:
        policy = await self.policies.get(coupon_id)
        if policy is None:
            COUNTED["not_found"].inc()
            raise CouponNotFound(f"Coupon {coupon_id} does not exist")
        if not policy.window_open_at(now):
            COUNTED["not_issuable"].inc()
            raise CouponNotIssuable(f"Coupon {coupon_id} is not being issued now")
        reservation_id = self.ids.new(coupon_id, user_id)
        try:
            reserved = await self.batcher.reserve(
                coupon_id, user_id, reservation_id, per_second=self.rate_per_user
            )
        except (RedisError, OSError) as exc:  # the gate is away: nothing was reserved, try again later
            COUNTED["unavailable"].inc()
            raise DependencyUnavailable("The coupon gate is unavailable; try again") from exc
        if reserved.rate_limited:
            COUNTED["rate_limited"].inc()
            raise RateLimited(f"At most {self.rate_per_user} issue requests per second per user")
        if reserved.sold_out:
            COUNTED["sold_out"].inc()
            raise CouponSoldOut(f"Coupon {coupon_id} is sold out")
        if not reserved.new:
            COUNTED["repeat"].inc()
            return await self._repeat(coupon_id, user_id, reserved.existing_id or "", reserved.published, now)
        await self._publish(coupon_id, user_id, reservation_id, now, forget_on_failure=True)
        COUNTED["accepted"].inc()
        return Answer(202, reservation_id, Status.PENDING)

    async def _repeat(
        self, coupon_id: int, user_id: int, reservation_id: str, published: bool, now: datetime
    ) -> Answer:
        """The user's first reservation. One never marked published (its request died between the
        gate and Kafka) is published now, under the same id: settling is idempotent per id."""
        found = (await sql.settled(self.pool, [reservation_id])).get(reservation_id)
        if found is not None:
            return Answer(200, reservation_id, found.status, found.reason, found.user_coupon_id)
        if not published:
            await self._publish(coupon_id, user_id, reservation_id, now, forget_on_failure=False)
        return Answer(200, reservation_id, Status.PENDING)

    async def _publish(
        self, coupon_id: int, user_id: int, reservation_id: str, now: datetime, *, forget_on_failure: bool
    ) -> None:
        # A CouponIssueRequested keyed by its coupon, encoded without building the model (the
        # hottest path: see `encode_issue_requested`).
        event = encode_issue_requested(
            reservation_id=reservation_id, user_id=user_id, coupon_id=coupon_id, requested_at=now
        )
        try:
            await self.publisher.publish_encoded(COUPON_ISSUE, str(coupon_id).encode(), event)
        except Exception as exc:
            if forget_on_failure:
                await self.gate.forget(coupon_id, user_id)
            COUNTED["unavailable"].inc()
            raise DependencyUnavailable("The request could not be queued; try again") from exc
        self.gate.published(coupon_id, user_id, reservation_id)

    async def status(self, reservation_id: str, caller_user_id: int) -> Answer:
        ref = self.ids.read(reservation_id)
        if ref is None:
            raise ReservationNotFound("No such reservation")
        if caller_user_id != ref.user_id:
            raise Forbidden("Only the user who made the reservation may read it")
        found = (await sql.settled(self.pool, [reservation_id])).get(reservation_id)
        if found is None:
            return Answer(200, reservation_id, Status.PENDING, coupon_id=ref.coupon_id, user_id=ref.user_id)
        return Answer(
            200, reservation_id, found.status, found.reason, found.user_coupon_id, ref.coupon_id, ref.user_id
        )
