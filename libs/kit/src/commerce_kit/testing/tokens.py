"""Tokens for tests, signed with the local default secret unless told otherwise."""

from __future__ import annotations

from commerce_kit.auth import ADMIN, SERVICE, mint_token
from commerce_kit.settings import LOCAL_JWT_SECRET


def bearer(subject: int | str, *roles: str, secret: str = LOCAL_JWT_SECRET, ttl: int = 600) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(secret, subject, list(roles), ttl)}"}


def admin(secret: str = LOCAL_JWT_SECRET) -> dict[str, str]:
    return bearer(999_999_999, ADMIN, secret=secret)


def service(name: str = "payment", secret: str = LOCAL_JWT_SECRET) -> dict[str, str]:
    return bearer(f"svc:{name}", SERVICE, secret=secret)
