"""ExternalDataConsumer: every completed payment goes to the external data platform
(`DATA_PLATFORM_URL`), in its own consumer group so that a slow or dead platform never slows
payments or the other consumers of `payment-completed`.

Delivery is at least once: timeouts, retries with backoff for minutes (the platform is down at times),
the event id in an `Idempotency-Key` header so that the platform can drop repeats, and a dead-letter
topic when it keeps failing or refuses a payment outright (a 4xx other than 408/429 will not get
better by retrying). A delivery the platform acknowledged is remembered in the inbox, so a redelivered
event is not sent again. Events come in batches (one inbox read, one write and one offset commit per
batch, the deliveries side by side).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import asyncpg
import orjson
from prometheus_client import Counter

from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit import inbox
from commerce_kit.clients import JSON, NO_ANSWER
from commerce_kit.messaging import BatchConsumer, Permanent, Retry

log = logging.getLogger(__name__)

GROUP = "payment.data-platform"
DELIVERIES = Counter("data_platform_deliveries_total", "Payments the data platform acknowledged")
FAILURES = Counter("data_platform_failures_total", "Failed deliveries to the data platform", ["reason"])


def platform_payload(event: PaymentCompleted) -> dict[str, object]:
    """The data platform's format (SPEC.md section 5)."""
    return {
        "eventId": str(event.event_id),
        "paymentId": event.payment_id,
        "orderId": event.order_id,
        "userId": event.user_id,
        "amount": event.amount,
        "items": [
            {
                "productId": i.product_id,
                "optionId": i.option_id,
                "quantity": i.quantity,
                "unitPrice": i.unit_price,
            }
            for i in event.items
        ],
        "paidAt": event.paid_at.isoformat(),
    }


class PlatformUnavailable(Exception):
    """The data platform did not take a delivery this time. Not one of our own outages (those are
    waited out without limit): the external platform gets the consumer's bounded retries, then the
    dead-letter topic, from where an operator replays it."""


class DataPlatformDelivery:
    """Delivers a batch of completed payments: each not delivered before goes to the platform, side
    by side; those it acknowledged are remembered in one statement whatever became of the others,
    so a retry of the batch sends only what is left. A refusal makes the batch permanent: the kit
    then retries its events one at a time, and only the refused one is dead-lettered."""

    def __init__(self, pool: asyncpg.Pool, http: aiohttp.ClientSession, url: str) -> None:
        self.pool, self.http, self.url = pool, http, url

    async def __call__(self, events: list[PaymentCompleted]) -> None:
        unique = {event.event_id: event for event in events}
        done = await inbox.handled(self.pool, GROUP, unique.keys())
        pending = [event for event_id, event in unique.items() if event_id not in done]
        outcomes = await asyncio.gather(*(self._deliver(event) for event in pending), return_exceptions=True)
        delivered = [
            event.event_id for event, outcome in zip(pending, outcomes, strict=True) if outcome is None
        ]
        if delivered:
            await inbox.remember(self.pool, GROUP, delivered)
            DELIVERIES.inc(len(delivered))
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            raise next((f for f in failures if isinstance(f, Permanent)), failures[0])

    async def _deliver(self, event: PaymentCompleted) -> None:
        headers = {"Idempotency-Key": str(event.event_id), **JSON}
        try:
            async with self.http.post(
                self.url, data=orjson.dumps(platform_payload(event)), headers=headers
            ) as answer:
                status, content = answer.status, await answer.read()
        except NO_ANSWER as exc:  # refused, reset, timed out, cut
            FAILURES.labels("unreachable").inc()
            raise PlatformUnavailable(f"data platform unreachable: {type(exc).__name__}") from None
        if status >= 500 or status in (408, 429):
            FAILURES.labels(str(status)).inc()
            raise PlatformUnavailable(f"data platform answered {status}")
        if status >= 400:
            FAILURES.labels(str(status)).inc()
            text = content[:200].decode(errors="replace")
            raise Permanent(f"data platform refused payment {event.payment_id}: {status} {text}")


def data_platform_consumer(delivery: DataPlatformDelivery, attempts: int) -> BatchConsumer:
    async def deliver(events: list[PaymentCompleted]) -> None:
        await delivery(events)

    return BatchConsumer(
        PAYMENT_COMPLETED,
        GROUP,
        deliver,
        Retry(attempts=attempts, first_delay=0.5, max_delay=30.0),
        # At most this many deliveries in flight to the platform at once.
        max_records=50,
    )
