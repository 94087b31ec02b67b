"""An order line has one form on the payment path, `PaidLine`: read from the order service's answer,
kept in the saga's stored state, carried by the payment events. No I/O: the stored row is what the
`items` column holds (JSON), the event what the outbox publishes (bytes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from commerce_contracts import decode_event, encode_event
from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from payment_service.adapters.repository import LINES, PaymentRecord
from payment_service.adapters.services import Order
from payment_service.domain.saga import Status
from payment_service.service_layer.driver import completed, refunded

PAID_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: `GET /internal/v1/orders/{orderId}` as the order service answers it (camelCase, with more fields
#: than a payment needs).
ORDER_ANSWER = {
    "orderId": 300,
    "userId": 2,
    "status": "PENDING_PAYMENT",
    "items": [
        {
            "productId": 10,
            "optionId": 101,
            "productName": "T-shirt",
            "optionName": "M",
            "unitPrice": 15_000,
            "quantity": 2,
            "lineAmount": 30_000,
        }
    ],
    "totalAmount": 30_000,
    "discountAmount": 3_000,
    "payAmount": 27_000,
    "userCouponId": 44,
    "createdAt": "2026-03-01T11:59:00Z",
    "paymentId": None,
}

SHIRT = PaidLine(product_id=10, option_id=101, quantity=2, unit_price=15_000, product_name="T-shirt")


def row(items: object, status: Status = Status.COMPLETED) -> Any:
    """A `payments` row as asyncpg hands it over (the jsonb column already parsed); a dict reads as
    an `asyncpg.Record` does."""
    return {
        "id": 900,
        "order_id": 300,
        "user_id": 2,
        "amount": 27_000,
        "user_coupon_id": 44,
        "items": items,
        "status": status.value,
        "done": ["TAKE_STOCK", "TAKE_BALANCE", "USE_COUPON", "MARK_ORDER_PAID"],
        "attempted": None,
        "failure_code": None,
        "failure_detail": None,
        "idem_user_id": None,
        "idem_key": None,
        "balance_after": 73_000,
        "retries": 0,
        "created_at": PAID_AT,
        "paid_at": PAID_AT,
        "refunded_at": PAID_AT if status is Status.REFUNDED else None,
    }


def test_a_line_keeps_its_one_form_from_the_orders_answer_to_the_payment_event():
    order = Order.model_validate(ORDER_ANSWER)
    assert order.items == (SHIRT,) and type(order.items[0]) is PaidLine

    # The saga's stored state: the column holds the line in its event form, and reads back as it was.
    stored = orjson.loads(orjson.dumps(LINES.dump_python(order.items, mode="json")))
    assert stored == [
        {"product_id": 10, "option_id": 101, "quantity": 2, "unit_price": 15_000, "product_name": "T-shirt"}
    ]
    record = PaymentRecord.of(row(stored))
    assert record.items == order.items and type(record.items[0]) is PaidLine

    # The event carries the stored lines themselves, not a copy in another form ...
    event = completed(record)
    assert event.items[0] is record.items[0]
    # ... and a consumer of `payment-completed` reads the same line back.
    assert decode_event(encode_event(event), PaymentCompleted).items == (SHIRT,)


def test_a_refund_carries_the_same_lines():
    stored = LINES.dump_python((SHIRT,), mode="json")
    record = PaymentRecord.of(row(stored, Status.REFUNDED))
    event = refunded(record)
    assert event.items[0] is record.items[0]
    assert decode_event(encode_event(event), PaymentRefunded).items == (SHIRT,)


def test_a_row_stored_before_lines_had_a_product_name_still_reads():
    old = [{"product_id": 10, "option_id": 101, "quantity": 2, "unit_price": 15_000}]
    record = PaymentRecord.of(row(old))
    assert record.items == (PaidLine(product_id=10, option_id=101, quantity=2, unit_price=15_000),)
    assert orjson.loads(encode_event(completed(record)))["items"] == [old[0] | {"product_name": None}]
