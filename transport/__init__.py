"""The transport for retry-policy: the only package that sends, sleeps and reads the clock.

* ``RetryingPool(policy)`` -- send requests through urllib3, retried as the policy says;
* ``attempts_of(response)`` -- the attempts behind a ``RetryingPool`` response, typed;
* ``PolicyRetry(policy)`` -- a ``urllib3.util.Retry`` for ``PoolManager`` and ``requests``;
* ``background_fetch(key, url, ...)`` -- the seed's ``io.backgroundFetch``, with stable keys;
* ``Redacted("Bearer {}", token)`` -- a header value sent in full, never shown;
* ``State`` / ``LocalState`` -- the pacing holds and retry budgets calls share.
"""

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
