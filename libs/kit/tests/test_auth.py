import time

import jwt
import pytest

from commerce_kit.auth import ServiceToken, TokenVerifier, mint_token
from commerce_kit.errors import Forbidden, Unauthenticated

SECRET = "a-test-secret-that-is-at-least-32-bytes"


def test_a_valid_user_token_gives_the_user_and_roles():
    principal = TokenVerifier(SECRET).verify(mint_token(SECRET, 42, ["ADMIN"]))
    assert principal.user_id == 42 and principal.is_admin and not principal.is_service


def test_a_cached_token_still_expires():
    now = [time.time()]
    verifier = TokenVerifier(SECRET, clock=lambda: now[0])
    token = mint_token(SECRET, 1, [], ttl_seconds=60)
    assert verifier.verify(token).user_id == 1
    now[0] += 61
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)


def test_an_expired_token_is_refused():
    with pytest.raises(Unauthenticated, match="expired"):
        TokenVerifier(SECRET).verify(mint_token(SECRET, 1, [], ttl_seconds=-1))


def test_the_cache_is_bounded():
    verifier = TokenVerifier(SECRET, cache_size=3)
    for user in range(1, 6):
        verifier.verify(mint_token(SECRET, user))
    assert len(verifier._cache) == 3


@pytest.mark.parametrize("sub", ["0", "-1", "abc", "9223372036854775808", ""])
def test_a_user_token_must_name_a_user_id(sub):
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        TokenVerifier(SECRET).verify(token)


def test_roles_must_be_a_list():
    token = jwt.encode(
        {"sub": "1", "roles": "ADMIN", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"
    )
    with pytest.raises(Unauthenticated):
        TokenVerifier(SECRET).verify(token)


def test_an_issuer_is_checked_when_configured():
    verifier = TokenVerifier(SECRET, issuer="https://id.shop")
    assert verifier.verify(mint_token(SECRET, 1, issuer="https://id.shop")).user_id == 1
    with pytest.raises(Unauthenticated):
        verifier.verify(mint_token(SECRET, 1, issuer="https://evil"))


def test_owner_and_role_checks():
    verifier = TokenVerifier(SECRET)
    user = verifier.verify(mint_token(SECRET, 7))
    admin = verifier.verify(mint_token(SECRET, 1, ["ADMIN"]))
    user.require_owner(7)
    with pytest.raises(Forbidden):
        user.require_owner(8)
    with pytest.raises(Forbidden):
        admin.require_owner(7)
    admin.require_owner(7, admin_may=True)
    with pytest.raises(Forbidden):
        user.require_admin()
    with pytest.raises(Forbidden):
        user.require_service()


def test_a_service_token_is_renewed_before_it_expires_and_is_not_a_user():
    service = ServiceToken(SECRET, "payment", ttl_seconds=600)
    header = service.header()
    assert header == service.header()  # reused while fresh
    principal = TokenVerifier(SECRET).verify(header.removeprefix("Bearer "))
    assert principal.is_service and principal.subject == "svc:payment"
    with pytest.raises(Forbidden):
        _ = principal.user_id
