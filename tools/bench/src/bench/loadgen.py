"""A small asyncio load generator, for what wrk cannot do:

- an open model (constant arrival rate): request i is due at start + i / rate whatever happened to
  the earlier ones, and its latency is counted from that due time, not from when it was sent. A
  closed-loop tool (wrk, or Locust) waits for an answer before it sends again, so a server that
  stalls makes the tool send less and the stall hides from the percentiles ("coordinated
  omission"); here a stall shows in every request that was due during it.
- multi-step flows (place an order, then pay it) as one unit.

It speaks just enough HTTP/1.1 over keep-alive connections (asyncio protocols on uvloop) to cost
little CPU: the machine under test is the one it runs on. Its own lag (how late requests left
compared with their due time) is measured too, so that a saturated generator is told apart from a
slow server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.stats import Answers, Latency


class TransportError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TransportError("read"))

    def send(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        self.transport.write(raw)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:head_end]).lower()
        body_start = head_end + 4
        length_at = head.find(b"\r\ncontent-length:")
        if length_at >= 0:
            end = head.find(b"\r\n", length_at + 2)
            length = int(head[length_at + 17 : end if end >= 0 else None])
            if len(self.buffer) - body_start < length:
                return
            body = bytes(self.buffer[body_start : body_start + length])
        elif b"\r\ntransfer-encoding: chunked" in head:
            if not self.buffer.endswith(b"0\r\n\r\n"):
                return
            body = _dechunk(bytes(self.buffer[body_start:]))
        else:
            body = b""
        status = int(self.buffer[9:12])
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.closed = True
            self.transport.close()
        self.waiter.set_result((status, body))


def _dechunk(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while True:
        end = data.index(b"\r\n", i)
        size = int(data[i:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        i = end + 2 + size + 2


class Client:
    """A pool of keep-alive connections to one host; `request` takes an idle one or opens one."""

    def __init__(self, base_url: str, *, max_connections: int = 2000, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.host_header = f"{self.host}:{self.port}"
        self.idle: list[_Connection] = []
        self.open = 0
        self.max_connections, self.timeout = max_connections, timeout
        self._slots = asyncio.Semaphore(max_connections)

    def build(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> bytes:
        """The raw request, built once and sent as often as needed."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        async with self._slots:
            conn = await self._connection()
            try:
                async with asyncio.timeout(self.timeout):
                    answer = await conn.send(raw)
            except TimeoutError:
                self._drop(conn)
                raise TransportError("timeout") from None
            except TransportError:
                self._drop(conn)
                raise
            if conn.closed:
                self._drop(conn)
            else:
                self.idle.append(conn)
            return answer

    async def _connection(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.open -= 1
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, self.host, self.port)
        except OSError:
            raise TransportError("connect") from None
        self.open += 1
        return conn

    def _drop(self, conn: _Connection) -> None:
        self.open -= 1
        if conn.transport is not None:
            conn.transport.close()

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


@dataclass
class Samples:
    """What one run measured. Latencies in milliseconds, by name (a flow times each of its steps)."""

    answers: Answers = field(default_factory=Answers)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)  # how late each arrival left (generator lag)
    started: int = 0
    finished: int = 0
    seconds: float = 0.0
    rate: float = 0.0  # the arrival rate asked for (open model), 0 for a closed loop
    outcomes: dict[str, int] = field(default_factory=dict)  # flow outcomes ("paid", "refused", ...)
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # (t, name, latency ms)

    def record(self, name: str, latency_ms: float, at: float) -> None:
        self.latencies.setdefault(name, []).append(latency_ms)
        if len(self.timeline) < 200_000:
            self.timeline.append((at, name, latency_ms))

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def lag_p99(self) -> float:
        """How late the generator itself sent (p99, ms): large values mean the generator, not the
        server, was short of CPU."""
        return Latency.of(self.lag_ms).p99

    def latency(self, name: str) -> Latency:
        return Latency.of(self.latencies.get(name, []))

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "started": self.started,
            "finished": self.finished,
            "answers": self.answers.as_dict(),
            "latency_ms": {name: self.latency(name).as_dict() for name in self.latencies},
            "generator_lag_ms": Latency.of(self.lag_ms).as_dict(),
            "outcomes": self.outcomes,
            "by_second": self.by_second(),
        }

    def by_second(self) -> dict[str, list[dict[str, float]]]:
        """Each name's latencies second by second from the first answer (count, p50, p99, max): when
        in a run the slow answers came, which a whole run's percentiles do not tell."""
        if not self.timeline:
            return {}
        start = self.timeline[0][0]
        seconds: dict[str, dict[int, list[float]]] = {}
        for at, name, latency in self.timeline:
            seconds.setdefault(name, {}).setdefault(int(at - start), []).append(latency)
        return {
            name: [
                {
                    "second": s,
                    "count": len(v),
                    "p50": Latency.of(v).p50,
                    "p99": Latency.of(v).p99,
                    "max": max(v),
                }
                for s, v in sorted(by.items())
            ]
            for name, by in seconds.items()
        }


#: The generator's clock: uvloop's loop.time() counts whole milliseconds, too coarse for latencies.
clock = time.perf_counter

#: A flow: given its sequence number, its due time (`clock`) and the samples, do its requests.
Flow = Callable[[int, float, Samples], Awaitable[None]]


async def timed(
    client: Client, raw: bytes, samples: Samples, name: str, since: float
) -> tuple[int, bytes] | None:
    """Send one request, count its answer, and record its latency since `since` (a due time)."""
    try:
        status, body = await client.request(raw)
    except TransportError as exc:
        samples.answers.add_transport(exc.kind)
        return None
    now = clock()
    samples.answers.add_status(status)
    samples.record(name, (now - since) * 1000, now)
    return status, body


async def open_model(flow: Flow, *, rate: float, seconds: float, drain: float = 15.0) -> Samples:
    """Start flow i at start + i / rate for `seconds`, then wait (at most `drain` seconds) for the
    ones under way."""
    loop = asyncio.get_running_loop()
    samples = Samples(rate=rate)
    total = max(1, int(rate * seconds))
    tasks: set[asyncio.Task[None]] = set()
    start = clock() + 0.05

    async def one(i: int, due: float) -> None:
        samples.lag_ms.append((clock() - due) * 1000)
        try:
            await flow(i, due, samples)
        finally:
            samples.finished += 1

    for i in range(total):
        due = start + i / rate
        delay = due - clock()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        task = loop.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        samples.started += 1
    samples.seconds = max(1e-9, clock() - start)
    if tasks:
        await asyncio.wait(tasks, timeout=drain)
        for task in tasks:
            task.cancel()
    return samples


async def closed_loop(flow: Flow, *, concurrency: int, seconds: float) -> Samples:
    """`concurrency` workers, each running the flow again as soon as it ends: the ceiling of a
    multi-step flow (what wrk does for single requests)."""
    samples = Samples()
    start = clock()
    end = start + seconds
    counter = iter(range(10**12))

    async def worker() -> None:
        while clock() < end:
            i = next(counter)
            samples.started += 1
            await flow(i, clock(), samples)
            samples.finished += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    samples.seconds = clock() - start
    return samples


def run(coroutine: Awaitable[Samples]) -> Samples:
    """Run a generator coroutine on uvloop (about twice as fast as the default loop here)."""
    try:
        import uvloop

        return uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
