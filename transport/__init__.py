"""The transport for retry-policy: the only package that sends, sleeps and reads the clock.

* ``RetryingPool(policy)`` -- send requests through urllib3, retried as the policy says;
* ``attempts_of(response)`` -- the attempts behind a ``RetryingPool`` response, typed;
* ``PolicyRetry(policy)`` -- a ``urllib3.util.Retry`` for ``PoolManager`` and ``requests``;
* ``background_fetch(key, url, ...)`` -- the seed's ``io.backgroundFetch``, with stable keys;
* ``Redacted("Bearer {}", token)`` -- a header value sent in full, never shown;
* ``State`` / ``LocalState`` -- the pacing holds and retry budgets calls share;
* ``RedisState(url)`` -- pacing holds and retry budgets shared by a fleet through Redis
  (extra ``[redis]``);
* ``CeleryFetcher(app)`` -- ``background_fetch`` on Celery workers (extra ``[celery]``).

``RedisState`` and ``CeleryFetcher`` are loaded on first use, so ``import transport``
never imports ``redis`` or ``celery``.
"""

from typing import TYPE_CHECKING, Any

from ._background import (
    BackgroundFetcher,
    FetcherClosed,
    FetchError,
    InMemoryStore,
    SqliteStore,
    Store,
    StoredResult,
    background_fetch,
    background_fetch_response,
    compose_policy,
    default_fetcher,
)
from ._pool import DEFAULT_TIMEOUT, Attempt, RetryError, RetryingPool, attempts_of
from ._redact import HeaderValueError, Redacted, install_log_filter, mask_url
from ._state import LocalState, State
from ._urllib3 import PolicyRetry

if TYPE_CHECKING:
    from ._celery import CeleryFetch as CeleryFetch
    from ._celery import CeleryFetcher as CeleryFetcher
    from ._redis import RedisState as RedisState

# urllib3 logs request targets (query strings included) at DEBUG: mask their values.
install_log_filter()

__all__ = [
    "DEFAULT_TIMEOUT",
    "Attempt",
    "BackgroundFetcher",
    "FetchError",
    "FetcherClosed",
    "HeaderValueError",
    "InMemoryStore",
    "LocalState",
    "PolicyRetry",
    "Redacted",
    "RetryError",
    "RetryingPool",
    "SqliteStore",
    "State",
    "Store",
    "StoredResult",
    "attempts_of",
    "background_fetch",
    "background_fetch_response",
    "compose_policy",
    "default_fetcher",
    "mask_url",
]

# Loaded on first use (PEP 562): name -> (module, extra that provides its dependency).
_LAZY = {
    "RedisState": ("._redis", "redis"),
    "CeleryFetcher": ("._celery", "celery"),
    "CeleryFetch": ("._celery", "celery"),
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'transport' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(where[0], __name__)
    except ImportError as e:
        if e.name not in ("redis", "celery", "kombu"):
            raise
        raise ImportError(
            f"transport.{name} needs the {e.name!r} package: pip install 'retry-policy[{where[1]}]'"
        ) from e
    # Not cached in this module's namespace: ``__all__`` (and so ``from transport import
    # *``) leaves these names out, so that a star import works without the extras.
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
