"""Waiting out a dependency's outage: which errors say a dependency is away, and how the work is
tried again (without limit) for those and at once given up for the others."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis import exceptions as redis_errors

from commerce_kit.outages import RETRIED, Outages, dependency_away


def quick(work: str = "test") -> Outages:
    return Outages(work, first_delay=0.001, max_delay=0.005)


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379"), "redis"),
        (redis_errors.TimeoutError("Timeout reading from socket"), "redis"),
        (redis_errors.BusyLoadingError("Redis is loading the dataset in memory"), "redis"),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), "postgres"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), "postgres"),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), "postgres"),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), "postgres"),
        (
            asyncpg.InternalClientError("cannot perform operation: another operation is in progress"),
            "postgres",
        ),
        (ConnectionRefusedError(111, "Connect call failed"), "network"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), "network"),
        (TimeoutError(), "network"),
    ],
)
def test_errors_that_say_a_dependency_is_away(error, dependency):
    assert dependency_away(error) == dependency


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug"),
        ValueError("bad data"),
        KeyError("x"),
        redis_errors.ResponseError("ERR wrong number of arguments"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.DataError("invalid input"),
    ],
)
def test_other_errors_are_not_outages(error):
    assert dependency_away(error) is None


def test_an_outage_raised_as_the_cause_of_another_error_is_one():
    try:
        try:
            raise redis_errors.ConnectionError("reset by peer")
        except redis_errors.ConnectionError as exc:
            raise RuntimeError("could not take a unit") from exc
    except RuntimeError as wrapped:
        assert dependency_away(wrapped) == "redis"


def test_an_outage_behind_the_error_raised_on_leaving_a_transaction_is_one():
    # A connection cut inside `async with conn.transaction()` surfaces as an InterfaceError raised
    # while leaving the block; the cut is its context.
    try:
        try:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        except asyncpg.PostgresError:
            raise asyncpg.InterfaceError(  # noqa: B904 - as asyncpg raises it: the cut is only its context
                "cannot call Transaction.rollback(): the underlying connection is closed"
            )
    except asyncpg.InterfaceError as leaving:
        assert dependency_away(leaving) == "postgres"


async def test_the_work_is_tried_again_until_the_dependency_is_back_however_many_times_it_takes():
    tries = 0

    async def settle() -> str:
        nonlocal tries
        tries += 1
        if tries <= 30:  # far more than the kit's bounded retries (5) would allow
            raise redis_errors.ConnectionError("Connection refused")
        return "settled"

    before = RETRIED.labels("test", "redis")._value.get()
    assert await quick().wait_out(settle) == "settled"
    assert tries == 31
    assert RETRIED.labels("test", "redis")._value.get() - before == 30


async def test_any_other_error_is_raised_at_once():
    tries = 0

    async def settle() -> None:
        nonlocal tries
        tries += 1
        raise RuntimeError("a bug that only this request triggers")

    with pytest.raises(RuntimeError):
        await quick().wait_out(settle)
    assert tries == 1


async def test_an_error_of_another_kind_after_an_outage_is_raised_too():
    errors = [asyncpg.CannotConnectNowError("starting up"), ValueError("bad data")]

    async def settle() -> None:
        raise errors.pop(0)

    with pytest.raises(ValueError):
        await quick().wait_out(settle)
    assert not errors


async def test_waiting_ends_at_once_when_cancelled():
    started = asyncio.Event()

    async def settle() -> None:
        started.set()
        raise ConnectionRefusedError(111, "Connect call failed")

    waiting = asyncio.create_task(Outages("test", first_delay=60, max_delay=60).wait_out(settle))
    await asyncio.wait_for(started.wait(), 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)


def test_the_backoff_doubles_up_to_its_cap_jittered_down_to_half():
    outages = Outages("test", first_delay=0.1, max_delay=2.0)
    for attempt, base in [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.6), (6, 2.0), (100, 2.0), (10_000, 2.0)]:
        for _ in range(20):
            assert base / 2 <= outages.delay(attempt) <= base


async def test_periodic_work_skips_a_pass_while_a_dependency_is_away_and_raises_anything_else():
    async def away() -> int:
        raise redis_errors.ConnectionError("Connection refused")

    async def bug() -> None:
        raise RuntimeError("a bug")

    async def fine() -> int:
        return 3

    outages = quick()
    assert await outages.skip_if_away(away) is None
    assert await outages.skip_if_away(fine) == 3
    with pytest.raises(RuntimeError):
        await outages.skip_if_away(bug)
