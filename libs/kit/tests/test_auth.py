import base64
import hashlib
import hmac
import json
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


# --- the verifier against PyJWT ------------------------------------------------------------------
# TokenVerifier checks HS256 by hand (speed: see its `_claims`). These tokens, good and bad, must get
# the verdict PyJWT's decode gives them, except where ours is knowingly stricter; never laxer.


def _part(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(header: object, claims: object, key: str = SECRET) -> str:
    signing_input = f"{_part(header)}.{_part(claims)}"
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _pyjwt_accepts(token: str, issuer: str | None) -> bool:
    try:
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], issuer=issuer, options={"require": ["exp", "sub"]}
        )
    except jwt.InvalidTokenError:
        return False
    sub, roles = claims.get("sub"), claims.get("roles", [])
    return (
        isinstance(claims["exp"], int | float)
        and not isinstance(claims["exp"], bool)
        and isinstance(sub, str)
        and isinstance(roles, list)
        and (sub.startswith("svc:") or (sub.isdigit() and 0 < int(sub) < 2**63))
    )


def _ours_accepts(token: str, issuer: str | None) -> bool:
    try:
        TokenVerifier(SECRET, issuer=issuer).verify(token)
    except Unauthenticated:
        return False
    return True


_NOW = int(time.time())
_HS = {"alg": "HS256", "typ": "JWT"}
_OK = {"sub": "7", "roles": ["ADMIN"], "iat": _NOW - 5, "exp": _NOW + 600}
_good = _signed(_HS, _OK)
_head, _body, _sig = _good.split(".")

SAME_VERDICT = {
    "valid": _good,
    "minted": mint_token(SECRET, 7, ["ADMIN"]),
    "service": mint_token(SECRET, "svc:payment", ["SERVICE"]),
    "no typ": _signed({"alg": "HS256"}, _OK),
    "kid": _signed({**_HS, "kid": "k1"}, _OK),
    "kid not a string": _signed({**_HS, "kid": 1}, _OK),
    "jti": _signed(_HS, {**_OK, "jti": "abc"}),
    "jti not a string": _signed(_HS, {**_OK, "jti": 5}),
    "float exp": _signed(_HS, {**_OK, "exp": _NOW + 600.5}),
    "expired": _signed(_HS, {**_OK, "exp": _NOW - 1}),
    "exp missing": _signed(_HS, {"sub": "7"}),
    "exp a string": _signed(_HS, {**_OK, "exp": str(_NOW + 600)}),
    "exp a bool": _signed(_HS, {**_OK, "exp": True}),
    "sub missing": _signed(_HS, {"exp": _NOW + 600}),
    "sub a number": _signed(_HS, {**_OK, "sub": 7}),
    "sub zero": _signed(_HS, {**_OK, "sub": "0"}),
    "roles a string": _signed(_HS, {**_OK, "roles": "ADMIN"}),
    "iat in the future": _signed(_HS, {**_OK, "iat": _NOW + 3600}),
    "nbf in the future": _signed(_HS, {**_OK, "nbf": _NOW + 3600}),
    "nbf past": _signed(_HS, {**_OK, "nbf": _NOW - 60}),
    "iat a word": _signed(_HS, {**_OK, "iat": "yesterday"}),
    "audience": _signed(_HS, {**_OK, "aud": "shop"}),
    "alg none": _signed({"alg": "none"}, _OK),
    "alg none unsigned": f"{_part({'alg': 'none'})}.{_part(_OK)}.",
    "alg HS512": _signed({"alg": "HS512"}, _OK),
    "alg lower case": _signed({"alg": "hs256"}, _OK),
    "alg missing": _signed({"typ": "JWT"}, _OK),
    "header a list": _signed(["HS256"], _OK),
    "claims a list": _signed(_HS, [1, 2]),
    "claims not JSON": _signed(_HS, b"{not json"),
    "header not JSON": _signed(b"\xff\xfe", _OK),
    "crit": _signed({**_HS, "crit": ["exp"]}, _OK),
    "unencoded payload": _signed({**_HS, "b64": False, "crit": ["b64"]}, _OK),
    "another key": _signed(_HS, _OK, key="another-secret-that-is-at-least-32-bytes"),
    "claims tampered": f"{_head}.{_part({**_OK, 'sub': '8'})}.{_sig}",
    "header tampered": f"{_part({'alg': 'HS256', 'typ': 'X'})}.{_body}.{_sig}",
    "signature cut": _good[:-2],
    "signature of another token": f"{_head}.{_body}.{_signed(_HS, {**_OK, 'sub': '8'}).split('.')[2]}",
    "four parts": _good + ".x",
    "two parts": f"{_head}.{_body}",
    "empty": "",
    "dots only": "..",
    "not ascii": _good + "é",
    "garbage": "this-is-not-a-token",
}
#: Ours refuses these, PyJWT lets them through (it turns any value into an int, and ignores an
#: empty audience): stricter is safe, our own tokens never look like this.
OURS_STRICTER = {
    "iat a numeric string": _signed(_HS, {**_OK, "iat": str(_NOW - 5)}),
    "nbf a bool": _signed(_HS, {**_OK, "nbf": True}),
    "empty audience": _signed(_HS, {**_OK, "aud": ""}),
}


@pytest.mark.parametrize("name", SAME_VERDICT)
def test_the_verifier_gives_pyjwts_verdict(name):
    token = SAME_VERDICT[name]
    assert _ours_accepts(token, None) == _pyjwt_accepts(token, None)


@pytest.mark.parametrize("name", OURS_STRICTER)
def test_the_verifier_is_stricter_than_pyjwt_only_where_it_says(name):
    token = OURS_STRICTER[name]
    assert _pyjwt_accepts(token, None) and not _ours_accepts(token, None)


@pytest.mark.parametrize("issuer_in_token", [None, "https://id.shop", "https://evil", 5])
def test_the_issuer_gets_pyjwts_verdict(issuer_in_token):
    claims = _OK if issuer_in_token is None else {**_OK, "iss": issuer_in_token}
    token = _signed(_HS, claims)
    assert _ours_accepts(token, "https://id.shop") == _pyjwt_accepts(token, "https://id.shop")


def test_the_good_tokens_above_are_accepted():
    # The differential tests would pass with a verifier that refuses everything: not this one.
    for name in ("valid", "minted", "service", "no typ", "kid", "jti", "float exp", "nbf past"):
        assert _ours_accepts(SAME_VERDICT[name], None), name
