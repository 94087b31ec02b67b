"""The fast gate in Redis (SPEC.md section 3), per coupon, in one hash slot (`{id}`):

- `coupon:{id}:stock`        units the gate still lets through;
- `coupon:{id}:taken`        reservations that took a unit the database has not settled yet, so that
                             taking and giving back are idempotent per reservation (a redelivered
                             request does not take twice, a give-back returns a unit once);
- `coupon:{id}:reservations` user id -> "<reservation id>|<1 once published>", the API's dedupe.

Redis may lose all of this at any moment (it keeps nothing on disk). Nothing here is the only copy:
the stock counter is rebuilt from PostgreSQL when missing, a lost `taken` entry only means a
redelivered request takes a unit again (the database stays the final gate), and a lost reservation
entry only means a repeated request gets a second reservation that the database refuses
(ALREADY_ISSUED). Every operation is one Lua script: atomic, one round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

# Many requests for one coupon in one call (see ReserveBatcher), in order.
# KEYS: stock, reservations, the requests' users' counts in this second (a hash: user -> requests).
# ARGV: ttl, limit, window ms, then the requests as one string, "<user> <reservation id>" a line.
# The answer is one string too, a line per request: 1 new, 0 followed by the reservation the user
# already has, -1 sold out, -3 rate limited. One argument and one answer per call, not two and one
# per request: redis-py's packing and parsing of each cost the issue route more than Redis's work.
# The per-user rate limit is counted here too, so an accepted request costs no round trip of its own.
RESERVE = r"""
local ttl, limit, window = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local stock = redis.call('GET', KEYS[1])
local sold_out = stock and tonumber(stock) <= 0
local out, added = {}, false
for user, rid in string.gmatch(ARGV[4], '(%d+) ([^\n]+)') do
  local hits = redis.call('HINCRBY', KEYS[3], user, 1)
  if hits > limit then
    out[#out + 1] = '-3'
  else
    local mine = redis.call('HGET', KEYS[2], user)
    if mine then
      out[#out + 1] = '0' .. mine
    elseif sold_out then
      out[#out + 1] = '-1'
    else
      redis.call('HSET', KEYS[2], user, rid)
      added = true
      out[#out + 1] = '1'
    end
  end
end
if added then redis.call('EXPIRE', KEYS[2], ttl) end
if redis.call('PTTL', KEYS[3]) == -1 then redis.call('PEXPIRE', KEYS[3], window) end
return table.concat(out, '\n')
"""

# The published marks of one coupon, "<user> <reservation id>|1" a line, in one argument (as above).
# A Redis that came back empty gets the reservations back with its expiry.
MARK = r"""
for user, value in string.gmatch(ARGV[2], '(%d+) ([^\n]+)') do
  redis.call('HSET', KEYS[1], user, value)
end
if redis.call('TTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 1
"""

# The reservations, in order, as one argument ("<reservation id>" a line: the API makes them of
# digits, dots and base64url; see `script_lines`), and one answer, a character per reservation:
# 1 took (or already held) a unit, 0 none left; "-2" when the counter is missing.
# A list of arguments and of answers would cost the consumer more redis-py packing and parsing than
# the script's own work.
TAKE = """
local stock = redis.call('GET', KEYS[1])
if not stock then return '-2' end
stock = tonumber(stock)
local out = {}
for rid in string.gmatch(ARGV[1], '[^\\n]+') do
  if redis.call('SISMEMBER', KEYS[2], rid) == 1 then
    out[#out + 1] = '1'
  elseif stock > 0 then
    stock = stock - 1
    redis.call('SADD', KEYS[2], rid)
    out[#out + 1] = '1'
  else
    out[#out + 1] = '0'
  end
end
redis.call('SET', KEYS[1], stock)
return table.concat(out)
"""

GIVE_BACK = """
local n = 0
for _, rid in ipairs(ARGV) do
  if redis.call('SREM', KEYS[2], rid) == 1 then n = n + 1 end
end
if n > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], n) end
return n
"""

# A settled batch, in one call, the ids given as TAKE takes them: ARGV[1] those that go back
# (reservations that got no copy, as GIVE_BACK below), ARGV[2] those that became copies and only
# leave the "taken" set.
FINISH = """
local n = 0
for rid in string.gmatch(ARGV[1], '[^\\n]+') do
  if redis.call('SREM', KEYS[2], rid) == 1 then n = n + 1 end
end
if n > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], n) end
for rid in string.gmatch(ARGV[2], '[^\\n]+') do
  redis.call('SREM', KEYS[2], rid)
end
return n
"""

RECONCILE = """
if redis.call('SCARD', KEYS[2]) > 0 then return -1 end
local now = redis.call('GET', KEYS[1])
if now == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

SOLD_OUT, MISSING, RATE_LIMITED = -1, -2, -3
RESERVATIONS_TTL = 60 * 60 * 24 * 30


@dataclass(frozen=True)
class Reserved:
    new: bool
    sold_out: bool = False
    rate_limited: bool = False
    existing_id: str | None = None
    published: bool = False


_NEW, _SOLD_OUT, _RATE_LIMITED = (
    Reserved(new=True),
    Reserved(new=False, sold_out=True),
    Reserved(new=False, rate_limited=True),
)
_ANSWERS = {"1": _NEW, "-1": _SOLD_OUT, "-3": _RATE_LIMITED}


def _reserved(answer: str) -> Reserved:
    known = _ANSWERS.get(answer)
    if known is not None:
        return known
    rid, _, flag = answer[1:].partition("|")
    return Reserved(new=False, existing_id=rid, published=flag == "1")


def script_lines(reservation_ids: list[str]) -> str:
    """Reservation ids as the consumer's scripts take them, one a line. An id that is empty or has a
    line break in it (the API never makes one: a forged request on the topic) is refused before
    Redis sees it, so that it cannot take units under names no one will give back."""
    text = "\n".join(reservation_ids)
    if reservation_ids and (text.count("\n") != len(reservation_ids) - 1 or not all(reservation_ids)):
        raise ValueError("a reservation id is empty or spans lines")
    return text


def _keys(coupon_id: int) -> tuple[str, str, str]:
    tag = f"coupon:{{{coupon_id}}}"
    return f"{tag}:stock", f"{tag}:taken", f"{tag}:reservations"


class Gate:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._published: dict[tuple[int, int], str] = {}
        self._reserve = redis.register_script(RESERVE)
        self._mark = redis.register_script(MARK)
        self._take = redis.register_script(TAKE)
        self._give_back = redis.register_script(GIVE_BACK)
        self._finish = redis.register_script(FINISH)
        self._reconcile = redis.register_script(RECONCILE)

    # --- the API -----------------------------------------------------------------------------------

    async def reserve(
        self, coupon_id: int, asks: list[tuple[int, str]], *, per_second: int = 1_000_000
    ) -> list[Reserved]:
        """Each (user, new reservation id), in order: a new reservation, the one the user already has,
        or none (sold out, or the user asked more than `per_second` times this second)."""
        stock, _, reservations = _keys(coupon_id)
        rates = (
            f"coupon:{{{coupon_id}}}:rate:{int(time.time())}"  # this second's counts, in the coupon's slot
        )
        asked = "\n".join(f"{user} {rid}" for user, rid in asks)
        answer = await self._reserve(
            keys=[stock, reservations, rates], args=[RESERVATIONS_TTL, per_second, 2000, asked]
        )
        return [_reserved(a) for a in answer.decode().split("\n")]

    def published(self, coupon_id: int, user_id: int, reservation_id: str) -> None:
        """Note that the reservation reached Kafka; written by `flush_published`, many at a time. A
        mark lost in a crash costs only a second publish of the same reservation on a repeat (settling
        is idempotent per reservation), so it need not cost every request a round trip of its own."""
        self._published[(coupon_id, user_id)] = reservation_id

    async def flush_published(self) -> None:
        if not self._published:
            return
        marks, self._published = self._published, {}
        by_coupon: dict[int, list[str]] = {}
        for (coupon_id, user_id), reservation_id in marks.items():
            by_coupon.setdefault(coupon_id, []).append(f"{user_id} {reservation_id}|1")
        try:
            # One script per coupon with every mark of the pass in one argument (a flood is one
            # coupon): a command, or an argument, per mark would cost the issue route more client
            # CPU than the rest of its Redis work. Marks of a coupon written before a failure stay
            # written; writing them again is harmless.
            for coupon_id, lines in by_coupon.items():
                await self._mark(keys=[_keys(coupon_id)[2]], args=[RESERVATIONS_TTL, "\n".join(lines)])
        except BaseException:
            # Redis away: the marks wait for the next flush (a mark noted since is newer and stays).
            # Written once it is back, they also restore the dedupe of these reservations in a
            # Redis that came back empty.
            for key, reservation_id in marks.items():
                self._published.setdefault(key, reservation_id)
            raise

    async def forget(self, coupon_id: int, user_id: int) -> None:
        """A reservation that could not be published: the user may try again."""
        await self.redis.hdel(_keys(coupon_id)[2], str(user_id))

    async def sold_out(self, coupon_id: int) -> bool:
        stock = await self.redis.get(_keys(coupon_id)[0])
        return stock is not None and int(stock) <= 0

    # --- the consumer ------------------------------------------------------------------------------

    async def take(self, coupon_id: int, reservation_ids: list[str]) -> list[bool] | None:
        """One unit per reservation, in order (True = taken). None when the counter is missing."""
        stock, taken, _ = _keys(coupon_id)
        answer = (await self._take(keys=[stock, taken], args=[script_lines(reservation_ids)])).decode()
        if answer == str(MISSING):
            return None
        return [a == "1" for a in answer]

    async def rebuild(self, coupon_id: int, remaining: int) -> None:
        """The counter is gone (Redis restarted or was flushed): start again from the database."""
        await self.redis.set(_keys(coupon_id)[0], remaining, nx=True)

    async def give_back(self, coupon_id: int, reservation_ids: list[str]) -> int:
        """Returns the units these reservations took; each at most once, however often called."""
        if not reservation_ids:
            return 0
        stock, taken, _ = _keys(coupon_id)
        return int(await self._give_back(keys=[stock, taken], args=reservation_ids))

    async def finish(self, coupon_id: int, give_back: list[str], settled: list[str]) -> int:
        """After a batch is settled: `give_back` as above, and the units of `settled` (now copies in
        the database, nothing to give back) leave the "taken" set; one round trip. Returns the units
        given back."""
        if not give_back and not settled:
            return 0
        stock, taken, _ = _keys(coupon_id)
        lines = [script_lines(give_back), script_lines(settled)]
        return int(await self._finish(keys=[stock, taken], args=lines))

    async def reconcile(self, coupon_id: int, remaining: int) -> int | None:
        """When no unit is outstanding, the counter must equal the database's remaining copies; make
        it so. Returns 1 when it was corrected, 0 when it was right, None when units are outstanding
        (or the counter does not exist)."""
        stock, taken, _ = _keys(coupon_id)
        if not await self.redis.exists(stock):
            return None
        answer = int(await self._reconcile(keys=[stock, taken], args=[remaining]))
        return None if answer < 0 else answer

    async def counter(self, coupon_id: int) -> int | None:
        value = await self.redis.get(_keys(coupon_id)[0])
        return None if value is None else int(value)
