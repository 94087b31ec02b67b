"""Per-user rate limits on the expensive routes (coupon issue, payment): 429 RATE_LIMITED.

A fixed window per user and route, counted in Redis so that every instance of a service shares it.
The gateway limits per client address too, but a user is not an address (and N gateways would each
count their own share). If Redis does not answer, the request is let through: a limiter must never be
the reason the shop stops selling; the other defences (the gateway's limit, the services' own
bounded work) still hold.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis

from commerce_kit.errors import RateLimited

log = logging.getLogger(__name__)

# INCR, and set the window's expiry on its first hit: one round trip, atomic.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, route: str, limit: int, *, window_seconds: float = 1.0) -> None:
        """At most `limit` requests per user in each window of `window_seconds`."""
        self.route, self.limit, self.window = route, limit, window_seconds
        self._hit = redis.register_script(_HIT)

    async def check(self, user_id: int) -> None:
        window = int(time.time() // self.window)
        key = f"ratelimit:{self.route}:{user_id}:{window}"
        try:
            count = int(await self._hit(keys=[key], args=[int(self.window * 1000) + 1000]))
        except Exception as exc:  # fail open: see the module's docstring
            log.warning("rate limiter unavailable (%s): letting the request through", type(exc).__name__)
            return
        if count > self.limit:
            raise RateLimited(f"At most {self.limit} {self.route} requests per {self.window:g} s per user")
