"""The load a fault test drives through the gateway while the fault happens: a first-come-first-served
coupon flood and buyers who order, pay, cancel and top up. Both behave like real clients: an answer
that says "not now" (the gateway's 502/504 for a service that is down or hung, 503 from a service
whose dependency is) is retried after a short pause, with the same Idempotency-Key for a payment,
within a bounded time; every answer must be one the API documents, and every error problem+json.
`Answers` keeps the tally, which the tests use as evidence that the fault hit work in flight."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from shop import PROBLEM, Shop, line

#: "Not now": the gateway found the service down (502) or too slow (504), or the service found one
#: of its dependencies so (503). The client may try again.
NOT_NOW = {502, 503, 504}
#: A pause between a client's tries: a client's pacing, not a wait for a condition.
RETRY_PAUSE = 0.25
#: Longer than any saga takes to be recovered after the faults here (the recovery worker retries a
#: step after at most 30 s): a payment still "in progress" after this is stuck.
IN_PROGRESS_AT_MOST = 60.0

#: What each call may answer, by status: the problem codes allowed (None: a success).
PLACE = {201: None, 409: {"INSUFFICIENT_STOCK", "COUPON_UNAVAILABLE"}}
PAY = {
    201: None,
    409: {
        "INSUFFICIENT_STOCK",
        "INSUFFICIENT_BALANCE",
        "COUPON_UNAVAILABLE",
        "INVALID_ORDER_STATE",
        "IDEMPOTENCY_IN_PROGRESS",
    },
}
CANCEL = {200: None, 409: {"INVALID_ORDER_STATE"}}
CHARGE = {200: None}
ISSUE = {200: None, 202: None, 409: {"COUPON_SOLD_OUT"}}
#: The gateway's answers that leave the outcome unknown: the service may have acted before it died.
UNKNOWN_OUTCOME = {502, 504}
NOT_NOW_CODES = {"BAD_GATEWAY", "GATEWAY_TIMEOUT", "SERVICE_UNAVAILABLE", "DEPENDENCY_UNAVAILABLE"}


@dataclass
class Answers:
    """Every answer the load got: (call, status, code) -> how many; and the unclean ones."""

    seen: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    unclean: list[str] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)

    def record(self, call: str, answer: httpx.Response, allowed: dict[int, set[str] | None]) -> bool:
        """Count the answer, note it when it is unclean; True when it means "not now"."""
        code = ""
        if answer.status_code >= 400:
            if answer.headers.get("content-type", "").startswith(PROBLEM):
                code = str(answer.json().get("code"))
            else:
                self.unclean.append(f"{call}: {answer.status_code} not problem+json: {answer.text[:200]}")
        self.seen[(call, answer.status_code, code)] += 1
        if answer.status_code in NOT_NOW:
            if code not in NOT_NOW_CODES:
                self.unclean.append(f"{call}: {answer.status_code} {code}: {answer.text[:200]}")
            return True
        if answer.status_code not in allowed:
            self.unclean.append(f"{call}: unexpected {answer.status_code}: {answer.text[:300]}")
        elif allowed[answer.status_code] is not None and code not in allowed[answer.status_code]:
            self.unclean.append(f"{call}: unexpected {answer.status_code} {code}: {answer.text[:300]}")
        return False

    def count(self, call: str | None = None, statuses: set[int] | None = None) -> int:
        return sum(
            n
            for (c, status, _), n in self.seen.items()
            if (call is None or c == call) and (statuses is None or status in statuses)
        )

    def not_now(self, call: str | None = None) -> int:
        return self.count(call, NOT_NOW) + sum(
            n for c, n in self.transport_errors.items() if call is None or c == call
        )

    def assert_clean(self) -> None:
        assert not self.unclean, f"{len(self.unclean)} unclean answers, first ones: {self.unclean[:5]}"

    def summary(self) -> str:
        return ", ".join(
            f"{c} {s}{' ' + code if code else ''}: {n}" for (c, s, code), n in sorted(self.seen.items())
        )


async def until_definite(
    call: str,
    send: Callable[[], Awaitable[httpx.Response]],
    allowed: dict[int, set[str] | None],
    answers: Answers,
    *,
    deadline: float,
) -> httpx.Response | None:
    """Send until the answer is not "not now" (or the deadline passes: None). A transport error
    (the gateway itself never goes away here, so: a request cut short) counts as "not now"."""
    while True:
        try:
            answer = await send()
        except httpx.TransportError as exc:
            answers.transport_errors[call] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{call}: still {type(exc).__name__} at the deadline") from exc
            await asyncio.sleep(RETRY_PAUSE)
            continue
        if not answers.record(call, answer, allowed):
            return answer
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(RETRY_PAUSE)


# --- the coupon flood ------------------------------------------------------------------------------


@dataclass
class Flood:
    coupon_id: int
    stock: int
    users: list[int]
    accepted: list[tuple[int, str]] = field(default_factory=list)  # (user, reservation id)
    sold_out: list[int] = field(default_factory=list)  # users told 409 COUPON_SOLD_OUT at once
    answers: Answers = field(default_factory=Answers)
    #: Users who got an answer that leaves the outcome unknown (the gateway's 502/504: the service
    #: died or was too slow, maybe after queueing the request): their request may have been queued
    #: all the same, so the reservation they know of may not be the one that won them a copy.
    lost: set[int] = field(default_factory=set)

    @property
    def reservations(self) -> dict[str, int]:
        return {rid: user for user, rid in self.accepted}


_flood_users = itertools.count(10_000_000 + random.randrange(10**6) * 100)


def flood_users(n: int) -> list[int]:
    """Users who only ask for coupons (the coupon service needs no user record): fresh ids."""
    return [next(_flood_users) for _ in range(n)]


async def coupon_flood(
    shop: Shop,
    coupon_id: int,
    stock: int,
    users: list[int],
    *,
    repeats: int,
    concurrency: int = 8,
    rate: float | None = None,
    within: float = 180.0,
) -> Flood:
    """Every user asks once and `repeats` of them ask again, in random order, `concurrency` at a
    time and (with `rate`) at most `rate` new asks a second, so that the flood lasts long enough for
    a fault to land in it; each ask is repeated while the answer is "not now". Every user ends with
    a definite answer (a reservation, or sold out) within `within` seconds."""
    flood = Flood(coupon_id, stock, users)
    asks = users + random.sample(users, repeats)
    random.shuffle(asks)
    gate = asyncio.Semaphore(concurrency)
    deadline = time.monotonic() + within

    async def ask(user: int) -> httpx.Response:
        try:
            answer = await shop.http.post(f"/api/v1/coupons/{coupon_id}/issue", headers=shop.user(user))
        except httpx.TransportError:
            flood.lost.add(user)
            raise
        if answer.status_code in UNKNOWN_OUTCOME:
            flood.lost.add(user)
        return answer

    async def one(user: int) -> None:
        async with gate:
            answer = await until_definite("issue", lambda: ask(user), ISSUE, flood.answers, deadline=deadline)
        assert answer is not None, (
            f"user {user} got no definite answer to the coupon request in {within}s;"
            f" so far: {flood.answers.summary()}"
        )
        if answer.status_code == 409:
            flood.sold_out.append(user)
        elif answer.status_code in (200, 202):
            flood.accepted.append((user, answer.json()["reservationId"]))

    asking = []
    for user in asks:
        asking.append(asyncio.create_task(one(user)))
        if rate is not None:
            await asyncio.sleep(1 / rate)  # the arrival rate of the load, not a wait for anything
    await asyncio.gather(*asking)
    return flood


# --- buyers ----------------------------------------------------------------------------------------


@dataclass
class Buyers:
    users: list[int]
    products: list[dict[str, Any]]
    coupons: dict[int, int]  # user -> the user coupon their first order uses
    answers: Answers = field(default_factory=Answers)
    paid: int = 0
    #: (user, Idempotency-Key) of payments that stayed "in progress" longer than IN_PROGRESS_AT_MOST.
    stuck: list[tuple[int, str]] = field(default_factory=list)

    @property
    def options(self) -> dict[int, int]:
        """Option id -> the stock it started with."""
        return {o["id"]: o["stock"] for p in self.products for o in p["options"]}


async def new_buyers(
    shop: Shop, n: int, *, products: int = 2, stock: int = 60, funds: int = 60_000, coupon: bool = True
) -> Buyers:
    """`n` funded users, `products` products of two options each, and (with `coupon`) a FIXED 1,000
    coupon issued to every buyer, which their first order uses: the saga's coupon step is exercised."""
    made = [
        await shop.new_product(f"Fault {i}", ("A", 4_000 + 100 * i, stock), ("B", 6_000 + 100 * i, stock))
        for i in range(products)
    ]
    sem = asyncio.Semaphore(16)

    async def buyer() -> int:
        async with sem:
            user = await shop.new_user("Buyer")
            await shop.charge(user, funds)
            return user

    users = list(await asyncio.gather(*(buyer() for _ in range(n))))
    coupons: dict[int, int] = {}
    if coupon:
        policy = await shop.new_coupon("FIXED", 1_000, totalQuantity=n)

        async def issue(user: int) -> None:
            async with sem:
                coupons[user] = await shop.issued_coupon(user, policy)

        await asyncio.gather(*(issue(u) for u in users))
    return Buyers(users, made, coupons)


async def shopping(
    shop: Shop,
    buyers: Buyers,
    *,
    rounds: int,
    until: asyncio.Event | None = None,
    pause: float = 0.0,
    within: float = 180.0,
) -> None:
    """Each buyer, `rounds` times (and then on until `until` is set, `pause` seconds apart): places
    an order (the first with their coupon), pays it (the same Idempotency-Key on every try), cancels
    about a third of what they paid (a refund) and tops up now and then. Orders that cannot be
    placed or paid for a definite reason are dropped."""
    deadline = time.monotonic() + within
    answers = buyers.answers

    async def buyer(user: int) -> None:
        coupon = buyers.coupons.get(user)
        for n in itertools.count():
            if n >= rounds and (until is None or until.is_set()):
                break
            if n and pause:
                await asyncio.sleep(pause)  # a shopper's pace, not a wait for anything
            product = random.choice(buyers.products)
            items = [line(product, random.randrange(len(product["options"])), random.randint(1, 2))]
            extra = {"userCouponId": coupon} if coupon is not None and n == 0 else {}
            placed = await until_definite(
                "place", lambda i=items, e=extra: shop.place(user, i, **e), PLACE, answers, deadline=deadline
            )
            if placed is None or placed.status_code != 201:
                continue
            order_id = placed.json()["orderId"]
            key = f"fault-{order_id}"
            paid = None
            in_progress_since = None
            while True:
                paid = await until_definite(
                    "pay", lambda o=order_id, k=key: shop.pay(user, o, k), PAY, answers, deadline=deadline
                )
                # Still running (the saga was cut and is being recovered): ask again with the key,
                # for a while; a key that stays "in progress" longer than any recovery takes is stuck.
                if paid is None or paid.json().get("code") != "IDEMPOTENCY_IN_PROGRESS":
                    break
                in_progress_since = in_progress_since or time.monotonic()
                if time.monotonic() - in_progress_since > IN_PROGRESS_AT_MOST:
                    buyers.stuck.append((user, key))
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(RETRY_PAUSE)
            if paid is None or paid.status_code != 201:
                continue
            buyers.paid += 1
            if random.random() < 0.3:
                await until_definite(
                    "cancel", lambda o=order_id: shop.cancel(user, o), CANCEL, answers, deadline=deadline
                )
            if random.random() < 0.3:
                await until_definite(
                    "charge",
                    lambda o=order_id: shop.http.post(
                        f"/api/v1/users/{user}/balance/charge",
                        json={"amount": 1_000},
                        headers=shop.user(user) | {"Idempotency-Key": f"top-up-{o}"},
                    ),
                    CHARGE,
                    answers,
                    deadline=deadline,
                )

    await asyncio.gather(*(buyer(u) for u in buyers.users))
