"""Pictures: requests per second of a simulated fleet, and a policy's delay envelope.

matplotlib is an optional extra (``pip install 'retry-policy[plot]'``), imported only
when a picture is drawn, with the non-interactive Agg backend (no display needed, no
window opened).  The file type follows the name: ``.png`` or ``.svg``.  Each series is
drawn as one line whose SVG id is ``series-N`` (N counting from 1, in the order of the
policies), so a drawing can be checked without reading pixels; ``fleet_figure`` hands
back the fleet's figure itself, for reading its artists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..evaluate._evaluate import compiled_of

if TYPE_CHECKING:
    from ..language._policy import Policy
    from ._simulate import FleetResult

__all__ = [
    "FORMATS",
    "PlotError",
    "check_plot",
    "envelope_series",
    "envelope_title",
    "fleet_figure",
    "last_active",
    "plot_envelope",
    "plot_fleet",
]

FORMATS = (".png", ".svg")


class PlotError(Exception):
    """A picture cannot be drawn (matplotlib missing, a bad file name); the message says why."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'retry-policy[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_path(path: str) -> Path:
    """``path`` as a ``Path`` if it names a PNG or SVG file, else ``PlotError``."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise PlotError(f"--plot {path}: the file name must end in .png or .svg")
    return p


def _label(text: str, index: int) -> str:
    text = text or "(empty policy)"
    return f"P{index}: {text if len(text) <= 60 else text[:57] + '...'}"


def _save(fig: Any, plt: Any, path: Path) -> None:
    try:
        fig.savefig(path, format=path.suffix.lower()[1:], dpi=100)
    except OSError as exc:
        raise PlotError(f"--plot {path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)


#: Colours of the three kinds of request in a fleet panel, and of the total line.
SERVED_COLOUR = "#4c9a6a"
REFUSED_COLOUR = "#e0703a"
DOWN_COLOUR = "#8c6bb1"
TOTAL_COLOUR = "0.15"


def last_active(per_second: Sequence[int]) -> int:
    """The last second in which a request was sent (-1 when none was)."""
    for k in range(len(per_second) - 1, -1, -1):
        if per_second[k]:
            return k
    return -1


def time_limit(per_second: Sequence[int]) -> float:
    """Where a panel's time axis ends: just after the last second with a request, plus a
    margin of 5% (at least 1 s)."""
    stop = last_active(per_second) + 1
    return stop + max(1.0, 0.05 * stop)


def fleet_figure(
    results: Sequence[FleetResult],
    *,
    title: str = "",
    capacity: int | None = None,
    outage: tuple[float, float] | None = None,
) -> Any:
    """The figure ``plot_fleet`` saves (a matplotlib ``Figure``; close it with
    ``matplotlib.pyplot.close`` when done): one panel per policy, stacked one above the
    other, all on the same requests-per-second scale.

    In panel N, the requests sent each second are stacked by what the server did with them:
    served (SVG id ``served-N``), refused for being over capacity (``refused-N``), and
    when there is an outage, arrived while it was down (``down-N``); a dark step line
    (``series-N``) is their total.  The ``capacity`` is a dashed line (``capacity-N``),
    the ``outage`` a shaded span (``outage-N``).  Each panel's time axis ends shortly after
    that policy's last request (its own end, not the horizon nor the other panels'), and
    its title says when that was.
    """
    plt = _pyplot()
    n = max(1, len(results))
    fig, axes = plt.subplots(
        n, 1, figsize=(9, 1.2 + 2.4 * n), sharey=True, squeeze=False, layout="constrained"
    )
    for i, (ax, r) in enumerate(zip(axes[:, 0], results, strict=False), 1):
        _fleet_panel(ax, r, i, capacity, outage)
    top = max((max(r.per_second, default=0) for r in results), default=0)
    axes[0, 0].set_ylim(0, max(top, capacity or 0, 1) * 1.08)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return fig


def _fleet_panel(
    ax: Any,
    r: FleetResult,
    i: int,
    capacity: int | None,
    outage: tuple[float, float] | None,
) -> None:
    if outage is not None:
        span = ax.axvspan(outage[0], outage[1], color="0.9", label="server down", zorder=0)
        span.set_gid(f"outage-{i}")
    # Second k is drawn from k to k + 1: the last value repeated closes the last step.
    xs = list(range(len(r.per_second) + 1))
    served = list(r.served_per_second)
    kinds = [("served", served, SERVED_COLOUR, "served")]
    kinds.append(("refused", list(r.refused_per_second), REFUSED_COLOUR, "refused (over capacity)"))
    if outage is not None:
        kinds.append(("down", list(r.down_per_second), DOWN_COLOUR, "arrived while down"))
    bottom = [0] * len(served)
    for gid, values, colour, label in kinds:
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        fill = ax.fill_between(
            xs, bottom + bottom[-1:], top + top[-1:], step="post", color=colour,
            alpha=0.75, linewidth=0, label=label,
        )  # fmt: skip
        fill.set_gid(f"{gid}-{i}")
        bottom = top
    total = list(r.per_second)
    (line,) = ax.step(
        xs, total + total[-1:], where="post", color=TOTAL_COLOUR, linewidth=0.8, label="sent"
    )
    line.set_gid(f"series-{i}")
    if capacity is not None:
        cap = ax.axhline(capacity, color="0.3", linestyle="--", linewidth=1, label="capacity")
        cap.set_gid(f"capacity-{i}")
    last = last_active(r.per_second)
    ax.set_xlim(0, time_limit(r.per_second))
    ended = f"last request in second {last}" if last >= 0 else "no request"
    ax.set_title(f"{_panel_label(r.policy, i)}  ({ended})", fontsize="small", loc="left")
    ax.set_ylabel("requests/s")
    ax.grid(True, alpha=0.3)


def _panel_label(text: str, index: int) -> str:
    """``PN: POLICY``, wrapped on two lines at most (then cut, saying how much)."""
    import textwrap

    lines = textwrap.wrap(f"P{index}: {text or '(empty policy)'}", 110, break_on_hyphens=False)
    if len(lines) <= 2:
        return "\n".join(lines)
    return "\n".join(lines[:2]) + f" ... ({len(' '.join(lines[2:]))} more characters)"


def plot_fleet(
    results: Sequence[FleetResult],
    path: str,
    *,
    title: str = "",
    capacity: int | None = None,
    outage: tuple[float, float] | None = None,
) -> Path:
    """Draw ``fleet_figure(results, ...)`` into ``path`` (``.png`` or ``.svg``)."""
    out = check_path(path)
    plt = _pyplot()
    fig = fleet_figure(results, title=title, capacity=capacity, outage=outage)
    _save(fig, plt, out)
    return out


def plot_envelope(p: Policy, path: str) -> Path:
    """Draw each rule's delay envelope (min to max) per retry number into ``path``.

    One band per rule that retries, for the first outcome it decides, in the order the
    rules are written; the line is the envelope's upper edge (what ``policy explain``
    calls the worst case).  The wait axis is logarithmic (a 15-minute ``headers()`` band
    and a 100 ms backoff both stay readable); a wait of 0 is drawn at 1 ms.  The title is
    the whole policy, wrapped; a policy too long for it is cut with a note of how much was
    left out.  ``PlotError`` when no rule retries (nothing to draw): call
    ``envelope_series`` first to know.
    """
    series = envelope_series(p)
    if not series:
        raise PlotError(f"--plot {path}: nothing to draw: no rule of this policy retries")
    out = check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for shown, (label, lo, hi) in enumerate(series, 1):
        xs = list(range(1, len(hi) + 1))
        lo = [max(v, _FLOOR_S) for v in lo]
        hi = [max(v, _FLOOR_S) for v in hi]
        (line,) = ax.plot(xs, hi, marker="o", markersize=3, label=_label(label, shown))
        line.set_gid(f"series-{shown}")
        ax.fill_between(xs, lo, hi, alpha=0.25, color=line.get_color())
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_gid(f"wait-axis-{ax.get_yscale()}")  # the SVG says which scale was drawn
    ax.set_xlabel("retry")
    ax.set_ylabel("wait before the retry (s, log scale)")
    ax.set_title(envelope_title(str(p)), fontsize="small")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(True, alpha=0.3, which="both")
    fig.tight_layout()
    _save(fig, plt, out)
    return out


#: Where a wait of 0 is drawn on the logarithmic axis (seconds).
_FLOOR_S = 0.001
_TITLE_WIDTH = 100
_TITLE_LINES = 4


def envelope_title(policy_text: str) -> str:
    """``delay envelope: POLICY``, wrapped; cut after a few lines with a note of how many
    characters were left out (never silently)."""
    import textwrap

    lines = textwrap.wrap(
        f"delay envelope: {policy_text or '(empty policy)'}",
        _TITLE_WIDTH,
        break_long_words=True,
        break_on_hyphens=False,
    )
    if len(lines) <= _TITLE_LINES:
        return "\n".join(lines)
    left = len(" ".join(lines[_TITLE_LINES:]))
    return "\n".join(lines[:_TITLE_LINES]) + f" ... ({left} more characters)"


def envelope_series(p: Policy) -> list[tuple[str, list[float], list[float]]]:
    """Per rule that retries, in the order the rules are written: its text and the lower
    and upper waits (seconds) before each retry (at most 50)."""
    from ..evaluate._evaluate import Compiled
    from ..language._outcomes import ConnectFailure, ConnectionReset, Response, Timeout
    from ..language._render import render_rule

    compiled: Compiled = compiled_of(p)
    order = {id(entry): i for i, entry in enumerate(compiled.entries)}
    probes: list[Any] = [Response(s) for s in range(100, 600) if not 200 <= s <= 299]
    probes += [Timeout(), ConnectFailure(), ConnectionReset()]
    first: dict[int, Any] = {}
    for o in probes:
        entry = compiled.entry_for(o)
        if entry is not None and id(entry) not in first:
            first[id(entry)] = (entry, o)
    series = []
    for key in sorted(first, key=order.__getitem__):
        entry, outcome = first[key]
        sched = p.schedule(outcome)
        n = min(len(sched), 50)
        if n:
            lo = [sched[k].min for k in range(n)]
            hi = [sched[k].max for k in range(n)]
            series.append((render_rule(entry[0]), lo, hi))
    return series


def check_plot(path: str) -> Path:
    """``--plot FILE`` checked before anything is printed or computed: a ``.png`` or
    ``.svg`` name and matplotlib installed, else ``PlotError``."""
    out = check_path(path)
    _pyplot()
    return out
