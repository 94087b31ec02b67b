"""Reserving at the gate for many requests in one Redis call.

Under a flood, hundreds of issue requests wait for Redis at the same moment; sending each its own
script costs more CPU in the client (building, sending, parsing, waking the request) than Redis
spends running it. A request therefore queues its ask and awaits a future; on the event loop's next
turn every ask queued meanwhile goes out in one script per coupon, in arrival order. Nothing waits
for a timer: an idle service sends a lone request at once, a busy one batches what arrived together.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from coupon_service.adapters.gate import Gate, Reserved


class ReserveBatcher:
    def __init__(self, gate: Gate, *, max_batch: int = 200) -> None:
        self.gate, self.max_batch = gate, max_batch
        self._asks: list[tuple[int, int, str, int, asyncio.Future[Reserved]]] = []
        self._scheduled = False
        self._running: set[asyncio.Task[None]] = set()  # kept referenced until done

    async def reserve(
        self, coupon_id: int, user_id: int, reservation_id: str, *, per_second: int
    ) -> Reserved:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reserved] = loop.create_future()
        self._asks.append((coupon_id, user_id, reservation_id, per_second, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._send)
        return await future

    def _send(self) -> None:
        asks, self._asks, self._scheduled = self._asks, [], False
        groups: dict[tuple[int, int], list[tuple[int, str, asyncio.Future[Reserved]]]] = defaultdict(list)
        for coupon_id, user_id, rid, per_second, future in asks:
            groups[(coupon_id, per_second)].append((user_id, rid, future))
        for (coupon_id, per_second), group in groups.items():
            for start in range(0, len(group), self.max_batch):
                chunk = group[start : start + self.max_batch]
                task = asyncio.ensure_future(self._reserve(coupon_id, per_second, chunk))
                self._running.add(task)  # referenced until done (the loop keeps only weak ones)
                task.add_done_callback(self._running.discard)

    async def _reserve(
        self, coupon_id: int, per_second: int, group: list[tuple[int, str, asyncio.Future[Reserved]]]
    ) -> None:
        try:
            answers = await self.gate.reserve(coupon_id, [(u, r) for u, r, _ in group], per_second=per_second)
        except BaseException as exc:  # every waiting request learns of it (and answers 503)
            for _, _, future in group:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), answer in zip(group, answers, strict=True):
            if not future.done():
                future.set_result(answer)
