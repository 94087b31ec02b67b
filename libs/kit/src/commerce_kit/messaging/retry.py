"""The retry policy of every subscription (`consuming` applies it to each message or batch):

- bounded retries with jittered exponential backoff (`Retry`), then the message goes to its topic's
  dead-letter topic (`<topic>.dlt`) with the reason in its headers, and the partition moves on;
- an outage of our own infrastructure (PostgreSQL, Redis: `commerce_kit.outages`) is not a failure:
  the call is tried again, without limit, until it is over; the partition waits meanwhile;
- a handler raises `Permanent` for a message no retry can fix: it is parked at once;
- each parked message is told to the subscription's `on_dead_letter` hook.

Handlers must be idempotent (redelivery happens: a crash between the effect and the commit): the
`inbox` module gives them the `INSERT ... ON CONFLICT DO NOTHING` guard in the effect's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from commerce_contracts import Event, Topic
from commerce_kit import metrics
from commerce_kit.messaging.renewal import RenewingProducer
from commerce_kit.outages import Outages

log = logging.getLogger(__name__)

DeadLetterHook = Callable[[Event | None, str], Awaitable[None]]


class Permanent(Exception):
    """Raised by a handler for a message no retry can fix: it goes to the dead-letter topic at once."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter: instances do not retry in step


@dataclass(frozen=True)
class Failure:
    reason: str
    attempts: int


@dataclass(frozen=True)
class Parked:
    """A record for the dead-letter topic: the event it holds (None when it holds none) and why."""

    record: Any  # aiokafka's ConsumerRecord
    event: Event | None
    failure: Failure


class RetryPolicy:
    """One subscription's retries and dead letters. `group` is the consumer group (prefixed),
    `topic_name` and `dead_letter_topic` the prefixed names of `topic` and of its dead-letter topic."""

    def __init__(
        self,
        producer: RenewingProducer,
        *,
        group: str,
        topic: Topic,
        dead_letter_topic: str,
        retry: Retry,
        outages: Outages,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> None:
        self.producer, self.group, self.topic, self.dead_letter_topic = (
            producer,
            group,
            topic,
            dead_letter_topic,
        )
        self.retry, self.outages, self.on_dead_letter = retry, outages, on_dead_letter
        self._handled = metrics.CONSUMED.labels(group, topic.name, "handled")
        self._retried = metrics.CONSUMED.labels(group, topic.name, "retried")
        self._dead_lettered = metrics.CONSUMED.labels(group, topic.name, "dead_lettered")

    async def attempt(self, call: Callable[[], Awaitable[Any]]) -> Failure | None:
        """Run `call` under the policy: None when it succeeded, else why it finally failed."""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                await self.outages.wait_out(call)  # only other errors count as attempts
                return None
            except Permanent as exc:
                return Failure(f"permanent: {exc}", attempt)
            except Exception as exc:
                if attempt == self.retry.attempts:
                    return Failure(f"failed {attempt} times, last: {type(exc).__name__}: {exc}", attempt)
                self._retried.inc()
                log.warning("handler of %s failed (attempt %d), retrying: %r", self.group, attempt, exc)
                await asyncio.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")

    async def park(self, parked: Sequence[Parked]) -> None:
        """Write each to the dead-letter topic, in order (it keeps the partition's order), and tell
        the hook. Raises when the dead-letter topic cannot be written: the message is not safe."""
        for one in parked:
            await self._park(one)

    async def _park(self, parked: Parked) -> None:
        record, reason = parked.record, parked.failure.reason
        headers = {
            "x-dead-letter-reason": reason[:1000],
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
            "x-consumer-group": self.group,
            "x-attempts": str(parked.failure.attempts),
        }
        await self.producer.send_and_wait(
            self.dead_letter_topic,
            record.value,
            key=record.key,
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        self._dead_lettered.inc()
        log.error(
            "message parked in %s: %s",
            self.dead_letter_topic,
            reason,
            extra={"fields": {"offset": record.offset, "partition": record.partition, "group": self.group}},
        )
        if self.on_dead_letter is not None:
            hook, event = self.on_dead_letter, parked.event
            try:
                await self.outages.wait_out(lambda: hook(event, reason))
            except Exception:  # the message is safe in the dead-letter topic; do not block the partition
                log.exception("the dead-letter hook of %s failed", self.group)

    def handled(self, count: int = 1) -> None:
        self._handled.inc(count)
