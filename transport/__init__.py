"""The transport for retry-policy: the only package that sends, sleeps and reads the clock.

* ``RetryingPool(policy)`` -- send requests through urllib3, retried as the policy says;
* ``attempts_of(obj)`` -- the attempts behind any adapter's response or exception, typed;
* ``CircuitOpenError`` -- a call the circuit breaker (``breaker=``) failed fast;
* ``PolicyRetry(policy)`` -- a ``urllib3.util.Retry`` for ``PoolManager`` and ``requests``;
* ``RetryAdapter(policy)`` -- a ``requests`` ``HTTPAdapter`` running the whole attempt loop
  (pacing, budgets, deadline, per-attempt timeout), imported on first use;
  niquests' is ``transport.niquests.RetryAdapter``;
* ``background_fetch(key, url, ...)`` -- the seed's ``io.backgroundFetch``, with stable keys;
* ``Redacted("Bearer {}", token)`` -- a header value sent in full, never shown;
* ``RetryTransport`` / ``AsyncRetryTransport`` -- httpx (sync and async) transports, also
  at ``transport.httpx``; the httpx2 pair is at ``transport.httpx2``;
* ``aiohttp_middleware(policy)`` -- an aiohttp client middleware;
* ``retrying(policy, on=...)`` -- any function, sync or async, and
  ``outcome_from_exception(exc)``;
* ``attempts(policy)`` -- the loop form, ``for attempt in attempts(p): with attempt: ...``
  (and ``async for``);
* ``testing()``, ``prometheus_hooks()`` -- test mode and metrics for every adapter;
* ``State`` / ``LocalState`` -- the pacing holds and retry budgets calls share;
* ``RedisState(url)`` -- pacing holds and retry budgets shared by a fleet through Redis
  (extra ``[redis]``);
* ``CeleryFetcher(app)`` -- ``background_fetch`` on Celery workers (extra ``[celery]``).

The httpx and aiohttp names are imported on first use (PEP 562), so ``import transport``
imports neither library; ``RedisState`` and ``CeleryFetcher`` too, and they stay out of
``__all__`` so that ``from transport import *`` needs neither ``redis`` nor ``celery``.
"""

from typing import TYPE_CHECKING, Any

from ._shadow import check_policy_package as _check_policy_package

_check_policy_package()

from policy.loop import LocalState, State  # noqa: E402

from ._background import (  # noqa: E402
    BackgroundFetcher,
    CircuitOpenFetchError,
    FetcherClosed,
    FetchError,
    InMemoryStore,
    SqliteStore,
    Store,
    StoredResult,
    StoreError,
    compose_policy,
)
from ._circuit import CircuitOpenError  # noqa: E402
from ._default import background_fetch, background_fetch_response, default_fetcher  # noqa: E402
from ._history import attempts_of  # noqa: E402
from ._pool import DEFAULT_TIMEOUT, Attempt, RetryError, RetryingPool  # noqa: E402
from ._redact import HeaderValueError, Redacted, install_log_filter, mask_url  # noqa: E402
from ._urllib3 import PolicyRetry  # noqa: E402

if TYPE_CHECKING:
    from ._aiohttp import aiohttp_middleware
    from ._callable import outcome_from_exception, retrying
    from ._celery import CeleryFetch as CeleryFetch
    from ._celery import CeleryFetcher as CeleryFetcher
    from ._costs import CostRequest
    from ._hooks import prometheus_hooks, testing
    from ._loopform import AttemptBlock, Attempts, attempts
    from ._redis import RedisState as RedisState
    from ._requests import RetryAdapter
    from ._tokens import estimate_tokens
    from .httpx import AsyncRetryTransport, RetryTransport

# urllib3 logs request targets (query strings included) at DEBUG: mask their values.
install_log_filter()

#: Names imported on first use: the httpx and aiohttp adapters import their library.
_LAZY = {
    "AsyncRetryTransport": "httpx",
    "RetryTransport": "httpx",
    "RetryAdapter": "_requests",
    "aiohttp_middleware": "_aiohttp",
    "outcome_from_exception": "_callable",
    "retrying": "_callable",
    "AttemptBlock": "_loopform",
    "Attempts": "_loopform",
    "attempts": "_loopform",
    "prometheus_hooks": "_hooks",
    "testing": "_hooks",
    "estimate_tokens": "_tokens",
    "CostRequest": "_costs",
}

if not TYPE_CHECKING:  # mypy reads the imports above, not a catch-all __getattr__

    def __getattr__(name: str) -> Any:
        fleet = _FLEET.get(name)
        if fleet is not None:
            return _load_fleet(name, *fleet)
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__) | set(_FLEET))


__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncRetryTransport",
    "Attempt",
    "AttemptBlock",
    "Attempts",
    "BackgroundFetcher",
    "CircuitOpenError",
    "CircuitOpenFetchError",
    "CostRequest",
    "FetchError",
    "FetcherClosed",
    "HeaderValueError",
    "InMemoryStore",
    "LocalState",
    "PolicyRetry",
    "Redacted",
    "RetryAdapter",
    "RetryError",
    "RetryTransport",
    "RetryingPool",
    "SqliteStore",
    "State",
    "Store",
    "StoreError",
    "StoredResult",
    "aiohttp_middleware",
    "attempts",
    "attempts_of",
    "background_fetch",
    "background_fetch_response",
    "compose_policy",
    "default_fetcher",
    "estimate_tokens",
    "mask_url",
    "outcome_from_exception",
    "prometheus_hooks",
    "retrying",
    "testing",
]

#: The fleet names, imported on first use and kept out of ``__all__`` and of this module's
#: namespace (a star import must work without their extras): name -> (module, extra).
_FLEET = {
    "CeleryFetch": ("_celery", "celery"),
    "CeleryFetcher": ("_celery", "celery"),
    "RedisState": ("_redis", "redis"),
}


def _load_fleet(name: str, module: str, extra: str) -> Any:
    from importlib import import_module

    try:
        loaded = import_module(f"{__name__}.{module}")
    except ImportError as e:
        if e.name not in ("redis", "celery", "kombu"):
            raise
        raise ImportError(
            f"transport.{name} needs the {e.name!r} package: pip install 'retry-policy[{extra}]'"
        ) from e
    return getattr(loaded, name)
