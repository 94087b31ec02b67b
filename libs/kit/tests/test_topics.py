"""Creating a suite's topics under a prefix, and deleting them when done, on the real broker."""

from __future__ import annotations

import secrets

from commerce_kit.messaging import delete_topics, ensure_topics, suite_topics, topics_under
from commerce_kit.testing import eventually


async def test_a_prefixs_topics_are_created_and_then_deleted(infra, namespace):
    prefix = f"{namespace}.{secrets.token_hex(3)}."
    wanted = suite_topics(prefix)
    await ensure_topics(infra.kafka_bootstrap, wanted)
    assert await topics_under(infra.kafka_bootstrap, prefix) == sorted(name for name, _ in wanted)

    await delete_topics(infra.kafka_bootstrap, [name for name, _ in wanted])

    async def gone() -> bool:
        return not await topics_under(infra.kafka_bootstrap, prefix)

    await eventually(gone, timeout=30, what=f"the topics under {prefix} deleted")


async def test_deleting_on_a_broker_that_is_not_there_does_not_fail_the_caller():
    await delete_topics("127.0.0.1:1", ["nowhere.coupon-issue"])  # logs a warning, raises nothing
