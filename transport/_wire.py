"""urllib3 in the policy's words: outcomes, response headers, bodies and URLs.

Every urllib3 shell (``RetryingPool``, ``BackgroundFetcher``, ``CeleryFetcher``) turns
what urllib3 raised or returned into a ``policy`` outcome the same way, buffers a request
body the same way (so every attempt sends the same bytes) and parses a URL once; those
translations live here, below the single-attempt function (``_attempt``) and the shells,
so that each imports them by a public name instead of reaching into another shell.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Mapping
from typing import IO, TypeAlias

from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    InvalidHeader,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import parse_url

import policy
from policy.language._outcomes import response_from_normal as _response_from_normal

from ._redact import mask_url

__all__ = [
    "Body",
    "Outcome",
    "ParsedURL",
    "buffer_body",
    "kept_headers",
    "outcome_of",
    "parse_target",
    "response_outcome",
]

Body: TypeAlias = bytes | bytearray | memoryview | str | IO[bytes] | IO[str] | None
Outcome: TypeAlias = (
    policy.Response | policy.Timeout | policy.ConnectFailure | policy.ConnectionReset
)


def outcome_of(err: BaseException) -> Outcome | None:
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


def response_outcome(status: int, headers: Mapping[str, str]) -> policy.Response:
    """``policy.Response(status, headers)`` of a urllib3 response's headers; the dict
    ``_header_dict`` builds is already normalised, so it is not read a second time."""
    h = _header_dict(headers)
    if type(h) is dict and h is not headers:  # built here: normalised
        return _response_from_normal(status, h)
    return policy.Response(status, h)


def buffer_body(body: Body) -> bytes | None:
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


ParsedURL: TypeAlias = tuple[str, str, int | None, str]
_url_cache: dict[str, ParsedURL] = {}


def parse_target(url: str) -> ParsedURL:
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


def kept_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """A response's header lines as a fetcher keeps them: every one but ``Set-Cookie``
    (a session a stored result must not hand to whoever reads it)."""
    return tuple((k, v) for k, v in headers if k.lower() != "set-cookie")
