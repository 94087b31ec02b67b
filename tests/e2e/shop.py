"""The suite as a client and an admin see it through the gateway: the end-to-end tests' vocabulary."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx

from commerce_kit.testing import eventually, tokens

PROBLEM = "application/problem+json"
_payment_ids = itertools.count(int(time.time() * 1000) % 10**12 * 100)


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body = answer.json()
    assert body["code"] == code and body["status"] == status and body["detail"], body
    return body


class Shop:
    """The suite as a client and an admin see it, through the gateway."""

    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self.http, self.secret = http, secret

    def user(self, user_id: int) -> dict[str, str]:
        return tokens.bearer(user_id, secret=self.secret)

    def admin(self) -> dict[str, str]:
        return tokens.admin(secret=self.secret)

    async def new_user(self, name: str = "Buyer") -> int:
        answer = await self.http.post("/api/v1/admin/users", json={"name": name}, headers=self.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    async def new_product(self, name: str, *options: tuple[str, int, int]) -> dict[str, Any]:
        """A product with options (name, price, stock); returns its detail (with the option ids)."""
        body = {
            "name": name,
            "description": f"{name} for the order tests",
            "options": [{"name": n, "price": p, "stock": s} for n, p, s in options],
        }
        answer = await self.http.post("/api/v1/admin/products", json=body, headers=self.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def set_stock(self, product: dict[str, Any], option_id: int, stock: int) -> None:
        answer = await self.http.put(
            f"/api/v1/admin/products/{product['id']}/options/{option_id}/stock",
            json={"stock": stock},
            headers=self.admin(),
        )
        assert answer.status_code == 200, answer.text

    async def stock_of(self, product: dict[str, Any]) -> dict[int, int]:
        answer = await self.http.get(f"/api/v1/products/{product['id']}", headers=self.admin())
        return {o["id"]: o["stock"] for o in answer.json()["options"]}

    async def new_coupon(self, discount_type: str, value: int, **terms: Any) -> int:
        body = {
            "name": f"{discount_type} {value}",
            "discountType": discount_type,
            "discountValue": value,
            "totalQuantity": 100,
            "validDays": 7,
            **terms,
        }
        answer = await self.http.post("/api/v1/admin/coupons", json=body, headers=self.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    async def issued_coupon(self, user_id: int, coupon_id: int) -> int:
        """Issue the coupon to the user (first come, first served) and wait until it is settled."""
        asked = await self.http.post(f"/api/v1/coupons/{coupon_id}/issue", headers=self.user(user_id))
        assert asked.status_code in (200, 202), asked.text
        reservation = asked.json()["reservationId"]

        async def settled() -> dict[str, Any] | None:
            answer = await self.http.get(
                f"/api/v1/coupons/issue-requests/{reservation}", headers=self.user(user_id)
            )
            body = answer.json()
            return body if body.get("status") in ("ISSUED", "REJECTED") else None

        outcome = await eventually(settled, timeout=30, what=f"reservation {reservation} settled")
        assert outcome["status"] == "ISSUED", outcome
        return outcome["userCouponId"]

    async def place(self, user_id: int, items: list[dict[str, int]], **extra: Any) -> httpx.Response:
        body = {"items": items, **extra}
        return await self.http.post("/api/v1/orders", json=body, headers=self.user(user_id))

    async def orders_of(self, user_id: int) -> list[dict[str, Any]]:
        answer = await self.http.get(f"/api/v1/users/{user_id}/orders", headers=self.user(user_id))
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    # --- wallet, payments ---------------------------------------------------------------------------

    async def charge(self, user_id: int, amount: int) -> None:
        answer = await self.http.post(
            f"/api/v1/users/{user_id}/balance/charge", json={"amount": amount}, headers=self.user(user_id)
        )
        assert answer.status_code == 200, answer.text

    async def balance(self, user_id: int) -> int:
        answer = await self.http.get(f"/api/v1/users/{user_id}/balance", headers=self.user(user_id))
        assert answer.status_code == 200, answer.text
        return answer.json()["balance"]

    async def history(self, user_id: int) -> list[dict[str, Any]]:
        answer = await self.http.get(
            f"/api/v1/users/{user_id}/transactions", params={"size": 100}, headers=self.user(user_id)
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    async def order(self, user_id: int, order_id: int) -> dict[str, Any]:
        answer = await self.http.get(f"/api/v1/orders/{order_id}", headers=self.user(user_id))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def placed(self, user_id: int, items: list[dict[str, int]], **extra: Any) -> dict[str, Any]:
        answer = await self.place(user_id, items, **extra)
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def pay(self, user_id: int, order_id: int, key: str | None = None) -> httpx.Response:
        headers = self.user(user_id) | ({"Idempotency-Key": key} if key else {})
        return await self.http.post("/api/v1/payments", json={"orderId": order_id}, headers=headers)

    async def cancel(self, user_id: int, order_id: int) -> httpx.Response:
        return await self.http.post(f"/api/v1/orders/{order_id}/cancel", headers=self.user(user_id))

    async def my_coupons(self, user_id: int) -> list[dict[str, Any]]:
        answer = await self.http.get(
            f"/api/v1/users/{user_id}/coupons", params={"status": "ALL"}, headers=self.user(user_id)
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]


def line(product: dict[str, Any], option_index: int, quantity: int) -> dict[str, int]:
    return {
        "productId": product["id"],
        "optionId": product["options"][option_index]["id"],
        "quantity": quantity,
    }
