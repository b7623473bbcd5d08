"""Every benchmark in one run; regenerates the results table in ``docs/benchmarks.md``.

    python bench/run.py            # full run (a few minutes)
    python bench/run.py --quick    # fewer iterations (a rough check, ~30 s)
    python bench/run.py --no-write # print only

Parts: decision cost (``bench_decide`` and ``bench_peers``), parse (``bench_parse``),
transport on loopback (``bench_transport``), the other clients (``bench_clients``:
httpx, aiohttp, ``retrying``), memory (``bench_memory``).  A part whose
module or peer library is missing is skipped with a note.  The table is written
between the ``<!-- results -->`` markers, with the machine and the versions.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results -->", "<!-- /results -->"
PACKAGES = (
    "retry-policy", "lark", "attrs", "urllib3", "requests",
    "tenacity", "stamina", "backoff", "httpx", "httpx-retries", "aiohttp",
)  # fmt: skip

# iterations per part: (full, quick, tiny); tiny is what tests/test_bench.py runs.
SIZES: dict[str, tuple[Any, ...]] = {
    "decide": (200_000, 20_000, 10),
    "peers": (20_000, 2_000, 2),
    "parse": ((3000, 11), (300, 3), (2, 1)),
    "transport": (300, 50, 2),
    "clients": (150, 30, 1),
    "memory": (1_000_000, 100_000, 10),
}


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    """One line: CPU, cores, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def run_parts(size: int) -> dict[str, dict[str, float] | None]:
    """Run each part at ``size`` (0 full, 1 quick, 2 tiny); None for a part that is missing."""
    out: dict[str, dict[str, float] | None] = {}
    for part, module in (
        ("decide", "bench_decide"),
        ("peers", "bench_peers"),
        ("parse", "bench_parse"),
        ("transport", "bench_transport"),
        ("clients", "bench_clients"),
        ("memory", "bench_memory"),
    ):
        print(f"== {part}", flush=True)
        try:
            main: Callable[..., dict[str, float]] = importlib.import_module(module).main
        except (ImportError, AttributeError) as exc:
            print(f"   skipped: {exc}")
            out[part] = None
            continue
        arg = SIZES[part][size]
        t0 = time.perf_counter()
        out[part] = main(*arg) if isinstance(arg, tuple) else main(arg)
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    return out


def _bar(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(r: dict[str, dict[str, float] | None], quick: bool) -> str:
    """The Markdown results section."""
    lines = [
        f"Run: `python bench/run.py{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {machine()}.",
        "",
        "Versions: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES) + ".",
        "",
        "### Performance targets",
        "",
        "| bar | measured | result |",
        "|---|---|---|",
    ]
    d, pa, t, cl = r.get("decide"), r.get("parse"), r.get("transport"), r.get("clients")
    if d:
        lines.append(
            f"| `decide` ≥ 9× faster than urllib3 `Retry` | {d['urllib3']:.2f} µs / "
            f"{d['backoff']:.2f} µs = {d['ratio']:.1f}× | {_bar(d['ratio'] >= 9)} |"
        )
        for ours, theirs, what in (
            ("backoff", "urllib3", "backoff"),
            ("headers_retry_after", "urllib3_retry_after", "`Retry-After`"),
            ("headers_epoch_date", "urllib3_epoch_date", "epoch reset + `Date`"),
        ):
            key = "ratio" if ours == "backoff" else f"ratio_{ours}"
            if key in d and theirs in d:
                lines.append(
                    f"| `decide` ({what}) ≥ 5× faster than urllib3 `Retry` on the same "
                    f"response | {d[theirs]:.2f} µs / {d[ours]:.2f} µs = {d[key]:.1f}× | "
                    f"{_bar(d[key] >= 5)} |"
                )
    if pa:
        lines += [
            f"| parse of the example ≤ 150 µs | {pa['parse']:.0f} µs (3 rules: "
            f"{pa['parse_3rules']:.0f} µs) | {_bar(max(pa['parse'], pa['parse_3rules']) <= 150)} |",
            f"| repeated string ≤ 2 µs | {pa['parse_cached']:.2f} µs | "
            f"{_bar(pa['parse_cached'] <= 2)} |",
            f"| cold `policy check '<example>'` ≤ 150 ms | {pa['check_ms']:.0f} ms "
            f"(bare `python -c pass`: {pa['python_ms']:.0f} ms) | {_bar(pa['check_ms'] <= 150)} |",
            f"| cold `policy check '<example>'` ≤ 5× a bare `python -c pass` | "
            f"{pa.get('check_script_ms', pa['check_ms']):.0f} ms / {pa['python_ms']:.0f} ms = "
            f"{pa['check_ratio']:.1f}× (`python -c 'import attrs'` alone: "
            f"{pa['attrs_ratio']:.1f}×; `import policy` alone: {pa['import_ratio']:.1f}×) | "
            f"{_bar(pa['check_ratio'] <= 5)} |",
        ]
    if t:
        rp = t["RetryingPool"]
        for other, bar in (
            ("urllib3 Retry (pool.urlopen)", 0.95),
            ("requests + HTTPAdapter(Retry)", 1.2),
            ("httpx-retries", 1.2),
        ):
            if other in t:
                ratio = rp / t[other]
                lines.append(
                    f"| `RetryingPool` ≥ {bar}× {other} | {rp:.0f} / {t[other]:.0f} fetches/s"
                    f" = {ratio:.2f}× | {_bar(ratio >= bar)} |"
                )
            else:
                lines.append(f"| `RetryingPool` ≥ {bar}× {other} | not installed | — |")
        hand = t.get("hand-written urllib3 loop")
        if hand:
            lines.append(
                f"| `RetryingPool` ≥ 0.95× hand-written urllib3 loop | {rp:.0f} / {hand:.0f} "
                f"fetches/s = {rp / hand:.2f}× | {_bar(rp / hand >= 0.95)} |"
            )
    if cl:
        for ours, theirs, bar in (
            ("httpx RetryTransport", "httpx-retries (sync)", 1.2),
            ("httpx RetryTransport", "hand-written httpx loop", 0.95),
            ("httpx AsyncRetryTransport", "httpx-retries (async)", 1.2),
            ("httpx AsyncRetryTransport", "hand-written httpx async loop", 0.95),
            ("aiohttp_middleware", "hand-written aiohttp loop", 0.95),
        ):
            ratio = cl[ours] / cl[theirs]
            cpu = cl[f"{ours} / {theirs} (CPU)"]
            lines.append(
                f"| `{ours}` ≥ {bar}× {theirs} | {cl[ours]:.0f} / {cl[theirs]:.0f} fetches/s"
                f" = {ratio:.2f}× (client CPU: {cpu:.2f}×) | {_bar(ratio >= bar)} |"
            )
        ratio = cl["retrying / tenacity"]
        lines.append(
            f"| `retrying` ≤ ⅕ of tenacity per attempt | {cl['retrying µs/attempt']:.2f} µs / "
            f"{cl['tenacity µs/attempt']:.2f} µs = {ratio:.2f} | {_bar(ratio <= 0.2)} |"
        )
    lines += ["", "### Decision cost (µs per decision or attempt, median)", ""]
    lines += ["| case | µs | × the floor |", "|---|---|---|"]
    rows: dict[str, float] = {}
    if d:
        rows.update({k: v for k, v in d.items() if "ratio" not in k})
    rows.update(r.get("peers") or {})
    floor = rows.get("floor")
    for name, us in rows.items():
        rel = f"{us / floor:.1f}×" if floor else "—"
        lines.append(f"| {name} | {us:.3f} | {rel} |")
    if pa:
        lines += ["", "### Parse", "", "| case | time |", "|---|---|"]
        for name, v in pa.items():
            unit = "ms" if name.endswith("_ms") else "×" if name.endswith("_ratio") else "µs"
            lines.append(f"| {name} | {v:.1f} {unit} |")
    if t:
        lines += ["", "### Transport (503, 503, 200 on loopback; fetches/s, median)", ""]
        lines += ["| client | fetches/s | × urllib3 Retry |", "|---|---|---|"]
        base = t.get("urllib3 Retry (pool.urlopen)") or 1.0
        for name, v in t.items():
            lines.append(f"| {name} | {v:.0f} | {v / base:.2f}× |")
    m = r.get("memory")
    if m:
        lines += [
            "",
            "### Memory",
            "",
            f"- growth over {m['decisions']:,.0f} decisions after warm-up: "
            f"{m['growth_bytes']:,.0f} bytes (peak {m['peak_bytes']:,.0f})",
            f"- a parsed 3-rule policy's items: {m['policy_bytes']:,.0f} bytes; "
            f"the compiled evaluator of the example: {m['compiled_bytes']:,.0f} bytes",
        ]
    missing = [k for k, v in r.items() if v is None]
    if missing:
        lines += ["", f"Skipped parts: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def write(section: str, doc: Path = DOC) -> None:
    """Replace the text between the markers in ``doc`` (append the markers if absent)."""
    text = doc.read_text("utf-8") if doc.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = text.rstrip("\n") + "\n\n", "\n"
    doc.write_text(f"{head}{BEGIN}\n{section}{END}{tail}", "utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args(argv)
    results = run_parts(1 if args.quick else 0)
    section = table(results, args.quick)
    print(section)
    if not args.no_write:
        write(section)
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
