"""The payment service's internal API, as the order service uses it: the refund of a paid order
(`PUT /internal/v1/payments/{paymentId}/refund`, idempotent). The refund saga gives back stock,
balance and coupon and ends by marking this order REFUNDED through our own internal API."""

from __future__ import annotations

from commerce_kit.clients import ServiceClient
from order_service.adapters.remote import answer_of

SERVICE = "payment"


class Payments:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def refund(self, payment_id: int) -> None:
        await answer_of(SERVICE, self._client.put(f"/internal/v1/payments/{payment_id}/refund"))
