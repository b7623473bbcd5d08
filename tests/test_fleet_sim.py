"""The fleet simulator (``policy simulate ... --clients N``) and the two pictures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy
from policy.cli import main
from policy.fleet._simulate import T0, Server, simulate_fleet

NONE = "429:backoff(100,1s..1m,x2)"
FULL = "429:backoff(100,1s..1m,x2,jitter)"
DECORRELATED = "429:backoff(100,1s..1m,x2,jitter=decorrelated)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_is_deterministic_under_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """The same arguments print the same table twice, and the same JSON."""
    argv = ["simulate", NONE, FULL, "--clients", "40", "--capacity", "5/s", "--seed", "7"]
    code, first, _ = run(capsys, *argv)
    assert code == 0
    assert run(capsys, *argv)[1] == first
    assert "P1" in first and "P2" in first and FULL in first
    assert run(capsys, *argv, "--json")[1] == run(capsys, *argv, "--json")[1]
    other = run(capsys, *argv[:-1], "8")[1]
    assert other != first  # the seed matters for the jittered policy


def test_json_has_a_row_per_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives the setup and, per policy, the table's numbers and the series."""
    code, out, _ = run(
        capsys, "simulate", NONE, FULL, "--clients", "20", "--capacity", "10", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["clients"] == 20 and data["capacity"] == 10
    assert [r["policy"] for r in data["results"]] == [NONE, FULL]
    for r in data["results"]:
        assert r["requests"] == sum(r["per_second"])
        assert r["requests"] >= 20 and r["done"] == 20


def test_the_server_is_a_fixed_window() -> None:
    """capacity per whole second; refusals carry Retry-After and the X-RateLimit family."""
    s = Server(2)
    got = [s.answer(T0 + t) for t in (0.1, 0.2, 0.3, 0.95, 1.0)]
    assert [r.status for r in got] == [200, 200, 429, 429, 200]
    assert got[1].headers["x-ratelimit-remaining"] == "0"
    assert got[2].headers["retry-after"] == "1"
    assert got[2].headers["x-ratelimit-reset"] == str(int(T0) + 1)
    down = Server(2, fail=503, outage=(5.0, 6.0))
    assert down.answer(T0 + 5.5).status == 503
    assert [down.answer(T0 + 7 + t).status for t in (0, 0, 0)] == [200, 200, 503]


def test_brooker_ranking_at_100_clients() -> None:
    """Full or decorrelated jitter needs at most half the calls of plain exponential backoff."""
    none, full, decorrelated = simulate_fleet(
        [policy.parse(t) for t in (NONE, FULL, DECORRELATED)],
        clients=100,
        capacity=5,
        seed=1,
        horizon=3600,
    )
    assert none.done == full.done == decorrelated.done == 100
    assert min(full.requests, decorrelated.requests) <= none.requests / 2
    assert none.gave_up == full.gave_up == 0


def test_a_budget_limits_the_storm_during_an_outage() -> None:
    """With every request failing for a minute, budget=20% sends far fewer requests."""
    text = "5xx:backoff(8,100ms..2s,x2,jitter)"
    plain, budgeted = simulate_fleet(
        [policy.parse(text), policy.parse(text + " budget=20%")],
        clients=200,
        capacity=1000,
        fail=503,
        outage=(0.0, 60.0),
        horizon=120,
    )
    assert plain.done == budgeted.done == 200
    # Requests per call: the budget keeps retries near 20% of first attempts (+ the floor
    # of 10 per 10 s), where the plain policy multiplies every call by up to 9.
    assert budgeted.requests <= 1.2 * budgeted.calls + 10 * 13
    assert plain.requests > 3 * plain.calls
    assert budgeted.gave_up > plain.gave_up
    # And in all: the calls it cuts short go back to the application, which waits longer
    # after each give-up, so the server sees fewer requests, not more calls.
    assert budgeted.requests < plain.requests / 2


def test_the_application_backs_off_its_reissues() -> None:
    """A call given up on is issued again after 1, 2, 4 ... s (at most 64 s) while its
    calls keep giving up: one client against a server that is always down sends one
    request per reissue."""
    (r,) = simulate_fleet(
        [policy.parse("5xx:never")], clients=1, capacity=10, fail=503,
        outage=(0.0, 1000.0), horizon=200,
    )  # fmt: skip
    # Reissues at 0, 1, 3, 7, 15, 31, 63, 127, 191: nine calls of one request each.
    assert r.requests == r.calls == r.gave_up == 9


@settings(max_examples=25, deadline=None)
@given(
    clients=st.integers(2, 40),
    capacity=st.integers(1, 8),
    text=st.sampled_from(
        [
            "429:headers() pace=on",
            "429:headers(x-ratelimit-*)|backoff(5,100ms..2s,x2,jitter) pace=on",
            "429:backoff(10,100ms..1s,x2,jitter) pace=on",
            "429:headers(max=1s,over=clamp) pace=on budget=50%",
        ]
    ),
    seed=st.integers(0, 2**16),
    work=st.integers(1, 3),
)
def test_no_client_sends_while_the_origin_is_held(
    clients: int, capacity: int, text: str, seed: int, work: int
) -> None:
    """With pace=on, no request leaves between a hold being taken and its end."""
    trace: list[tuple[str, float, int, float]] = []
    simulate_fleet(
        [policy.parse(text)],
        clients=clients,
        capacity=capacity,
        work=work,
        seed=seed,
        horizon=30,
        trace=trace,
    )
    holds = [until for kind, _, _, until in trace if kind == "hold"]
    assert holds or clients <= capacity  # someone was refused, and the server said till when
    # The trace is in event order: every hold taken so far must be over when a request leaves.
    held_until = 0.0
    for kind, t, _, until in trace:
        if kind == "hold":
            held_until = max(held_until, until)
        else:
            assert t >= held_until, (t, held_until)


def _svg_series(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return sorted(el.get("id", "") for el in root.iter() if el.get("id", "").startswith("series-"))


def test_fleet_plot_svg_has_one_series_per_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--plot FILE.svg draws one line per policy (read back from the SVG)."""
    path = tmp_path / "herd.svg"
    code, _, err = run(
        capsys, "simulate", NONE, FULL, DECORRELATED,
        "--clients", "30", "--capacity", "5/s", "--plot", str(path),
    )  # fmt: skip
    assert code == 0, err
    assert _svg_series(path) == ["series-1", "series-2", "series-3"]


def test_explain_plot_draws_each_deciding_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """explain --plot draws the envelope of every rule that retries (one series each)."""
    path = tmp_path / "envelope.svg"
    text = "429:headers(max=2m) 5xx:backoff(6,1s..30s,x2,jitter) 404:never"
    code, out, err = run(capsys, "explain", text, "--plot", str(path))
    assert code == 0, err
    assert "envelope drawn in" in out
    assert _svg_series(path) == ["series-1", "series-2"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--clients", "10", "--capacity", "ten"], "--capacity"),
        (["--clients", "10"], "--capacity is required"),
        (["--clients", "0", "--capacity", "5"], "--clients"),
        (["--clients", "10", "--capacity", "5", "--outage", "40s..10s"], "--outage"),
        (["--clients", "10", "--capacity", "5", "--plot", "x.gif"], ".png or .svg"),
        (["--clients", "10", "--capacity", "5", "--horizon", "soon"], "--horizon"),
        (["--clients", "10", "--capacity", "5", "--fail", "200"], "--fail"),
    ],
)
def test_bad_fleet_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    """Every bad fleet argument exits 2 with a message naming it, never a traceback."""
    code, _, err = run(capsys, "simulate", NONE, *argv)
    assert code == 2
    assert words in err


def test_fleet_options_need_clients(capsys: pytest.CaptureFixture[str]) -> None:
    """A fleet option in the single-call simulation is a usage error, not ignored."""
    code, _, err = run(capsys, "simulate", NONE, "--outcomes", "429,200", "--capacity", "5")
    assert code == 2 and "--capacity needs --clients" in err


def test_explain_says_what_budget_and_pace_mean(capsys: pytest.CaptureFixture[str]) -> None:
    """explain prints the budget in requests and that pacing is on."""
    code, out, _ = run(
        capsys, "explain", "429:headers() 5xx:backoff(2,1s,jitter) budget=20% pace=on"
    )
    assert code == 0
    assert "budget=20%: at most 10 + 20 retries per 100 requests per origin in any 10s" in out
    assert "pacing: on" in out


def test_several_policies_without_clients_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The single-call simulation takes one policy and --outcomes."""
    code, _, err = run(capsys, "simulate", NONE, FULL, "--outcomes", "429,200")
    assert code == 2 and "--clients" in err


def test_the_pictures_in_the_docs_exist() -> None:
    """docs/fleet.md shows the committed PNGs, each with the command that made it."""
    from PIL import Image

    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "fleet.md").read_text("utf-8")
    pictures = ("fleet-herd.png", "explain-envelope.png", "fleet-outage.png", "fleet-adaptive.png")
    for name in pictures:
        assert f"]({name})" in text and f"--plot docs/{name}" in text
        with Image.open(docs / name) as img:
            assert img.format == "PNG"


# -- resilience beyond retries: a shared circuit breaker, adaptive pacing ------------------

OUTAGE_POLICY = (
    "5xx,connect:backoff(10,500ms..5s,x2,jitter) 429:headers()|backoff(10,jitter) pace=on"
)


def test_a_shared_breaker_spares_the_server_while_it_is_down() -> None:
    """100 clients, server down 60 s of 300: with ``breaker=5`` shared by the fleet, the
    requests sent while down are at most a tenth of those without it, and every client
    that still had work is served again within ``open`` + 2 s of the server's return."""
    p = policy.parse(OUTAGE_POLICY)
    b = policy.parse(OUTAGE_POLICY + " breaker=5/open=30s")
    for refuse in (False, True):
        plain, guarded = simulate_fleet(
            [p, b],
            clients=100,
            capacity=100,
            work=100,
            horizon=300,
            outage=(60.0, 120.0),
            refuse=refuse,
        )
        assert plain.while_down > 1000
        assert guarded.while_down <= plain.while_down / 10
        assert guarded.recover is not None and guarded.recover <= 30.0 + 2.0
        assert plain.done == guarded.done == 100
        assert plain.failed_fast == 0


def test_requests_while_down_are_counted_at_the_server() -> None:
    """The count is exactly the sends whose arrival falls in the outage."""
    trace: list[tuple[str, float, int, float]] = []
    (r,) = simulate_fleet(
        [policy.parse("5xx:backoff(3,1s)")],
        clients=5,
        capacity=10,
        work=100,
        horizon=60,
        outage=(1.0, 4.0),
        trace=trace,
    )
    sends = [t for kind, t, _, _ in trace if kind == "send"]
    assert r.while_down == sum(1 for t in sends if T0 + 1.0 <= t + 0.005 < T0 + 4.0) > 0
    assert r.recover is not None and r.recover < 60


def test_a_half_open_breaker_lets_one_probe_through_at_a_time() -> None:
    """While the circuit is open nothing is sent; after ``open`` one probe goes."""
    trace: list[tuple[str, float, int, float]] = []
    (r,) = simulate_fleet(
        [policy.parse("5xx:backoff(100,1s) breaker=3/open=10s")],
        clients=20,
        capacity=100,
        horizon=100,
        outage=(0.0, 50.0),
        trace=trace,
    )
    sends = [t - T0 for kind, t, _, _ in trace if kind == "send"]
    down = [t for t in sends if t < 50.0]
    # the herd (20), then one probe per open span: at 10, 20, 30, 40 s after each reopen
    assert len(down) <= 20 + 5
    assert r.done == 20 and r.failed_fast == 0  # retries wait for half-open
    # with a deadline too short for that: test_a_call_failed_fast_is_issued_again_...


def test_no_headers_server_and_adaptive_pacing() -> None:
    """Bare 429s: adaptive pacing (one limiter shared by the fleet) sends far fewer
    requests the server refuses than plain jittered backoff."""
    s = Server(1, headers=False)
    first, second = s.answer(T0 + 0.1), s.answer(T0 + 0.2)
    assert isinstance(Server(1, outage=(0, 1), refuse=True).outcome(T0), policy.ConnectFailure)
    assert not first.headers and second.status == 429 and not second.headers
    p = policy.parse("429:backoff(50,100ms..5s,x2,jitter)")
    a = policy.parse("429:backoff(50,100ms..5s,x2,jitter) pace=adaptive")
    plain, adaptive = simulate_fleet(
        [p, a],
        clients=100,
        capacity=20,
        work=10,
        horizon=300,
        headers=False,
    )
    assert plain.done == adaptive.done == 100
    assert adaptive.rejected <= plain.rejected / 3


def test_the_table_and_plot_show_the_outage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "down.svg"
    code, out, _ = run(
        capsys,
        "simulate",
        OUTAGE_POLICY,
        "--clients",
        "20",
        "--capacity",
        "20/s",
        "--work",
        "20",
        "--horizon",
        "2m",
        "--outage",
        "20s..40s",
        "--refuse",
        "--plot",
        str(path),
    )
    assert code == 0
    assert "requests while down" in out and "time to recover" in out
    assert "connections refused" in out
    ids = {el.get("id") for el in ET.parse(path).iter()}
    assert {"outage-1", "capacity-1", "series-1"} <= ids
    code, out, _ = run(
        capsys,
        "simulate",
        OUTAGE_POLICY,
        "--clients",
        "5",
        "--capacity",
        "5",
        "--json",
        "--no-headers",
    )
    data = json.loads(out)
    assert data["headers"] is False and data["results"][0]["recover"] is None
    assert run(capsys, "simulate", OUTAGE_POLICY, "--no-headers")[0] == 2


def test_simulated_circuits_are_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    """The simulator's circuits are virtual: no log line and no listener call for them,
    while the same breaker in a real call reports (the listener is still added after)."""
    from policy.loop import add_breaker_listener, remove_breaker_listener

    seen: list[tuple[str, str, str]] = []

    def listen(origin: str, old: str, new: str) -> None:
        seen.append((origin, old, new))

    add_breaker_listener(listen)
    try:
        with caplog.at_level("INFO", logger="policy"):
            (r,) = simulate_fleet(
                [policy.parse("5xx:backoff(100,1s) breaker=3/open=10s")],
                clients=5,
                capacity=100,
                horizon=60,
                outage=(0.0, 30.0),
            )
        assert r.while_down > 0 and r.done == 5
        assert seen == [] and not [x for x in caplog.records if "circuit" in x.getMessage()]
        from policy.loop._resilience import report_change

        report_change("http://a:1", "closed", "open")
        assert seen == [("http://a:1", "closed", "open")]
    finally:
        remove_breaker_listener(listen)


def test_a_call_failed_fast_is_issued_again_when_the_circuit_half_opens() -> None:
    """New calls the open circuit refuses (nothing sent) come back at ``retry_after``:
    with a 5 s deadline a call cannot wait the 10 s open span, so the fleet's calls fail
    fast, and no request reaches the server while the circuit is open."""
    trace: list[tuple[str, float, int, float]] = []
    (r,) = simulate_fleet(
        [policy.parse("5xx:backoff(100,1s) deadline=5s breaker=3/open=10s")],
        clients=20,
        capacity=100,
        horizon=100,
        outage=(0.0, 50.0),
        trace=trace,
    )
    sends = sorted(t - T0 for kind, t, _, _ in trace if kind == "send")
    assert r.failed_fast > 20 and r.done == 20 and r.recover is not None and r.recover < 1
    # the herd at 0 s, then one probe per open span (each answered 503: open again)
    assert sends[:20] == [0.0] * 20
    probes = [t for t in sends if 0.0 < t < 50.0]
    assert [round(t) for t in probes] == [10, 20, 30, 40]
    assert r.while_down == 20 + len(probes)


def test_a_retry_the_circuit_ends_is_not_counted_as_failed_fast() -> None:
    """``failed_fast`` counts the calls refused before sending anything: one client whose
    every call sends (a first attempt, or the probe at half-open) and is then ended by
    the open circuit past its deadline has give-ups and no fail-fast."""
    (r,) = simulate_fleet(
        [policy.parse("5xx:backoff(5,1s) deadline=3s breaker=2/open=10s")],
        clients=1,
        capacity=100,
        horizon=60,
        outage=(0.0, 40.0),
    )
    assert r.gave_up >= 3 and r.failed_fast == 0 and r.done == 1
    assert r.while_down == r.requests - 1  # every request but the last met the outage
