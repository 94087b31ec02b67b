"""Topics under a prefix of one's own, for a test session, a test, or a suite a test starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from commerce_kit.messaging import delete_topics, ensure_topics, suite_topics


@asynccontextmanager
async def topics_of_its_own(bootstrap: str, prefix: str) -> AsyncIterator[str]:
    """Every suite topic under `prefix` for the block; afterwards every topic under it is deleted,
    those the block made itself too (left behind, they pile up on the broker: `delete_topics`)."""
    await ensure_topics(bootstrap, suite_topics(prefix))
    try:
        yield prefix
    finally:
        await delete_topics(bootstrap, prefix)
