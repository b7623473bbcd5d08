"""The runtimes floor: one policy written as every runtime's retry config, and read back.

Holds a module per target -- gRPC service configs (``_grpc``), Envoy routes and clusters
(``_envoy``), Istio VirtualServices (``_istio``), Gateway API HTTPRoutes (``_gateway``)
and urllib3's ``Retry`` (``_urllib3``) -- over a shared flattening of a policy into what
a runtime can hold (``_plan``), the readers of config values (``_read``) and the linter
of runtime configs (``_lint``).  Every conversion returns a ``Conversion``: the output,
the policy it stands for (what survives), and a loss report -- what the target could not
express and what it became, and what it retries that the source did not.

A floor above ``policy.language`` and ``policy.evaluate``: it may import those (through
the public ``policy`` names where it can) and nothing higher (never ``policy.loop``,
``policy.fleet``, ``policy.cli`` or ``transport``).
"""

from __future__ import annotations

from typing import Any

from ._envoy import from_envoy, to_envoy
from ._gateway import from_gateway, to_gateway
from ._grpc import from_grpc, to_grpc
from ._istio import from_istio, to_istio
from ._plan import Conversion
from ._read import ConfigError
from ._urllib3 import to_urllib3

__all__ = [
    "SOURCES",
    "TARGETS",
    "ConfigError",
    "Conversion",
    "convert_from",
    "convert_to",
    "from_envoy",
    "from_gateway",
    "from_grpc",
    "from_istio",
    "to_envoy",
    "to_gateway",
    "to_grpc",
    "to_istio",
    "to_urllib3",
]

_TO = {
    "grpc": to_grpc,
    "envoy": to_envoy,
    "istio": to_istio,
    "gateway": to_gateway,
    "urllib3": to_urllib3,
}
_FROM = {"grpc": from_grpc, "envoy": from_envoy, "istio": from_istio, "gateway": from_gateway}

#: The runtimes a policy converts to, and those read back.
TARGETS = tuple(_TO)
SOURCES = tuple(_FROM)


def convert_to(p: Any, target: str) -> Conversion:
    """``p`` (a ``Policy`` or a policy string) as ``target``'s config, with its loss report."""
    import policy

    if isinstance(p, str):
        p = policy.parse(p)
    if target not in _TO:
        raise ValueError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    return _TO[target](p)


def convert_from(data: Any, source: str) -> Conversion:
    """The policy a ``source`` config (parsed JSON/YAML) stands for, with its loss report;
    ``ConfigError`` names the field a config gets wrong."""
    if source not in _FROM:
        raise ValueError(f"unknown source {source!r} (known: {', '.join(SOURCES)})")
    return _FROM[source](data)
