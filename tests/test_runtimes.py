"""policy convert to and from runtimes: round trips, honest loss reports, the CLI, layering."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import policy
from policy.cli import main
from policy.runtimes import SOURCES, TARGETS, convert_from, convert_to

ROOT = Path(__file__).resolve().parents[1]

_SELECTORS = [
    "503",
    "429",
    "5xx",
    "500-504",
    "502,503",
    "404",
    "all",
    "connect",
    "reset",
    "timeout",
    "reset,timeout",
    "501",
    "5xx,connect",
]


@st.composite
def _strategy(draw: st.DrawFn) -> str:
    limit = draw(st.integers(0, 8))
    lo = draw(st.sampled_from([0, 1, 25, 100, 250, 1000, 1500]))
    hi = lo + draw(st.sampled_from([0, 1, 50, 1000, 30000]))
    factor = draw(st.sampled_from(["x1", "x1.5", "x2", "x1.8"]))
    jitter = draw(st.sampled_from(["", ",jitter", ",jitter=equal", ",jitter=decorrelated"]))
    back = f"backoff({limit},{lo}ms..{hi}ms,{factor}{jitter})"
    kind = draw(st.sampled_from(["backoff", "headers", "never", "chain"]))
    if kind == "never":
        return "never"
    head = draw(
        st.sampled_from(
            [
                "headers()",
                "headers(x-ratelimit-*)",
                "headers(reset-header=x-rl-reset,format=epoch)",
                "headers(x-ratelimit-*,max=5m,over=skip)",
            ]
        )
    )
    if kind == "headers":
        return f"{head}|{back}"
    if kind == "chain":
        return f"{back}|backoff(2,1s)"
    return back


@st.composite
def policies(draw: st.DrawFn) -> policy.Policy:
    """Policies over the constructs runtimes care about (rules, strategies, settings)."""
    items = [
        f"{draw(st.sampled_from(_SELECTORS))}:{draw(_strategy())}"
        for _ in range(draw(st.integers(0, 3)))
    ]
    for setting in (
        "timeout=10s",
        "deadline=2m",
        "attempts=4",
        "budget=20%",
        "methods=GET,PUT",
        "pace=on",
    ):
        if draw(st.booleans()):
            items.append(setting)
    try:
        return policy.parse(" ".join(items))
    except policy.PolicyError:
        return policy.parse(" ".join(i for i in items if ":" not in i))


@pytest.mark.parametrize("target", SOURCES)
@settings(max_examples=60, deadline=None)
@given(p=policies())
def test_round_trip_equals_what_survives(target: str, p: policy.Policy) -> None:
    """Reading back a converted config (through JSON and YAML) gives the policy the
    conversion said survives."""
    c = convert_to(p, target)
    for text_form in (json.loads(json.dumps(c.output)), yaml.safe_load(yaml.safe_dump(c.output))):
        assert convert_from(text_form, target).policy == c.policy, c.report


def _first_retry(p: policy.Policy, status: int) -> bool:
    d = p.decide(
        p.start(now=0.0),
        policy.Response(status, {"retry-after": "1"}),
        now=0.0,
        rand=lambda: 0.5,
        method="GET",
    )
    return isinstance(d, policy.Retry)


@pytest.mark.parametrize("target", SOURCES)
@settings(max_examples=60, deadline=None)
@given(p=policies())
def test_a_status_retried_only_by_the_target_is_reported(target: str, p: policy.Policy) -> None:
    """When the target retries a status the policy gives up on, the report says so."""
    c = convert_to(p, target)
    gained = [s for s in range(400, 600) if _first_retry(c.policy, s) and not _first_retry(p, s)]
    if gained:
        assert c.widened or c.lost, (str(p), str(c.policy), gained)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=40, deadline=None)
@given(p=policies())
def test_nothing_reported_means_nothing_changed(target: str, p: policy.Policy) -> None:
    """An empty loss report promises the target retries what the policy retries."""
    c = convert_to(p, target)
    if c.exact:
        assert [_first_retry(c.policy, s) for s in range(400, 600)] == [
            _first_retry(p, s) for s in range(400, 600)
        ]


def test_grpc_facts() -> None:
    """gRPC: 429/502/503/504 are UNAVAILABLE, others UNKNOWN; maxAttempts clamps at 5."""
    c = convert_to("429,404:backoff(9,1s..4s,x2)", "grpc")
    rp = c.output["methodConfig"][0]["retryPolicy"]
    assert rp["retryableStatusCodes"] == ["UNAVAILABLE", "UNKNOWN"]
    assert rp["maxAttempts"] == 5
    assert any("maxAttempts 5" in x for x in c.lost)
    assert any("random(0," in x for x in c.lost)


def test_envoy_header_wait_is_over_skip() -> None:
    """A header wait becomes rate_limited_retry_back_off, and giving up becomes skipping."""
    c = convert_to("429:headers(reset-header=x-rl-reset,format=epoch,max=15m)|backoff(2)", "envoy")
    rl = c.output["route"]["retry_policy"]["rate_limited_retry_back_off"]
    assert rl["max_interval"] == "900s"
    assert {"name": "x-rl-reset", "format": "UNIX_TIMESTAMP"} in rl["reset_headers"]
    assert any("over=skip" in x for x in c.lost)


def test_istio_omitted_retry_on_is_a_widening() -> None:
    """An Istio route without retryOn retries Istio's defaults, and says so."""
    c = convert_from({"spec": {"http": [{"retries": {"attempts": 3}}]}}, "istio")
    assert str(c.policy).startswith("connect,reset:")
    assert any("Istio's defaults" in x for x in c.widened)


def test_urllib3_call_is_accepted_by_urllib3() -> None:
    """The urllib3 output is a Retry(...) urllib3 builds, with the same arguments."""
    from urllib3.util.retry import Retry

    c = convert_to("503:backoff(3,1s..8s,x2,jitter) methods=GET", "urllib3")
    r = Retry(**c.output["kwargs"])
    assert r.total == 3 and r.status_forcelist == [503] and r.allowed_methods == ["GET"]
    assert c.output["call"].startswith("Retry(total=3")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


def test_cli_round_trip_strict_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--to writes the config with the report on stderr; --strict fails on a loss; --json
    carries the report; --from reads the file back."""
    code, out, err = _run(
        capsys, "convert", "5xx:backoff(3,1s..8s,x2)", "--to", "envoy", "--format", "yaml"
    )
    assert code == 0 and "retry_on: 5xx" in out and "widened: 5xx also retries" in err
    f = tmp_path / "envoy.yaml"
    f.write_text(out)
    code, out2, _ = _run(capsys, "convert", "-f", str(f), "--from", "envoy")
    assert code == 0 and out2.strip() == "5xx,timeout,connect,reset:backoff(3,1s..8s,x2,jitter)"
    assert _run(capsys, "convert", "5xx:backoff(3)", "--to", "envoy", "--strict")[0] == 1
    code, out3, err3 = _run(capsys, "convert", "503:backoff(2)", "--to", "grpc", "--json")
    doc = json.loads(out3)
    assert err3 == "" and doc["widened"] and doc["output"]["methodConfig"]
    code, out4, _ = _run(capsys, "convert", "-f", str(f), "--from", "envoy", "--to", "grpc")
    assert code == 0 and json.loads(out4)["methodConfig"][0]["retryPolicy"]["maxAttempts"] == 4


def test_cli_bad_config_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config with a bad field fails with its name, not a traceback."""
    f = tmp_path / "g.json"
    f.write_text(json.dumps({"spec": {"rules": [{"retry": {"codes": [200]}}]}}))
    code, _, err = _run(capsys, "convert", "-f", str(f), "--from", "gateway")
    assert code == 1 and "retry.codes" in err


def test_cli_check_runtime_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check --format lints what a mesh config retries: W103, W104, W107 at the retry block,
    W101 only where the runtime does not jitter."""
    f = tmp_path / "route.yaml"
    f.write_text("spec:\n  rules:\n  - retry:\n      codes: [404, 503]\n      attempts: 3\n")
    code, out, _ = _run(capsys, "check", "-f", str(f), "--format", "gateway", "--strict")
    assert code == 1
    for c in ("W101", "W103", "W104", "W107"):
        assert f"{f}:3:5: {c}" in out
    e = tmp_path / "envoy.yaml"
    e.write_text("retry_policy:\n  retry_on: 5xx\n  num_retries: 3\n")
    code, out, _ = _run(capsys, "check", "-f", str(e), "--format", "envoy", "--json")
    codes = [r["code"] for r in json.loads(out)]
    assert codes == ["W107"]  # Envoy's back-off is jittered: no W101


def test_existing_convert_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    """Seed options conversion is untouched."""
    code, out, _ = _run(capsys, "convert", "5xx:backoff(2)", "--to", "options")
    assert code == 0 and json.loads(out)["retry"]["5xx"]["limit"] == 2


def test_runtimes_floor_imports_nothing_higher() -> None:
    """policy/runtimes imports policy.language/evaluate (or public policy) only."""
    banned = ("policy.loop", "policy.fleet", "policy.cli", "transport")
    for path in (ROOT / "policy" / "runtimes").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        assert ast.get_docstring(tree), path
        assert len(path.read_text("utf-8").splitlines()) <= 400, path
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = "policy" if node.level == 2 else ("policy.runtimes" if node.level else "")
                names = [f"{base}.{node.module}" if base and node.module else (node.module or base)]
            for n in names:
                assert not n.startswith(banned), (path.name, n)
