"""Pictures: requests per second of a simulated fleet, and a policy's delay envelope.

matplotlib is an optional extra (``pip install 'retry-policy[plot]'``), imported only
when a picture is drawn, with the non-interactive Agg backend (no display needed, no
window opened).  The file type follows the name: ``.png`` or ``.svg``.  Each series is
drawn as one line whose SVG id is ``series-N`` (N counting from 1, in the order of the
policies), so a drawing can be checked without reading pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..language._ast import Policy
    from ._simulate import FleetResult

__all__ = ["FORMATS", "PlotError", "plot_envelope", "plot_fleet"]

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


def plot_fleet(
    results: Sequence[FleetResult],
    path: str,
    *,
    title: str = "",
    capacity: int | None = None,
    outage: tuple[float, float] | None = None,
) -> Path:
    """Draw requests per second over time, one line per policy, into ``path``; the
    server's ``capacity`` as a dashed line (SVG id ``capacity``) and the ``outage`` as a
    shaded span (SVG id ``outage``)."""
    out = check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8))
    if outage is not None:
        span = ax.axvspan(outage[0], outage[1], color="0.85", label="server down")
        span.set_gid("outage")
    if capacity is not None:
        cap = ax.axhline(capacity, color="0.4", linestyle="--", linewidth=1, label="capacity")
        cap.set_gid("capacity")
    for i, r in enumerate(results, 1):
        xs = list(range(len(r.per_second)))
        (line,) = ax.step(xs, list(r.per_second), where="post", label=_label(r.policy, i))
        line.set_gid(f"series-{i}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("requests per second")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", loc="upper right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, plt, out)
    return out


def plot_envelope(p: Policy, path: str) -> Path:
    """Draw each rule's delay envelope (min to max) per retry number into ``path``.

    One band per rule that decides something, for the first outcome it decides; the
    line is the envelope's upper edge (what ``policy explain`` calls the worst case).
    """
    from ..evaluate._evaluate import Compiled
    from ..language._render import render_rule

    out = check_path(path)
    plt = _pyplot()
    compiled: Compiled = p.compiled()
    from ..language._outcomes import ConnectFailure, ConnectionReset, Response, Timeout

    probes: list[Any] = [Response(s) for s in range(100, 600) if not 200 <= s <= 299]
    probes += [Timeout(), ConnectFailure(), ConnectionReset()]
    first: dict[int, Any] = {}
    for o in probes:
        entry = compiled.entry_for(o)
        if entry is not None and id(entry) not in first:
            first[id(entry)] = (entry, o)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    shown = 0
    for entry, outcome in first.values():
        sched = p.schedule(outcome)
        if not len(sched):
            continue
        shown += 1
        n = min(len(sched), 50)
        xs = list(range(1, n + 1))
        lo = [sched[k].min for k in range(n)]
        hi = [sched[k].max for k in range(n)]
        (line,) = ax.plot(
            xs, hi, marker="o", markersize=3, label=_label(render_rule(entry[0]), shown)
        )
        line.set_gid(f"series-{shown}")
        ax.fill_between(xs, lo, hi, alpha=0.25, color=line.get_color())
    ax.set_xlabel("retry")
    ax.set_ylabel("wait before the retry (s)")
    ax.set_title(f"delay envelope: {str(p)[:80] or '(empty policy)'}", fontsize="small")
    if shown:
        ax.legend(fontsize="small", loc="upper left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, plt, out)
    return out
