"""One attempt through urllib3, shared by every urllib3 shell.

``RetryingPool`` (a call's whole loop, in this thread), ``BackgroundFetcher`` (that loop
on a worker thread) and ``CeleryFetcher`` (one attempt per task message) send an attempt
the same way: ``send_attempt`` -- the request, its redirects, its body read in chunks,
all of it bounded by one time limit the watchdog enforces.  It lives here, in one
function with a public-in-package name, so that no shell reaches into another for it.
A ``Sender`` is what consecutive attempts share: the urllib3 ``PoolManager`` and its
host pools, the clock, the redirect and body limits, and a stop switch (``abort``).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from urllib.parse import urljoin

import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ClosedPoolError, HTTPError
from urllib3.util import Retry as _Urllib3Retry
from urllib3.util import Timeout as _Timeout

import policy
from policy.loop import Call, Done, Wait

from ._guard import Watch as _Watch
from ._guard import hook_pool as _hook_pool
from ._guard import local as _local
from ._guard import watchdog as _watchdog
from ._redact import mask_url
from ._wire import Outcome, ParsedURL, outcome_of, parse_target, response_outcome

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "SENT_BY",
    "AttemptFailed",
    "CallEnded",
    "Sender",
    "after_response",
    "send_attempt",
]

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


#: The attribute a response that came after redirects carries: the origin that sent it.
SENT_BY = "retry_sent_by"


def after_response(call: Call, outcome: Outcome, now: float, sent_by: str | None) -> Wait | Done:
    """``call.after(outcome, now)``, with the response's pacing signals (hold, quota)
    recorded against ``sent_by``, the origin that sent it after redirects (``None``: the
    call's own).  A redirect's target says how busy *it* is, not the URL asked for."""
    own = call._origin
    if sent_by is None or sent_by == own or own is None:
        return call.after(outcome, now)
    call._origin = sent_by
    try:
        return call.after(outcome, now)
    finally:
        call._origin = own


class AttemptFailed(Exception):
    """An attempt ended in an outcome that is not a response (the policy decides)."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail


class CallEnded(Exception):
    """The call cannot go on (too many redirects, a refused downgrade, a body too big)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        self.outcome = outcome
        self.reason = reason


class Sender:
    """What consecutive attempts through one ``PoolManager`` share.

    ``own_pool``: this sender made ``pm`` (its host pools are then cached here, and
    ``close`` clears it); ``clock`` is monotonic seconds; ``max_redirects`` and
    ``max_body`` bound each attempt.  ``abort(error)`` stops every attempt of this sender,
    now and later: each raises ``error``.
    """

    __slots__ = (
        "_cps",
        "_last_timeout",
        "clock",
        "max_body",
        "max_redirects",
        "own_pool",
        "pm",
        "stop_error",
    )

    def __init__(
        self,
        pm: urllib3.PoolManager,
        *,
        own_pool: bool,
        clock: Callable[[], float],
        max_redirects: int = MAX_REDIRECTS,
        max_body: int | None = DEFAULT_MAX_BODY,
    ) -> None:
        self.pm = pm
        self.own_pool = own_pool
        self.clock = clock
        self.max_redirects = max_redirects
        self.max_body = max_body
        # (scheme, host, port) -> its urllib3 connection pool, so a call skips the
        # PoolManager's key building.  Only for a manager this object owns: a shared one
        # may be cleared by its owner, and its dropped pools must not be used again.
        self._cps: dict[tuple[str, str, int | None], HTTPConnectionPool] = {}
        self.stop_error: BaseException | None = None
        self._last_timeout: tuple[float, _Timeout] = (-1.0, _Timeout(connect=1.0, read=1.0))

    def abort(self, error: BaseException) -> None:
        """Stop every attempt of this sender now and later: each raises ``error``.

        The running attempts' sockets are shut down by the watchdog, so a call blocked in
        any phase of an attempt returns at once (``BackgroundFetcher.close()``).
        """
        self.stop_error = error
        _watchdog.fire_all(self)

    def pool_for(self, target: ParsedURL) -> HTTPConnectionPool:
        """The host's connection pool, guarded (``transport._guard.hook_pool``).

        The cache of an owned manager forgets its entries when it is full, but never
        closes a pool: one may be in use by a call waiting to retry.  The manager itself
        closes the pools it evicts; an attempt that finds its pool closed takes the
        host's live one (see ``send_attempt``).
        """
        if not self.own_pool:
            return _hook_pool(self.pm.connection_from_host(target[1], target[2], target[0]))
        key = target[:3]
        cp = self._cps.get(key)
        if cp is None or cp.pool is None:
            cp = _hook_pool(self.pm.connection_from_host(target[1], target[2], target[0]))
            if len(self._cps) >= 64:
                self._cps.clear()
            self._cps[key] = cp
        return cp

    def close(self) -> None:
        """Close the connections of a manager this sender owns (a shared one is left be)."""
        if not self.own_pool:
            return
        cps = list(self._cps.values())
        self._cps.clear()
        for cp in cps:
            cp.close()
        self.pm.clear()

    def timeout_for(self, limit: float) -> _Timeout:
        cached = self._last_timeout
        if cached[0] == limit:
            return cached[1]
        t = _Timeout(connect=limit, read=limit)
        self._last_timeout = (limit, t)
        return t


def send_attempt(
    sender: Sender,
    cp: HTTPConnectionPool,
    target: ParsedURL,
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
    whose watch fired is a ``Timeout`` (or the stop error ``Sender.abort`` gave).
    """
    w = _watchdog.start(limit, sender)
    local = _local
    local.watch = w
    try:
        if sender.stop_error is not None:
            raise sender.stop_error
        return _hops(sender, cp, target, url, method, body, headers, secret, limit, w)
    except AttemptFailed as f:
        if w.fired:
            if sender.stop_error is not None:
                raise sender.stop_error from None
            raise AttemptFailed(policy.Timeout(), f"attempt timed out ({f.detail})") from None
        raise
    except (HTTPError, OSError, http.client.HTTPException) as e:
        # what urllib3 let through unwrapped (InvalidHeader, DecodeError, ...)
        if w.fired:
            if sender.stop_error is not None:
                raise sender.stop_error from None
            raise AttemptFailed(policy.Timeout(), f"attempt timed out ({e!r})") from None
        o = outcome_of(e)
        if o is None:
            raise
        raise AttemptFailed(o, repr(e)) from None
    finally:
        local.watch = None
        _watchdog.cancel(w)


def _hops(
    sender: Sender,
    cp: HTTPConnectionPool,
    target: ParsedURL,
    url: str,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    secret: frozenset[str],
    limit: float,
    w: _Watch,
) -> urllib3.BaseHTTPResponse:
    clock = sender.clock
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
                timeout=sender.timeout_for(limit),
                preload_content=False,
                release_conn=False,
            )
        except ClosedPoolError:
            # The pool was closed under this call (a PoolManager evicting it while
            # the call waited to retry): nothing was sent; take the host's live pool.
            reopened += 1
            if reopened > 3:
                raise
            cp = sender.pool_for(target)
            continue
        except HTTPError as e:
            o = outcome_of(e)
            if o is None:
                raise
            raise AttemptFailed(o, repr(e)) from None
        _read_body(sender, resp, end, limit, w)
        status = resp.status
        if (
            status not in _REDIRECT_STATUSES
            or sender.max_redirects == 0
            or not (location := resp.headers.get("location"))
        ):
            if hops:
                port = target[2] or (443 if target[0] == "https" else 80)
                setattr(resp, SENT_BY, f"{target[0]}://{target[1]}:{port}")
            return resp
        hops += 1
        if hops > sender.max_redirects:
            raise CallEnded(
                response_outcome(status, resp.headers),
                f"too many redirects (more than {sender.max_redirects})",
            )
        try:
            new_url = urljoin(url, location)
            new_target = parse_target(new_url)
        except ValueError:
            raise CallEnded(
                response_outcome(status, resp.headers),
                f"refused a redirect ({status}) to a Location that is not a usable http(s) URL",
            ) from None
        if target[0] == "https" and new_target[0] == "http":
            raise CallEnded(
                response_outcome(status, resp.headers),
                f"refused a redirect from https to http ({mask_url(new_url)})",
            )
        if new_target[:3] != target[:3]:
            headers = {
                k: v
                for k, v in headers.items()
                if k.lower() not in _STRIP_CROSS_HOST and k.lower() not in secret
            }
            cp = sender.pool_for(new_target)
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
            raise AttemptFailed(policy.Timeout(), "attempt timed out while redirecting")


def _read_body(
    sender: Sender, resp: urllib3.BaseHTTPResponse, end: float, limit: float, w: _Watch
) -> None:
    """Read the whole body before ``end`` (monotonic); keep it as ``resp.data``.

    The socket's read timeout is ``limit`` when the headers arrive; before each read it
    is lowered to the time left (skipped while that is within 1 ms of ``limit``).  The
    watchdog bounds what a read timeout cannot (a decoder or a trailer that never
    ends).  Before the connection goes back to the pool it is detached from the watch,
    so a late firing can never shut a connection another call is using; a connection
    whose watch fired is closed, never reused.
    """
    clock = sender.clock
    chunks: list[bytes] = []
    size = 0
    cap = sender.max_body
    sock = getattr(resp.connection, "sock", None)
    near = limit - 0.001
    plain = "content-encoding" not in resp.headers  # no decoder holding data back
    try:
        while True:
            left = end - clock()
            if left <= 0:
                _discard(resp, w)
                raise AttemptFailed(policy.Timeout(), "attempt timed out reading the body")
            if sock is not None and left < near:
                sock.settimeout(left)
            chunk = resp.read1(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if cap is not None and size > cap:
                outcome = response_outcome(resp.status, resp.headers)
                _discard(resp, w)
                raise CallEnded(
                    outcome,
                    f"response body over max_body={cap} bytes (decoded); not read further",
                )
            if plain and resp.length_remaining == 0:
                break
    except (HTTPError, OSError, http.client.HTTPException) as e:
        _discard(resp, w)
        o = outcome_of(e)
        if o is None:
            raise
        raise AttemptFailed(o, repr(e)) from None
    if _watchdog.detach(w):
        # shut at the deadline: what was read may be cut short (a close-delimited
        # body ends at the shutdown as if complete)
        resp.close()
        resp.release_conn()
        raise AttemptFailed(policy.Timeout(), "attempt timed out reading the body")
    resp.release_conn()
    resp._body = b"".join(chunks) if len(chunks) != 1 else chunks[0]  # type: ignore[attr-defined]


def _discard(resp: urllib3.BaseHTTPResponse, w: _Watch) -> None:
    """Close ``resp``'s connection (never reused) and hand its slot back to the pool."""
    _watchdog.detach(w)
    resp.close()
    resp.release_conn()
