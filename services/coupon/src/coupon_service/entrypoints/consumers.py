"""CouponIssueConsumer: settles first-come-first-served requests in arrival order per coupon (the
`coupon-issue` topic is keyed by coupon id), hundreds per round trip."""

from __future__ import annotations

from commerce_contracts.registry import COUPON_ISSUE
from commerce_kit.messaging import BatchConsumer, Retry
from coupon_service.service_layer.settlement import Settlement

GROUP = "coupon.issue"


def coupon_issue_consumer(settlement: Settlement, batch: int) -> BatchConsumer:
    return BatchConsumer(
        COUPON_ISSUE,
        GROUP,
        lambda events: settlement.settle(events),  # late-bound: a test may replace `settle`
        Retry(attempts=5, first_delay=0.1, max_delay=2.0),
        on_dead_letter=settlement.reject_unprocessable,
        max_records=batch,
        batch_timeout_ms=20,
    )
