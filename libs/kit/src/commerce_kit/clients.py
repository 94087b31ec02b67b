"""Calling another service's internal API: short timeouts, a service token, and errors mapped so that
a caller never hangs and never leaks a 500.

- the other service answered a problem (4xx): the same error is raised here (same status and code),
  so for instance OPTION_NOT_FOUND reaches the client unchanged;
- it is down, too slow, or answered 5xx: `DependencyUnavailable` (503), after `retries` more tries
  for idempotent requests (every internal PUT is idempotent on its payment id, GETs are safe).

aiohttp, not httpx: the payment saga makes several of these calls per payment, and httpx's
connection pool checks every pooled connection's socket on every request, which costs the caller
many times the CPU of aiohttp's pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from commerce_kit.auth import ServiceToken
from commerce_kit.errors import AppError, DependencyUnavailable

#: What a call that got no usable answer raises: refused, reset, timed out, cut mid-answer.
NO_ANSWER = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
JSON = {"Content-Type": "application/json"}


class RemoteError(AppError):
    """A problem answered by another service, re-raised with its status and code."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(
            str(problem.get("detail") or "The request was refused"), code=str(problem.get("code"))
        )
        self.status = status
        self.title = str(problem.get("title") or "Refused")


def session(timeout: float, *, max_connections: int = 100) -> aiohttp.ClientSession:
    """A client session with the suite's timeouts (the whole call within `timeout`, connecting within
    a second at most). Made inside the event loop that will use it (a service's lifespan)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout, connect=min(1.0, timeout)),
        connector=aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=60),
        json_serialize=lambda value: orjson.dumps(value).decode(),
        raise_for_status=False,
    )


class ServiceClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        token: ServiceToken,
        *,
        timeout: float = 3.0,
        retries: int = 1,
        max_connections: int = 100,
    ) -> None:
        self.name, self.retries = name, retries
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout, self._max_connections = timeout, max_connections
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def get(self, path: str) -> Any:
        return await self._call("GET", path, None)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self._call("PUT", path, body)

    async def post(self, path: str, body: Any = None, *, idempotent: bool = False) -> Any:
        return await self._call("POST", path, body, retry=idempotent)

    async def _call(self, method: str, path: str, body: Any, *, retry: bool = True) -> Any:
        if self._http is None:  # made on first use: in the loop that uses it
            self._http = session(self._timeout, max_connections=self._max_connections)
        attempts = 1 + (self.retries if retry else 0)
        headers = {"Authorization": self._token.header(), **(JSON if body is not None else {})}
        data = orjson.dumps(body) if body is not None else None
        for attempt in range(1, attempts + 1):
            try:
                async with self._http.request(
                    method, self._base + path, data=data, headers=headers
                ) as answer:
                    status, content = answer.status, await answer.read()
            except NO_ANSWER as exc:  # refused, reset, timed out, cut
                if attempt < attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise DependencyUnavailable(
                    f"The {self.name} service did not answer ({type(exc).__name__})"
                ) from exc
            if status >= 500:
                if attempt < attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise DependencyUnavailable(f"The {self.name} service failed ({status})")
            if status >= 400:
                try:
                    problem = orjson.loads(content)
                    if not isinstance(problem, dict):
                        raise ValueError(problem)
                except ValueError:
                    problem = {"code": "UPSTREAM_ERROR", "detail": content[:200].decode(errors="replace")}
                raise RemoteError(status, problem)
            return orjson.loads(content) if content else None
        raise AssertionError("unreachable")
