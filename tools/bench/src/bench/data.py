"""The data the scenarios need, loaded through the public and admin APIs (the gateway), as a client
would: users with money in their wallets, products with options, coupons issued to users, and the
tokens of the coupon flood's users. At these sizes the APIs are fast enough (a few seconds); the
flood's 50,000 users need no rows at all (the coupon service takes the user from the token), so
nothing is written behind a service's back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.stack import Stack
from commerce_kit.auth import mint_token

T = TypeVar("T")

#: Flood and warm-up users get ids far above the ones the user service hands out.
FLOOD_USER_BASE = 50_000_000
WARM_UP_USER_BASE = 60_000_000


async def gather_limited(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int = 32) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


@dataclass
class Buyer:
    user_id: int
    token: str
    coupons: list[int] = field(default_factory=list)  # issued user coupon ids, unused


@dataclass
class Product:
    id: int
    option_ids: list[int]
    prices: list[int]
    stock: int


class Api:
    """The suite through its gateway, as the admin and its users."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack, self.http = stack, http
        self.admin = {"Authorization": f"Bearer {stack.token(1, admin=True)}"}

    async def _ok(self, answer: Awaitable[httpx.Response], *statuses: int) -> Any:
        response = await answer
        if response.status_code not in statuses:
            raise RuntimeError(
                f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
            )
        return response.json()

    async def new_buyer(self, charge: int) -> Buyer:
        body = await self._ok(
            self.http.post("/api/v1/admin/users", json={"name": "Bench buyer"}, headers=self.admin), 201
        )
        buyer = Buyer(body["id"], self.stack.token(body["id"]))
        if charge:
            await self._ok(
                self.http.post(
                    f"/api/v1/users/{buyer.user_id}/balance/charge",
                    json={"amount": charge},
                    headers={"Authorization": f"Bearer {buyer.token}"},
                ),
                200,
            )
        return buyer

    async def new_product(self, name: str, options: list[tuple[str, int, int]]) -> Product:
        body = {
            "name": name,
            "description": f"{name}: made by the benchmark",
            "options": [{"name": n, "price": p, "stock": s} for n, p, s in options],
        }
        made = await self._ok(self.http.post("/api/v1/admin/products", json=body, headers=self.admin), 201)
        return Product(
            made["id"],
            [o["id"] for o in made["options"]],
            [o["price"] for o in made["options"]],
            options[0][2],
        )

    async def new_coupon(self, name: str, quantity: int, **terms: Any) -> int:
        body = {
            "name": name,
            "discountType": "RATE",
            "discountValue": 10,
            "maxDiscountAmount": 5_000,
            "totalQuantity": quantity,
            "validDays": 30,
            **terms,
        }
        made = await self._ok(self.http.post("/api/v1/admin/coupons", json=body, headers=self.admin), 201)
        return made["id"]

    async def issue(self, coupon_id: int, buyer: Buyer) -> str:
        body = await self._ok(
            self.http.post(
                f"/api/v1/coupons/{coupon_id}/issue", headers={"Authorization": f"Bearer {buyer.token}"}
            ),
            200,
            202,
        )
        return body["reservationId"]

    async def usable_coupons(self, buyer: Buyer) -> list[int]:
        body = await self._ok(
            self.http.get(
                f"/api/v1/users/{buyer.user_id}/coupons", headers={"Authorization": f"Bearer {buyer.token}"}
            ),
            200,
        )
        return [c["userCouponId"] for c in body["items"] if c["status"] == "ISSUED"]


async def buyers(api: Api, n: int, charge: int = 1_000_000) -> list[Buyer]:
    return await gather_limited([lambda: api.new_buyer(charge) for _ in range(n)], limit=32)


async def products(
    api: Api, n: int, options: int = 4, stock: int = 1_000_000, prefix: str = "Bench"
) -> list[Product]:
    rng = random.Random(n)

    def one(i: int) -> Callable[[], Awaitable[Product]]:
        return lambda: api.new_product(
            f"{prefix} product {i}",
            [(f"option {k}", rng.randrange(1_000, 50_000, 100), stock) for k in range(options)],
        )

    return await gather_limited([one(i) for i in range(n)], limit=16)


async def give_coupons(api: Api, everyone: list[Buyer], coupon_id: int, limit: float = 60) -> None:
    """Issue the coupon to every buyer (the first-come-first-served path), then wait until each holds it."""
    await gather_limited([lambda b=b: api.issue(coupon_id, b) for b in everyone], limit=32)
    deadline = asyncio.get_running_loop().time() + limit
    waiting = list(everyone)
    while waiting:
        found = await gather_limited([lambda b=b: api.usable_coupons(b) for b in waiting], limit=32)
        still = []
        for buyer, ids in zip(waiting, found, strict=True):
            if ids:
                buyer.coupons = ids
            else:
                still.append(buyer)
        waiting = still
        if waiting:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{len(waiting)} buyers still have no coupon after {limit:.0f}s")
            await asyncio.sleep(0.5)


def flood_users(n: int, repeat_share: float, seed: int = 7) -> list[int]:
    """n distinct users, then `repeat_share` of them once more, shuffled: the order they ask in."""
    rng = random.Random(seed)
    users = [FLOOD_USER_BASE + i for i in range(1, n + 1)]
    asks = users + rng.sample(users, int(n * repeat_share))
    rng.shuffle(asks)
    return asks


def warm_up_users(n: int) -> list[int]:
    """n users who are not among the flood's, for warming a path up."""
    return [WARM_UP_USER_BASE + i for i in range(1, n + 1)]


def write_tokens(path: Path, secret: str, users: list[int], ttl: int = 3 * 3600) -> dict[int, str]:
    """Pre-minted tokens (commerce_kit.auth.mint_token with the suite's JWT_SECRET), one line per
    request, for the wrk script; returns user -> token."""
    tokens: dict[int, str] = {}
    with path.open("w") as out:
        for user in users:
            token = tokens.get(user)
            if token is None:
                token = tokens[user] = mint_token(secret, user, [], ttl)
            out.write(token + "\n")
    return tokens
