"""What users write type-checks: small user snippets run through ``mypy --strict``.

mypy runs in a subprocess on a temporary file, against the installed packages (their
``py.typed`` markers), with a fresh cache so an earlier run cannot hide an error.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_USES_ATTEMPTS_OF = """
    import policy
    import transport

    def labels(url: str) -> list[str]:
        with transport.RetryingPool("5xx:backoff(2,1s)") as pool:
            r = pool.request("GET", url)
        history: tuple[transport.Attempt, ...] = transport.attempts_of(r)
        waits: list[float | None] = [a.delay for a in history]
        assert len(waits) == len(history)
        return [a.label for a in history]

    def same(p: policy.Policy) -> transport.PolicyRetry:
        return transport.PolicyRetry(p)

    retry = transport.PolicyRetry("429:headers() 5xx:backoff(3)")
"""

_USES_THE_ATTRIBUTE = """
    import transport

    def labels(url: str) -> list[str]:
        with transport.RetryingPool("5xx:backoff(2,1s)") as pool:
            r = pool.request("GET", url)
        return [a.label for a in r.attempts]
"""


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(textwrap.dedent(code), "utf-8")
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir",
        str(tmp_path / ".mypy_cache"),
        "--config-file",
        str(tmp_path / "none.ini"),
        str(snippet),
    ]
    (tmp_path / "none.ini").write_text("[mypy]\n", "utf-8")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_attempts_of_and_policy_strings_pass_mypy_strict(tmp_path: Path) -> None:
    """transport.attempts_of(r) is typed; RetryingPool/PolicyRetry take a string or Policy."""
    proc = _mypy(tmp_path, _USES_ATTEMPTS_OF)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_the_untyped_attribute_is_what_mypy_rejects(tmp_path: Path) -> None:
    """The check is real: the same snippet reading ``r.attempts`` fails under --strict."""
    proc = _mypy(tmp_path, _USES_THE_ATTRIBUTE)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'has no attribute "attempts"' in proc.stdout


_ONE_LINERS = """
    import aiohttp
    import httpx
    import httpx2
    import requests
    from requests.adapters import HTTPAdapter

    import policy
    import transport
    import transport.httpx
    import transport.httpx2

    p = policy.parse("429:headers() 5xx:backoff(3)")
    a = httpx.Client(transport=transport.RetryTransport(p))
    b = httpx.AsyncClient(transport=transport.AsyncRetryTransport("5xx:backoff(3)"))
    c = httpx.Client(transport=transport.httpx.RetryTransport(p))
    d = httpx2.Client(transport=transport.httpx2.RetryTransport(p))
    e = httpx2.AsyncClient(transport=transport.httpx2.AsyncRetryTransport("@openai pace=on"))
    f = httpx2.Client(
        transport=transport.httpx2.RetryTransport(p, transport=httpx2.HTTPTransport(retries=0))
    )

    async def session() -> None:
        async with aiohttp.ClientSession(middlewares=[transport.aiohttp_middleware(p)]) as s:
            async with s.get("http://127.0.0.1:9/") as r:
                assert r.status

    s = requests.Session()
    s.mount("https://", HTTPAdapter(max_retries=transport.PolicyRetry(p)))
"""

_WRONG_LIBRARY = """
    import httpx2

    import transport

    client = httpx2.Client(transport=transport.RetryTransport("5xx:backoff(3)"))
"""


def test_the_documented_one_liners_pass_mypy_strict(tmp_path: Path) -> None:
    """httpx, httpx2 (sync and async), aiohttp and requests: the lines the docs show."""
    proc = _mypy(tmp_path, _ONE_LINERS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_httpx_transport_in_an_httpx2_client_is_a_type_error(tmp_path: Path) -> None:
    """The check is real: httpx's transport handed to httpx2 is what mypy rejects."""
    proc = _mypy(tmp_path, _WRONG_LIBRARY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'Argument "transport" to "Client"' in proc.stdout
