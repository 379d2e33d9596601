"""Test certificates, made with the `openssl` command into a test's directory.

A CA, a broker certificate for 127.0.0.1/localhost signed by it, and client certificates with a
chosen subject. Every command is bounded; nothing is reused between tests.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL_TIMEOUT_S = 30


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_S
    )


@dataclass
class Pair:
    cert: Path
    key: Path


@dataclass
class Pki:
    dir: Path
    ca: Pair
    broker: Pair

    def client(self, name: str, subject: str) -> Pair:
        """A client certificate for `subject` (openssl's "/C=../O=../CN=.." form) signed by the CA."""
        return _signed(self.dir, self.ca, name, subject, ext="extendedKeyUsage=clientAuth")

    def broker_cert(self, name: str, subject: str = "/CN=localhost", serial: int | None = None) -> Pair:
        """Another broker certificate (e.g. to reload), for 127.0.0.1 and localhost."""
        return _signed(self.dir, self.ca, name, subject, ext="subjectAltName=IP:127.0.0.1,DNS:localhost", serial=serial)


def _signed(d: Path, ca: Pair, name: str, subject: str, ext: str | None, serial: int | None = None) -> Pair:
    key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", subject, cwd=d)
    args = ["x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-days", "2", "-out", str(cert)]
    args += ["-set_serial", str(serial)] if serial is not None else ["-CAcreateserial"]
    if ext is not None:
        extfile = d / f"{name}.ext"
        extfile.write_text(ext + "\n")
        args += ["-extfile", str(extfile)]
    _openssl(*args, cwd=d)
    return Pair(cert, key)


def make_pki(d: Path) -> Pki:
    d.mkdir(parents=True, exist_ok=True)
    ca = Pair(d / "ca.pem", d / "ca.key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(ca.key), "-out", str(ca.cert), "-days", "2", "-subj", "/CN=Sluice Test CA",
             cwd=d)
    pki = Pki(d, ca, Pair(d / "none", d / "none"))
    pki.broker = pki.broker_cert("broker", serial=1001)
    return pki
