"""The composition root: opens the coupon service's resources, builds its use cases on them, and hands
them, typed, to the routes (`Deps`) for as long as the app runs.

One package, two processes: the API (`COUPON_ISSUE_CONSUMER=false`) accepts issue requests, and the
`coupon-issuer` worker (`true`) settles them (CouponIssueConsumer) and reconciles the gate, so that
settling never takes CPU from the issue route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends

from commerce_kit.outages import Outages
from commerce_kit.runtime import Runtime
from commerce_kit.web import Started, provider
from coupon_service.adapters.gate import Gate
from coupon_service.domain.reservation import ReservationIds
from coupon_service.entrypoints.consumers import coupon_issue_consumer
from coupon_service.service_layer.policies import Policies
from coupon_service.service_layer.reservations import PolicyCache, Reservations
from coupon_service.service_layer.settlement import Settlement
from coupon_service.service_layer.user_coupons import UserCoupons
from coupon_service.settings import CouponSettings


@dataclass(frozen=True)
class CouponDeps:
    pool: asyncpg.Pool
    policies: Policies
    user_coupons: UserCoupons
    reservations: Reservations
    settlement: Settlement
    #: How CouponIssueConsumer waits out an outage of Redis or PostgreSQL (used where it runs).
    issue_outages: Outages


#: A route's parameter for the service's dependencies.
Deps = Annotated[CouponDeps, Depends(provider(CouponDeps))]


@asynccontextmanager
async def bootstrap(settings: CouponSettings) -> AsyncIterator[Started[CouponDeps]]:
    async with Runtime(settings) as rt:
        # Custom plans: settling looks reservations and holders up by arrays of ids in tables that
        # grow by thousands a second (commerce_kit.db.create_pool says why).
        pool = await rt.open_pool(custom_plans=True)
        redis = rt.open_redis()
        # Kafka: CouponIssueConsumer where it runs, and readiness checks the broker in both processes.
        broker = rt.open_broker()
        # The issue route publishes each request itself: it is durable before the 202.
        publisher = rt.open_publisher()
        gate = Gate(redis)
        settlement = Settlement(pool, gate)
        reservations = Reservations(
            pool,
            gate,
            publisher,
            ReservationIds(settings.reservation_key),
            PolicyCache(pool, settings.policy_cache_seconds),
            settings.issue_rate_per_user,
        )
        issue_outages = Outages("coupon-issue")
        # Periodic work whose next pass does what an outage kept this one from doing: a short log
        # line while Redis or PostgreSQL is away, not a stack trace every pass.
        marking, reconciling = Outages("mark-published"), Outages("reconcile-gate")
        rt.background.every("mark-published", 0.01, lambda: marking.skip_if_away(gate.flush_published))
        if settings.issue_consumer:
            rt.consume(broker, coupon_issue_consumer(settlement, settings.issue_batch, issue_outages))
            rt.background.every(
                "reconcile-gate",
                settings.reconcile_seconds,
                lambda: reconciling.skip_if_away(settlement.reconcile),
            )
        await rt.start()
        deps = CouponDeps(
            pool=pool,
            policies=Policies(pool),
            user_coupons=UserCoupons(pool),
            reservations=reservations,
            settlement=settlement,
            issue_outages=issue_outages,
        )
        yield Started(deps, rt.readiness())
