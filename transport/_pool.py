"""``RetryingPool``: urllib3 as a thin I/O shell around the one attempt loop.

The evaluator (``policy``) is pure and the attempt loop (``_loop.Call``) is sans-IO; this
module is their urllib3 half, in the h11 style: send a request, turn whatever happened
into an outcome (``Response``, ``Timeout``, ``ConnectFailure``, ``ConnectionReset``),
hand it to the call and do what it says (wait, send again, or stop).

Design points, each a lesson from retry bugs in the wild:

* **One retry layer.**  urllib3 is called with ``retries=False`` and ``redirect=False``
  per hop, so it never retries behind the policy's back; redirects are followed here
  (at most ``max_redirects``, not counted as retries), stripping urllib3's own
  ``Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT`` (``Authorization``, ``Cookie``,
  ``Proxy-Authorization``) and every ``Redacted`` header when the host changes, and
  refusing https → http downgrades.
* **The timeout bounds the whole attempt.**  Connecting, waiting for headers and reading
  the body (with ``preload_content=False``, in chunks, the socket timeout set to the time
  left before each read) share one budget, so a server that drips its body still times
  out.  The budget is the call's ``timeout``, else the policy's ``timeout=``, else 120 s,
  shrunk to the time left before the policy's ``deadline``.
* **Clean connections only.**  Every response body is read (drained) before the next
  attempt so its connection goes back to the pool; a connection that broke or timed out
  is closed, never reused.
* **Wall-clock for headers, monotonic for elapsed time.**  ``now`` given to the evaluator
  is ``wall0 + clock() - clock0``: rate-limit resets are absolute wall times, but a
  clock step during a call never shortens or stretches a wait.
* **Cheap attempts.**  The URL is parsed once per call (cached), the connection pool for
  the host is looked up once per call (kept across calls when this object owns the
  ``PoolManager``), ``HTTPConnectionPool.urlopen`` is called directly, and the response
  headers reach ``policy.Response`` as a plain dict read from urllib3's lower-cased
  storage (every line of a repeated header kept), so the per-attempt overhead stays
  close to urllib3's own retry loop.
"""

from __future__ import annotations

import functools
import http.client
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, TypeAlias
from urllib.parse import urljoin

import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    InvalidHeader,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Retry as _Urllib3Retry
from urllib3.util import Timeout as _Timeout
from urllib3.util import parse_url

import policy
from policy.language._outcomes import response_from_normal as _response_from_normal
from policy.loop._loop import Attempt, Call, Done, Wait, as_policy
from policy.loop._state import LocalState, State

from ._check import (
    callable_or_none,
    positive_int,
    positive_seconds,
    required_callable,
)
from ._guard import Watch as _Watch
from ._guard import hook_pool as _hook_pool
from ._guard import local as _local
from ._guard import watchdog as _watchdog
from ._redact import mask_url, reveal_headers, url_credentials

__all__ = ["DEFAULT_TIMEOUT", "Attempt", "RetryError", "RetryingPool", "attempts_of"]

#: The per-attempt timeout when neither the call nor the policy gives one (seconds).
DEFAULT_TIMEOUT = 120.0
#: Redirects followed per attempt (they never count as retries).
MAX_REDIRECTS = 10
#: The largest (decoded) response body a call reads by default: 64 MiB.  A hostile
#: server's gzip bomb (64 MB from 65 kB) ends the call with ``RetryError``, not the process.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
_STRIP_CROSS_HOST = frozenset(h.lower() for h in _Urllib3Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT)
_NO_RETRY = _Urllib3Retry(total=False, redirect=False)
_CHUNK = 65536
_PORTS = {"http": 80, "https": 443}

log = logging.getLogger("policy")

Body: TypeAlias = bytes | bytearray | memoryview | str | IO[bytes] | IO[str] | None
Outcome: TypeAlias = (
    policy.Response | policy.Timeout | policy.ConnectFailure | policy.ConnectionReset
)


PolicyArg: TypeAlias = "policy.Policy | str"


class RetryError(Exception):
    """A call ended without a response to return: connection failure, timeout or redirects.

    ``attempts`` holds every attempt (outcome, delay, reason); the message names the
    method, the URL with query values masked, and the final reason -- never a header.
    """

    def __init__(self, method: str, url: str, attempts: tuple[Attempt, ...], reason: str) -> None:
        self.method = method
        self.url = url  # already masked
        self.attempts = attempts
        self.reason = reason
        n = len(attempts)
        last = attempts[-1].label if attempts else "nothing"
        super().__init__(
            f"{method} {url} failed after {n} attempt{'s' if n != 1 else ''} "
            f"(last: {last}): {reason}"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.method, self.url, self.attempts, self.reason))


def attempts_of(response: urllib3.BaseHTTPResponse) -> tuple[Attempt, ...]:
    """The history of a response returned by ``RetryingPool.request``: every attempt.

    The typed way to read what the pool attaches as ``response.attempts`` (urllib3's
    response class does not declare that attribute, so ``mypy --strict`` rejects it).
    A response that did not come from ``RetryingPool.request`` has no history: that is a
    ``ValueError``, never an empty tuple that would read as "no attempts were made".
    """
    attempts = getattr(response, "attempts", None)
    if isinstance(attempts, tuple) and all(type(a) is Attempt for a in attempts):
        return attempts
    raise ValueError(
        f"this {type(response).__name__} did not come from RetryingPool.request: "
        "it carries no attempts"
    )


class _Fail(Exception):
    """Internal: an attempt ended in an outcome that is not a response."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail


class _Final(Exception):
    """Internal: the call cannot go on (too many redirects, a refused downgrade)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        self.outcome = outcome
        self.reason = reason


def _outcome_of(err: BaseException) -> Outcome | None:
    """Map a urllib3 error to an outcome (``None``: not a transport failure).

    A malformed response -- a bad status line or status, conflicting ``Content-Length``
    headers, a body its ``Content-Encoding`` cannot decode, a head cut off -- is a broken
    connection (``reset``): the server's answer never arrived intact.  A send that ran out
    of time (urllib3 wraps the socket's ``TimeoutError`` as "Connection aborted") is a
    ``timeout``, as a read that runs out of time is.
    """
    if isinstance(err, ReadTimeoutError | TimeoutError):
        return policy.Timeout()
    if isinstance(err, ConnectTimeoutError | NewConnectionError | SSLError | ProxyError):
        # NewConnectionError covers refused and DNS (NameResolutionError); SSLError from
        # urlopen is the handshake (after it, read errors surface as ProtocolError).
        return policy.ConnectFailure()
    if isinstance(err, ProtocolError):
        cause = err.args[1] if len(err.args) > 1 else None
        if isinstance(cause, TimeoutError):
            return policy.Timeout()
        return policy.ConnectionReset()
    if isinstance(err, OSError | DecodeError | InvalidHeader | http.client.HTTPException):
        return policy.ConnectionReset()
    return None


def _header_dict(headers: Mapping[str, str]) -> Mapping[str, str] | list[tuple[str, str]]:
    """A response's headers for ``policy.Response``: lower-case names, every line kept.

    urllib3's ``HTTPHeaderDict`` already keys its storage by the lower-case name, with
    ``[original name, value, ...]`` as the value; reading that is a fifth of the cost of
    iterating its items (which ``policy.Response`` would otherwise do).  When no name has
    more than one line (the common case) the result is a plain dict; otherwise it is the
    list of ``(name, line)`` pairs, so that ``policy.Response`` joins the lines of a
    list-valued field (two ``RateLimit`` lines are one list) and keeps the first line of a
    single-valued one (``Retry-After``).  Anything else is left to ``policy.Response``.
    """
    store = getattr(headers, "_container", None)
    if type(store) is dict:
        out = {}
        for k, v in store.items():
            if len(v) > 2:  # a repeated header: hand over every line
                return [(k, line) for k, v in store.items() for line in v[1:]]
            value = v[1]
            if type(value) is not str or type(k) is not str:
                return headers  # not the usual shape: policy.Response reads it
            out[k] = value
        return out
    return headers


def _response(status: int, headers: Mapping[str, str]) -> policy.Response:
    """``policy.Response(status, headers)`` of a urllib3 response's headers; the dict
    ``_header_dict`` builds is already normalised, so it is not read a second time."""
    h = _header_dict(headers)
    if type(h) is dict and h is not headers:  # built here: normalised
        return _response_from_normal(status, h)
    return policy.Response(status, h)


def _buffer_body(body: Body) -> bytes | None:
    """The body as bytes, read once, so every attempt sends the same bytes."""
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    read = getattr(body, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, str):
            return data.encode("utf-8")
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        raise TypeError(f"body.read() returned {type(data).__name__}, not bytes or str")
    raise TypeError(
        "body must be bytes, str or a file-like object with read() "
        f"(got {type(body).__name__}): an iterator could not be re-sent on a retry"
    )


_ParsedURL: TypeAlias = tuple[str, str, int | None, str]
_url_cache: dict[str, _ParsedURL] = {}


def _parse(url: str) -> _ParsedURL:
    """(scheme, host, port, request target) of an absolute http(s) URL, cached."""
    hit = _url_cache.get(url)
    if hit is not None:
        return hit
    u = parse_url(url)
    scheme = (u.scheme or "").lower()
    if scheme not in ("http", "https") or not u.host:
        raise ValueError(f"not an absolute http(s) URL: {mask_url(url)}")
    out = (scheme, u.host, u.port, u.request_uri)
    if len(_url_cache) > 512:
        _url_cache.clear()
    _url_cache[url] = out
    return out


class RetryingPool:
    """Send requests through urllib3 and retry them as a policy says.

    ``policy`` is a ``policy.Policy`` or a policy string (parsed once, here; a bad one
    raises ``policy.PolicyError`` with the position).
    ``pool`` is a ``urllib3.PoolManager`` to share (it is not closed by ``close()``);
    ``sleep``, ``clock`` and ``rand`` can be injected (tests record the delays instead of
    sleeping); ``on_retry`` is called with each ``Attempt`` just before its wait and
    ``on_giveup`` with the last one when the policy gives up.  ``state`` holds the pacing
    holds and retry budgets shared by every call through this pool (a ``LocalState`` of
    its own by default; pass one to share it with other adapters).
    ``timeout`` is the default per-attempt timeout of this pool (seconds), used when a call
    gives none and the policy has no ``timeout=``.
    """

    def __init__(
        self,
        policy: PolicyArg,
        *,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Callable[[Attempt], object] | None = None,
        on_giveup: Callable[[Attempt], object] | None = None,
        state: State | None = None,
        max_redirects: int = MAX_REDIRECTS,
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int | None = DEFAULT_MAX_BODY,
    ) -> None:
        positive_int("max_redirects", max_redirects, minimum=0)
        if max_redirects > MAX_REDIRECTS:
            raise ValueError(f"max_redirects must be between 0 and {MAX_REDIRECTS}")
        if max_body is not None:
            positive_int("max_body", max_body, minimum=0)
        own_timeout = positive_seconds("timeout", timeout)
        self._max_body = max_body
        self.policy = policy = as_policy(policy)
        self._sleep = required_callable("sleep", sleep)
        self._clock = required_callable("clock", clock)
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._own_pool = pool is None
        self._pm = pool if pool is not None else urllib3.PoolManager()
        # Pacing holds and retry budgets, shared by every call through this pool.
        self._state: State = state if state is not None else LocalState()
        self._max_redirects = max_redirects
        self._clock0 = clock()
        self._wall0 = time.time()
        t = policy.timeout_ms
        self._timeout = t / 1000 if t is not None else own_timeout
        self._closed = False
        # (scheme, host, port) -> its urllib3 connection pool, so a call skips the
        # PoolManager's key building.  Only for a manager this object owns: a shared one
        # may be cleared by its owner, and its dropped pools must not be used again.
        self._cps: dict[tuple[str, str, int | None], HTTPConnectionPool] = {}
        self._stop_error: BaseException | None = None
        self._last_timeout: tuple[float, _Timeout] = (-1.0, _Timeout(connect=1.0, read=1.0))

    # -- public API --------------------------------------------------------------------

    def now(self) -> float:
        """Wall-clock seconds, advanced by the monotonic clock (what the evaluator sees)."""
        return self._wall0 + self._clock() - self._clock0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, Any] | None = None,
        body: Body = None,
        timeout: float | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send ``method url`` until the policy accepts or gives up; return the response.

        The response is fully read (``.data``); ``transport.attempts_of(response)`` is its
        history (also set as an ``attempts`` attribute, untyped).  Credentials in the URL
        (``http://user:pw@host/``) are sent as Basic auth unless ``headers`` has an
        ``Authorization``, and never shown.  Raises ``RetryError`` when the last outcome
        is a connection failure, a timeout, too many redirects or a refused https → http
        redirect.
        """
        if self._closed:
            raise RuntimeError("this RetryingPool is closed")
        method = method.upper()
        data = _buffer_body(body)
        url, headers = url_credentials(url, headers)  # user:pw@ -> Basic auth, Redacted
        send_headers, secret = reveal_headers(headers)
        budget = self._timeout if timeout is None else positive_seconds("timeout", timeout)
        clock, wall = self._clock, self._wall0 - self._clock0
        target = _parse(url)
        call = Call(
            self.policy,
            method=method,
            now=wall + clock(),
            timeout=budget,
            origin=f"{target[0]}://{target[1]}:{target[2] or _PORTS[target[0]]}",
            display=functools.partial(mask_url, url),
            state=self._state,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
        )
        cp = self._pool_for(target)
        sleep = self._sleep
        while True:
            step = call.before(wall + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    sleep(step.seconds)
                continue
            if type(step) is Done:  # gave up before sending (a pacing hold)
                raise RetryError(method, mask_url(url), tuple(call.attempts), step.reason)
            resp: urllib3.BaseHTTPResponse | None
            try:
                resp = self._attempt(
                    cp,
                    target,
                    url,
                    method,
                    data,
                    send_headers,
                    secret,
                    step.timeout,  # type: ignore[union-attr]
                )
            except _Fail as f:
                outcome: Outcome = f.outcome
                resp = None
            except _Final as e:
                n = len(call.attempts) + 1
                call.attempts.append(Attempt(n, e.outcome, None, e.reason, None))
                raise RetryError(method, mask_url(url), tuple(call.attempts), e.reason) from None
            else:
                outcome = _response(resp.status, resp.headers)
            step = call.after(outcome, wall + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    sleep(step.seconds)
                continue
            if resp is None:
                reason = step.reason if step.gave_up else "failed"  # type: ignore[union-attr]
                raise RetryError(method, mask_url(url), tuple(call.attempts), reason)
            resp.attempts = tuple(call.attempts)  # type: ignore[attr-defined]
            return resp

    def close(self) -> None:
        """Close the connections (of a pool this object created)."""
        self._closed = True
        if self._own_pool:
            self._close_cached()
            self._pm.clear()

    def __enter__(self) -> RetryingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _abort(self, error: BaseException) -> None:
        """Stop every attempt of this pool now and later: each raises ``error``.

        The running attempts' sockets are shut down by the watchdog, so a call blocked in
        any phase of an attempt returns at once (``BackgroundFetcher.close()``).
        """
        self._stop_error = error
        _watchdog.fire_all(self)

    def _pool_for(self, target: _ParsedURL) -> HTTPConnectionPool:
        """The host's connection pool, guarded (``transport._guard.hook_pool``).

        The cache of an owned manager forgets its entries when it is full, but never
        closes a pool: one may be in use by a call waiting to retry.  The manager itself
        closes the pools it evicts; an attempt that finds its pool closed takes the
        host's live one (see ``_hops``).
        """
        if not self._own_pool:
            return _hook_pool(self._pm.connection_from_host(target[1], target[2], target[0]))
        key = target[:3]
        cp = self._cps.get(key)
        if cp is None or cp.pool is None:
            cp = _hook_pool(self._pm.connection_from_host(target[1], target[2], target[0]))
            if len(self._cps) >= 64:
                self._cps.clear()
            self._cps[key] = cp
        return cp

    def _close_cached(self) -> None:
        cps = list(self._cps.values())
        self._cps.clear()
        for cp in cps:
            cp.close()

    def _attempt(
        self,
        cp: HTTPConnectionPool,
        target: _ParsedURL,
        url: str,
        method: str,
        body: bytes | None,
        headers: dict[str, str],
        secret: frozenset[str],
        limit: float,
    ) -> urllib3.BaseHTTPResponse:
        """One attempt (following redirects), all of it within ``limit`` seconds.

        The watchdog shuts the attempt's socket down at the deadline, whatever phase it is
        in (connect, upload, interim responses, head, body, trailers, decoding); an attempt
        whose watch fired is a ``Timeout`` (or the stop error ``_abort`` gave).
        """
        w = _watchdog.start(limit, self)
        local = _local
        local.watch = w
        try:
            if self._stop_error is not None:
                raise self._stop_error
            return self._hops(cp, target, url, method, body, headers, secret, limit, w)
        except _Fail as f:
            if w.fired:
                if self._stop_error is not None:
                    raise self._stop_error from None
                raise _Fail(policy.Timeout(), f"attempt timed out ({f.detail})") from None
            raise
        except (HTTPError, OSError, http.client.HTTPException) as e:
            # what urllib3 let through unwrapped (InvalidHeader, DecodeError, ...)
            if w.fired:
                if self._stop_error is not None:
                    raise self._stop_error from None
                raise _Fail(policy.Timeout(), f"attempt timed out ({e!r})") from None
            o = _outcome_of(e)
            if o is None:
                raise
            raise _Fail(o, repr(e)) from None
        finally:
            local.watch = None
            _watchdog.cancel(w)

    def _hops(
        self,
        cp: HTTPConnectionPool,
        target: _ParsedURL,
        url: str,
        method: str,
        body: bytes | None,
        headers: dict[str, str],
        secret: frozenset[str],
        limit: float,
        w: _Watch,
    ) -> urllib3.BaseHTTPResponse:
        clock = self._clock
        end = clock() + limit
        hops = 0
        reopened = 0
        while True:
            try:
                resp = cp.urlopen(
                    method,
                    target[3],
                    body=body,
                    headers=headers,
                    retries=_NO_RETRY,
                    redirect=False,
                    assert_same_host=False,
                    timeout=self._timeout_for(limit),
                    preload_content=False,
                    release_conn=False,
                )
            except ClosedPoolError:
                # The pool was closed under this call (a PoolManager evicting it while
                # the call waited to retry): nothing was sent; take the host's live pool.
                reopened += 1
                if reopened > 3:
                    raise
                cp = self._pool_for(target)
                continue
            except HTTPError as e:
                o = _outcome_of(e)
                if o is None:
                    raise
                raise _Fail(o, repr(e)) from None
            self._read_body(resp, end, limit, w)
            status = resp.status
            if status not in _REDIRECT_STATUSES or self._max_redirects == 0:
                return resp
            location = resp.headers.get("location")
            if not location:
                return resp
            hops += 1
            if hops > self._max_redirects:
                raise _Final(
                    _response(status, resp.headers),
                    f"too many redirects (more than {self._max_redirects})",
                )
            try:
                new_url = urljoin(url, location)
                new_target = _parse(new_url)
            except ValueError:
                raise _Final(
                    _response(status, resp.headers),
                    f"refused a redirect ({status}) to a Location that is not a usable http(s) URL",
                ) from None
            if target[0] == "https" and new_target[0] == "http":
                raise _Final(
                    _response(status, resp.headers),
                    f"refused a redirect from https to http ({mask_url(new_url)})",
                )
            if new_target[:3] != target[:3]:
                headers = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in _STRIP_CROSS_HOST and k.lower() not in secret
                }
                cp = self._pool_for(new_target)
            if status == 303 and method != "HEAD":
                method, body = "GET", None
                headers = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in ("content-type", "content-length", "content-encoding")
                }
            url, target = new_url, new_target
            limit = end - clock()
            if limit <= 0:
                raise _Fail(policy.Timeout(), "attempt timed out while redirecting")

    def _timeout_for(self, limit: float) -> _Timeout:
        cached = self._last_timeout
        if cached[0] == limit:
            return cached[1]
        t = _Timeout(connect=limit, read=limit)
        self._last_timeout = (limit, t)
        return t

    def _read_body(
        self, resp: urllib3.BaseHTTPResponse, end: float, limit: float, w: _Watch
    ) -> None:
        """Read the whole body before ``end`` (monotonic); keep it as ``resp.data``.

        The socket's read timeout is ``limit`` when the headers arrive; before each read it
        is lowered to the time left (skipped while that is within 1 ms of ``limit``).  The
        watchdog bounds what a read timeout cannot (a decoder or a trailer that never
        ends).  Before the connection goes back to the pool it is detached from the watch,
        so a late firing can never shut a connection another call is using; a connection
        whose watch fired is closed, never reused.
        """
        clock = self._clock
        chunks: list[bytes] = []
        size = 0
        cap = self._max_body
        sock = getattr(resp.connection, "sock", None)
        near = limit - 0.001
        plain = "content-encoding" not in resp.headers  # no decoder holding data back
        try:
            while True:
                left = end - clock()
                if left <= 0:
                    _discard(resp, w)
                    raise _Fail(policy.Timeout(), "attempt timed out reading the body")
                if sock is not None and left < near:
                    sock.settimeout(left)
                chunk = resp.read1(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if cap is not None and size > cap:
                    outcome = _response(resp.status, resp.headers)
                    _discard(resp, w)
                    raise _Final(
                        outcome,
                        f"response body over max_body={cap} bytes (decoded); not read further",
                    )
                if plain and resp.length_remaining == 0:
                    break
        except (HTTPError, OSError, http.client.HTTPException) as e:
            _discard(resp, w)
            o = _outcome_of(e)
            if o is None:
                raise
            raise _Fail(o, repr(e)) from None
        if _watchdog.detach(w):
            # shut at the deadline: what was read may be cut short (a close-delimited
            # body ends at the shutdown as if complete)
            resp.close()
            resp.release_conn()
            raise _Fail(policy.Timeout(), "attempt timed out reading the body")
        resp.release_conn()
        resp._body = b"".join(chunks) if len(chunks) != 1 else chunks[0]  # type: ignore[attr-defined]


def _discard(resp: urllib3.BaseHTTPResponse, w: _Watch) -> None:
    """Close ``resp``'s connection (never reused) and hand its slot back to the pool."""
    _watchdog.detach(w)
    resp.close()
    resp.release_conn()
