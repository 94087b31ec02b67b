"""JWT bearer tokens (API.md): HS256 with `JWT_SECRET`, claims `sub`, `roles`, `exp`.

Every service verifies the token itself, even behind the gateway. Service-to-service calls carry a
short-lived token with the `SERVICE` role, minted by the caller with the same key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson

from commerce_kit.errors import Forbidden, Unauthenticated

ADMIN = "ADMIN"
SERVICE = "SERVICE"
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]
    expires_at: float

    @property
    def user_id(self) -> int:
        """The user id of a user token (services are not users)."""
        if not self.subject.isdigit():
            raise Forbidden("This endpoint is for users")
        return int(self.subject)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE in self.roles

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("This endpoint needs the ADMIN role")

    def require_service(self) -> None:
        if not self.is_service:
            raise Forbidden("This endpoint is for the suite's own services")

    def require_owner(self, user_id: int, *, admin_may: bool = False) -> None:
        """The caller must be the user `user_id` (or an admin where `admin_may`)."""
        if admin_may and self.is_admin:
            return
        if self.subject != str(user_id):
            raise Forbidden("You may only act on your own resources")


class TokenVerifier:
    """Verifies tokens and keeps the last few thousand verified ones (the hot paths see the same
    token many times; a cache hit still checks the expiry)."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str | None = None,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = secret.encode()
        self._clock = clock
        self._issuer = issuer
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > self._clock():
                return cached
            del self._cache[token]
        principal = self._decode(token)
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    def _decode(self, token: str) -> Principal:
        claims = self._claims(token)
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise Unauthenticated("The token is not valid")
        if exp <= self._clock():
            raise Unauthenticated("The token has expired")
        sub, roles = claims.get("sub"), claims.get("roles", [])
        if not isinstance(sub, str) or not sub or not isinstance(roles, list):
            raise Unauthenticated("The token's claims are not valid")
        principal = Principal(sub, frozenset(r for r in roles if isinstance(r, str)), float(exp))
        if not principal.is_service and not (sub.isdigit() and 0 < int(sub) < 2**63):
            raise Unauthenticated("The token's subject is not a user id")
        return principal

    def _claims(self, token: str) -> dict[str, Any]:
        """The claims of a token signed with our key, checked as PyJWT's `decode(algorithms=["HS256"],
        issuer=...)` checks them, in a few lines of its own: every user of a sale-day flood shows a
        token never seen before, so no cache helps, and PyJWT's generic layers (key-type sniffing,
        stdlib json, option merging) cost several times these lines. Minting stays PyJWT's, and a
        test holds the two to the same verdicts (test_auth.py).

        Only the exact compact form: three base64url parts, the signature the canonical (unpadded)
        encoding of HMAC-SHA256 over the first two, compared in constant time before anything in
        the token is read; then the header must say HS256 and carry no extension we would have to
        understand (`crit`, RFC 7515 4.1.11; `b64`, RFC 7797), and `nbf`, `iat`, `aud`, `jti`, `kid`
        and `iss` are held to what PyJWT requires of them, or more (a number must be a JSON number,
        an audience is refused even when empty): never less."""
        try:
            signed, _, signature = token.rpartition(".")
            head, _, body = signed.partition(".")
            expected = base64.urlsafe_b64encode(hmac.digest(self._key, signed.encode("ascii"), "sha256"))
            if (
                not head
                or not body
                or "." in body
                or not hmac.compare_digest(expected.rstrip(b"="), signature.encode("ascii"))
            ):
                raise Unauthenticated("The token is not valid")
            header, claims = _json_part(head), _json_part(body)
        except (UnicodeEncodeError, binascii.Error, orjson.JSONDecodeError):
            raise Unauthenticated("The token is not valid") from None
        if (
            not isinstance(header, dict)
            or header.get("alg") != ALGORITHM
            or "crit" in header
            or header.get("b64", True) is not True  # RFC 7797's unencoded payloads: not ours
            or not isinstance(header.get("kid", ""), str)
        ):
            raise Unauthenticated("The token is not valid")
        if (
            not isinstance(claims, dict)
            or "aud" in claims  # no audience is expected: PyJWT refuses one too
            or not isinstance(claims.get("jti", ""), str)
        ):
            raise Unauthenticated("The token is not valid")
        now = self._clock()
        for name in ("iat", "nbf"):  # numbers, and not in the future (PyJWT: immature)
            value = claims.get(name, 0)
            if not isinstance(value, int | float) or isinstance(value, bool) or value > now:
                raise Unauthenticated("The token is not valid yet")
        if self._issuer is not None and claims.get("iss") != self._issuer:
            raise Unauthenticated("The token is not valid")
        return claims

    def from_header(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("Missing Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Missing Authorization: Bearer <token>")
        return self.verify(token.strip())


def _json_part(part: str) -> Any:
    """A base64url part of a token (unpadded, as JWS writes it), as JSON."""
    return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def mint_token(
    secret: str,
    subject: str | int,
    roles: list[str] | tuple[str, ...] = (),
    ttl_seconds: int = 3600,
    *,
    issuer: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(subject),
        "roles": list(roles),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class ServiceToken:
    """The token this service presents to the others; renewed well before it expires."""

    def __init__(self, secret: str, service: str, *, ttl_seconds: int = 600) -> None:
        self._secret, self._service, self._ttl = secret, service, ttl_seconds
        self._token, self._renew_at = "", 0.0

    def header(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._token = mint_token(self._secret, f"svc:{self._service}", [SERVICE], self._ttl)
            self._renew_at = now + self._ttl / 2
        return f"Bearer {self._token}"
