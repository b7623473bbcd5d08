"""Exceptions from any client: ``outcome_from_exception`` and the response an exception
carries.

No client library is imported here: an exception can only be an ``httpx.HTTPError`` if
``httpx`` is already in ``sys.modules``, so that is checked first and costs nothing.  An
exception from a library this module does not know -- the OpenAI and Anthropic SDKs'
``APIStatusError``, anything of the kind -- is recognised by its
shape: a ``.response`` with an integer ``status_code`` (or ``status``) and ``headers``.
"""

from __future__ import annotations

import sys
from typing import Any

import policy

__all__ = ["outcome_from_exception", "requests_outcome", "response_from_exception"]


def outcome_from_exception(exc: BaseException) -> policy.Outcome | None:
    """The ``policy`` outcome an exception stands for, or ``None`` when it is no failure
    a retry policy knows.

    ========================================================  ===========================
    exception                                                 outcome
    ========================================================  ===========================
    ``requests.HTTPError``, ``httpx.HTTPStatusError``,        ``Response(status, headers)``
    ``aiohttp.ClientResponseError`` (with a status)
    connection refused, DNS failure, TLS handshake, connect   ``ConnectFailure()``
    timeout (urllib3, requests, httpx, aiohttp,
    ``ConnectionRefusedError``, ``socket.gaierror``)
    read/response timeouts, ``TimeoutError``                  ``Timeout()``
    connection reset or broken after sending, incomplete      ``ConnectionReset()``
    body, protocol errors, other ``ConnectionError``
    anything else                                             ``None``
    ========================================================  ===========================

    A library is consulted only when it is already imported (``sys.modules``).
    """
    modules = sys.modules
    if "httpx" in modules:
        out = _httpx_outcome(exc)
        if out is not None:
            return out
    if "httpx2" in modules:
        out = _httpx2_outcome(exc)
        if out is not None:
            return out
    if "requests" in modules:
        import requests

        out = requests_outcome(exc, requests)
        if out is not None:
            return out
    if "niquests" in modules:
        import niquests  # type: ignore[import-not-found,unused-ignore]

        out = requests_outcome(exc, niquests)
        if out is not None:
            return out
    if "aiohttp" in modules:
        from ._aiohttp import aiohttp_outcome

        out = aiohttp_outcome(exc)
        if out is not None:
            return out
    if "urllib3" in modules:
        out = _urllib3_outcome(exc)
        if out is not None:
            return out
    out = _shaped_response(exc)
    if out is not None:
        return out
    return _builtin_outcome(exc)


def response_from_exception(exc: BaseException) -> policy.Response | None:
    """The HTTP response an exception carries (``raise_for_status()``), else ``None``:
    ``requests.HTTPError`` with a ``response``, ``httpx.HTTPStatusError``,
    ``aiohttp.ClientResponseError`` with a status (each only when its library is imported).
    """
    modules = sys.modules
    if "httpx" in modules:
        import httpx

        if isinstance(exc, httpx.HTTPStatusError):
            hr = exc.response
            return _response(hr.status_code, hr.headers.multi_items())
    if "requests" in modules:
        import requests

        if isinstance(exc, requests.HTTPError):
            rr = exc.response
            if rr is None:
                return None
            return _response(rr.status_code, rr.raw.headers if rr.raw is not None else rr.headers)
    if "aiohttp" in modules:
        import aiohttp

        if isinstance(exc, aiohttp.ClientResponseError):
            return _response(exc.status, exc.headers)
    return _shaped_response(exc)


def _shaped_response(exc: BaseException) -> policy.Response | None:
    """The response of an exception shaped like ``raise_for_status()``'s: a ``.response``
    with an integer ``status_code`` (or ``status``) and ``headers`` -- the SDKs'
    ``APIStatusError``, ``httpx2.HTTPStatusError``..."""
    r = getattr(exc, "response", None)
    if r is None:
        return None
    status = getattr(r, "status_code", None)
    if type(status) is not int:
        status = getattr(r, "status", None)
    if type(status) is not int:
        return None
    headers = getattr(r, "headers", None)
    if headers is None:
        return None
    raw = getattr(getattr(r, "raw", None), "headers", None)  # requests-like: line by line
    if raw is not None and hasattr(raw, "items"):
        headers = raw
    multi = getattr(headers, "multi_items", None)  # httpx-like: line by line
    if callable(multi):
        headers = multi()
    return _response(status, headers)


def _response(status: Any, headers: Any) -> policy.Response | None:
    if type(status) is not int or not 100 <= status <= 599:
        return None
    return policy.Response(status, headers if headers is not None else ())


def _httpx_outcome(exc: BaseException) -> policy.Outcome | None:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        r = exc.response
        return _response(r.status_code, r.headers.multi_items())
    if isinstance(exc, httpx.TransportError):
        from .httpx import httpx_outcome

        out: policy.Outcome | None = httpx_outcome(exc)
        return out
    return None


def _httpx2_outcome(exc: BaseException) -> policy.Outcome | None:
    import httpx2

    if isinstance(exc, httpx2.HTTPStatusError):
        r = exc.response
        return _response(r.status_code, r.headers.multi_items())
    if isinstance(exc, httpx2.TransportError):
        from .httpx2 import httpx2_outcome

        return httpx2_outcome(exc)
    return None


def requests_outcome(exc: BaseException, requests: Any) -> policy.Outcome | None:
    """requests' exceptions, or niquests' (the same classes, another module)."""
    if not isinstance(exc, requests.RequestException):
        return None
    if isinstance(exc, requests.HTTPError):
        r = exc.response
        if r is None:
            return None
        return _response(r.status_code, r.raw.headers if r.raw is not None else r.headers)
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.ProxyError):
        return policy.ConnectFailure()
    if isinstance(exc, requests.Timeout):
        return policy.Timeout()
    if isinstance(exc, requests.exceptions.SSLError):
        return policy.ConnectFailure()
    if isinstance(exc, requests.ConnectionError):
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, BaseException):
            out = _urllib3_outcome(inner)
            if out is not None:
                return out
        return policy.ConnectionReset()  # unknown: assume it may have been sent
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return policy.ConnectionReset()
    return None


def _urllib3_outcome(exc: BaseException) -> policy.Outcome | None:
    from urllib3 import exceptions as u

    if isinstance(exc, u.MaxRetryError):
        reason = exc.reason
        if reason is None:
            return None
        return _urllib3_outcome(reason) or _builtin_outcome(reason)
    if isinstance(exc, u.ReadTimeoutError):
        return policy.Timeout()
    if isinstance(exc, u.ConnectTimeoutError | u.NewConnectionError | u.SSLError | u.ProxyError):
        return policy.ConnectFailure()
    if isinstance(exc, u.ProtocolError):
        return policy.ConnectionReset()
    return None


def _builtin_outcome(exc: BaseException) -> policy.Outcome | None:
    import socket

    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return policy.ConnectFailure()
    if isinstance(exc, TimeoutError):
        return policy.Timeout()
    if isinstance(exc, ConnectionError):
        return policy.ConnectionReset()
    if "http.client" in sys.modules:
        import http.client

        if isinstance(exc, http.client.IncompleteRead | http.client.BadStatusLine):
            return policy.ConnectionReset()
    return None
