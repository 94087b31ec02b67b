"""Logs and traces.

Logs are one JSON object per line on stdout, with the trace and span ids when a span is active.
Traces are OpenTelemetry spans: HTTP server spans (ASGI), HTTP client spans (aiohttp) and asyncpg
spans, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Kafka messages carry the
W3C trace context in their headers (`inject_headers` / `extract_context`), so a trace crosses the
outbox, the broker and the consumer. Without an endpoint nothing is instrumented: the hot paths pay
nothing for tracing they would throw away.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

import orjson
from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = f"{span.trace_id:032x}"
            entry["span_id"] = f"{span.span_id:016x}"
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_tracing(service: str, endpoint: str | None, *, processor: SpanProcessor | None = None) -> bool:
    """Install the tracer provider once per process. `processor` lets tests collect spans in memory."""
    global _configured
    if _configured:
        return True
    if not endpoint and processor is None:
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": f"commerce-{service}"}))
    if processor is not None:
        provider.add_span_processor(processor)
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))
        )
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AioHttpClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()
    _configured = True
    return True


def instrument_app(app: FastAPI) -> None:
    if _configured:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.add_middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])


def tracing() -> bool:
    """Tracing is on: spans are recorded (and worth making)."""
    return _configured


def inject_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers (empty when no span is active)."""
    if not _configured:  # no tracing: no span is ever active, and the hot routes skip the propagator
        return []
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]


def extract_context(headers: Iterable[tuple[str, bytes | str]] | None) -> context.Context:
    carrier = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in (headers or ())}
    return propagate.extract(carrier)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
