"""retry-policy: HTTP retry behaviour as a compact, lintable policy string.

>>> import policy
>>> p = policy.parse("429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)")
>>> str(p)
'429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)'

The package is sans-IO: it never sleeps, reads the clock or draws random numbers.
``Policy.decide(state, outcome, now=..., rand=...)`` is given them and returns a
``Retry``, ``GiveUp`` or ``Accept``.  The ``transport`` package applies a policy to
urllib3 and requests.
"""

from typing import TYPE_CHECKING, Any

from .language._ast import (
    AllErrors,
    Backoff,
    Headers,
    Jitter,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Over,
    ResetFormat,
    Rule,
    Span,
    StatusClass,
    StatusCode,
    StatusRange,
)
from .language._errors import PolicyError, PolicySyntaxError, PolicyValueError, Problem
from .language._parse import parse
from .language._policy import Evaluator as _Evaluator
from .language._policy import Policy
from .language._policy import bind_engine as _bind_engine
from .language._settings import (
    AttemptsSetting,
    BreakerSetting,
    BudgetSetting,
    DeadlineSetting,
    MethodsSetting,
    PaceSetting,
    PresetRef,
    SseSetting,
    TimeoutSetting,
)


def _compile(p: Policy) -> _Evaluator:
    """The engine behind ``Policy.decide`` and friends: the evaluator, imported on first use
    (the package root binds it, so the language floor never imports the evaluator)."""
    from .evaluate._evaluate import Compiled

    return Compiled(p)


_bind_engine(_compile)

# Tracebacks and reprs name the public home of the errors (``policy.PolicyValueError``),
# not the private module that defines them.
for _error in (PolicyError, PolicySyntaxError, PolicyValueError, Problem):
    _error.__module__ = __name__
del _error

if TYPE_CHECKING:
    from .check._lint import Diagnostic, lint
    from .evaluate._schedule import Schedule
    from .language._cost import Quota
    from .language._options import from_options
    from .language._outcomes import (
        Accept,
        AttemptState,
        ConnectFailure,
        ConnectionReset,
        Decision,
        Envelope,
        Error,
        GiveUp,
        Outcome,
        Response,
        Retry,
        Timeout,
        WorstCase,
    )
    from .language._presets import PRESETS, Preset

#: Names imported on first use (PEP 562), so that ``import policy`` and a cold CLI do not
#: pay for the evaluator, the seed options or the presets before they need them.
_LAZY = {
    "Envelope": "language._outcomes",
    "Schedule": "evaluate._schedule",
    "WorstCase": "language._outcomes",
    "Diagnostic": "check._lint",
    "lint": "check._lint",
    "from_options": "language._options",
    "Accept": "language._outcomes",
    "AttemptState": "language._outcomes",
    "ConnectFailure": "language._outcomes",
    "ConnectionReset": "language._outcomes",
    "Decision": "language._outcomes",
    "Error": "language._outcomes",
    "GiveUp": "language._outcomes",
    "Outcome": "language._outcomes",
    "Response": "language._outcomes",
    "Retry": "language._outcomes",
    "Timeout": "language._outcomes",
    "PRESETS": "language._presets",
    "Preset": "language._presets",
    "Quota": "language._cost",
}


if not TYPE_CHECKING:  # mypy reads the imports above, not a catch-all __getattr__

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))


__all__ = [
    "PRESETS",
    "Accept",
    "AllErrors",
    "AttemptState",
    "AttemptsSetting",
    "Backoff",
    "BreakerSetting",
    "BudgetSetting",
    "ConnectFailure",
    "ConnectionReset",
    "DeadlineSetting",
    "Decision",
    "Diagnostic",
    "Envelope",
    "Error",
    "GiveUp",
    "Headers",
    "Jitter",
    "MethodsSetting",
    "Never",
    "OnConnect",
    "OnError",
    "OnReset",
    "OnTimeout",
    "Outcome",
    "Over",
    "PaceSetting",
    "Policy",
    "PolicyError",
    "PolicySyntaxError",
    "PolicyValueError",
    "Preset",
    "PresetRef",
    "Problem",
    "Quota",
    "ResetFormat",
    "Response",
    "Retry",
    "Rule",
    "Schedule",
    "Span",
    "SseSetting",
    "StatusClass",
    "StatusCode",
    "StatusRange",
    "Timeout",
    "TimeoutSetting",
    "WorstCase",
    "from_options",
    "lint",
    "parse",
]
