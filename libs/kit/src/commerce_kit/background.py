"""Background work a service runs beside its HTTP API: periodic jobs and long-running loops,
started in the lifespan and cancelled cleanly when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def run(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run `loop` until shutdown, restarting it after an unexpected error (with a pause)."""

        async def guarded() -> None:
            while True:
                try:
                    await loop()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background task %s failed; restarting", name)
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        async def periodic() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("periodic job %s failed", name)

        self._tasks.append(asyncio.create_task(periodic(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # A task that swallowed its cancellation (a library catching it by mistake) is cancelled
        # again rather than left to hang the shutdown.
        for _ in range(20):
            pending = [t for t in self._tasks if not t.done()]
            if not pending:
                break
            _, still = await asyncio.wait(pending, timeout=0.5)
            for task in still:
                task.cancel()
        else:
            stuck = [t.get_name() for t in self._tasks if not t.done()]
            log.error("background tasks did not stop: %s", stuck)
        for task in self._tasks:
            if task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
        self._tasks.clear()
