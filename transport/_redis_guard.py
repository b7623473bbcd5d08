"""``RedisState``'s circuit breaker and adaptive bucket (``breaker=``, ``pace=adaptive``),
shared by every process through the origin's Redis hash.

They travel in the two scripts every attempt already runs (``_redis_lua``): ``BEFORE``
asks the origin's breaker first (an open circuit refuses before anything is spent),
then pacing and the budget's count, then commits the admission and takes the bucket's
token; ``AFTER`` records the answer in the breaker (answering the phase it moved to)
and in the bucket.  ``LUA`` below is the part of the scripts that does it: the pure
functions of ``policy.loop._breaker`` (``admit``, ``record``) and
``policy.loop._adaptive`` (``acquire``, ``record``) written again in Lua, the same
floating-point operations in the same order, so a fleet sharing Redis gets exactly the
verdicts and waits one ``LocalState`` would give (the tests run random sequences through
both).  Times travel as the strings Python wrote and come back with 17 digits: exact.

Fields (in the origin's hash; see ``_redis_lua``): a breaker's under ``cb:<config>:``
(``<config>`` is ``threshold/ratio/window/open/min/probes``, so two policies with
different breakers on one origin do not mix, as in ``LocalState``): ``p`` phase, ``n``
failures in a row, ``u`` until, ``s`` probes sent, ``ok`` probes passed, ``b`` newest
bucket, ``f`` / ``t`` the ratio window's failures and attempts per bucket
(comma-separated).  The bucket's under ``ab:``: ``e`` on, ``r`` fill rate, ``mc`` max
capacity, ``c`` tokens, ``lf`` last refill, ``m`` measured rate, ``lb`` its bucket,
``n`` answers since, ``w`` CUBIC's ``w_max``, ``k`` its ``K``, ``lt`` last throttle.
The hash lives at least ``until + window + open`` past a breaker's write and
``BUCKET_TTL`` past a bucket's.

When Redis does not answer, the process's own ``LocalState`` decides (the fallback of
every ``RedisState`` call): the breaker and bucket then start from scratch there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from policy.loop._breaker import CLOSED, BreakerConfig
from policy.loop._resilience import report_change
from policy.loop._state import Verdict

__all__ = ["BUCKET_TTL_MS", "LUA", "after_args", "config_arg", "read_before", "reported"]

#: A bucket's fields outlive its last write by this much (ms).
BUCKET_TTL_MS: Final = 600_000

LUA: Final = """
local function cb_cfg(s)
  local v = {}
  for x in string.gmatch(s, '[^/]+') do v[#v + 1] = x end
  return {th = tonumber(v[1]), ratio = v[2] == '1', win = tonumber(v[3]),
    open = tonumber(v[4]), min = tonumber(v[5]), probes = tonumber(v[6]), key = 'cb:'..s..':'}
end
local function cb_zeros(cfg)
  local z = {}
  if cfg.ratio then for i = 1, 10 do z[i] = 0 end end
  return z
end
local function cb_start(cfg)
  return {p = 'closed', n = 0, u = 0, s = 0, ok = 0, b = 0, f = cb_zeros(cfg), t = cb_zeros(cfg)}
end
local function cb_ints(s)
  local t = {}
  for x in string.gmatch(s, '[^,]+') do t[#t + 1] = tonumber(x) end
  return t
end
local function cb_load(cfg)
  local k = cfg.key
  local v = redis.call('HMGET', KEYS[1], k..'p', k..'n', k..'u', k..'s', k..'ok', k..'b',
    k..'f', k..'t')
  local p = v[1]
  if p ~= 'closed' and p ~= 'open' and p ~= 'half-open' then return cb_start(cfg) end
  local st = {p = p, n = tonumber(v[2] or ''), u = tonumber(v[3] or ''),
    s = tonumber(v[4] or ''), ok = tonumber(v[5] or ''), b = tonumber(v[6] or ''),
    f = cb_ints(v[7] or ''), t = cb_ints(v[8] or '')}
  local size = 0
  if cfg.ratio then size = 10 end
  if not (st.n and st.u and st.s and st.ok and st.b) or #st.f ~= size or #st.t ~= size then
    return cb_start(cfg)
  end
  return st
end
local function cb_save(cfg, st, now)
  local k = cfg.key
  redis.call('HSET', KEYS[1], k..'p', st.p, k..'n', st.n, k..'u', str(st.u), k..'s', st.s,
    k..'ok', st.ok, k..'b', str(st.b), k..'f', table.concat(st.f, ','),
    k..'t', table.concat(st.t, ','))
  ttl(math.floor((math.max(st.u - now, 0) + cfg.win + cfg.open) * 1000) + GRACE_MS)
end
local function cb_opened(cfg, now)
  return {p = 'open', n = 0, u = now + cfg.open, s = 0, ok = 0, b = 0,
    f = cb_zeros(cfg), t = cb_zeros(cfg)}
end
local function cb_due(cfg, now, lease)
  if lease > cfg.open then return now + lease end
  return now + cfg.open
end
local function cb_half(cfg, st, now, lease)
  return {p = 'half-open', n = 0, u = cb_due(cfg, now, lease), s = 1, ok = 0, b = 0, f = st.f,
    t = st.t}
end
local function cb_admit(cfg, st, now, lease)
  if st.p == 'closed' then return nil, 'send', 0 end
  if st.p == 'open' then
    if now < st.u then return nil, 'open', st.u - now end
    return cb_half(cfg, st, now, lease), 'probe', 0
  end
  if st.s < cfg.probes then
    st.s = st.s + 1
    local due = cb_due(cfg, now, lease)
    if due > st.u then st.u = due end
    return st, 'probe', 0
  end
  if now >= st.u then return cb_half(cfg, st, now, lease), 'probe', 0 end
  return nil, 'busy', st.u - now
end
local function cb_release(cfg, st)
  if st.p ~= 'half-open' or st.s <= st.ok then return nil end
  st.s = st.s - 1
  return st
end
local function cb_record(cfg, st, failed, now, probe)
  if st.p == 'closed' then
    if not cfg.ratio then
      if not failed then
        if st.n == 0 then return nil, nil end
        return cb_start(cfg), nil
      end
      local n = st.n + 1
      if n >= cfg.th then return cb_opened(cfg, now), 'open' end
      st.n = n
      return st, nil
    end
    local b = math.floor(now / (cfg.win / 10))
    local newest = st.b
    if b > newest then
      if b - newest >= 10 then
        st.f, st.t = cb_zeros(cfg), cb_zeros(cfg)
      else
        for k = newest + 1, b do st.f[k % 10 + 1] = 0; st.t[k % 10 + 1] = 0 end
      end
      newest = b
    end
    st.b = newest
    local slot = newest % 10 + 1
    st.t[slot] = st.t[slot] + 1
    if failed then st.f[slot] = st.f[slot] + 1 end
    local n, nf = 0, 0
    for i = 1, 10 do n = n + st.t[i]; nf = nf + st.f[i] end
    if n >= cfg.min and nf * 100 >= cfg.th * n then return cb_opened(cfg, now), 'open' end
    return st, nil
  end
  if st.p == 'open' or not probe then return nil, nil end
  if failed then
    local o = cb_opened(cfg, now)
    -- the round's other probes still out: half-open again once they are due
    if st.s - st.ok > 1 and st.u > o.u then o.u = st.u end
    return o, 'open'
  end
  local passed = st.ok + 1
  if passed >= cfg.probes then return cb_start(cfg), 'closed' end
  st.ok = passed
  return st, nil
end
local AB = {'ab:e', 'ab:r', 'ab:mc', 'ab:c', 'ab:lf', 'ab:m', 'ab:lb', 'ab:n', 'ab:w', 'ab:k',
  'ab:lt'}
local function ab_start(now)
  return {e = false, r = 1.0, mc = 1.0, c = 0.0, lf = now, m = 0.0, lb = math.floor(now),
    n = 0, w = 0.0, k = 0.0, lt = now}
end
local function ab_load(now)
  local v = redis.call('HMGET', KEYS[1], unpack(AB))
  local x = {}
  for i = 2, 11 do
    x[i] = tonumber(v[i] or '')
    if x[i] == nil then return ab_start(now), true end
  end
  if v[1] ~= '1' and v[1] ~= '0' then return ab_start(now), true end
  return {e = v[1] == '1', r = x[2], mc = x[3], c = x[4], lf = x[5], m = x[6], lb = x[7],
    n = x[8], w = x[9], k = x[10], lt = x[11]}, false
end
local function ab_save(s)
  local e = '0'
  if s.e then e = '1' end
  redis.call('HSET', KEYS[1], 'ab:e', e, 'ab:r', str(s.r), 'ab:mc', str(s.mc), 'ab:c', str(s.c),
    'ab:lf', str(s.lf), 'ab:m', str(s.m), 'ab:lb', str(s.lb), 'ab:n', s.n, 'ab:w', str(s.w),
    'ab:k', str(s.k), 'ab:lt', str(s.lt))
  ttl(BUCKET_TTL_MS)
end
local function ab_refill(s, now)
  if now <= s.lf then return s.c end
  return math.min(s.mc, s.c + (now - s.lf) * s.r)
end
local function ab_token(now)
  local s, fresh = ab_load(now)
  if not s.e then
    if fresh then ab_save(s) end
    return nil, 0
  end
  local tokens = ab_refill(s, now)
  local wait = 0
  if tokens < 1 then wait = (1 - tokens) / s.r end
  if now > s.lf then s.lf = now end
  if now + wait > now then
    s.c = tokens
    ab_save(s)
    return nil, wait
  end
  if tokens >= 1 then s.c = tokens - 1 else s.c = 0.0 end
  return s, 0
end
local function ab_record(throttled, now)
  local s = ab_load(now)
  local m, lb, cnt = s.m, s.lb, s.n + 1
  local bucket = math.floor(now * 2.0) / 2.0
  if bucket > lb then
    m = ((cnt / (bucket - lb)) * 0.8) + (m * (1 - 0.8))
    cnt, lb = 0, bucket
  end
  local w, k, lt, e = s.w, s.k, s.lt, s.e
  local rate
  if not throttled then
    rate = 0.4 * ((now - lt) - k) ^ 3 + w
  else
    if e then w = math.min(m, s.r) else w = m end
    k = ((w * (1 - 0.7)) / 0.4) ^ (1 / 3.0)
    lt, rate, e = now, w * 0.7, true
  end
  local value = math.min(rate, 2.0 * m)
  local tokens = ab_refill(s, now)
  local mc = 1.0
  if value >= 1 then mc = value end
  local lf = s.lf
  if now > lf then lf = now end
  ab_save({e = e, r = math.max(value, 0.5), mc = mc, c = math.min(tokens, mc), lf = lf, m = m,
    lb = lb, n = cnt, w = w, k = k, lt = lt})
  if e then return '1' end
  return '0'
end
local function guard_admit(A, now)
  if A[6] == '' then return nil end
  local cfg = cb_cfg(A[6])
  local st = cb_load(cfg)
  local was = st.p
  local new, verdict, wait = cb_admit(cfg, st, now, tonumber(A[8]) or 0)
  if verdict == 'open' then return {'o', str(now + wait), '', '', '', 'open', ''} end
  if verdict == 'busy' then return {'b', str(now + wait), '', '', '', 'half-open', ''} end
  local kind = ''
  if verdict == 'probe' then
    kind = 'p'
    if was == 'open' then kind = 'x' end
  end
  return {cfg, new, kind, was}
end
local function guard_told(A, r, admitted)
  if A[6] == '' and A[7] == '' then return r end
  for i = #r + 1, 5 do r[i] = '' end
  r[6], r[7] = '', ''
  if admitted then r[6] = admitted[4] end
  return r
end
local function guard_token(A, now)
  if A[7] == '' then return nil, nil end
  local token, wait = ab_token(now)
  if wait > 0 then return nil, str(now + wait) end
  return token, nil
end
local function guard_go(A, go, admitted, token, now)
  local kind, phase, on = '', '', ''
  if admitted then
    phase = admitted[4]
    if admitted[2] then
      cb_save(admitted[1], admitted[2], now)
      phase = admitted[2].p
    end
    kind = admitted[3]
  end
  if A[7] ~= '' then
    on = '0'
    if token then ab_save(token); on = '1' end
  end
  if not go then go = {'', '', ''} end
  go[4], go[5], go[6], go[7] = kind, str(now), phase, on
  return go
end
local function guard_record(now, breaker, throttled)
  local change, phase, on = '', '', ''
  if breaker ~= '' then
    local cfg = cb_cfg(string.sub(breaker, 4))
    local st = cb_load(cfg)
    local new, ch
    if string.sub(breaker, 1, 1) == 'r' then
      new = cb_release(cfg, st)
    else
      new, ch = cb_record(cfg, st, string.sub(breaker, 1, 1) == '1', now,
        string.sub(breaker, 2, 2) == '1')
    end
    if new then cb_save(cfg, new, now) end
    if ch then change = ch end
    phase = (new or st).p
  end
  if throttled ~= '' then on = ab_record(throttled == '1', now) end
  return change, phase, on
end
"""

_configs: dict[BreakerConfig, str] = {}


def config_arg(config: BreakerConfig) -> str:
    """A breaker's config as the scripts read it (``threshold/ratio/window/open/min/probes``)."""
    got = _configs.get(config)
    if got is None:
        if len(_configs) >= 256:
            _configs.clear()
        got = _configs[config] = (
            f"{config.threshold}/{int(config.ratio)}/{config.window!r}/{config.open!r}/"
            f"{config.min}/{config.probes}"
        )
    return got


def after_args(guard: Mapping[str, Any]) -> tuple[str, str]:
    """``AFTER``'s breaker slot (``<failed><probe>|<config>``) and throttle slot."""
    breaker = guard.get("breaker")
    slot = ""
    if breaker is not None and guard.get("released"):
        return f"r0|{config_arg(breaker)}", ""  # a probe without an answer: its place back
    if breaker is not None:
        failed = "1" if guard.get("failed") else "0"
        probe = "1" if guard.get("probe") else "0"
        slot = f"{failed}{probe}|{config_arg(breaker)}"
    throttle = ""
    if guard.get("adaptive"):
        throttle = "1" if guard.get("throttled") else "0"
    return slot, throttle


def _text(x: Any) -> str:
    return x.decode() if type(x) is bytes else str(x)


def read_before(got: Any, now: float) -> Verdict:
    """The verdict of ``BEFORE``'s answer when a breaker or the bucket was asked: a
    refusal (``{"o"|"b", until}``), or go ahead with the probe's kind and the token's
    time (``{"", room, till, kind, at}``); a pacing verdict is read by the caller."""
    why = _text(got[0])
    if why == "r":
        return ("rate", float(got[1]))
    if why == "o":
        return ("open", float(got[1]))
    if why == "b":
        return ("busy", float(got[1]))
    kind, at = _text(got[3]), float(got[4])
    if kind == "p":
        return ("probe", at)
    if kind == "x":
        return ("half-open", at)
    return ("rate", at) if at > now else None


def reported(origin: str, new: str) -> None:
    """A change of phase found in an answer nobody waited for -- a success's record, which
    can only open a ``breaker=P%`` (``closed -> open``) -- reported as any other."""
    report_change(origin, CLOSED, new)
