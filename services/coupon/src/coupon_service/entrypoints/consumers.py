"""CouponIssueConsumer: settles first-come-first-served requests in arrival order per coupon (the
`coupon-issue` topic is keyed by coupon id), hundreds per round trip.

A batch that meets Redis or PostgreSQL away waits for it to come back, however long (the kit's
consumers wait outages out): dead-lettering it would reject live requests and pass their users over
for later ones. Only other errors (a bug, bad data) go through the bounded retries to the dead-letter
topic, where the request ends REJECTED UNPROCESSABLE; recording that waits out outages too."""

from __future__ import annotations

from commerce_contracts import Event
from commerce_contracts.events.coupon_issue import CouponIssueRequested
from commerce_contracts.registry import COUPON_ISSUE
from commerce_kit.messaging import BatchConsumer, Retry
from commerce_kit.outages import Outages
from coupon_service.service_layer.settlement import Settlement

GROUP = "coupon.issue"


def coupon_issue_consumer(
    settlement: Settlement, batch: int, outages: Outages | None = None
) -> BatchConsumer:
    async def settle(events: list[CouponIssueRequested]) -> None:
        # `settlement.settle` is looked up on every try: a test may replace it.
        await settlement.settle(events)

    async def reject(event: Event | None, reason: str) -> None:
        # The topic carries CouponIssueRequested only: any other record was undecodable (None).
        request = event if isinstance(event, CouponIssueRequested) else None
        await settlement.reject_unprocessable(request, reason)

    return BatchConsumer(
        COUPON_ISSUE,
        GROUP,
        settle,
        Retry(attempts=5, first_delay=0.1, max_delay=2.0),  # for errors other than outages
        on_dead_letter=reject,
        outages=outages or Outages("coupon-issue"),
        max_records=batch,
        batch_timeout_ms=20,
        # A batch costs a Redis script and a PostgreSQL transaction whatever its size: under a
        # steady flow, waiting for 1 MB (some 3,000 requests) or 400 ms per fetch settles the
        # same requests in a few big batches instead of many small ones, which leaves more of the
        # machine the issuer and PostgreSQL share with the issue route to that route. A flood
        # fills 1 MB within a third of a second, and an idle coupon's request waits at most
        # 400 ms more before it is settled.
        fetch_min_bytes=1024 * 1024,
        fetch_max_wait_ms=400,
    )
