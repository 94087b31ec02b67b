"""Topic administration: the suite's topics created with their partition counts (local runs and
tests; Kubernetes uses KafkaTopic resources), and deleted under a prefix when a test is done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


def suite_topics(prefix: str = "") -> list[tuple[str, int]]:
    """Every topic of the suite and its dead-letter topic, under `prefix`, with its partitions."""
    from commerce_contracts import TOPICS

    names: list[tuple[str, int]] = []
    for topic in TOPICS:
        names.append((prefix + topic.name, topic.partitions))
        names.append((prefix + topic.dead_letter, 1))
    return names


async def ensure_topics(bootstrap: str, names_and_partitions: Sequence[tuple[str, int]]) -> None:
    """Create the topics that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, p, 1) for n, p in names_and_partitions if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:  # another process won the race
                pass
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic under `prefix`, which a test or a bench run made for itself, when it is
    done (best effort: a broker that is away keeps them). Left behind, they pile up on a long-lived
    broker, whose heap and collector then grow with their partitions until they stall the machine."""
    if not prefix:
        raise ValueError("no prefix: that would be every topic of the broker")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(30):
            await admin.start()
            names = [name for name in await admin.list_topics() if name.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
    except Exception as exc:  # cleanup only: say so, never fail the run that asked for it
        log.warning("could not delete the topics under %r: %r", prefix, exc)
    finally:
        await admin.close()
