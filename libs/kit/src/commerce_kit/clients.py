"""Calling another service's internal API: short timeouts, a service token, and errors mapped so that
a caller never hangs and never leaks a 500.

- the other service answered a problem (4xx): the same error is raised here (same status and code),
  so for instance OPTION_NOT_FOUND reaches the client unchanged;
- it is down, too slow, or answered 5xx: `DependencyUnavailable` (503), after `retries` more tries
  for idempotent requests (every internal PUT is idempotent on its payment id, GETs are safe).

Failing to connect is not always an `httpx.TransportError`: a connection the other side resets as it
is made (a service being killed, under uvloop) has been seen to surface from anyio as
`AttributeError: 'NoneType' object has no attribute 'getpeername'` (httpcore asks for the TLS object
of a socket already gone). Everything under `AsyncClient.request` is the library's code (no hooks,
no auth callbacks of ours), so such an error is the call failing, and is treated as one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from commerce_kit.auth import ServiceToken
from commerce_kit.errors import AppError, DependencyUnavailable


class RemoteError(AppError):
    """A problem answered by another service, re-raised with its status and code."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(
            str(problem.get("detail") or "The request was refused"), code=str(problem.get("code"))
        )
        self.status = status
        self.title = str(problem.get("title") or "Refused")


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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name, self.retries = name, retries
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(1.0, timeout)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> Any:
        return await self._call("GET", path, None)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self._call("PUT", path, body)

    async def post(self, path: str, body: Any = None, *, idempotent: bool = False) -> Any:
        return await self._call("POST", path, body, retry=idempotent)

    async def _call(self, method: str, path: str, body: Any, *, retry: bool = True) -> Any:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(1, attempts + 1):
            try:
                answer = await self._http.request(
                    method, path, json=body, headers={"Authorization": self._token.header()}
                )
            except (httpx.TransportError, AttributeError) as exc:  # refused, reset, timed out (see above)
                if attempt < attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise DependencyUnavailable(
                    f"The {self.name} service did not answer ({type(exc).__name__})"
                ) from exc
            if answer.status_code >= 500:
                if attempt < attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise DependencyUnavailable(f"The {self.name} service failed ({answer.status_code})")
            if answer.status_code >= 400:
                try:
                    problem = answer.json()
                except ValueError:
                    problem = {"code": "UPSTREAM_ERROR", "detail": answer.text[:200]}
                raise RemoteError(answer.status_code, problem)
            return answer.json() if answer.content else None
        raise AssertionError("unreachable")
