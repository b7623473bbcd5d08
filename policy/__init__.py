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

from ._ast import (
    AllErrors,
    AttemptsSetting,
    Backoff,
    DeadlineSetting,
    Headers,
    Jitter,
    MethodsSetting,
    Never,
    OnConnect,
    OnReset,
    OnTimeout,
    Over,
    Policy,
    PresetRef,
    ResetFormat,
    Rule,
    Span,
    StatusClass,
    StatusCode,
    StatusRange,
    TimeoutSetting,
)
from ._errors import PolicyError, PolicySyntaxError, PolicyValueError, Problem
from ._evaluate import Envelope, Schedule, WorstCase
from ._options import from_options
from ._outcomes import (
    Accept,
    AttemptState,
    ConnectFailure,
    ConnectionReset,
    GiveUp,
    Response,
    Retry,
    Timeout,
)
from ._parse import parse
from ._presets import PRESETS, Preset

__all__ = [
    "PRESETS",
    "Accept",
    "AllErrors",
    "AttemptState",
    "AttemptsSetting",
    "Backoff",
    "ConnectFailure",
    "ConnectionReset",
    "DeadlineSetting",
    "Envelope",
    "GiveUp",
    "Headers",
    "Jitter",
    "MethodsSetting",
    "Never",
    "OnConnect",
    "OnReset",
    "OnTimeout",
    "Over",
    "Policy",
    "PolicyError",
    "PolicySyntaxError",
    "PolicyValueError",
    "Preset",
    "PresetRef",
    "Problem",
    "ResetFormat",
    "Response",
    "Retry",
    "Rule",
    "Schedule",
    "Span",
    "StatusClass",
    "StatusCode",
    "StatusRange",
    "Timeout",
    "TimeoutSetting",
    "WorstCase",
    "from_options",
    "parse",
]
