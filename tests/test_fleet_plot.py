"""``policy simulate --clients N --plot FILE``: the picture, read back through matplotlib's
own objects (the figure ``fleet_figure`` builds, the ids of the saved SVG), not pixels;
and the per-second series of the simulator that the picture stacks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy import parse
from policy.cli import main
from policy.fleet._plot import fleet_figure, plot_fleet
from policy.fleet._simulate import FleetResult, simulate_fleet

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt

NONE = "429:backoff(100,1s..1m,x2)"
FULL = "429:backoff(100,1s..1m,x2,jitter)"
DECORRELATED = "429:backoff(100,1s..1m,x2,jitter=decorrelated)"
OUTAGE = "5xx,connect:backoff(10,500ms..5s,x2,jitter) 429:headers()|backoff(10,jitter) methods=GET"


def _herd() -> list[FleetResult]:
    return simulate_fleet([parse(NONE), parse(FULL), parse(DECORRELATED)], clients=100, capacity=5)


@pytest.fixture
def close_all() -> Iterator[None]:
    yield
    plt.close("all")


def _by_gid(ax: Any, gid: str) -> Any:
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, (gid, found)
    return found[0]


def _last(series: tuple[int, ...]) -> int:
    return max(k for k, n in enumerate(series) if n)


@pytest.mark.usefixtures("close_all")
def test_one_panel_per_policy_each_cropped_to_its_last_request() -> None:
    """Three policies give three panels; each time axis ends just after that policy's
    last request (+ at most 5% or 1 s), not at the 600 s horizon."""
    results = _herd()
    fig = fleet_figure(results, capacity=5)
    axes = fig.get_axes()
    assert len(axes) == 3
    for ax, r in zip(axes, results, strict=True):
        stop = _last(r.per_second) + 1
        left, right = ax.get_xlim()
        assert left == 0
        assert stop < right <= stop + max(1.0, 0.05 * stop) + 1e-9
        assert f"last request in second {stop - 1}" in ax.get_title(loc="left")
    # the jittered runs end within a minute: their panels are not squeezed into 600 s
    assert axes[1].get_xlim()[1] < 60 and axes[2].get_xlim()[1] < 60
    assert len(results[0].per_second) > 500  # the plain run does run on (its spikes)
    # one scale of requests per second for all panels, so heights compare
    assert len({ax.get_ylim() for ax in axes}) == 1
    assert axes[0].get_ylim()[1] >= max(results[0].per_second)


@pytest.mark.usefixtures("close_all")
def test_a_single_policy_has_a_single_panel() -> None:
    [r] = simulate_fleet([parse(FULL)], clients=20, capacity=5)
    fig = fleet_figure([r], capacity=5)
    assert len(fig.get_axes()) == 1


def _check_stack(ax: Any, i: int, r: FleetResult, kinds: list[str]) -> None:
    """Each second k, the layers named ``kinds`` (bottom to top) cover exactly their
    counts: asked of each fill's path, which points of the column k + 0.5 it contains
    (counts are whole numbers, so half-way points are never on an edge)."""
    series = {
        "served": r.served_per_second,
        "refused": r.refused_per_second,
        "down": r.down_per_second,
    }
    bottoms = [0] * len(r.per_second)
    for kind in kinds:
        path = _by_gid(ax, f"{kind}-{i}").get_paths()[0]
        points, expected = [], []
        for k, n in enumerate(series[kind]):
            low, high = bottoms[k], bottoms[k] + n
            points += [(k + 0.5, low - 0.5), (k + 0.5, high + 0.5)]
            expected += [False, False]  # nothing below its base nor above its top
            if n:
                points += [(k + 0.5, low + 0.5), (k + 0.5, high - 0.5)]
                expected += [True, True]
            bottoms[k] = high
        assert list(path.contains_points(points)) == expected, kind
    assert bottoms == list(r.per_second)


@pytest.mark.usefixtures("close_all")
def test_served_and_refused_are_distinct_stacked_series() -> None:
    """Per panel: a fill for the served requests and one for the refused, in different
    colours, stacked (served at the bottom); the dark line is the total sent."""
    results = _herd()
    fig = fleet_figure(results, capacity=5)
    for i, (ax, r) in enumerate(zip(fig.get_axes(), results, strict=True), 1):
        served, refused = _by_gid(ax, f"served-{i}"), _by_gid(ax, f"refused-{i}")
        assert served is not refused
        assert tuple(served.get_facecolor()[0]) != tuple(refused.get_facecolor()[0])
        assert not [a for a in ax.get_children() if a.get_gid() == f"down-{i}"]
        _check_stack(ax, i, r, ["served", "refused"])
        line = _by_gid(ax, f"series-{i}")
        assert list(line.get_ydata())[:-1] == list(r.per_second)
        labels = ax.get_legend_handles_labels()[1]
        assert "served" in labels and "refused (over capacity)" in labels
    # the herd is refused far more than served: both series carry real counts
    assert sum(results[0].refused_per_second) > sum(results[0].served_per_second) > 0


@pytest.mark.usefixtures("close_all")
def test_capacity_line_and_outage_span_in_every_panel() -> None:
    """The capacity is a horizontal line at its value and the outage a span over its
    window, in each panel; requests that arrived while down are a third series."""
    outage = (20.0, 40.0)
    results = simulate_fleet(
        [parse(OUTAGE), parse(OUTAGE + " pace=on")],
        clients=20,
        capacity=20,
        work=60,
        horizon=120,
        outage=outage,
    )
    fig = fleet_figure(results, capacity=20, outage=outage)
    for i, (ax, r) in enumerate(zip(fig.get_axes(), results, strict=True), 1):
        cap = _by_gid(ax, f"capacity-{i}")
        assert set(cap.get_ydata()) == {20}
        span = _by_gid(ax, f"outage-{i}")
        assert (span.get_x(), span.get_x() + span.get_width()) == outage
        _check_stack(ax, i, r, ["served", "refused", "down"])
        assert sum(r.down_per_second) == r.while_down > 0
        assert all(
            n == 0 for k, n in enumerate(r.down_per_second) if not 19 <= k < 40
        )  # sent in second 19 can arrive at 20.0


def test_the_saved_svg_names_each_series(tmp_path: Path) -> None:
    """plot_fleet writes the same drawing: its SVG carries the ids of every panel."""
    results = simulate_fleet([parse(NONE), parse(FULL)], clients=30, capacity=5)
    out = plot_fleet(results, str(tmp_path / "herd.svg"), capacity=5)
    ids = {el.get("id") for el in ET.parse(out).iter()}
    for i in (1, 2):
        assert {f"served-{i}", f"refused-{i}", f"series-{i}", f"capacity-{i}"} <= ids


def test_the_png_shows_served_and_refused_colours(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--plot FILE.png writes a real PNG holding the served and refused colours."""
    from PIL import Image

    from policy.fleet._plot import REFUSED_COLOUR, SERVED_COLOUR

    path = tmp_path / "herd.png"
    code = main(
        ["simulate", NONE, FULL, "--clients", "30", "--capacity", "5/s", "--plot", str(path)]
    )
    assert code == 0, capsys.readouterr().err
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 300
        counted = img.convert("RGBA").getcolors(maxcolors=1 << 20)
    assert counted is not None
    colours = {c[:3] for _, c in counted if isinstance(c, tuple)}
    blended = [
        tuple(round(0.75 * int(h[k : k + 2], 16) + 0.25 * 255) for k in (1, 3, 5))
        for h in (SERVED_COLOUR, REFUSED_COLOUR)
    ]
    for rgb in blended:  # drawn at alpha 0.75 on white (± rounding)
        assert any(all(abs(a - b) <= 2 for a, b in zip(rgb, c, strict=True)) for c in colours)


POLICIES = [NONE, FULL, OUTAGE, OUTAGE + " pace=on", "5xx:backoff(3,1s,jitter) budget=20%"]


@settings(max_examples=30, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    clients=st.integers(1, 15),
    capacity=st.integers(1, 6),
    work=st.integers(1, 3),
    seed=st.integers(0, 1000),
    outage=st.none() | st.tuples(st.integers(0, 20), st.integers(1, 20)),
    fail=st.sampled_from([None, 503]),
    refuse=st.booleans(),
)
def test_each_second_is_served_refused_or_down(
    policy: str,
    clients: int,
    capacity: int,
    work: int,
    seed: int,
    outage: tuple[int, int] | None,
    fail: int | None,
    refuse: bool,
) -> None:
    """Every request sent in a second is either served, refused over capacity, or arrived
    while the server was down; the series add up to the totals of the table."""
    window = None if outage is None else (float(outage[0]), float(outage[0] + outage[1]))
    [r] = simulate_fleet(
        [parse(policy)],
        clients=clients,
        capacity=capacity,
        work=work,
        seed=seed,
        outage=window,
        fail=fail,
        refuse=refuse and window is not None,
        horizon=90,
    )
    assert len(r.per_second) == len(r.refused_per_second) == len(r.down_per_second)
    assert all(n >= 0 for n in r.served_per_second + r.refused_per_second + r.down_per_second)
    assert sum(r.per_second) == r.requests
    assert sum(r.refused_per_second) + sum(r.down_per_second) == r.rejected
    assert sum(r.down_per_second) == r.while_down
    # no second serves more than the capacity (fixed one-second windows, 5 ms latency:
    # a request sent late in second k may be served in window k + 1, so two windows)
    assert all(n <= 2 * capacity for n in r.served_per_second)
    if window is None:
        assert not any(r.down_per_second)
    data = r.as_dict()
    assert data["refused_per_second"] == list(r.refused_per_second)
