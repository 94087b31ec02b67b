"""Tokens (API.md): HS256 with JWT_SECRET, claims sub, roles, exp. Anything else is 401."""

import base64
import json
import time

import jwt
import pytest

from commerce_kit.settings import LOCAL_JWT_SECRET
from commerce_kit.testing import tokens


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned(claims: dict) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def tampered(user_id: int, other: int) -> str:
    header, _, signature = jwt.encode(
        {"sub": str(user_id), "roles": [], "exp": int(time.time()) + 600}, LOCAL_JWT_SECRET, algorithm="HS256"
    ).split(".")
    return (
        f"{header}.{b64({'sub': str(other), 'roles': ['ADMIN'], 'exp': int(time.time()) + 600})}.{signature}"
    )


def bad_tokens(user: int) -> dict[str, dict[str, str]]:
    later = int(time.time()) + 600
    return {
        "missing": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "expired": tokens.bearer(user, ttl=-10),
        "another key": tokens.bearer(user, secret="another-secret-of-at-least-32-bytes!!"),
        "alg none": {"Authorization": f"Bearer {unsigned({'sub': str(user), 'roles': [], 'exp': later})}"},
        "tampered": {"Authorization": f"Bearer {tampered(user, user + 1)}"},
        "no exp": {
            "Authorization": "Bearer " + jwt.encode({"sub": str(user)}, LOCAL_JWT_SECRET, algorithm="HS256")
        },
        "sub not a user id": tokens.bearer("alice"),
        "HS512": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": str(user), "exp": later}, LOCAL_JWT_SECRET + "x" * 32, algorithm="HS512")
        },
    }


@pytest.mark.parametrize("kind", list(bad_tokens(1)))
async def test_a_bad_token_is_unauthenticated(client, new_user, kind):
    user = await new_user()
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge", json={"amount": 10}, headers=bad_tokens(user)[kind]
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "UNAUTHENTICATED"
    balance = await client.get(f"/api/v1/users/{user}/balance", headers=tokens.bearer(user))
    assert balance.json()["balance"] == 0


async def test_health_and_docs_need_no_token(client):
    for path in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
        assert (await client.get(path)).status_code == 200, path
