"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from commerce_kit.outages import Outages
from commerce_kit.runtime import Runtime
from commerce_kit.web import install_plain_routes, service_app
from coupon_service.adapters.gate import Gate
from coupon_service.domain.reservation import ReservationIds
from coupon_service.entrypoints import http, internal, issue
from coupon_service.entrypoints.consumers import coupon_issue_consumer
from coupon_service.service_layer.issuing import Issuing
from coupon_service.service_layer.policies import Policies
from coupon_service.service_layer.reservations import PolicyCache, Reservations
from coupon_service.service_layer.settlement import Settlement
from coupon_service.service_layer.user_coupons import UserCoupons
from coupon_service.settings import CouponSettings


def create_app(settings: CouponSettings | None = None) -> FastAPI:
    settings = settings or CouponSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Custom plans: settling looks reservations and holders up by arrays of ids in tables that
        # grow by thousands a second (commerce_kit.db.create_pool says why).
        async with Runtime(settings, redis=True, kafka=True, fast_publisher=True, custom_plans=True) as rt:
            app.state.pool = rt.pool
            app.state.policies = Policies(rt.pool)
            app.state.user_coupons = UserCoupons(rt.pool)
            app.state.issuing = Issuing(rt.pool)
            assert rt.redis is not None and rt.publisher is not None
            gate = Gate(rt.redis)
            settlement = Settlement(rt.pool, gate)
            app.state.settlement = settlement
            app.state.reservations = Reservations(
                rt.pool,
                gate,
                rt.publisher,
                ReservationIds(settings.reservation_key),
                PolicyCache(rt.pool, settings.policy_cache_seconds),
                settings.issue_rate_per_user,
            )
            # Periodic work whose next pass does what an outage kept this one from doing: a short
            # log line while Redis or PostgreSQL is away, not a stack trace every pass.
            marking, reconciling = Outages("mark-published"), Outages("reconcile-gate")
            rt.background.every("mark-published", 0.01, lambda: marking.skip_if_away(gate.flush_published))
            if settings.issue_consumer:
                app.state.issue_outages = Outages("coupon-issue")  # the consumer waits outages out
                rt.consume(coupon_issue_consumer(settlement, settings.issue_batch, app.state.issue_outages))
                rt.background.every(
                    "reconcile-gate",
                    settings.reconcile_seconds,
                    lambda: reconciling.skip_if_away(settlement.reconcile),
                )
            await rt.start()
            app.state.runtime = rt
            yield

    app = service_app(
        settings,
        title="Coupon service",
        description="Coupon policies, first-come-first-served issue, and the users' coupons.",
        lifespan=lifespan,
        routers=[issue.router, http.router, internal.router],
    )
    issue.install_fast_route(app)
    install_plain_routes(app, internal.router, internal.PLAIN_ROUTES)
    return app
