"""First-come-first-served issue (SPEC.md section 3): reservations and how a batch of them is settled.

A reservation is one accepted "get coupon" request. Its id is signed and names its coupon and its
user, so that its status can be read (and its owner checked) even before it is settled, without
keeping pending reservations anywhere but in Kafka, the one durable place they are written to before
the API answers 202.

Settling follows the seed: requests are taken in partition order (the order Kafka received them);
each one first takes a unit from the fast gate (Redis); the database is the final gate. The rule that
decides who gets a copy lives in `decide`: the first requests, in order, of distinct users who do not
hold the coupon yet, as long as the database has copies left.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PENDING = "PENDING"
    ISSUED = "ISSUED"
    REJECTED = "REJECTED"


class Reason(StrEnum):
    SOLD_OUT = "SOLD_OUT"
    ALREADY_ISSUED = "ALREADY_ISSUED"
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    UNPROCESSABLE = "UNPROCESSABLE"  # the request could not be settled (see the dead-letter topic)


@dataclass(frozen=True)
class ReservationRef:
    coupon_id: int
    user_id: int


class ReservationIds:
    """`<couponId>.<userId>.<nonce>.<mac>`: unguessable, and unforgeable without the key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def new(self, coupon_id: int, user_id: int) -> str:
        body = f"{coupon_id}.{user_id}.{secrets.token_urlsafe(9)}"
        return f"{body}.{self._mac(body)}"

    def read(self, reservation_id: str) -> ReservationRef | None:
        """The coupon and user of an id this service made; None for anything else."""
        if len(reservation_id) > 80:
            return None
        body, _, mac = reservation_id.rpartition(".")
        parts = body.split(".")
        if len(parts) != 3 or not hmac.compare_digest(mac, self._mac(body)):
            return None
        coupon, user, _nonce = parts
        if not (coupon.isdigit() and user.isdigit()):
            return None
        return ReservationRef(int(coupon), int(user))

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True)
class Request:
    """One reservation in partition order, after the fast gate: did it take a unit there?"""

    reservation_id: str
    user_id: int
    took_unit: bool


@dataclass(frozen=True)
class Decision:
    reservation_id: str
    user_id: int
    issued: bool
    reason: Reason | None
    gives_back_unit: bool  # it took a unit at the gate and does not get a copy: the unit goes back


def decide(requests: list[Request], holders: set[int], remaining: int) -> list[Decision]:
    """Who gets a copy, in order. `holders` already have one; `remaining` is what the database has
    left. A reservation seen twice (a producer's retry) is decided once."""
    decisions: list[Decision] = []
    seen: set[str] = set()
    winners: set[int] = set()
    for r in requests:
        if r.reservation_id in seen:
            continue
        seen.add(r.reservation_id)
        if r.user_id in holders or r.user_id in winners:
            decisions.append(Decision(r.reservation_id, r.user_id, False, Reason.ALREADY_ISSUED, r.took_unit))
        elif not r.took_unit:
            decisions.append(Decision(r.reservation_id, r.user_id, False, Reason.SOLD_OUT, False))
        elif remaining <= 0:  # the gate let it through but the database has nothing left
            decisions.append(Decision(r.reservation_id, r.user_id, False, Reason.SOLD_OUT, True))
        else:
            remaining -= 1
            winners.add(r.user_id)
            decisions.append(Decision(r.reservation_id, r.user_id, True, None, False))
    return decisions
