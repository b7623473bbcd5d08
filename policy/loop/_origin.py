"""What fleet state is kept per: an origin, ``scheme://host:port``."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["origin_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, lower case, default port filled in.

    >>> origin_of("HTTPS://API.Example.com/v1?q=1")
    'https://api.example.com:443'
    """
    u = urlsplit(url)
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    try:
        port = u.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 0)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
