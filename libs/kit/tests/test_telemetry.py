"""Traces cross HTTP and Kafka: the context travels in headers, spans are recorded."""

import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from commerce_kit import telemetry

EXPORTER = InMemorySpanExporter()


def test_kafka_headers_carry_the_trace_context():
    telemetry.configure_tracing("kit-test", None, processor=SimpleSpanProcessor(EXPORTER))
    tracer = telemetry.tracer("test")
    with tracer.start_as_current_span("producer") as span:
        headers = telemetry.inject_headers()
        trace_id = span.get_span_context().trace_id
    assert any(k == "traceparent" for k, _ in headers)
    with tracer.start_as_current_span("consumer", context=telemetry.extract_context(headers)) as child:
        assert child.get_span_context().trace_id == trace_id


async def test_http_requests_are_traced_when_tracing_is_on():
    from commerce_kit.testing.apps import bare_app

    telemetry.configure_tracing("kit-test", None, processor=SimpleSpanProcessor(EXPORTER))
    router = APIRouter()

    @router.get("/traced")
    async def traced() -> dict:
        return {"trace": f"{trace.get_current_span().get_span_context().trace_id:032x}"}

    app = bare_app(router, service="kit-test", secret="x" * 32)
    telemetry.instrument_app(app)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answer = await client.get("/traced", headers={"traceparent": parent})
    assert answer.json()["trace"] == "0af7651916cd43dd8448eb211c80319c"  # the caller's trace continues
    assert any(s.name.startswith("GET") for s in EXPORTER.get_finished_spans())


async def test_calls_to_other_services_carry_the_trace_context():
    """ServiceClient (aiohttp) is instrumented with tracing on: the callee sees the caller's trace."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from commerce_kit.auth import ServiceToken
    from commerce_kit.clients import ServiceClient

    telemetry.configure_tracing("kit-test", None, processor=SimpleSpanProcessor(EXPORTER))
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/internal/v1/x", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = ServiceClient("other", f"http://127.0.0.1:{server.port}", ServiceToken("s" * 32, "tests"))
    try:
        with telemetry.tracer("test").start_as_current_span("caller") as span:
            await client.get("/internal/v1/x")
            trace_id = f"{span.get_span_context().trace_id:032x}"
    finally:
        await client.aclose()
        await server.close()
    assert seen and seen[0].split("-")[1] == trace_id
