"""The two Lua scripts of ``RedisState`` (one ``EVALSHA`` before an attempt, one after)
and how they are sent (``run_script``: ``NOSCRIPT`` loads and runs again, once).

Every attempt costs at most two Redis commands for everything the fleet shares -- the
check before sending (``BEFORE``) and the record when the answer arrives (``AFTER``, sent
at once so other processes see a 429's hold immediately).  Per-family costs, the circuit
breaker and the adaptive token bucket live in these two scripts -- more fields, more ARGV
slots -- and never add a command (the breaker's and the bucket's Lua is in
``_redis_guard``).  The scripts mirror
``policy.loop._state.LocalState`` step for step (the differential tests run any sequence
of calls through both and compare the answers).

Keys, per origin, all with the origin as a Redis Cluster hash tag (one node, one slot)::

    KEYS[1]  <prefix>{<origin>}          hash: the origin's state (fields below)
    KEYS[2]  <prefix>{<origin>}:firsts   sorted set: first attempts of the last WINDOW s
    KEYS[3]  <prefix>{<origin>}:retries  sorted set: retries granted in that window

The hash's fields:

* ``h`` -- the hold: the wall-clock time the origin is held until (only grows);
* per quota family, its fields prefixed by the family's *field prefix* (``""`` for the
  request count, ``"<family>:"`` for another family, e.g. ``"tokens:u"``): ``u`` the reset,
  ``lo`` the lowest remaining reported in the window, ``s`` the units sent in it, ``a``
  the units answered, ``L`` the window's size, ``b``/``bs`` the units sent while no
  quota was known and since when, ``p``/``pd`` the previous window's units whose answers
  are still due and the answers taken as theirs;
* ``F`` -- reserved: the field prefixes of the families recorded other than ``""``,
  space-separated (costs: so ``BEFORE`` spends every family it knows of);
* ``cb:<config>:*`` -- a circuit breaker (phase, failures in a row, until, probes, the
  ratio window's buckets; ``_redis_guard`` lists them); ``ab:*`` -- the adaptive bucket
  (fill rate, capacity, tokens, last refill, measured rate, CUBIC's state).

The hash expires on its own a second after the latest of: its hold, its quotas' resets
plus ``IN_FLIGHT``, its blind runs plus ``IN_FLIGHT`` (each write lengthens, never
shortens, its TTL); each sorted set a second after its newest entry leaves the window.

``BEFORE``: ``ARGV`` = now, pace (``1``/``0``), first (``1``/``0``), a unique member for
the firsts set, now − WINDOW (the window's edge), breaker (``""`` = none, else
``threshold/ratio/window/open/min/probes``), adaptive (``""`` = off, ``1``), the lease
(the most seconds the request may take: a probe's answer is due ``max(open, lease)``
after it goes; ``""`` without a breaker), then the cost tail: (field prefix, cost)
pairs, the request family ``""`` always first. Answers ``false`` without pacing (the
first attempt is counted); with pacing ``{"", room, till}`` (go ahead: the costs are
spent and the first attempt counted; ``room``: the fewest units a family named in the
tail has left after this request, ``MAX_QUOTA`` when none is limited; ``till``: when
that room stops being what it is -- the earliest live reset, or a reset's end of
``IN_FLIGHT``; ``""``: never), ``{"h", until}`` (held), ``{"q", reset}`` (a quota has
too little left) or ``{"w"}`` (the herd at a reset: wait BLIND_WAIT); with a breaker or
the bucket, first ``{"o", until}`` (open) or ``{"b", until}`` (half-open, the probes
out) before anything is spent, ``{"r", until}`` (the bucket has no token until then:
nothing is taken or spent; after a hold, before the quotas), and a go ahead is ``{"",
room, till, kind, at}`` (``kind``: ``"p"`` a probe, ``"x"`` the first probe since open,
``""`` none; ``at``: now, the token taken; ``room``/``till`` ``""`` without pacing).
With a breaker or the bucket every answer is seven long: the sixth is the breaker's
phase once the script ran (``"closed"``, ``"open"``, ``"half-open"``; ``""``: no
breaker), the seventh whether the bucket is on (``"1"``, ``"0"``; ``""``: not asked),
the slots between filled with ``""``. Times go back as the strings Python wrote, so they
compare exactly. ``RedisState`` keeps ``room`` and ``till``, the phase and the bucket's
flag to decide whether the next check must be waited for (see ``_redis``).

``AFTER``: ``ARGV`` = now, hold (``""`` = none), hold TTL in ms, retry (``1``/``0``),
budget ratio (``""`` = none), floor, deadline (``""`` = none), a unique member for the
retries set, now − WINDOW, the breaker's record (``""`` = none, else
``<failed><probe>|<config>``, flags ``1``/``0``; ``r0|<config>``: a probe that ended
without an answer gives its place back), throttled (``""`` = no bucket, ``1``,
``0``), then the quota tail: (field prefix,
remaining, reset, cost) quadruples.  Answers ``{held, granted, requests, room, till, change,
phase, on}``:
the hold in force (``""`` = none), ``1``/``0`` (``1`` when no retry was asked), the first
attempts in the window (``0`` without a budget), and, when the tail recorded a quota, the
fewest units its families have left and their earliest reset (``""``, ``""`` otherwise),
the phase the breaker's record moved it to (``"open"``, ``"closed"``, ``""``: none), and,
as ``BEFORE`` tells them, the breaker's phase and whether the bucket is on after the record
(``""``: no breaker, no bucket).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from redis.exceptions import NoScriptError

from policy.loop._state import IN_FLIGHT, MAX_QUOTA, NEW_WINDOW, WINDOW

from ._redis_guard import BUCKET_TTL_MS, LUA

__all__ = [
    "AFTER",
    "BEFORE",
    "BOTH",
    "GRACE_MS",
    "WINDOW_MS",
    "Script",
    "cost_tail",
    "packed",
    "run_script",
]

#: Keys outlive what they record by this much (ms), so a reader never races the expiry.
GRACE_MS: Final = 1000
#: A budget window's TTL (ms): its newest entry leaves the window, then the grace.
WINDOW_MS: Final = int(WINDOW * 1000) + GRACE_MS

# The constants the scripts are written with (their names in the texts below).
_CONSTANTS = {
    "BLIND_MS": str(int(IN_FLIGHT * 1000) + GRACE_MS),
    "BUCKET_TTL_MS": str(BUCKET_TTL_MS),
    "GRACE_MS": str(GRACE_MS),
    "IN_FLIGHT": repr(IN_FLIGHT),
    "MAX_QUOTA": str(MAX_QUOTA),
    "NEW_WINDOW": repr(NEW_WINDOW),
    "WINDOW_MS": str(WINDOW_MS),
}

# ttl: lengthen (never shorten) KEYS[1]'s TTL to at least `ms`; num: a stored number.
_TTL = (
    """
local function ttl(ms)
  if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
end
local function num(x, default) return tonumber(x or '') or default end
local function str(x) return string.format('%.17g', x) end
"""
    + LUA
)

_BEFORE = (
    _TTL
    + """
local now = tonumber(ARGV[1])
local admitted = guard_admit(ARGV, now)
if admitted and type(admitted[1]) == 'string' then return admitted end
if ARGV[2] == '1' then
  local h = redis.call('HGET', KEYS[1], 'h')
  if h and tonumber(h) > now then return guard_told(ARGV, {'h', h}, admitted) end
end
local token, rate = guard_token(ARGV, now)
if rate then return guard_told(ARGV, {'r', rate}, admitted) end
local go = false
if ARGV[2] == '1' then
  local plans, wait, blind, room, till = {}, nil, false, nil, nil
  for i = 9, #ARGV, 2 do
    local f, c = ARGV[i], tonumber(ARGV[i + 1])
    local v = redis.call('HMGET', KEYS[1], f..'u', f..'lo', f..'s', f..'a', f..'b', f..'bs', f..'L')
    local u = tonumber(v[1] or '')
    local r, t = nil, nil
    if u ~= nil and u > now then
      local lo, s, a = num(v[2], 0), num(v[3], 0), num(v[4], 0)
      if lo - (s - a) < c then
        if wait == nil or u > tonumber(wait) then wait = v[1] end
      else
        plans[#plans + 1] = {f, 's', s + c}
      end
      r, t = lo - (s + c - a), u
    else
      local b, bs = num(v[5], 0), tonumber(v[6] or '')
      if bs == nil or (b ~= 0 and now - bs > IN_FLIGHT) then b = 0 end
      local limit = num(v[7], 0)
      if limit > 0 and b + c > limit and u ~= nil and now - u <= IN_FLIGHT then
        blind = true
      elseif b == 0 then
        plans[#plans + 1] = {f, 'b', c, ARGV[1]}
      else
        plans[#plans + 1] = {f, 'b', b + c}
      end
      if limit > 0 and u ~= nil and now - u <= IN_FLIGHT then
        r, t = limit - (b + c), u + IN_FLIGHT
      end
    end
    if r ~= nil and (room == nil or r < room) then room = r end
    if t ~= nil and (till == nil or t < till) then till = t end
  end
  if wait ~= nil then return guard_told(ARGV, {'q', wait}, admitted) end
  if blind then return guard_told(ARGV, {'w'}, admitted) end
  local touched = false
  for _, p in ipairs(plans) do
    if p[4] then
      redis.call('HSET', KEYS[1], p[1]..'b', p[3], p[1]..'bs', p[4])
    else
      redis.call('HSET', KEYS[1], p[1]..p[2], str(p[3]))
    end
    if p[2] == 'b' then touched = true end
  end
  if touched then ttl(BLIND_MS) end
  go = {'', room and str(room) or 'MAX_QUOTA', till and str(till) or ''}
end
if ARGV[3] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], WINDOW_MS)
end
if ARGV[6] ~= '' or ARGV[7] ~= '' then go = guard_go(ARGV, go, admitted, token, now) end
return go
"""
)

_AFTER = (
    _TTL
    + """
local now = tonumber(ARGV[1])
local change, phase, on = guard_record(now, ARGV[10], ARGV[11])
local hs = redis.call('HGET', KEYS[1], 'h')
local h = tonumber(hs or '')
if ARGV[2] ~= '' then
  local nh = tonumber(ARGV[2])
  if nh > now and (h == nil or nh > h) then
    redis.call('HSET', KEYS[1], 'h', ARGV[2])
    ttl(tonumber(ARGV[3]))
    h, hs = nh, ARGV[2]
  end
end
local room, till = nil, nil
for i = 12, #ARGV, 4 do
  local r
  local f, rem, untils, c = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3])
  local until_ = tonumber(untils)
  if until_ > now then
    local v = redis.call('HMGET', KEYS[1], f..'u', f..'lo', f..'s', f..'a', f..'b', f..'bs', f..'L',
      f..'p', f..'pd')
    local cu = tonumber(v[1] or '')
    local live = cu ~= nil and cu > now
    if not live or until_ >= cu + NEW_WINDOW then
      local sent = c
      local b, bs = num(v[5], 0), tonumber(v[6] or '')
      local recent = not live and bs ~= nil and now - bs <= IN_FLIGHT
      if recent and b > c then sent = b end
      local due = 0
      if cu ~= nil and now - cu <= IN_FLIGHT then
        due = num(v[3], 0) - num(v[4], 0) - num(v[9], 0)
      end
      if not (recent and b ~= 0) then due = due - c end
      redis.call('HSET', KEYS[1], f..'u', untils, f..'lo', rem, f..'s', str(sent),
        f..'a', str(c), f..'b', 0, f..'L', str(math.min(rem + c, MAX_QUOTA)),
        f..'p', str(math.max(0, due)), f..'pd', 0)
      ttl(math.floor((until_ - now) * 1000) + BLIND_MS)
      r = rem - (sent - c)
    else
      local lo, s, a = num(v[2], 0), num(v[3], 0), num(v[4], 0)
      if rem < lo then redis.call('HSET', KEYS[1], f..'lo', rem); lo = rem end
      if rem + c > num(v[7], 0) then
        redis.call('HSET', KEYS[1], f..'L', str(math.min(rem + c, MAX_QUOTA)))
      end
      local p = num(v[8], 0)
      if p > 0 then
        redis.call('HSET', KEYS[1], f..'p', str(math.max(0, p - c)),
          f..'pd', str(num(v[9], 0) + math.min(c, p)))
      elseif a < s then
        a = math.min(a + c, s); redis.call('HSET', KEYS[1], f..'a', str(a))
      end
      r = lo - (s - a)
      until_ = cu
    end
    if room == nil or r < room then room = r end
    if till == nil or until_ < till then till = until_ end
  end
end
local held = ''
if h ~= nil and h > now then held = hs end
local tail = room and str(room) or ''
local tills = till and str(till) or ''
if ARGV[4] ~= '1' then return {held, 1, 0, tail, tills, change, phase, on} end
if held ~= '' and ARGV[7] ~= '' and h > tonumber(ARGV[7]) then
  return {held, 0, 0, tail, tills, change, phase, on}
end
if ARGV[5] == '' then return {held, 1, 0, tail, tills, change, phase, on} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[9])
local requests = redis.call('ZCARD', KEYS[2])
local spent = redis.call('ZCARD', KEYS[3])
if spent + 1 <= tonumber(ARGV[5]) * requests + tonumber(ARGV[6]) + 1e-9 then
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[8])
  redis.call('PEXPIRE', KEYS[3], WINDOW_MS)
  return {held, 1, requests, tail, tills, change, phase, on}
end
return {held, 0, requests, tail, tills, change, phase, on}
"""
)


def _fill(text: str) -> str:
    for name, value in _CONSTANTS.items():
        text = text.replace(name, value)
    return text


class Script:
    """A script's text and its SHA1 (what ``EVALSHA`` names it by)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# BOTH: a check and the record of the same attempt, sent together (the check was carried
# to go with the record): the two scripts' bodies, run one after the other in one script
# -- what BEFORE then AFTER would do, atomically, for one EVALSHA.  ARGV: the number of
# BEFORE's arguments, BEFORE's, then AFTER's.  Answers {BEFORE's answer (0: false), AFTER's}.
_BOTH = (
    _TTL
    + "local function before(ARGV)\n"
    + _BEFORE.removeprefix(_TTL)
    + "end\nlocal function after(ARGV)\n"
    + _AFTER.removeprefix(_TTL)
    + """end
local n = tonumber(ARGV[1])
local b, a = {}, {}
for i = 2, n + 1 do b[#b + 1] = ARGV[i] end
for i = n + 2, #ARGV do a[#a + 1] = ARGV[i] end
local first = before(b)
return {first or 0, after(a)}
"""
)

BEFORE: Final = Script(_fill(_BEFORE))
AFTER: Final = Script(_fill(_AFTER))
BOTH: Final = Script(_fill(_BOTH))


def _bulk(arg: Any) -> bytes:
    b = arg if type(arg) is bytes else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


_HEADS: dict[tuple[str, tuple[str, str, str]], bytes] = {}
#: The arguments most calls repeat (the flags, the reserved slots), packed once.
_COMMON: dict[Any, bytes] = {a: _bulk(a) for a in ("", "0", "1", 0, 1)}


def packed(script: Script, keys: tuple[str, str, str], args: list[Any]) -> bytes:
    """``EVALSHA sha 3 KEYS... ARGV...`` in the Redis protocol.  Written here rather than
    by redis-py's generic encoder, which costs several times more per argument; the part
    that names the script and the keys is made once per script and origin."""
    head = _HEADS.get((script.sha, keys))
    if head is None:
        if len(_HEADS) >= 8192:
            _HEADS.clear()
        head = _HEADS[(script.sha, keys)] = b"".join(
            map(_bulk, ("EVALSHA", script.sha, "3", *keys))
        )
    common = _COMMON.get
    body = b"".join([common(a) or _bulk(a) for a in args])
    return b"*%d\r\n%s%s" % (6 + len(args), head, body)


def run_script(
    conn: Any, script: Script, keys: tuple[str, str, str], args: list[Any], sent: bool = False
) -> Any:
    """Send ``EVALSHA`` (unless ``sent``: it was) and read its answer; on
    ``NOSCRIPT`` load the script and run it again, once."""
    try:
        if not sent:
            conn.send_packed_command((packed(script, keys, args),), False)
        return conn.read_response()
    except NoScriptError:
        conn.send_command("SCRIPT", "LOAD", script.text)
        conn.read_response()
        conn.send_packed_command((packed(script, keys, args),), False)
        return conn.read_response()


def cost_tail(cost: Mapping[str, float]) -> list[Any]:
    """``BEFORE``'s cost tail: the request family first, then each other family's units."""
    tail: list[Any] = ["", cost.get("", 1)]
    for family, units in cost.items():
        if family:
            tail += (f"{family}:", units)
    return tail
