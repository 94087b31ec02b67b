"""The read cache of the public pages: its staleness bound, invalidation and single flight, on a
clock the tests move by hand."""

import asyncio

import pytest

from catalog_service.service_layer.cache import ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Database:
    """Stands in for a query: counts the reads and answers the current value."""

    def __init__(self, value: object = "v1") -> None:
        self.value, self.reads = value, 0
        self.gate: asyncio.Event | None = None  # when set, a read waits for it (a slow query)

    async def read(self) -> object:
        self.reads += 1
        seen = self.value  # the snapshot is taken when the query starts
        if self.gate is not None:
            await self.gate.wait()
        return seen


async def started(db: Database, reads: int = 1) -> None:
    """Lets the event loop run until `reads` queries have started (bounded)."""
    for _ in range(100):
        if db.reads >= reads:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{reads} queries did not start")


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_a_fresh_page_is_answered_without_a_query(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()
    assert await cache.get(("detail", 1), db.read) == "v1"
    db.value = "v2"
    clock.now = 0.999
    assert await cache.get(("detail", 1), db.read) == "v1"
    assert db.reads == 1


async def test_a_page_is_read_again_once_the_bound_has_passed_since_its_query_started(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()
    db.gate = asyncio.Event()
    first = asyncio.create_task(cache.get(("detail", 1), db.read))
    await started(db)
    clock.now = 0.4  # the query took 0.4 s: the page is good until 1.0, not 1.4
    db.gate.set()
    assert await first == "v1"
    db.gate, db.value = None, "v2"
    clock.now = 1.0
    assert await cache.get(("detail", 1), db.read) == "v2"


async def test_invalidation_drops_only_the_pages_it_names(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()
    for key in [("detail", 1), ("detail", 2), ("list", None, 20)]:
        await cache.get(key, db.read)
    db.value = "v2"
    cache.invalidate(lambda key: key == ("detail", 1) or key[0] == "list")
    assert await cache.get(("detail", 1), db.read) == "v2"
    assert await cache.get(("list", None, 20), db.read) == "v2"
    assert await cache.get(("detail", 2), db.read) == "v1"


async def test_concurrent_misses_of_one_page_share_a_single_query(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()
    db.gate = asyncio.Event()
    readers = [asyncio.create_task(cache.get(("list", None, 20), db.read)) for _ in range(50)]
    await started(db)
    db.gate.set()
    assert await asyncio.gather(*readers) == ["v1"] * 50
    assert db.reads == 1


async def test_a_query_running_when_a_write_commits_is_not_kept_and_later_readers_do_not_join_it(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()
    db.gate = asyncio.Event()
    before_write = asyncio.create_task(cache.get(("detail", 1), db.read))
    await started(db)
    db.value = "v2"  # a write commits while the first query runs ...
    cache.invalidate(lambda key: key == ("detail", 1))  # ... and drops the page after its commit
    db.gate.set()
    assert await before_write == "v1"  # asked before the write: may see the state before it
    assert await cache.get(("detail", 1), db.read) == "v2"  # asked after: never does
    assert db.reads == 2


async def test_a_reader_that_goes_away_does_not_cancel_the_query_others_wait_for(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()
    db.gate = asyncio.Event()
    leaving = asyncio.create_task(cache.get(("detail", 1), db.read))
    staying = asyncio.create_task(cache.get(("detail", 1), db.read))
    await started(db)
    leaving.cancel()
    db.gate.set()
    assert await staying == "v1"
    assert db.reads == 1


async def test_a_failed_query_is_not_kept(clock):
    cache, db = ReadCache(1.0, clock=clock), Database()

    async def broken() -> object:
        raise LookupError("not found")

    with pytest.raises(LookupError):
        await cache.get(("detail", 1), broken)
    assert await cache.get(("detail", 1), db.read) == "v1"


async def test_the_cache_keeps_a_bounded_number_of_pages_dropping_the_least_recently_used(clock):
    cache, db = ReadCache(1.0, max_entries=2, clock=clock), Database()
    await cache.get(("list", 1, 20), db.read)
    await cache.get(("list", 2, 20), db.read)
    await cache.get(("list", 1, 20), db.read)  # used again: 2 is now the oldest
    await cache.get(("list", 3, 20), db.read)
    assert len(cache) == 2
    reads = db.reads
    await cache.get(("list", 1, 20), db.read)
    assert db.reads == reads
    await cache.get(("list", 2, 20), db.read)
    assert db.reads == reads + 1


async def test_a_bound_of_zero_turns_the_cache_off(clock):
    cache, db = ReadCache(0, clock=clock), Database()
    for _ in range(3):
        await cache.get(("detail", 1), db.read)
    assert db.reads == 3 and len(cache) == 0
