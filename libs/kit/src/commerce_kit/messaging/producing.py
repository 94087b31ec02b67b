"""Publishing: the producer of a service's broker, and FastPublisher for a route that publishes
itself. Both are RenewingProducers (`renewal`): acks=all, idempotent, renewed when poisoned."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from commerce_contracts import Event, Topic, encode_event
from commerce_kit import telemetry
from commerce_kit.messaging.renewal import RenewingProducer
from commerce_kit.settings import ServiceSettings


def create_producer(settings: ServiceSettings, *, client_id: str, linger_ms: int = 2) -> RenewingProducer:
    """`linger_ms`: how long aiokafka holds a batch for more messages before it sends it."""
    return RenewingProducer(
        lambda: AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            request_timeout_ms=10_000,
        )
    )


class FastPublisher:
    """Publishing on a hot path (the coupon issue route), many messages per aiokafka call.

    A request queues its message and awaits a future. One sender task hands what is queued to
    aiokafka as one record batch per partition (`create_batch` / `send_batch`), and each batch's
    acknowledgement settles its requests. While aiokafka holds a partition's batch (it hands over
    a new one only when the previous one went out), requests keep queueing, so the next batch takes
    them all: the busier the route, the bigger the batches, and nothing waits for a timer (a lone
    request goes out at once). aiokafka's per-message `send` costs a metadata wait, an accumulator
    append, a future and a wake-up per request, which this pays once per batch. Same guarantees as
    `send`: acks=all, the idempotent producer (renewed when poisoned: RenewingProducer), the key's
    partition as aiokafka's default partitioner picks it, per-partition order as queued (one
    sender, batches handed over in order), the trace context in each message's headers."""

    def __init__(self, settings: ServiceSettings, *, client_id: str) -> None:
        self.settings = settings
        # The batches handed over are whole already: aiokafka's linger would hold each one longer
        # (it lingers batches added with send_batch too), a latency every request of the route pays.
        self.producer = create_producer(settings, client_id=client_id, linger_ms=0)
        self._partitioner = DefaultPartitioner()
        self._queued: list[_Queued] = []
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        await self.producer.stop()

    async def publish(self, topic: Topic, event: Event) -> None:
        """Publish and wait for the broker's acknowledgement."""
        await self.publish_encoded(topic, event.key.encode(), encode_event(event))

    async def publish_encoded(self, topic: Topic, key: bytes, value: bytes) -> None:
        """`publish` for an event its caller encoded already (an event of `topic`, keyed as it says)."""
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append(
            _Queued(self.settings.topic(topic.name), key, value, telemetry.inject_headers(), acked)
        )
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_queued())  # runs on the loop's next turn
        await acked

    async def _send_queued(self) -> None:
        while self._queued:
            queued, self._queued = self._queued, []
            handed: set[int] = set()  # ids of the messages aiokafka has: their acks settle them
            try:
                await self._hand_over(queued, handed)
            except BaseException as exc:  # the requests not handed over learn of it (and answer 503)
                cause = exc if isinstance(exc, Exception) else RuntimeError("cancelled")
                _fail_queued([q for q in queued if id(q) not in handed], cause)
                if not isinstance(exc, Exception):
                    _fail_queued(self._queued, RuntimeError("cancelled"))
                    raise

    async def _hand_over(self, queued: list[_Queued], handed: set[int]) -> None:
        by_partition: dict[tuple[str, int], list[_Queued]] = {}
        partitions: dict[str, list[int]] = {}
        chosen: dict[tuple[str, bytes], int] = {}  # a flood's messages share a key: hash it once
        for q in queued:
            partition = chosen.get((q.topic, q.key))
            if partition is None:
                if q.topic not in partitions:
                    partitions[q.topic] = sorted(await self.producer.producer.partitions_for(q.topic))
                every = partitions[q.topic]
                partition = chosen[(q.topic, q.key)] = self._partitioner(q.key, every, every)
            by_partition.setdefault((q.topic, partition), []).append(q)
        for (topic, partition), messages in by_partition.items():
            while messages:
                batch, messages = self._fill(messages)
                sent = await self.producer.send_batch(batch.builder, topic, partition=partition)
                sent.add_done_callback(partial(_acknowledge, batch.messages))
                handed.update(id(q) for q in batch.messages)

    def _fill(self, messages: list[_Queued]) -> tuple[_Batch, list[_Queued]]:
        """As many of `messages` as one record batch holds (at least one), and the rest."""
        builder = self.producer.create_batch()
        taken = 0
        for q in messages:
            if builder.append(timestamp=None, key=q.key, value=q.value, headers=q.headers) is None:
                break
            taken += 1
        if taken == 0:
            raise ValueError(f"a message of {len(messages[0].value)} bytes does not fit a record batch")
        return _Batch(builder, messages[:taken]), messages[taken:]


class _Queued(NamedTuple):  # a tuple: one is made per request of the hottest route
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    acked: asyncio.Future[None]


@dataclass(frozen=True)
class _Batch:
    builder: Any
    messages: list[_Queued]


def _acknowledge(messages: list[_Queued], sent: asyncio.Future[Any]) -> None:
    if sent.cancelled():
        _fail_queued(messages, RuntimeError("the batch was cancelled"))
    elif (exc := sent.exception()) is not None:
        _fail_queued(messages, exc)
    else:
        for q in messages:
            if not q.acked.done():
                q.acked.set_result(None)


def _fail_queued(messages: list[_Queued], exc: BaseException) -> None:
    for q in messages:
        if not q.acked.done():
            q.acked.set_exception(exc)
