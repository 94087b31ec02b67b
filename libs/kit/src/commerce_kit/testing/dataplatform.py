"""A stand-in for the external data platform (SPEC.md section 5): a real HTTP server that receives
the payments, deduplicates them by their `Idempotency-Key`, and logs what it gets. `make run` points
DATA_PLATFORM_URL at it; tests use it to count deliveries and to make it fail on purpose.

    POST /payments            a delivery (JSON body, Idempotency-Key header) -> 200 / 500 / slow
    GET  /_deliveries         {"received": n, "unique": n, "byKey": {key: count}, "payments": [...]}
    POST /_mode               {"mode": "ok" | "fail" | "slow", "delaySeconds": s, "refusePaymentIds": [id]}
                              how to answer from now on (the payments refused get 422 in any mode)

    python -m commerce_kit.testing.dataplatform --port 8199 [--host 0.0.0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger("dataplatform")


@dataclass
class Platform:
    mode: str = "ok"
    delay_seconds: float = 10.0
    by_key: Counter[str] = field(default_factory=Counter)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: int = 0
    refused: set[int] = field(default_factory=set)

    def app(self) -> Starlette:
        async def receive(request: Request) -> JSONResponse:
            body = await request.json()
            if body.get("paymentId") in self.refused:
                return JSONResponse({"error": "this payment makes no sense to us"}, status_code=422)
            if self.mode == "fail":
                return JSONResponse({"error": "the platform is having a bad day"}, status_code=500)
            if self.mode == "slow":
                await asyncio.sleep(self.delay_seconds)
            key = request.headers.get("idempotency-key") or body.get("eventId") or ""
            self.received += 1
            self.by_key[key] += 1
            first = key not in self.payments
            self.payments.setdefault(key, body)
            log.info(
                "%s payment %s (order %s, %s KRW)",
                "received" if first else "duplicate of",
                body.get("paymentId"),
                body.get("orderId"),
                body.get("amount"),
            )
            return JSONResponse({"accepted": True, "duplicate": not first})

        async def deliveries(_: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "received": self.received,
                    "unique": len(self.payments),
                    "byKey": dict(self.by_key),
                    "payments": list(self.payments.values()),
                }
            )

        async def set_mode(request: Request) -> JSONResponse:
            body = await request.json()
            self.mode = body.get("mode", "ok")
            self.delay_seconds = float(body.get("delaySeconds", self.delay_seconds))
            self.refused = set(body.get("refusePaymentIds", ()))
            return JSONResponse({"mode": self.mode})

        return Starlette(
            routes=[
                Route("/payments", receive, methods=["POST"]),
                Route("/_deliveries", deliveries, methods=["GET"]),
                Route("/_mode", set_mode, methods=["POST"]),
            ]
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(port: int | None = None):
    """Run a stand-in in this event loop: `async with serving() as (platform, url): ...`."""
    platform = Platform()
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            platform.app(), host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # at most 10 s to start
        if server.started:
            break
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError(f"the data-platform stand-in did not start on port {port}")
    try:
        yield platform, f"http://127.0.0.1:{port}/payments"
    finally:
        server.should_exit = True
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8199)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s data-platform %(message)s")
    platform = Platform()
    log.info("listening on http://%s:%d/payments", args.host, args.port)
    uvicorn.run(platform.app(), host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
