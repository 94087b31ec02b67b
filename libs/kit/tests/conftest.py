from __future__ import annotations

import secrets

import pytest
import pytest_asyncio

from commerce_kit.messaging import ensure_topics, suite_topics
from commerce_kit.settings import ServiceSettings


class KitSettings(ServiceSettings):
    service = "user"  # any service: the kit's tests only need its settings' shape


@pytest.fixture(scope="session")
def kit_settings(test_env) -> KitSettings:
    return KitSettings(**test_env)


@pytest_asyncio.fixture
async def fresh_topics(infra, namespace) -> str:
    """A topic prefix of this test's own, so that no earlier test's messages reach it."""
    prefix = f"{namespace}.{secrets.token_hex(3)}."
    await ensure_topics(infra.kafka_bootstrap, suite_topics(prefix))
    return prefix
