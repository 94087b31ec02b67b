"""Every topic of the suite, its events and its key: the single list the services, the AsyncAPI
export and the deployment's topic manifests are built from. Names are defaults; deployments may
prefix them (see `commerce_kit.topics`)."""

from __future__ import annotations

from dataclasses import dataclass

from commerce_contracts.envelope import Event
from commerce_contracts.events.coupon_issue import CouponIssueRequested
from commerce_contracts.events.orders import (
    OrderCancelled,
    OrderExpired,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
)
from commerce_contracts.events.payments import PaymentCompleted, PaymentRefunded
from commerce_contracts.events.stock import StockGivenBack, StockSet, StockTaken


@dataclass(frozen=True)
class Topic:
    name: str
    events: tuple[type[Event], ...]
    key: str
    producer: str
    description: str
    partitions: int = 6

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlt"


COUPON_ISSUE = Topic(
    "coupon-issue",
    (CouponIssueRequested,),
    "coupon id",
    "coupon",
    "First-come-first-served issue requests, settled in order per coupon.",
    partitions=12,
)
STOCK_EVENTS = Topic(
    "stock-events",
    (StockTaken, StockGivenBack, StockSet),
    "option id",
    "catalog",
    "Every change of an option's stock.",
)
ORDER_EVENTS = Topic(
    "order-events",
    (OrderPlaced, OrderPaid, OrderCancelled, OrderExpired, OrderRefunded),
    "order id",
    "order",
    "The life of an order.",
)
PAYMENT_COMPLETED = Topic(
    "payment-completed",
    (PaymentCompleted,),
    "order id",
    "payment",
    "A payment saga completed; consumed by user (history), order, ranking and the data platform.",
)
PAYMENT_REFUNDED = Topic(
    "payment-refunded",
    (PaymentRefunded,),
    "order id",
    "payment",
    "A paid order was refunded; consumed by user (history), ranking and the data platform.",
)

TOPICS: tuple[Topic, ...] = (COUPON_ISSUE, STOCK_EVENTS, ORDER_EVENTS, PAYMENT_COMPLETED, PAYMENT_REFUNDED)


def event_types() -> dict[str, type[Event]]:
    return {cls.type_name(): cls for topic in TOPICS for cls in topic.events}
