"""Bad keyword values fail at construction, naming the keyword (every adapter x keyword).

A hook that is not callable or a timeout that is a string, NaN, infinite, zero or
negative used to be accepted and fail later, deep inside the first request, with an
error from urllib3, httpx or the socket module.  Each case here must fail when the
adapter is built (or, for a per-call timeout, before anything is sent) with a
``TypeError``/``ValueError`` whose message names the keyword and the value.
"""

from __future__ import annotations

import asyncio
import math
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import urllib3
from httpserver import LoopbackServer, Reply
from hypothesis import given
from hypothesis import strategies as st

import transport

P = "5xx:backoff(2,10ms)"
SECRET = "s3cr3t-kw-7f1c9e"  # must never appear in an error

NAN, INF = float("nan"), float("inf")


def _retry_transport(**kw: Any) -> object:
    return transport.RetryTransport(P, **kw)


def _async_retry_transport(**kw: Any) -> object:
    return transport.AsyncRetryTransport(P, **kw)


def _aiohttp_middleware(**kw: Any) -> object:
    return transport.aiohttp_middleware(P, **kw)


def _retrying(**kw: Any) -> object:
    return transport.retrying(P, **kw)


def _retrying_pool(**kw: Any) -> object:
    pool = transport.RetryingPool(P, **kw)
    pool.close()
    return pool


def _policy_retry(**kw: Any) -> object:
    return transport.PolicyRetry(P, **kw)


def _background_fetcher(**kw: Any) -> object:
    fetcher = transport.BackgroundFetcher(**kw)
    fetcher.close()
    return fetcher


def _celery_fetcher(**kw: Any) -> object:
    import celery

    from transport import CeleryFetcher

    app = celery.Celery("test-keywords", broker="memory://", set_as_current=False)
    return CeleryFetcher(app, "redis://127.0.0.1:1/0", **kw)


def _in_memory_store(**kw: Any) -> object:
    return transport.InMemoryStore(**kw)


Factory = Callable[..., object]

#: adapter -> (factory, the hook keywords it takes, the seconds keywords it takes)
ADAPTERS: dict[str, tuple[Factory, tuple[str, ...], tuple[str, ...]]] = {
    "RetryTransport": (
        _retry_transport,
        ("sleep", "clock", "rand", "on_retry", "on_giveup"),
        ("timeout",),
    ),
    "AsyncRetryTransport": (
        _async_retry_transport,
        ("sleep", "clock", "rand", "on_retry", "on_giveup"),
        ("timeout",),
    ),
    "aiohttp_middleware": (
        _aiohttp_middleware,
        ("sleep", "clock", "rand", "on_retry", "on_giveup"),
        ("timeout",),
    ),
    "retrying": (
        _retrying,
        ("sleep", "clock", "rand", "on_retry", "on_giveup", "result"),
        (),
    ),
    "RetryingPool": (
        _retrying_pool,
        ("sleep", "clock", "rand", "on_retry", "on_giveup"),
        ("timeout",),
    ),
    "PolicyRetry": (_policy_retry, ("sleep", "rand", "on_retry", "on_giveup"), ()),
    "BackgroundFetcher": (_background_fetcher, ("rand", "on_retry", "on_giveup"), ()),
    "CeleryFetcher": (_celery_fetcher, (), ("ttl",)),
    "InMemoryStore": (_in_memory_store, (), ("lease",)),
}

#: Not callable: the first request used to fail with "'int' object is not callable".
NOT_CALLABLE: list[tuple[object, str]] = [(5, "5"), ("x", "str"), (1.5, "1.5"), ([], "list")]

#: Not a usable number of seconds, and what the message must show of it.
BAD_SECONDS: list[tuple[object, type[Exception], str]] = [
    ("x", TypeError, "str"),
    (None, TypeError, "None"),
    (True, TypeError, "True"),
    ([1], TypeError, "list"),
    (NAN, ValueError, "nan"),
    (INF, ValueError, "inf"),
    (-INF, ValueError, "-inf"),
    (0, ValueError, "0"),
    (0.0, ValueError, "0.0"),
    (-1, ValueError, "-1"),
    (1e300, ValueError, "1e+300"),
    (10**400, ValueError, "at most"),
]

HOOK_CASES = [
    pytest.param(name, kw, value, shown, id=f"{name}-{kw}-{shown}")
    for name, (_, hooks, _) in ADAPTERS.items()
    for kw in hooks
    for value, shown in NOT_CALLABLE
]

SECONDS_CASES = [
    pytest.param(name, kw, value, err, shown, id=f"{name}-{kw}-{shown}")
    for name, (_, _, seconds) in ADAPTERS.items()
    for kw in seconds
    for value, err, shown in BAD_SECONDS
    if not (name == "CeleryFetcher" and value is None)  # ttl=None: kept until forget
    # timeout=None: no limit of the adapter's own, the request's own timeouts apply
    if not (
        name in ("RetryTransport", "AsyncRetryTransport", "aiohttp_middleware")
        and kw == "timeout"
        and value is None
    )
]


@pytest.mark.parametrize(("adapter", "keyword", "value", "shown"), HOOK_CASES)
def test_a_hook_that_is_not_callable_fails_at_construction(
    adapter: str, keyword: str, value: object, shown: str
) -> None:
    factory = ADAPTERS[adapter][0]
    with pytest.raises(TypeError) as info:
        factory(**{keyword: value})
    message = str(info.value)
    assert message.startswith(f"{keyword} must be a callable")
    assert shown in message


@pytest.mark.parametrize(("adapter", "keyword", "value", "err", "shown"), SECONDS_CASES)
def test_bad_seconds_fail_at_construction(
    adapter: str, keyword: str, value: object, err: type[Exception], shown: str
) -> None:
    factory = ADAPTERS[adapter][0]
    with pytest.raises(err) as info:
        factory(**{keyword: value})
    message = str(info.value)
    assert message.startswith(f"{keyword} must be")
    assert shown in message


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_good_keywords_are_accepted(adapter: str) -> None:
    """The checks refuse nothing valid: callables, ints and floats, None where allowed."""
    factory, hooks, seconds = ADAPTERS[adapter]
    kw: dict[str, object] = {k: (lambda *a: 0.5) for k in hooks}
    for k in seconds:
        kw[k] = 2
    factory(**kw)
    factory(**dict.fromkeys(seconds, 0.25))
    factory(**{k: None for k in hooks if k not in ("sleep", "clock")})


def test_the_message_names_the_value_exactly() -> None:
    """The message reads as one sentence: keyword, what is wanted, the value."""
    with pytest.raises(ValueError) as info:
        transport.RetryingPool(P, timeout=NAN)
    assert str(info.value) == "timeout must be a positive number of seconds (got nan)"
    with pytest.raises(ValueError) as info:
        transport.RetryingPool(P, timeout=-1)
    assert str(info.value) == "timeout must be a positive number of seconds (got -1)"
    with pytest.raises(TypeError) as info:
        transport.RetryTransport(P, on_retry=5)  # type: ignore[arg-type]
    assert str(info.value) == "on_retry must be a callable or None (got 5)"
    with pytest.raises(TypeError) as info:
        transport.RetryTransport(P, sleep=None)  # type: ignore[arg-type]
    assert str(info.value) == "sleep must be a callable (got None)"


def test_a_string_value_is_named_by_its_type_only() -> None:
    """A string given where a number or a hook belongs is never echoed (it may be a key)."""
    for build in (
        lambda: transport.RetryingPool(P, timeout=SECRET),  # type: ignore[arg-type]
        lambda: transport.RetryTransport(P, on_giveup=SECRET),  # type: ignore[arg-type]
        lambda: transport.retrying(P, rand=SECRET),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError) as info:
            build()
        assert SECRET not in str(info.value)
        assert "a str" in str(info.value)


def test_retrying_checks_on_and_method() -> None:
    with pytest.raises(TypeError, match=r"^on must be an exception class .*\(got 5\)"):
        transport.retrying(P, on=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^on must be an exception class .*\(got a str\)"):
        transport.retrying(P, on=(ValueError, "KeyError"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^method must be a str"):
        transport.retrying(P, method=5)  # type: ignore[arg-type]


def test_retrying_pool_counts() -> None:
    with pytest.raises(TypeError, match=r"^max_redirects must be an int \(got a str\)"):
        transport.RetryingPool(P, max_redirects="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^max_body must be an int \(got 1.5\)"):
        transport.RetryingPool(P, max_body=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^max_workers must be at least 1 \(got 0\)"):
        transport.BackgroundFetcher(max_workers=0)


# -- per-call timeouts ----------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


@pytest.mark.parametrize(
    ("value", "err", "shown"),
    [
        (NAN, ValueError, "nan"),
        (INF, ValueError, "inf"),
        (0, ValueError, "0"),
        (-1, ValueError, "-1"),
        ("x", TypeError, "str"),
        (True, TypeError, "True"),
    ],
    ids=["nan", "inf", "zero", "negative", "str", "bool"],
)
def test_retrying_pool_per_call_timeout(
    server: LoopbackServer, value: object, err: type[Exception], shown: str
) -> None:
    """A bad per-call timeout fails before anything is sent, naming the value given."""
    url = server.route("/a", Reply(200, body=b"ok"))
    with transport.RetryingPool(P) as pool:
        with pytest.raises(err) as info:
            pool.request("GET", url, timeout=value)  # type: ignore[arg-type]
        assert str(info.value).startswith("timeout must be a positive number of seconds")
        assert shown in str(info.value)
        assert pool.request("GET", url, timeout=2).status == 200
    assert len(server.requests_to("/a")) == 1


@pytest.mark.parametrize("value", [NAN, INF, 0, -1.5], ids=["nan", "inf", "zero", "neg"])
def test_background_fetch_per_call_timeout(server: LoopbackServer, value: float) -> None:
    url = server.route("/b", Reply(200, body=b"{}"))
    with (
        transport.BackgroundFetcher() as fetcher,
        pytest.raises(ValueError, match=r"^timeout must be a positive number of seconds"),
    ):
        fetcher.fetch("k", url, timeout=value)
    assert server.requests_to("/b") == []


@pytest.mark.parametrize("value", [NAN, INF, -1.0], ids=["nan", "inf", "neg"])
def test_celery_fetch_per_call_timeout(value: float) -> None:
    """Refused when asked, before the message goes to the broker."""
    fetcher: Any = _celery_fetcher()
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of seconds"):
        fetcher.fetch("k", "http://127.0.0.1:1/", timeout=value)


@pytest.mark.parametrize("value", [NAN, INF, -1.0], ids=["nan", "inf", "neg"])
def test_httpx_request_timeout_that_is_no_bound(server: LoopbackServer, value: float) -> None:
    """A request's own NaN/inf/negative timeout is replaced by the attempt's bound."""
    url = server.route("/h", Reply(200, body=b"ok"))
    with httpx.Client(transport=transport.RetryTransport(P, timeout=5)) as client:
        r = client.get(url, timeout=value)
    assert r.status_code == 200 and r.content == b"ok"


def test_httpx_and_aiohttp_refuse_nan_not_run_unbounded() -> None:
    """NaN used to pass ``timeout <= 0`` and leave every attempt unbounded."""
    for build in (_retry_transport, _async_retry_transport, _aiohttp_middleware):
        for value in (NAN, INF):
            with pytest.raises(ValueError, match=r"\(got (nan|inf)\)$"):
                build(timeout=value)


def test_aiohttp_middleware_good_timeout_still_works(server: LoopbackServer) -> None:
    url = server.route("/m", Reply(503), Reply(200, body=b"ok"))

    async def main() -> bytes:
        mw = transport.aiohttp_middleware(P, timeout=2)
        async with (
            aiohttp.ClientSession(middlewares=[mw]) as s,
            s.get(url) as r,
        ):
            return await r.read()

    with transport.testing():
        assert asyncio.run(asyncio.wait_for(main(), 20)) == b"ok"


# -- Redacted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "err", "words"),
    [
        (("Bearer", SECRET), ValueError, "no {} placeholder"),
        (("Bearer {}", 5), TypeError, "secret 1 must be a str (got int)"),
        (("Bearer {}", SECRET.encode()), TypeError, "must be a str (got bytes)"),
        (("Bearer {} {}", SECRET), ValueError, "placeholders for 2 secrets but 1 was given"),
        (("Bearer {}", SECRET, SECRET), ValueError, "placeholders for 1 secret but 2 were"),
        (("Bearer {token}", SECRET), ValueError, "named placeholder {token}"),
        (("Bearer {", SECRET), ValueError, "not a format string"),
        (("Bearer {0.real}", SECRET), ValueError, "cannot be filled"),
        (("Bearer {}",), ValueError, "has no secret"),
        ((5, SECRET), TypeError, "template must be a str"),
    ],
    ids=[
        "no-placeholder",
        "int-secret",
        "bytes-secret",
        "too-few-secrets",
        "too-many-secrets",
        "named",
        "broken-template",
        "attribute",
        "no-secret",
        "template-int",
    ],
)
def test_redacted_refuses_a_bad_template_without_showing_the_secret(
    args: tuple[Any, ...], err: type[Exception], words: str
) -> None:
    with pytest.raises(err) as info:
        transport.Redacted(*args)
    assert words in str(info.value)
    for shown in (str(info.value), repr(info.value), repr(info.value.args)):
        assert SECRET not in shown
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("Bearer", "API_KEY"), "no {} placeholder"),
        (("Bearer {} {}", "API_KEY"), "placeholders for 2 environment variable names but 1"),
        (("Bearer {}", "A", "B"), "placeholders for 1 environment variable name but 2"),
        (("Bearer {key}", "API_KEY"), "named placeholder {key}"),
    ],
)
def test_redacted_env_checks_its_template(args: tuple[str, ...], words: str) -> None:
    with pytest.raises(ValueError) as info:
        transport.Redacted.env(*args)
    assert words in str(info.value)


def test_redacted_good_values_still_work() -> None:
    r = transport.Redacted("Bearer {}", SECRET)
    assert r.reveal() == f"Bearer {SECRET}" and SECRET not in repr(r)
    two = transport.Redacted("{}:{}", "u", SECRET)
    assert two.reveal() == f"u:{SECRET}"
    assert transport.Redacted("{0}-{0}", "x").reveal() == "x-x"
    assert transport.Redacted("{!r}", "x").reveal() == "'x'"
    env = transport.Redacted.env("Bearer {}", "KW_TEST_KEY")
    assert pickle.loads(pickle.dumps(env)) == env


@given(template=st.text(max_size=12), secret=st.text(min_size=6, max_size=20))
def test_redacted_errors_never_show_the_secret(template: str, secret: str) -> None:
    """Whatever the template, a refusal never contains the secret (unless the template
    itself does: that text is the template's, not the secret's)."""
    try:
        transport.Redacted(template, secret)
    except (TypeError, ValueError) as e:
        if secret not in template:
            assert secret not in str(e)


# -- SqliteStore ----------------------------------------------------------------------------


def test_sqlite_store_in_a_missing_directory_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "results.db"
    with pytest.raises(transport.StoreError) as info:
        transport.SqliteStore(path)
    assert isinstance(info.value, OSError)
    assert str(path) in str(info.value)
    assert "does not exist" in str(info.value)
    assert info.value.path == str(path)
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value)


def test_sqlite_store_on_a_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(transport.StoreError) as info:
        transport.SqliteStore(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_sqlite_store_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not an SQLite database, just text " * 100)
    with pytest.raises(transport.StoreError) as info:
        transport.SqliteStore(path)
    assert str(path) in str(info.value)


def test_sqlite_store_bad_lease(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^lease must be a positive number of seconds"):
        transport.SqliteStore(tmp_path / "r.db", lease=NAN)


# -- properties -------------------------------------------------------------------------------


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_a_timeout_is_accepted_exactly_when_usable(value: float) -> None:
    """Accepted iff finite, > 0 and at most 1e9 s; otherwise a ValueError naming it."""
    usable = 0 < value <= 1e9 and math.isfinite(value)
    try:
        t = transport.RetryTransport(P, timeout=value)
    except ValueError as e:
        assert not usable
        assert str(e).startswith("timeout must be")
    else:
        assert usable
        t.close()


def test_policy_retry_copies_stay_valid(server: LoopbackServer) -> None:
    """``new()`` hands the checked hooks on: a retried request through urllib3 works."""
    url = server.route("/r", Reply(503), Reply(200, body=b"ok"))
    waits: list[float] = []
    retry = transport.PolicyRetry(P, sleep=waits.append)
    with urllib3.PoolManager(retries=retry) as pm:
        assert pm.request("GET", url).status == 200
    assert waits == [0.01]
