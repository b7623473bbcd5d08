"""What a ``CeleryFetcher`` task message carries, and one attempt made from it.

A fetch travels to the workers as JSON: the method, the URL (a secret one as its
``Redacted.env`` template), the headers (a secret as its template and variable name,
never its value), the body, the policy text and, after each retry, the evaluator's
``AttemptState`` and the attempts so far.  A worker's attempt becomes an *answer*, JSON
too (its label, the response status and kept headers, or a reason that ends the call),
which is kept in Redis before anything else happens.  Encoding, decoding and that one
attempt (``answer_of``, through the single-attempt function every urllib3 shell shares)
live here, apart from the fetcher's orchestration of claims, leases and re-sends.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import policy
from policy.loop import Attempt, Call, State, label_of

from ._attempt import SENT_BY, AttemptFailed, CallEnded, Sender, send_attempt
from ._redact import Redacted, mask_url, reveal_headers
from ._wire import kept_headers, parse_target

__all__ = [
    "VERSION",
    "answer",
    "answer_of",
    "call_of",
    "decode_headers",
    "encode_headers",
    "encode_url",
    "first_message",
    "outcome_of_answer",
    "state_from",
    "state_json",
    "text",
]

#: The message format (a worker drops a message of another version).
VERSION: Final = 1


def first_message(
    key: str,
    ident: str,
    method: str,
    url: Any,
    headers: list[list[Any]],
    body: bytes | None,
    policy_text: str,
    timeout: float | None,
) -> dict[str, Any]:
    """The message of a fetch's first attempt (``url`` and ``headers`` already encoded)."""
    return {
        "v": VERSION,
        "key": key,
        "id": ident,
        "method": method,
        "url": url,
        "headers": headers,
        "body": None if body is None else base64.b64encode(body).decode("ascii"),
        "policy": policy_text,
        "timeout": timeout,
        "n": 1,
        "state": None,
        "attempts": [],
    }


def encode_headers(headers: Mapping[str, Any] | None) -> list[list[Any]]:
    """Headers as JSON for the message; a literal ``Redacted`` is refused."""
    if not headers:
        return []
    items: Any = headers.items() if hasattr(headers, "items") else headers
    out: list[list[Any]] = []
    for name, value in items:
        if isinstance(value, Redacted):
            to_json = getattr(value, "to_json", None)
            if to_json is None:
                template = getattr(value, "_template", "Bearer {}")
                raise ValueError(
                    f"header {name!r}: a Redacted value would travel to the workers through "
                    "the broker with its secret; name an environment variable that the "
                    f"workers have instead: Redacted.env({template!r}, 'API_KEY')"
                )
            out.append([name, to_json()])
        elif isinstance(value, str):
            out.append([name, value])
        elif isinstance(value, bytes):
            out.append([name, value.decode("latin-1")])
        else:
            raise TypeError(
                f"header {name!r} must be a str, bytes or Redacted.env value "
                f"(got {type(value).__name__})"
            )
    return out


def encode_url(url: Any, query_in_broker: bool) -> tuple[Any, str, str]:
    """(what the message carries, the masked URL, what the identity hashes) for ``url``.

    A plain URL travels as given, so a password or (unless allowed) a query value in it
    is refused; a ``Redacted.env`` URL travels as its template and variable names.
    """
    if isinstance(url, Redacted):
        to_json = getattr(url, "to_json", None)
        if to_json is None:
            raise ValueError(
                "url: a Redacted URL would travel to the workers through the broker with its "
                "secret; name an environment variable that the workers have instead: "
                "Redacted.env('https://api.example/v1?key={}', 'API_KEY')"
            )
        shown = str(url)
        _check_url(shown)
        data = to_json()
        return data, mask_url(shown), f"env:{data['template']}:{','.join(data['env'])}"
    if not isinstance(url, str):
        raise TypeError(f"url must be a str or Redacted.env (got {type(url).__name__})")
    parts = _check_url(url)
    if parts.password is not None:
        raise ValueError(
            f"{mask_url(url)}: a password in the URL would travel to the workers through "
            "the broker; send the credentials in a header with "
            "Redacted.env('Basic {}', 'API_CREDENTIALS') instead"
        )
    if parts.query and not query_in_broker:
        raise ValueError(
            f"{mask_url(url)}: the query values would travel to the workers through the broker "
            "in plain text; put a secret one in an environment variable the workers have, "
            "url=Redacted.env('https://api.example/v1?key={}', 'API_KEY'), or, when none is "
            "secret, allow them: CeleryFetcher(app, query_in_broker=True)"
        )
    return url, mask_url(url), url


def _check_url(url: str) -> Any:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {mask_url(url)}")
    return parts


def decode_headers(items: list[list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in items:
        if isinstance(value, dict):
            out[name] = Redacted.env(value["template"], *value["env"])
        else:
            out[name] = value
    return out


def state_json(s: policy.AttemptState) -> list[Any]:
    start, retries, counters, prev, deadline_at = s
    return [
        start,
        retries,
        list(counters),
        list(prev),
        None if deadline_at == float("inf") else deadline_at,
    ]


def state_from(v: list[Any]) -> policy.AttemptState:
    start, retries, counters, prev, deadline_at = v
    return policy.AttemptState(
        float(start),
        int(retries),
        tuple(int(c) for c in counters),
        tuple(float(p) for p in prev),
        float("inf") if deadline_at is None else float(deadline_at),
    )


def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def answer(
    label: str,
    status: int | None = None,
    headers: list[list[str]] | None = None,
    final: str | None = None,
    sent_by: str | None = None,
) -> dict[str, Any]:
    """What one attempt got, as JSON: its label, the response status and headers, or a
    reason that ends the call (``final``: too many redirects, a request that cannot be built);
    ``sent_by``: the origin that answered after redirects (``None``: the URL's own).
    """
    return {
        "label": label,
        "status": status,
        "headers": headers or [],
        "final": final,
        "sent_by": sent_by,
    }


def outcome_of_answer(answer: Mapping[str, Any]) -> Any:
    """The outcome an answer describes.  Its header lines go to ``policy.Response`` as
    they came, every line of a repeated header kept (the one header reader: two
    ``RateLimit`` lines are one list, as in ``RetryingPool``)."""
    status = answer["status"]
    if status is not None:
        return policy.Response(int(status), [(str(k), str(v)) for k, v in answer["headers"]])
    label = answer["label"]
    if label == "timeout":
        return policy.Timeout()
    if label == "connect":
        return policy.ConnectFailure()
    return policy.ConnectionReset()


def answer_of(
    sender: Sender,
    m: Mapping[str, Any],
    url: str | Redacted,
    method: str,
    limit: float,
) -> tuple[dict[str, Any], bytes]:
    """The answer (JSON-able) and body of the attempt message ``m`` asks for, made within
    ``limit`` seconds: its headers revealed only now, a ``Set-Cookie`` never kept."""
    try:
        send_headers, secret = reveal_headers(decode_headers(m["headers"]))
        if isinstance(url, Redacted):
            url = url.reveal()
            parse_target(url)
    except (LookupError, ValueError) as e:
        return answer("connect", final=f"the request could not be built: {e}"), b""
    data = None if m["body"] is None else base64.b64decode(m["body"])
    try:
        target = parse_target(url)
        cp = sender.pool_for(target)
        resp = send_attempt(sender, cp, target, url, method, data, send_headers, secret, limit)
    except AttemptFailed as f:
        return answer(label_of(f.outcome)), b""
    except CallEnded as e:
        return answer(label_of(e.outcome), final=e.reason), b""
    headers = [list(h) for h in kept_headers(resp.headers.iteritems())]
    sent_by = getattr(resp, SENT_BY, None)
    return answer(str(resp.status), resp.status, headers, sent_by=sent_by), resp.data or b""


def call_of(
    m: Mapping[str, Any],
    p: policy.Policy,
    now: float,
    timeout: float,
    origin: str,
    display: str,
    state: State | None,
    rand: Any,
) -> Call:
    """The call a message carries on: a new one for its first attempt, else the one its
    attempt state and attempts so far describe."""
    kw: dict[str, Any] = {
        "method": m["method"],
        "timeout": timeout,
        "origin": origin,
        "display": display,
        "state": state,
        "rand": rand,
    }
    if m["state"] is None:
        return Call(p, now=now, **kw)
    attempts = [Attempt.from_dict(a) for a in m["attempts"]]
    return Call.resume(p, state_from(m["state"]), attempts, **kw)
