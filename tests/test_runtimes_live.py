"""Runtime outputs checked by the runtimes' own parts: a real grpcio channel honours the
gRPC service config; Istio and Gateway API outputs validate against the published CRD
schemas; Envoy's against its documented field table (all vendored in tests/data/runtimes)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy
from policy.runtimes import convert_to
from tests.test_runtimes import policies

DATA = Path(__file__).resolve().parent / "data" / "runtimes"


class _Flaky:
    """A generic gRPC handler that answers UNAVAILABLE ``fail`` times, then OK; counts calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fail = 0
        self.calls = 0

    def reset(self, fail: int) -> None:
        with self.lock:
            self.fail, self.calls = fail, 0

    def unary(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.fail
        if failing:
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return b"ok"


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, flaky: _Flaky) -> None:
        self.flaky = flaky

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return grpc.unary_unary_rpc_method_handler(self.flaky.unary)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, _Flaky]]:
    from concurrent import futures

    flaky = _Flaky()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[_Handler(flaky)])
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    try:
        yield f"127.0.0.1:{port}", flaky
    finally:
        srv.stop(grace=None)


def _call(address: str, config: dict[str, Any]) -> grpc.StatusCode:
    options = [("grpc.service_config", json.dumps(config)), ("grpc.enable_retries", 1)]
    with grpc.insecure_channel(address, options=options) as channel:
        method = channel.unary_unary("/test.Flaky/Call")
        try:
            method(b"x", timeout=10)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK


@settings(max_examples=12, deadline=None)
@given(limit=st.integers(1, 7), fail=st.integers(0, 6))
def test_grpc_channel_honours_the_retry_count(
    server: tuple[str, _Flaky], limit: int, fail: int
) -> None:
    """A channel configured with the converted service config retries UNAVAILABLE exactly
    as many times as the config says (the policy's retries, at most 4)."""
    address, flaky = server
    # delays from 50ms: grpcio (1.85) can stall a retry whose drawn delay is under a
    # millisecond or so, which random(0, b) with b = 1ms often is
    c = convert_to(f"503:backoff({limit},50ms..100ms,x2)", "grpc")
    attempts = c.output["methodConfig"][0]["retryPolicy"]["maxAttempts"]
    assert attempts == min(limit + 1, 5)
    flaky.reset(fail)
    code = _call(address, c.output)
    assert flaky.calls == min(fail + 1, attempts)
    assert (code is grpc.StatusCode.OK) == (fail < attempts)


@settings(max_examples=25, deadline=None)
@given(p=policies())
def test_grpc_channel_accepts_every_service_config(
    server: tuple[str, _Flaky], p: policy.Policy
) -> None:
    """Every generated service config is accepted by grpcio: a call on the channel succeeds."""
    address, flaky = server
    flaky.reset(0)
    config = convert_to(p, "grpc").output
    assert _call(address, config) is grpc.StatusCode.OK


def _schema(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text("utf-8"))  # type: ignore[no-any-return]


@settings(max_examples=60, deadline=None)
@given(p=policies())
def test_istio_and_gateway_outputs_validate(p: policy.Policy) -> None:
    """Istio and Gateway API outputs validate against the vendored published CRD schemas."""
    jsonschema.validate(
        convert_to(p, "istio").output, _schema("istio-virtualservice-v1.schema.json")
    )
    jsonschema.validate(
        convert_to(p, "gateway").output, _schema("gateway-httproute-v1.schema.json")
    )


def test_schemas_reject_what_they_should() -> None:
    """The vendored schemas are real: a bad attempts or a fractional duration fails."""
    bad = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "spec": {"rules": [{"retry": {"attempts": 0, "backoff": "1.5s"}}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema("gateway-httproute-v1.schema.json"))
    bad_istio = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "spec": {"http": [{"retries": {"attempts": "3"}}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_istio, _schema("istio-virtualservice-v1.schema.json"))


def _check_envoy(value: Any, kind: str, table: dict[str, Any], where: str) -> None:
    if kind.startswith("list["):
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            _check_envoy(v, kind[5:-1], table, f"{where}[{i}]")
    elif kind == "duration":
        assert isinstance(value, str) and value.endswith("s"), where
        assert float(value[:-1]) > 0 or where.endswith("timeout"), where
    elif kind == "uint32":
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, where
    elif kind == "double":
        assert isinstance(value, float), where
    elif kind == "string":
        assert isinstance(value, str), where
    elif kind.startswith("enum:"):
        assert value in kind[5:].split(","), where
    else:
        assert isinstance(value, dict), where
        for k, v in value.items():
            assert k in table[kind], f"{where}.{k} is not a field of {kind}"
            _check_envoy(v, table[kind][k], table, f"{where}.{k}")


@settings(max_examples=60, deadline=None)
@given(p=policies())
def test_envoy_output_matches_the_documented_fields(p: policy.Policy) -> None:
    """Every field Envoy's output writes is a documented field of the right type, and each
    retry_on condition is one Envoy knows."""
    table = _schema("envoy-retry-fields.json")
    out = convert_to(p, "envoy").output
    _check_envoy(out["route"], "RouteAction", table, "route")
    if "cluster" in out:
        _check_envoy(out["cluster"], "Cluster", table, "cluster")
    words = out["route"]["retry_policy"].get("retry_on", "")
    assert set(filter(None, words.split(","))) <= set(table["retry_on_conditions"])
