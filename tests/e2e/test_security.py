"""Nobody let in (issue "Faults, abuse, N instances"): every service refuses bad tokens, other users'
tokens on owner-only endpoints (and changes nothing), user tokens on admin endpoints; internal
endpoints cannot be reached through the gateway; bodies over the limit and users over their rate are
refused. All through the gateway, as an attacker would try."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest
import pytest_asyncio
from shop import Shop, assert_problem, line

from commerce_kit.testing import eventually


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def bad_tokens(secret: str, user: int) -> dict[str, dict[str, str]]:
    later = int(time.time()) + 600
    good = jwt.encode({"sub": str(user), "roles": [], "exp": later}, secret, algorithm="HS256")
    header, _, signature = good.split(".")
    admin_claims = {
        "sub": str(user),
        "roles": ["ADMIN"],
        "exp": later,
    }  # the payload changed, not the signature
    return {
        "missing": {},
        "expired": {
            "Authorization": "Bearer " + jwt.encode({"sub": str(user), "exp": int(time.time()) - 5}, secret)
        },
        "another key": {"Authorization": "Bearer " + jwt.encode({"sub": str(user), "exp": later}, "x" * 48)},
        "alg none": {
            "Authorization": f"Bearer {_b64({'alg': 'none'})}.{_b64({'sub': str(user), 'exp': later})}."
        },
        "tampered": {"Authorization": f"Bearer {header}.{_b64(admin_claims)}.{signature}"},
        "garbage": {"Authorization": "Bearer abc.def.ghi"},
    }


@pytest_asyncio.fixture(scope="module")
async def world(shop: Shop):
    """Alice with an order, a payment, a coupon and a reservation; Mallory, another user."""
    product = await shop.new_product("Secure mug", ("Blue", 9_000, 50))
    alice, mallory = await shop.new_user("Alice"), await shop.new_user("Mallory")
    await shop.charge(alice, 100_000)
    await shop.charge(mallory, 100_000)
    coupon = await shop.new_coupon("FIXED", 1_000)
    reservation = (await shop.http.post(f"/api/v1/coupons/{coupon}/issue", headers=shop.user(alice))).json()
    paid = await shop.placed(alice, [line(product, 0, 1)])
    payment = (await shop.pay(alice, paid["orderId"])).json()
    pending = await shop.placed(alice, [line(product, 0, 1)])

    async def history_settled():  # the PAYMENT row comes from a consumer: wait for it, then compare
        return any(t["type"] == "PAYMENT" for t in await shop.history(alice))

    await eventually(history_settled, what="Alice's PAYMENT history row")
    return {
        "product": product,
        "alice": alice,
        "mallory": mallory,
        "coupon": coupon,
        "reservation": reservation["reservationId"],
        "paid": paid,
        "pending": pending,
        "payment": payment,
    }


def owner_only(w: dict) -> list[tuple[str, str, dict | None]]:
    a = w["alice"]
    return [
        ("GET", f"/api/v1/users/{a}/balance", None),
        ("POST", f"/api/v1/users/{a}/balance/charge", {"amount": 1_000}),
        ("GET", f"/api/v1/users/{a}/transactions", None),
        ("GET", f"/api/v1/users/{a}/coupons", None),
        ("GET", f"/api/v1/coupons/issue-requests/{w['reservation']}", None),
        ("GET", f"/api/v1/orders/{w['pending']['orderId']}", None),
        ("GET", f"/api/v1/users/{a}/orders", None),
        ("POST", f"/api/v1/orders/{w['pending']['orderId']}/cancel", None),
        ("POST", f"/api/v1/orders/{w['paid']['orderId']}/cancel", None),
        ("POST", "/api/v1/payments", {"orderId": w["pending"]["orderId"]}),
        ("GET", f"/api/v1/payments/{w['payment']['paymentId']}", None),
    ]


ADMIN_ONLY = [
    ("POST", "/api/v1/admin/users", {"name": "Eve"}),
    (
        "POST",
        "/api/v1/admin/products",
        {"name": "x", "description": "", "options": [{"name": "o", "price": 1, "stock": 1}]},
    ),
    ("PUT", "/api/v1/admin/products/1/options/1/stock", {"stock": 0}),
    (
        "POST",
        "/api/v1/admin/coupons",
        {"name": "x", "discountType": "FIXED", "discountValue": 1, "totalQuantity": 1, "validDays": 1},
    ),
    ("GET", "/api/v1/admin/coupons/1", None),
]


async def snapshot(shop: Shop, w: dict) -> dict:
    a = w["alice"]
    return {
        "balance": await shop.balance(a),
        "history": len(await shop.history(a)),
        "pending": (await shop.order(a, w["pending"]["orderId"]))["status"],
        "paid": (await shop.order(a, w["paid"]["orderId"]))["status"],
        "stock": await shop.stock_of(w["product"]),
        "orders": len(await shop.orders_of(a)),
    }


async def test_every_service_refuses_bad_tokens(shop, world, jwt_secret):
    before = await snapshot(shop, world)
    for name, headers in bad_tokens(jwt_secret, world["alice"]).items():
        for method, path, body in owner_only(world) + ADMIN_ONLY + [("GET", "/api/v1/products", None)]:
            answer = await shop.http.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (name, method, path, answer.text)
            assert answer.json()["code"] == "UNAUTHENTICATED"
    assert await snapshot(shop, world) == before


async def test_another_users_token_is_forbidden_on_owner_only_endpoints_and_changes_nothing(shop, world):
    before = await snapshot(shop, world)
    for method, path, body in owner_only(world):
        answer = await shop.http.request(method, path, json=body, headers=shop.user(world["mallory"]))
        assert_problem(answer, 403, "FORBIDDEN")
    assert await snapshot(shop, world) == before


async def test_a_user_token_is_forbidden_on_admin_endpoints(shop, world):
    for method, path, body in ADMIN_ONLY:
        answer = await shop.http.request(method, path, json=body, headers=shop.user(world["alice"]))
        assert_problem(answer, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "path",
    [
        "/internal/v1/payments/1/debit",
        "/internal/v1/options/lookup",
        "/internal/v1/stock-takes/1",
        "/internal/v1/user-coupons/1",
        "/internal/v1/orders/1",
        "/internal/v1/orders/paid",
        "/internal/v1/payments/1/refund",
        "/api/v1/../internal/v1/orders/1",
        "/api/v1/users/1/../../../internal/v1/orders/1",
        "/metrics",
    ],
)
async def test_internal_endpoints_cannot_be_reached_through_the_gateway(shop, path):
    for method in ("GET", "PUT", "POST"):
        answer = await shop.http.request(method, path, headers=shop.admin())
        assert answer.status_code == 404, (method, path, answer.status_code)


async def test_a_body_over_the_limit_is_refused_by_the_gateway(shop, world):
    body = b'{"amount": 1, "pad": "' + b"x" * 70_000 + b'"}'
    answer = await shop.http.post(
        f"/api/v1/users/{world['alice']}/balance/charge",
        content=body,
        headers=shop.user(world["alice"]) | {"Content-Type": "application/json"},
    )
    assert_problem(answer, 413, "PAYLOAD_TOO_LARGE")


async def test_a_user_issuing_too_often_is_rate_limited_and_others_are_not(shop, world):
    coupon = await shop.new_coupon("FIXED", 500)
    answers = await asyncio.gather(
        *(
            shop.http.post(f"/api/v1/coupons/{coupon}/issue", headers=shop.user(world["mallory"]))
            for _ in range(150)
        )
    )
    limited = [a for a in answers if a.status_code == 429]
    assert limited and {a.json()["code"] for a in limited} == {"RATE_LIMITED"}
    assert limited[0].headers["retry-after"]
    fine = await shop.http.post(f"/api/v1/coupons/{coupon}/issue", headers=shop.user(world["alice"]))
    assert fine.status_code == 202


async def test_a_user_paying_too_often_is_rate_limited(shop, world):
    answers = await asyncio.gather(
        *(shop.pay(world["mallory"], world["pending"]["orderId"]) for _ in range(150))
    )
    assert any(a.status_code == 429 and a.json()["code"] == "RATE_LIMITED" for a in answers)
    assert all(a.status_code in (403, 429) for a in answers)  # Mallory does not own the order anyway
