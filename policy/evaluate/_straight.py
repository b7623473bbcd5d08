"""The straight path: ``decide`` generated as Python source for one policy.

Most decisions are a status whose rule has no method limit and starts its chain with a
``backoff`` that has retries left.  For those, ``decide`` is generated per policy at
compile time (the way attrs writes ``__init__``): the rule's numbers written in as
constants, ``min·factorⁿ`` and the jitter windows read from tables, and no code for what
the policy cannot need (a ``methods`` check without ``methods=``, an ``attempts`` check
without ``attempts=``, other jitter kinds, other positions).  It makes the same floats
and the same checks as the general loop (``_decide``), which it calls for everything
else; a property test holds the two to the same answers.  This module only writes code:
it reads the compiled tables and never decides anything itself.
"""

from __future__ import annotations

from random import random as _random
from typing import Any, Final

from ..language._outcomes import AttemptState, Decide, Response, Retry
from ._reasons import deadline_give_up
from ._steps import BACKOFF, J_DECORRELATED, J_EQUAL, J_FULL, J_NONE, J_SCALE, NEVER_CAPS, window
from ._tables import Entry, Tables

_STRAIGHT = """\
def decide(state, outcome, *, now, rand=default_rand, method="GET", cost=None):
    if type(outcome) is response_type:
        status = outcome.status
{fetch}
            n = state[2][{i}]
            if n < {limit}{attempts}:
{jitter}
                if delay > {high}:
                    delay = {high}
                elif delay < {low}:
                    delay = {low}
                deadline_at = state[4]
                if now + delay > deadline_at:
                    return deadline_give_up(deadline_s, delay, status, now, deadline_at, rule)
{counters}
                granted = new_object(retry_cls)
                set_retry(
                    granted,
                    (
                        delay,
                        new_state(
                            state_cls, (state[0], state[1] + 1, new_counters, new_prev, deadline_at)
                        ),
                        rule,
                        why,
                        status,
                    ),
                )
                return granted
    return loop(state, outcome, now=now, rand=rand, method=method, cost=cost)
"""

#: The step read from the per-status table (several rules take the straight path) ...
_FETCH_TABLE: Final = """\
        fast = fast_by_status[status]
        if fast is not None and not outcome.stop{methods}:
            i, limit, low, high, bases, n_table, after, jitter, why, rule = fast"""

#: ... or written into the code as constants (one rule does: the common case).
_FETCH_CONSTANT: Final = """\
        if fast_by_status[status] is not None and not outcome.stop{methods}:"""

#: The jitter arithmetic of the loop, line for line (the same floats).
_JITTER_SOURCE: Final = {
    J_NONE: "delay = base",
    J_FULL: (
        "hi = 2 * base\nif hi > {high}:\n    hi = {high}\ndelay = {low} + rand() * (hi - {low})"
    ),
    J_EQUAL: (
        "hi = 2 * base\n"
        "if hi > {high}:\n"
        "    hi = {high}\n"
        "lo = hi / 2\n"
        "if lo < {low}:\n"
        "    lo = {low}\n"
        "delay = lo + rand() * (hi - lo)"
    ),
    J_DECORRELATED: "delay = {low} + rand() * (3 * (state[3][{i}] or {low}) - {low})",
    J_SCALE: "delay = base * (1 + rand())",
}

#: Single-position policies with a limit up to this read ``(n + 1,)`` from a table.
_MAX_ONES: Final = 1024

#: Up to this many positions, the straight path of a one-rule policy spells out the tuples.
_MAX_SPELLED: Final = 16


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _jitter_source(kinds: set[int]) -> str:
    pad = " " * 16
    if len(kinds) == 1:
        return _indent(_JITTER_SOURCE[kinds.pop()], pad)
    lines = []
    for n, kind in enumerate(sorted(kinds)):
        test = "else:" if n == len(kinds) - 1 else f"{'if' if n == 0 else 'elif'} jitter == {kind}:"
        lines += [pad + test, _indent(_JITTER_SOURCE[kind], pad + "    ")]
    return "\n".join(lines)


def straight_path(c: Tables, loop: Decide) -> Decide:
    """``decide`` for ``c``: the generated straight path in front of ``loop``."""
    steps: dict[int, tuple[Any, ...] | None] = {}  # one record per rule, shared by statuses
    for entry in c.by_status:
        if entry is not None and id(entry) not in steps:
            steps[id(entry)] = _fast_step(entry)
    fast_by_status = tuple(None if e is None else steps[id(e)] for e in c.by_status)
    records = [f for f in steps.values() if f is not None]
    if not records:
        return loop
    namespace: dict[str, Any] = {
        "default_rand": _random,
        "response_type": Response,
        "fast_by_status": fast_by_status,
        "methods": c.methods,
        "max_retries": c.max_retries,
        "deadline_s": c.deadline_s,
        "deadline_give_up": deadline_give_up,
        "new_object": object.__new__,
        "retry_cls": Retry,
        "set_retry": Retry.__dict__["_d"].__set__,
        "new_state": tuple.__new__,
        "state_cls": AttemptState,
        "loop": loop,
    }
    names = {k: k for k in ("i", "limit", "low", "high", "n_table", "after")}
    fetch = _FETCH_TABLE
    if len(records) == 1:
        # Floats written with repr() read back as the same floats.
        i, limit, low, high, bases, n_table, after, _jitter, why, rule = records[0]
        names = {
            "i": repr(i),
            "limit": repr(limit),
            "low": repr(low),
            "high": repr(high),
            "n_table": repr(n_table),
            "after": repr(after),
        }
        namespace.update(bases=bases, why=why, rule=rule)
        fetch = _FETCH_CONSTANT
    methods = "" if c.methods is None else " and method in methods"
    if c.positions == 1 and len(records) == 1 and records[0][1] <= _MAX_ONES:
        namespace["ones"] = tuple((k,) for k in range(1, records[0][1] + 1))
        counters = "new_counters = ones[n]\nnew_prev = (delay,)"
    elif c.positions == 1:
        counters = "new_counters = (n + 1,)\nnew_prev = (delay,)"
    elif len(records) == 1 and c.positions <= _MAX_SPELLED:
        # A few positions and a known one to move: spell the new tuples out.
        i = records[0][0]
        held = [f"counters[{k}]" for k in range(c.positions)]
        drawn = [f"prev[{k}]" for k in range(c.positions)]
        held[i], drawn[i] = "n + 1", "delay"
        counters = (
            "counters = state[2]\nprev = state[3]\n"
            f"new_counters = ({', '.join(held)},)\nnew_prev = ({', '.join(drawn)},)"
        )
    else:
        counters = (
            "new_counters = (*state[2][:{i}], n + 1, *state[2][{i} + 1 :])\n"
            "new_prev = (*state[3][:{i}], delay, *state[3][{i} + 1 :])"
        )
    kinds = {f[7] for f in records}
    # With one rule whose limit is within its table, every base it grants is in the table.
    in_table = len(records) == 1 and records[0][1] <= records[0][5]
    base = "bases[n]" if in_table else "({after} if n >= {n_table} else bases[n])"
    if len(records) == 1 and kinds <= {J_FULL, J_EQUAL} and kinds:
        # Full and equal jitter draw from a window fixed by n: read its start and width
        # from tables too (the same floats as the loop's arithmetic).
        low, high, bases, after, kind = records[0][2:5] + records[0][6:8]
        windows = [window(b, low, high, kind) for b in bases]
        namespace["starts"] = tuple(lo for lo, _ in windows)
        namespace["spans"] = tuple(hi - lo for lo, hi in windows)
        after_lo, after_hi = window(after, low, high, kind)
        namespace["after_start"] = after_lo
        namespace["after_span"] = after_hi - after_lo
        start = "{low}" if kind == J_FULL else "starts[n]"
        if in_table:
            delay = " " * 16 + f"delay = {start} + rand() * spans[n]"
        else:
            delay = "\n".join(
                " " * 16 + line
                for line in (
                    "if n >= {n_table}:",
                    "    delay = after_start + rand() * after_span",
                    "else:",
                    f"    delay = {start} + rand() * spans[n]",
                )
            )
    else:
        delay = " " * 16 + "base = " + base + "\n" + _jitter_source(kinds)
    source = _STRAIGHT.format(
        fetch=fetch.format(methods=methods),
        attempts="" if c.attempts is None else " and state[1] < max_retries",
        jitter=delay.format(**names),
        counters="\n".join(" " * 16 + line for line in counters.format(**names).splitlines()),
        **names,
    )
    exec(compile(source, f"<policy decide {id(c):#x}>", "exec"), namespace)
    decide: Decide = namespace["decide"]
    return decide


#: The longest table of backoff bases ``decide`` keeps per strategy (more: the loop's ``**``).
_MAX_TABLE: Final = 1024


def _fast_step(entry: Entry | None) -> tuple[Any, ...] | None:
    """What ``decide``'s straight path needs of ``entry``, if its chain starts with a
    backoff and it has no method limit: ``(position, limit, min_s, max_s, bases, n_table,
    after, jitter, why, rule)``.

    ``bases[n]`` is the base of retry ``n`` computed as the loop computes it
    (``min·factorⁿ``) for ``n < n_table``, and ``after`` the base from there on: ``max``
    from ``n_cap``, or ``min`` for ever when the sequence never reaches ``max`` (factor 1
    or min 0: ``min·1ⁿ`` is ``min``).  Only the first ``limit`` bases are ever read.
    """
    if entry is None or entry[3] is not None or not entry[1] or entry[1][0][0] != BACKOFF:
        return None
    _, i, limit, low, high, factor, n_cap, jitter, why, _strategy = entry[1][0]
    if n_cap >= NEVER_CAPS:  # factor 1 (min 0 compiles to factor 1): every base is min
        if factor != 1.0:
            return None
        n_table, after = 0, low
    else:
        n_table, after = min(n_cap, limit), high
        if n_table > _MAX_TABLE:
            return None
    bases = tuple(low * factor**n for n in range(n_table))
    return (i, limit, low, high, bases, n_table, after, jitter, why, entry[0])
