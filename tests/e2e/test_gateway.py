"""Through the gateway, as a client sees the suite: routing, problem+json errors, limits, health,
docs, and the user service's wallet end to end."""

from __future__ import annotations

import uuid

import httpx

PROBLEM = "application/problem+json"


def assert_problem(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body = answer.json()
    assert body["code"] == code and body["status"] == status, body


def new_user(gateway: httpx.Client, suite, name: str = "E2E") -> int:
    answer = gateway.post("/api/v1/admin/users", json={"name": name}, headers=suite.auth(1, admin=True))
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == name
    return answer.json()["id"]


def test_health_is_up_when_every_service_is_ready(gateway, suite):
    answer = gateway.get("/health")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "UP", "services": {s.name: "UP" for s in suite.services}}
    assert gateway.get("/gateway/ping").json() == {"status": "UP"}


def test_an_unknown_path_is_a_problem_404(gateway, suite):
    assert_problem(gateway.get("/api/v1/no-such-thing", headers=suite.auth(1)), 404, "NOT_FOUND")
    assert_problem(gateway.get("/api/v1/admin/usersX", headers=suite.auth(1, admin=True)), 404, "NOT_FOUND")


def test_internal_routes_are_not_reachable_through_the_gateway(gateway, suite):
    path = "/internal/v1/payments/1/debit"
    # The route exists on the service (it wants a SERVICE token) ...
    direct = httpx.get(suite.service_url("user") + path, headers=suite.auth(1, admin=True))
    assert direct.status_code == 403, direct.text
    # ... but the gateway does not publish it.
    assert_problem(gateway.get(path, headers=suite.auth(1, admin=True)), 404, "NOT_FOUND")
    # Nor through encoded dot segments (httpx would resolve plain ones itself): nginx routes on the
    # decoded, resolved path, which is /internal/... here.
    sneaky = gateway.get("/api/v1/users/1/balance" + "/%2e%2e" * 5 + path, headers=suite.auth(1))
    assert_problem(sneaky, 404, "NOT_FOUND")


def test_a_body_over_64k_is_refused_with_413(gateway, suite):
    body = '{"name":"' + "x" * (65 * 1024) + '"}'
    answer = gateway.post(
        "/api/v1/admin/users",
        content=body,
        headers={
            **suite.auth(1, admin=True),
            "Content-Type": "application/json",
        },
    )
    assert_problem(answer, 413, "PAYLOAD_TOO_LARGE")


def test_a_user_charges_and_reads_balance_and_transactions(gateway, suite):
    user_id = new_user(gateway, suite, "Erin")
    me = suite.auth(user_id)
    wallet = f"/api/v1/users/{user_id}"
    assert gateway.get(f"{wallet}/balance", headers=me).json() == {"userId": user_id, "balance": 0}

    key = {"Idempotency-Key": str(uuid.uuid4())}
    charged = gateway.post(f"{wallet}/balance/charge", json={"amount": 15_000}, headers=me | key)
    assert charged.status_code == 200, charged.text
    assert charged.json()["balance"] == 15_000
    replay = gateway.post(f"{wallet}/balance/charge", json={"amount": 15_000}, headers=me | key)
    assert replay.json() == charged.json()  # replayed, not charged twice

    balance = gateway.get(f"{wallet}/balance", headers=me)
    assert balance.json() == {"userId": user_id, "balance": 15_000}
    items = gateway.get(f"{wallet}/transactions", headers=me).json()["items"]
    assert [(t["type"], t["amount"], t["balanceAfter"]) for t in items] == [("CHARGE", 15_000, 15_000)]
    assert items[0]["id"] == charged.json()["transactionId"]
    assert "x-request-id" in balance.headers


def test_another_users_token_is_forbidden(gateway, suite):
    owner, other = new_user(gateway, suite, "Owner"), new_user(gateway, suite, "Other")
    intruder = suite.auth(other)
    # The service's own problem answers pass through the gateway untouched.
    assert_problem(gateway.get(f"/api/v1/users/{owner}/balance", headers=intruder), 403, "FORBIDDEN")
    charge = gateway.post(f"/api/v1/users/{owner}/balance/charge", json={"amount": 1000}, headers=intruder)
    assert_problem(charge, 403, "FORBIDDEN")
    assert_problem(gateway.get(f"/api/v1/users/{owner}/balance"), 401, "UNAUTHENTICATED")


def test_each_service_documents_itself_under_docs(gateway, suite):
    page = gateway.get("/docs/user")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/docs/user/openapi.json" in page.text  # Swagger UI knows it sits under the prefix
    spec = gateway.get("/docs/user/openapi.json")
    assert spec.status_code == 200, spec.text
    assert "/api/v1/users/{userId}/balance" in spec.json()["paths"]
