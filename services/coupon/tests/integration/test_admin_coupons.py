"""The admin's coupon policies (API.md "Coupons"), on a real database."""

from datetime import datetime

from commerce_kit.testing import tokens


async def test_an_admin_creates_a_rate_coupon_with_its_whole_quantity_left(client, problem):
    body = {
        "name": "  Welcome 10%  ",
        "discountType": "RATE",
        "discountValue": 10,
        "maxDiscountAmount": 5_000,
        "targetProductId": 42,
        "totalQuantity": 1_000,
        "validDays": 30,
        "issueStartAt": "2026-03-01T09:00:00+09:00",
        "issueEndAt": "2026-03-08T00:00:00Z",
    }
    answer = await client.post("/api/v1/admin/coupons", json=body, headers=tokens.admin())
    assert answer.status_code == 201, answer.text
    coupon = answer.json()
    assert coupon["id"] >= 1 and datetime.fromisoformat(coupon["createdAt"]).tzinfo is not None
    assert {k: v for k, v in coupon.items() if k not in {"id", "createdAt"}} == {
        "name": "Welcome 10%",
        "discountType": "RATE",
        "discountValue": 10,
        "maxDiscountAmount": 5_000,
        "targetProductId": 42,
        "totalQuantity": 1_000,
        "validDays": 30,
        "issueStartAt": "2026-03-01T00:00:00Z",  # the same instant, in UTC
        "issueEndAt": "2026-03-08T00:00:00Z",
        "issuedQuantity": 0,
        "remainingQuantity": 1_000,
    }


async def test_a_fixed_coupon_needs_only_its_required_fields(new_coupon):
    coupon = await new_coupon(
        name="3,000 won off", discountType="FIXED", discountValue=3_000, maxDiscountAmount=None
    )
    assert coupon["discountType"] == "FIXED" and coupon["discountValue"] == 3_000
    assert coupon["maxDiscountAmount"] is None and coupon["targetProductId"] is None
    assert coupon["issueStartAt"] is None and coupon["issueEndAt"] is None


async def test_an_admin_reads_a_coupon_with_what_was_issued_and_what_is_left(
    client, new_coupon, issuing, fresh_id
):
    coupon = await new_coupon(totalQuantity=5)
    for _ in range(3):
        await issuing.issue_to(fresh_id(), coupon["id"])
    answer = await client.get(f"/api/v1/admin/coupons/{coupon['id']}", headers=tokens.admin())
    assert answer.status_code == 200
    assert answer.json() == coupon | {"issuedQuantity": 3, "remainingQuantity": 2}


async def test_an_unknown_coupon_is_not_found(client, problem):
    answer = await client.get("/api/v1/admin/coupons/987654321", headers=tokens.admin())
    problem(answer, 404, "COUPON_NOT_FOUND")


async def test_a_user_may_neither_create_nor_read_coupon_policies(client, new_coupon, pool, problem):
    coupon = await new_coupon()
    before = await pool.fetchval("SELECT count(*) FROM coupons")
    created = await client.post(
        "/api/v1/admin/coupons", json={"name": "Mine", "discountType": "RATE"}, headers=tokens.bearer(5)
    )
    problem(created, 403, "FORBIDDEN")
    read = await client.get(f"/api/v1/admin/coupons/{coupon['id']}", headers=tokens.bearer(5))
    problem(read, 403, "FORBIDDEN")
    assert await pool.fetchval("SELECT count(*) FROM coupons") == before


async def test_the_admin_api_needs_a_valid_token(client, problem):
    for headers in ({}, {"Authorization": "Bearer not.a.jwt"}, tokens.admin(secret="x" * 40)):
        answer = await client.get("/api/v1/admin/coupons/1", headers=headers)
        problem(answer, 401, "UNAUTHENTICATED")


async def test_health_metrics_and_docs_need_no_token(client):
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"):
        assert (await client.get(path)).status_code == 200, path
    ready = await client.get("/health/ready")
    assert ready.json()["checks"] == {"postgres": "UP", "redis": "UP", "kafka": "UP"}
