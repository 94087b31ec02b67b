import pytest
from pydantic import ValidationError

from commerce_kit.errors import ValidationFailed
from commerce_kit.paging import decode_cursor, encode_cursor, page_of
from commerce_kit.settings import LOCAL_JWT_SECRET, ServiceSettings


class CouponSettings(ServiceSettings):
    service = "coupon"


def test_a_service_may_have_its_own_database(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/commerce")
    monkeypatch.setenv("COUPON_DATABASE_URL", "postgresql://coupons-only/commerce")
    assert CouponSettings().database_url == "postgresql://coupons-only/commerce"


def test_the_shared_database_is_the_default(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/commerce")
    monkeypatch.delenv("COUPON_DATABASE_URL", raising=False)
    settings = CouponSettings()
    assert settings.database_url == "postgresql://shared/commerce" and settings.db_schema == "coupons"


def test_ports_and_service_urls_follow_the_port_base(monkeypatch):
    monkeypatch.setenv("SERVICE_PORT_BASE", "18100")
    monkeypatch.delenv("USER_SERVICE_URL", raising=False)
    settings = CouponSettings()
    assert settings.port == 18103
    assert settings.service_url("user") == "http://127.0.0.1:18101"
    monkeypatch.setenv("USER_SERVICE_URL", "http://user.commerce.svc:8000/")
    assert settings.service_url("user") == "http://user.commerce.svc:8000"


def test_topics_take_the_prefix(monkeypatch):
    monkeypatch.setenv("TOPIC_PREFIX", "test1.")
    assert CouponSettings().topic("coupon-issue") == "test1.coupon-issue"


def test_production_refuses_the_local_secret(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", LOCAL_JWT_SECRET)
    with pytest.raises(ValidationError):
        CouponSettings()
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    assert CouponSettings().app_env == "production"


def test_a_short_secret_is_refused(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "short")
    with pytest.raises(ValidationError):
        CouponSettings()


def test_a_cursor_round_trips():
    assert decode_cursor(encode_cursor([123]), 1) == [123]
    assert decode_cursor(encode_cursor(["2026-01-01", 5]), 2) == ["2026-01-01", 5]
    assert decode_cursor(None) is None and decode_cursor("") is None


def raw_cursor(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm90IGpzb24",
        raw_cursor("[18446744073709551616]"),
        raw_cursor("[9223372036854775808]"),
        encode_cursor([True]),
        encode_cursor([1, 2]),
        raw_cursor('{"a": 1}'),
        raw_cursor("[1.5]"),
    ],
)
def test_a_bad_cursor_is_a_validation_error(cursor):
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, 1)


def test_a_page_knows_whether_another_follows():
    rows = list(range(10, 0, -1))
    items, cursor = page_of(rows[:4], 3, lambda r: (r,))
    assert items == [10, 9, 8] and decode_cursor(cursor) == [8]
    items, cursor = page_of(rows[:3], 3, lambda r: (r,))
    assert items == [10, 9, 8] and cursor is None
