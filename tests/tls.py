"""Throwaway TLS for tests: a one-day CA and server certificate, and an HTTPS loopback server.

``make_certs(directory)`` runs the ``openssl`` command line to create a CA and a server
certificate it signs for ``127.0.0.1`` and ``localhost`` (an EC key each, valid one day);
``certs_or_skip(tmp_path_factory)`` (for a session fixture) makes them once and skips
the test, with the reason, when ``openssl`` is not installed.

``TLSLoopbackServer`` is ``LoopbackServer`` (scripted replies, request log) speaking
HTTPS: the listening socket is wrapped without the handshake, which each handler thread
performs, so a client that fails it (an untrusted certificate, plain HTTP) only ends
that connection.

A client trusts the server with ``urllib3.PoolManager(ca_certs=str(certs.ca))``.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from httpserver import LoopbackServer

__all__ = ["TLSCerts", "TLSLoopbackServer", "certs_or_skip", "make_certs"]


@dataclass(frozen=True)
class TLSCerts:
    """Paths of the throwaway CA certificate and the server's certificate and key (PEM)."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(directory: Path) -> TLSCerts:
    """Create a CA and a server certificate for 127.0.0.1 and localhost in ``directory``."""
    if shutil.which("openssl") is None:
        raise FileNotFoundError("the openssl command is not installed")
    d = directory
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-days", "1", "-subj", "/CN=retry-policy test CA",
        "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr",
        cwd=d,
    )  # fmt: skip
    (d / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "server.ext", "-out", "server.pem",
        cwd=d,
    )  # fmt: skip
    return TLSCerts(ca=d / "ca.pem", cert=d / "server.pem", key=d / "server.key")


def certs_or_skip(factory: pytest.TempPathFactory) -> TLSCerts:
    """Certificates in a fresh temporary directory; skips the test without ``openssl``.

    Meant for a session fixture: ``return certs_or_skip(tmp_path_factory)``.
    """
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is not installed: no certificate for HTTPS tests")
    return make_certs(factory.mktemp("tls"))


class TLSLoopbackServer(LoopbackServer):
    """``LoopbackServer`` over TLS; ``host`` is the name its URLs use (a loopback name)."""

    scheme = "https"

    def __init__(self, certs: TLSCerts, host: str = "127.0.0.1") -> None:
        super().__init__()
        self._server.socket = certs.server_context().wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.host = host
