"""``Redacted.env``: a secret named by an environment variable, read when the request is sent."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import transport

try:
    from tests.httpserver import LoopbackServer, Reply
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import LoopbackServer, Reply  # type: ignore[no-redef]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def test_the_value_is_read_from_the_environment_when_revealed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = transport.Redacted.env("Bearer {}", "RP_TEST_TOKEN")
    monkeypatch.setenv("RP_TEST_TOKEN", "first")
    assert token.reveal() == "Bearer first"
    monkeypatch.setenv("RP_TEST_TOKEN", "second")  # read each time, not cached
    assert token.reveal() == "Bearer second"
    assert str(token) == "Bearer ********"
    assert repr(token) == "Redacted.env('Bearer {}', 'RP_TEST_TOKEN')"
    assert f"{token}" == "Bearer ********"


def test_a_missing_variable_is_named_without_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RP_TEST_ABSENT", raising=False)
    with pytest.raises(LookupError, match="RP_TEST_ABSENT not set"):
        transport.Redacted.env("Bearer {}", "RP_TEST_ABSENT").reveal()
    with pytest.raises(ValueError, match="names of the environment variables"):
        transport.Redacted.env("Bearer {}")
    with pytest.raises(ValueError, match="placeholders for 2 environment variable names but 1"):
        transport.Redacted.env("{} {}", "ONLY_ONE")  # template and names disagree


def test_it_pickles_without_the_secret_and_compares_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RP_TEST_TOKEN", "s3cr3t-pickle")
    token = transport.Redacted.env("Key {}", "RP_TEST_TOKEN")
    data = pickle.dumps(token)
    assert b"s3cr3t-pickle" not in data
    assert pickle.loads(data) == token
    assert hash(pickle.loads(data)) == hash(token)
    assert token != transport.Redacted.env("Key {}", "OTHER")
    assert token != transport.Redacted("Key {}", "s3cr3t-pickle")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(transport.Redacted("Key {}", "s3cr3t-pickle"))


def test_sent_in_full_and_stripped_on_a_cross_host_redirect(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RP_TEST_TOKEN", "s3cr3t-wire")
    with LoopbackServer() as other:
        other.route("/there", Reply(200, body=b"ok"))
        server.route("/here", Reply(302, headers={"Location": other.url("/there")}))
        token = transport.Redacted.env("Bearer {}", "RP_TEST_TOKEN")
        with transport.RetryingPool(transport.compose_policy()[0]) as pool:
            r = pool.request("GET", server.url("/here"), headers={"X-Key": token})
        assert r.status == 200
        assert server.requests_to("/here")[0].headers["x-key"] == "Bearer s3cr3t-wire"
        assert "x-key" not in other.requests_to("/there")[0].headers


_names = st.from_regex(r"RP_PROP_[A-Z]{1,8}", fullmatch=True)


@given(
    prefix=st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=10),
    secret=st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s),
    name=_names,
)
def test_no_shown_form_depends_on_the_secret(prefix: str, secret: str, name: str) -> None:
    """str, repr, format and pickle of an env value are the same whatever the variable holds."""
    import os

    def shown() -> tuple[object, ...]:
        token = transport.Redacted.env(prefix + "{}", name)
        return str(token), repr(token), f"{token:>40}", pickle.dumps(token)

    try:
        os.environ[name] = secret
        with_secret = shown()
        assert transport.Redacted.env(prefix + "{}", name).reveal() == prefix + secret
        os.environ[name] = "another value"
        assert shown() == with_secret
    finally:
        os.environ.pop(name, None)
