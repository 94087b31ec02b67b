"""The operational endpoints every service has (docs/conventions.md): public health, readiness of
PostgreSQL and Kafka (the order service uses no Redis), and its OpenAPI description."""


async def test_health_and_docs_need_no_token(client):
    for path in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
        assert (await client.get(path)).status_code == 200, path


async def test_ready_means_postgresql_and_kafka_answer(client):
    answer = await client.get("/health/ready")
    assert answer.json() == {"status": "UP", "checks": {"postgres": "UP", "kafka": "UP"}}


async def test_the_openapi_description_lists_the_public_and_internal_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {
        "/api/v1/orders",
        "/api/v1/orders/{orderId}",
        "/api/v1/orders/{orderId}/cancel",
        "/api/v1/users/{userId}/orders",
        "/internal/v1/orders/{orderId}",
        "/internal/v1/orders/{orderId}/paid",
        "/internal/v1/orders/{orderId}/refunded",
    } <= set(paths)
