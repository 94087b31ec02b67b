"""With tracing on, a consumer's handler runs in the trace whose context the message's headers carry
(a batch's: its first message's), in memory on FastStream's TestKafkaBroker."""

from __future__ import annotations

from faststream.kafka import TestKafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from commerce_contracts import encode_event
from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit import telemetry
from commerce_kit.messaging import BatchConsumer, Consumer, create_broker, subscribe, subscribe_batch
from commerce_kit.settings import ServiceSettings
from commerce_kit.testing.events import payment_completed as payment


class Settings(ServiceSettings):
    service = "user"


def current_trace() -> int:
    return trace.get_current_span().get_span_context().trace_id


async def test_handlers_run_in_the_trace_of_the_message_they_handle():
    # Once per process: when test_telemetry configured it first, its processor stays.
    telemetry.configure_tracing("kit-test", None, processor=SimpleSpanProcessor(InMemorySpanExporter()))
    settings, seen = Settings(), []

    async def one(event: PaymentCompleted) -> None:
        seen.append(("one", current_trace()))

    async def many(events: list[PaymentCompleted]) -> None:
        seen.append(("many", current_trace()))

    singles, batches = create_broker(settings, client_id="t1"), create_broker(settings, client_id="t2")
    subscribe(singles, settings, Consumer(PAYMENT_COMPLETED, "g1", one))
    subscribe_batch(batches, settings, BatchConsumer(PAYMENT_COMPLETED, "g2", many))
    with telemetry.tracer("test").start_as_current_span("producer") as span:
        headers = {k: v.decode() for k, v in telemetry.inject_headers()}
        producer_trace = span.get_span_context().trace_id
    topic = settings.topic(PAYMENT_COMPLETED.name)
    async with TestKafkaBroker(singles.faststream) as memory:
        await memory.publish(encode_event(payment(1)), topic, key=b"1", headers=headers)
    async with TestKafkaBroker(batches.faststream) as memory:
        await memory.publish_batch(
            encode_event(payment(2)), encode_event(payment(3)), topic=topic, headers=headers
        )
    assert seen == [("one", producer_trace), ("many", producer_trace)]
