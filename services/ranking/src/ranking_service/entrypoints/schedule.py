"""The rebuild's own triggers: the seed's daily batch at 00:00 APP_ZONE, and a start on a schema
whose backfill is still pending. Every instance runs them; the rebuild's lock and the daily run's
unique day make one instance do the work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from ranking_service.domain.calendar import day_of, seconds_until_next_midnight
from ranking_service.service_layer.rebuild import Outcome, Rebuilder, Trigger

log = logging.getLogger(__name__)

#: Wake a little after midnight, never a little before (timers may fire early).
_PAST_MIDNIGHT = 1.0


async def rebuild_daily(rebuilder: Rebuilder, zone: ZoneInfo, clock: Callable[[], datetime]) -> None:
    while True:
        await asyncio.sleep(seconds_until_next_midnight(clock(), zone) + _PAST_MIDNIGHT)
        today = day_of(clock(), zone)
        started = await rebuilder.start(Trigger.SCHEDULED, scheduled_for=today)
        log.info("daily rebuild of %s: %s (run %s)", today, started.status.value, started.run_id)


async def backfill_while_pending(rebuilder: Rebuilder, retry_seconds: float) -> None:
    """Until the backfill is done: run the rebuild (another instance may be running it), and when it
    did not finish the backfill (the order service is not up yet, say), try again later."""
    while await rebuilder.backfill_pending():
        started, report = await rebuilder.run(Trigger.STARTUP)
        if started.status is Outcome.ALREADY_RUNNING or await rebuilder.backfill_pending():
            log.info(
                "backfill still pending (%s); next try in %.0f s",
                report.error if report and report.error else started.status.value,
                retry_seconds,
            )
            await asyncio.sleep(retry_seconds)
