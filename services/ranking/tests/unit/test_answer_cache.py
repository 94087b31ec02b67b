"""The in-process cache of answers: kept for its TTL, forgotten on this instance's writes, loaded
once for many concurrent misses, and never keeping an answer read before a write."""

import asyncio

import pytest

from ranking_service.service_layer.cache import AnswerCache


class Loads:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> int:
        self.count += 1
        return self.count


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_answer_is_served_again_until_its_ttl_has_passed():
    clock, load = Clock(), Loads()
    cache: AnswerCache[int] = AnswerCache(5, clock=clock)
    assert await cache.get("k", load) == 1
    clock.now += 4.9
    assert await cache.get("k", load) == 1
    clock.now += 0.2
    assert await cache.get("k", load) == 2


async def test_each_key_has_its_own_answer():
    load = Loads()
    cache: AnswerCache[int] = AnswerCache(5)
    assert [await cache.get(k, load) for k in ("a", "b", "a")] == [1, 2, 1]


async def test_clear_forgets_every_answer():
    load = Loads()
    cache: AnswerCache[int] = AnswerCache(5)
    await cache.get("k", load)
    cache.clear()
    assert await cache.get("k", load) == 2


async def test_concurrent_misses_share_one_load():
    calls, gate = 0, asyncio.Event()

    async def slow() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "answer"

    cache: AnswerCache[str] = AnswerCache(5)
    readers = [asyncio.create_task(cache.get("k", slow)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*readers) == ["answer"] * 20
    assert calls == 1


async def test_an_answer_loaded_across_a_write_is_not_kept():
    gate, load = asyncio.Event(), Loads()

    async def read_before_the_write() -> int:
        await gate.wait()
        return -1  # what the database held before the write

    cache: AnswerCache[int] = AnswerCache(5)
    early = asyncio.create_task(cache.get("k", read_before_the_write))
    await asyncio.sleep(0)
    cache.clear()  # the write commits while the read is on its way
    gate.set()
    assert await early == -1
    assert await cache.get("k", load) == 1  # a later reader does not get the stale answer


async def test_a_failed_load_is_not_kept():
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("the database went away")
        return "answer"

    cache: AnswerCache[str] = AnswerCache(5)
    with pytest.raises(ConnectionError):
        await cache.get("k", flaky)
    assert await cache.get("k", flaky) == "answer"


async def test_a_ttl_of_zero_caches_nothing():
    load = Loads()
    cache: AnswerCache[int] = AnswerCache(0)
    assert [await cache.get("k", load) for _ in range(3)] == [1, 2, 3]


async def test_a_full_cache_makes_room():
    load = Loads()
    cache: AnswerCache[int] = AnswerCache(5, max_entries=3)
    for key in range(10):
        await cache.get(key, load)
    assert await cache.get(9, load) == 10  # the latest is kept
    assert len(cache._entries) <= 3
