"""Prometheus metrics (API.md "Operations"): HTTP timings here; each service adds its own
(issue requests, saga outcomes, outbox lag, consumer lag, deliveries) with the helpers below."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Messages not yet consumed, per topic and partition",
    ["group", "topic", "partition"],
)
CONSUMED = Counter("kafka_messages_consumed_total", "Messages handled", ["group", "topic", "outcome"])
OUTBOX_PENDING = Gauge("outbox_pending", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_SECONDS = Gauge(
    "outbox_oldest_pending_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka", ["service"])
OUTBOX_FAILURES = Counter(
    "outbox_publish_failures_total", "Failed attempts to publish outbox rows", ["service"]
)
OUTBOX_DEAD = Counter("outbox_dead_total", "Outbox rows given up after too many attempts", ["service"])


def exposition() -> bytes:
    return generate_latest(REGISTRY)


class HttpMetricsMiddleware:
    """Times every request by route template (not raw path, which would explode the label set)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service
        # The labelled children, kept: prometheus_client's `labels()` takes a lock and builds a
        # tuple on every call, a cost every request would pay.
        self._timers: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (scope["method"], template, status)
            timer = self._timers.get(key)
            if timer is None:
                timer = self._timers[key] = HTTP_REQUESTS.labels(self.service, key[0], template, str(status))
            timer.observe(time.perf_counter() - start)
