"""Creating a suite's topics under a prefix, and deleting them when done, on the real broker."""

from __future__ import annotations

import secrets

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from commerce_kit.messaging import delete_topics, ensure_topics, suite_topics
from commerce_kit.testing import eventually


async def topics_under(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(name for name in await admin.list_topics() if name.startswith(prefix))
    finally:
        await admin.close()


async def test_a_prefixs_topics_are_created_and_then_deleted(infra, namespace):
    prefix = f"{namespace}.{secrets.token_hex(3)}."
    wanted = [*suite_topics(prefix), (f"{prefix}later.stock-events", 1)]  # and one of the test's own
    await ensure_topics(infra.kafka_bootstrap, wanted)

    async def created() -> bool:  # the broker's metadata may lag its answer to the creation a moment
        return await topics_under(infra.kafka_bootstrap, prefix) == sorted(name for name, _ in wanted)

    await eventually(created, timeout=30, what=f"the topics under {prefix} created")

    await delete_topics(infra.kafka_bootstrap, prefix)

    async def gone() -> bool:
        return not await topics_under(infra.kafka_bootstrap, prefix)

    await eventually(gone, timeout=30, what=f"the topics under {prefix} deleted")


async def test_deleting_on_a_broker_that_is_not_there_does_not_fail_the_caller():
    await delete_topics("127.0.0.1:1", "nowhere.")  # logs a warning, raises nothing


async def test_an_empty_prefix_is_refused_rather_than_taken_for_every_topic():
    with pytest.raises(ValueError):
        await delete_topics("127.0.0.1:1", "")
