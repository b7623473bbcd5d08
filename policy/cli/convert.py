"""``policy convert``: the seed's options to a policy and back (runtime configs: ``_runtimes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..language._errors import PolicyError
from ..language._policy import Policy
from ._io import UsageError, err, out
from ._sources import lookup, one_policy, open_input

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Print the policy as options (``--to options``) or options as a policy."""
    import json

    from ..language._options import from_options

    if (args.policy is None) == (args.file is None):
        raise UsageError("convert takes a POLICY or -f FILE (not both)")
    if args.source is not None or args.to not in ("options", "policy", None):
        from ._runtimes import convert

        return convert(args)
    if args.to is None:
        raise UsageError(
            "convert needs --to (options, policy, grpc, envoy, istio, gateway, urllib3)"
        )
    if args.policy is not None:
        p = one_policy(args.policy)
    else:
        inp = open_input(args.file, args.stdin_format)
        file = inp.name
        data = inp.load() if inp.kind != "text" else _json_or_usage(file, inp.text)
        if args.key is not None:
            data = lookup(data, args.key, file)
        if isinstance(data, str):
            p = one_policy(data)
        else:
            if not isinstance(data, dict) or not set(data) <= {"retry", "timeout"}:
                raise UsageError(
                    f"{file}: expected the seed's options, an object with 'retry' and/or "
                    "'timeout' (or a policy string)"
                )
            try:
                p = from_options(**data)
            except PolicyError as exc:
                print(f"{file}: {exc}", file=err())
                return 1
    if args.to == "policy":
        print(p, file=out())
        return 0
    try:
        options = p.to_options()
    except PolicyError as exc:
        print(f"cannot convert to the seed's options: {exc.message}", file=err())
        nearest = _with_scale_jitter(p)
        if nearest is not None:
            print(
                f"with jitter=scale (the seed's randomize: true) it converts:\n"
                f"    policy convert '{nearest}' --to options",
                file=err(),
            )
        return 1
    json.dump(options, out(), indent=2)
    print(file=out())
    return 0


def _json_or_usage(file: str, text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file}: not valid JSON: {exc}") from None


def _with_scale_jitter(p: Policy) -> Policy | None:
    """``p`` with every backoff's jitter ``scale`` (the seed's ``randomize: true``), if that
    is all that keeps it from converting; else ``None``."""
    import attrs

    from ..language._ast import Backoff, Jitter, Rule

    def scaled(s: Any) -> Any:
        if isinstance(s, Backoff) and s.jitter not in (Jitter.SCALE, Jitter.NONE):
            return attrs.evolve(s, jitter=Jitter.SCALE)
        return s

    items = [
        attrs.evolve(i, strategies=tuple(scaled(s) for s in i.strategies))
        if isinstance(i, Rule)
        else i
        for i in p.items
    ]
    nearest = Policy(items)
    if nearest == p:
        return None
    try:
        nearest.to_options()
    except PolicyError:
        return None
    return nearest
