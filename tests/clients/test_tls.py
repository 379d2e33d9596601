"""TLS listeners (issue 14): real clients over SSL, mutual TLS and its principal, refusals,
certificate reload. Certificates are made by each test with `openssl` (tls_certs.py).

The broker serves a PLAINTEXT and an SSL listener; clients bootstrap from the SSL listener's
port and learn its per-shard ports from Metadata.
"""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from harness import metric_sum, REPO
from kafka_util import consume, produce
from tls_certs import make_pki

OP_TIMEOUT_S = 30
SOCKET_TIMEOUT_S = 20
# Bounded polls for a reload to show (the broker looks at the files every second).
RELOAD_POLLS = 100
RELOAD_POLL_S = 0.1

ALICE = "/C=GB/O=Acme/OU=eng/CN=alice"
# As Java's X500Principal.getName() prints it: the RDNs last-encoded first, RFC 2253.
ALICE_PRINCIPAL = "User:CN=alice,OU=eng,O=Acme,C=GB"


def ssl_listener(broker) -> dict:
    for l in broker.ports["listeners"]:
        if l["protocol"] == "SSL":
            return l
    raise AssertionError(f"no SSL listener in {broker.ports}")


def ssl_bootstrap(broker) -> str:
    l = ssl_listener(broker)
    return f"{l['host']}:{l['bootstrap']}"


def has_listeners() -> bool:
    """Whether this build has Kafka's listener model (else TLS flags make every listener SSL)."""
    from harness import sluice_bin
    out = subprocess.run([str(sluice_bin()), "serve", "--help"], capture_output=True, timeout=30)
    return b"--listeners" in out.stdout


def start_tls_broker(sluice, pki, *extra: str, client_auth: str = "none"):
    listeners = ["--listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"] if has_listeners() else []
    args = [
        *listeners,
        "--ssl-certificate", str(pki.broker.cert),
        "--ssl-key", str(pki.broker.key),
        "--ssl-client-auth", client_auth,
        "--log-level", "info,sluice::net=debug",
        *extra,
    ]
    if client_auth != "none":
        args += ["--ssl-client-ca", str(pki.ca.cert)]
    return sluice(*args)


def ssl_conf(pki, client=None) -> dict:
    conf = {"security_protocol": "SSL", "ssl_ca_location": str(pki.ca.cert)}
    if client is not None:
        conf["ssl_certificate_location"] = str(client.cert)
        conf["ssl_key_location"] = str(client.key)
    return conf


def dotted(conf: dict) -> dict:
    return {k.replace("_", "."): v for k, v in conf.items()}


def create_topic_ssl(bootstrap: str, conf: dict, name: str, partitions: int) -> None:
    a = AdminClient({"bootstrap.servers": bootstrap, **dotted(conf)})
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                         operation_timeout=OP_TIMEOUT_S, request_timeout=OP_TIMEOUT_S)
    fs[name].result(timeout=OP_TIMEOUT_S)
    deadline = time.monotonic() + OP_TIMEOUT_S
    while time.monotonic() < deadline:
        t = a.list_topics(topic=name, timeout=10).topics.get(name)
        if t and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} has no leaders")


def peer_cert_serial(port: int, pki) -> int:
    """The serial of the certificate the broker presents to a new connection."""
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return int(s.getpeercert()["serialNumber"], 16)


@pytest.fixture
def pki(workdir):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    return make_pki(workdir / "pki")


def test_confluent_kafka_mutual_tls_produce_consume_and_principal(sluice, pki, topic_name):
    alice = pki.client("alice", ALICE)
    broker = start_tls_broker(sluice, pki, client_auth="required")
    conf = ssl_conf(pki, alice)
    bootstrap = ssl_bootstrap(broker)
    create_topic_ssl(bootstrap, conf, topic_name, partitions=4)
    msgs = [(f"k{i}".encode(), f"v{i}".encode() * (i % 50 + 1)) for i in range(400)]
    reports = produce(bootstrap, topic_name, msgs, **conf)
    assert len(reports) == 400
    got = consume(bootstrap, topic_name, [0, 1, 2, 3], expected=400, **conf)
    assert sorted((r.key, r.value) for r in got) == sorted(msgs)
    # Every connection of this client was on the SSL listener and authenticated as alice.
    log = broker.stderr_text()
    assert f"principal={ALICE_PRINCIPAL}" in log, log[-3000:]
    assert "principal=User:ANONYMOUS" not in log
    assert metric_sum(broker.metrics(), "sluice_tls_handshake_failures_total") == 0


def test_a_client_without_a_certificate_is_refused_when_required(sluice, pki):
    broker = start_tls_broker(sluice, pki, client_auth="required")
    port = ssl_listener(broker)["bootstrap"]
    # Python's ssl: no client certificate, so the broker fails the handshake.
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                # TLS 1.3: the refusal arrives with the first read after the handshake.
                s.sendall(api_versions_request())
                data = s.recv(4)
                assert data, "closed"
                raise AssertionError(f"answered without a client certificate: {data!r}")
    # librdkafka without a certificate gets no metadata either.
    a = AdminClient({"bootstrap.servers": ssl_bootstrap(broker), **dotted(ssl_conf(pki))})
    with pytest.raises(KafkaException):
        a.list_topics(timeout=5)
    assert metric_sum(broker.metrics(), "sluice_tls_handshake_failures_total") >= 1
    # And a client with one is served.
    alice = pki.client("alice", ALICE)
    a = AdminClient({"bootstrap.servers": ssl_bootstrap(broker), **dotted(ssl_conf(pki, alice))})
    assert a.list_topics(timeout=OP_TIMEOUT_S).brokers


def test_requested_client_auth_is_anonymous_without_a_certificate(sluice, pki, topic_name):
    broker = start_tls_broker(sluice, pki, client_auth="requested")
    bootstrap = ssl_bootstrap(broker)
    produce(bootstrap, topic_name, [(b"k", b"v")], **ssl_conf(pki))
    assert "principal=User:ANONYMOUS" in broker.stderr_text()


def api_versions_request() -> bytes:
    body = struct.pack(">hhi", 18, 0, 1) + struct.pack(">h", 4) + b"test"
    return struct.pack(">i", len(body)) + body


def test_a_plaintext_client_on_the_tls_port_is_closed_and_the_shard_keeps_serving(sluice, pki):
    broker = start_tls_broker(sluice, pki)
    listener = ssl_listener(broker)
    for port in [listener["bootstrap"], *listener["shards"]]:
        with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as s:
            s.sendall(api_versions_request())
            got = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
            # At most a TLS alert record (content type 21), never a Kafka response.
            assert got == b"" or got[0] == 21, got[:32]
    assert metric_sum(broker.metrics(), "sluice_tls_handshake_failures_total") >= 1 + len(listener["shards"])
    # Each shard still serves TLS clients.
    for port in listener["shards"]:
        assert peer_cert_serial(port, pki) == 1001
    assert not broker.panics()


def test_a_handshake_never_finished_is_closed_at_the_frame_time(sluice, pki):
    broker = start_tls_broker(sluice, pki, "--connections-max-idle-ms", "1000")
    port = ssl_listener(broker)["bootstrap"]
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as s:
        # Half a ClientHello record header, then nothing.
        s.sendall(b"\x16\x03\x01")
        try:
            assert s.recv(4096) == b""
        except ConnectionResetError:
            pass
    deadline = time.monotonic() + OP_TIMEOUT_S
    while metric_sum(broker.metrics(), "sluice_tls_handshake_failures_total") < 1:
        assert time.monotonic() < deadline, "not counted"
        time.sleep(0.1)


def test_certificate_reload_on_sighup_and_a_bad_file_keeps_the_old_one(sluice, pki):
    broker = start_tls_broker(sluice, pki)
    port = ssl_listener(broker)["bootstrap"]
    assert peer_cert_serial(port, pki) == 1001
    # Keep one connection from before the reload open: it keeps its certificate.
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S),
                          server_hostname="127.0.0.1")
    new = pki.broker_cert("broker2", subject="/CN=localhost/O=Reloaded", serial=2002)
    # Replace the files in place (as an operator's renewal would), then SIGHUP.
    shutil.copy(new.key, pki.broker.key)
    shutil.copy(new.cert, pki.broker.cert)
    broker.proc.send_signal(signal.SIGHUP)
    for _ in range(RELOAD_POLLS):
        if peer_cert_serial(port, pki) == 2002:
            break
        time.sleep(RELOAD_POLL_S)
    else:
        raise AssertionError("new connections never got the reloaded certificate")
    assert int(old.getpeercert()["serialNumber"], 16) == 1001
    old.sendall(api_versions_request())
    (length,) = struct.unpack(">i", recv_exactly(old, 4))
    assert length > 0
    old.close()
    # A broken file: the reloaded certificate stays, and the error is logged.
    pki.broker.cert.write_text("not a certificate\n")
    broker.proc.send_signal(signal.SIGHUP)
    for _ in range(RELOAD_POLLS):
        if "TLS certificate not reloaded" in broker.stderr_text():
            break
        time.sleep(RELOAD_POLL_S)
    else:
        raise AssertionError("the bad file was not reported")
    assert peer_cert_serial(port, pki) == 2002


def recv_exactly(s, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "closed"
        out += chunk
    return out


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
def test_kcat_over_ssl(sluice, pki, topic_name):
    broker = start_tls_broker(sluice, pki)
    bootstrap = ssl_bootstrap(broker)
    tls = ["-X", "security.protocol=ssl", "-X", f"ssl.ca.location={pki.ca.cert}"]
    lines = "".join(f"k{i}:value {i}\n" for i in range(50)).encode()
    run = lambda *a, stdin=None: subprocess.run(["kcat", *a], input=stdin, capture_output=True,
                                                timeout=60)
    p = run("-P", "-b", bootstrap, "-t", topic_name, "-K", ":", *tls, stdin=lines)
    assert p.returncode == 0, p.stderr.decode()
    p = run("-C", "-b", bootstrap, "-t", topic_name, "-e", "-o", "beginning", "-q",
            "-f", "%k=%s\n", *tls)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().splitlines() == [f"k{i}=value {i}" for i in range(50)]


def test_sluice_cli_over_mutual_tls(sluice, pki, topic_name):
    alice = pki.client("alice", ALICE)
    broker = start_tls_broker(sluice, pki, client_auth="required")
    binary = str(broker.binary)
    tls = ["--brokers", ssl_bootstrap(broker), "--ssl-ca", str(pki.ca.cert),
           "--ssl-certificate", str(alice.cert), "--ssl-key", str(alice.key)]
    run = lambda *a, stdin=None: subprocess.run([binary, *a, *tls], input=stdin,
                                                capture_output=True, timeout=60)
    p = run("topic", "create", topic_name, "--partitions", "2")
    assert p.returncode == 0, p.stderr.decode()
    p = run("produce", topic_name, stdin=b"one\ntwo\nthree\n")
    assert p.returncode == 0, p.stderr.decode()
    p = run("consume", topic_name, "--from-beginning", "--count", "3")
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(p.stdout.decode().split()) == ["one", "three", "two"]
    # Without --ssl-ca the CLI speaks plaintext to the TLS port and fails cleanly.
    p = subprocess.run([binary, "topic", "list", "--brokers", ssl_bootstrap(broker),
                        "--request-timeout-ms", "3000"], capture_output=True, timeout=60)
    assert p.returncode != 0
    assert not broker.panics()


def test_confluent_kafka_sasl_ssl_scram_sha_512(sluice, pki, topic_name):
    """SASL over TLS: SCRAM-SHA-512 on a SASL_SSL listener; the principal is the SASL user,
    and a wrong password fails the same way over TLS."""
    from confluent_kafka import Consumer, Producer

    b = sluice(
        "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "--ssl-certificate", str(pki.broker.cert),
        "--ssl-key", str(pki.broker.key),
        "--log-level", "info,sluice::net=debug,sluice::handlers=debug",
    )
    b.stop()
    subprocess.run(
        [str(b.binary), "user", "--data-dir", str(b.data_dir), "create", "alice"],
        input=b"alice-secret\n", check=True, capture_output=True, timeout=OP_TIMEOUT_S,
    )
    b.start()
    conf = {
        "bootstrap.servers": b.listener_bootstrap("SASL_SSL"),
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(pki.ca.cert),
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "alice-secret",
    }
    create_topic_ssl(conf["bootstrap.servers"], {k.replace(".", "_"): v for k, v in conf.items()
                                                 if k != "bootstrap.servers"}, topic_name, 4)
    p = Producer(conf)
    for i in range(200):
        p.produce(topic_name, value=f"v{i}".encode(), partition=i % 4)
    assert p.flush(OP_TIMEOUT_S) == 0
    c = Consumer({**conf, "group.id": "g-" + topic_name, "auto.offset.reset": "earliest"})
    c.subscribe([topic_name])
    seen = []
    deadline = time.monotonic() + OP_TIMEOUT_S
    while len(seen) < 200 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.append(m.value().decode())
    c.close()
    assert sorted(seen) == sorted(f"v{i}" for i in range(200))
    assert "principal=User:alice" in b.stderr_text(), b.stderr_text()[-3000:]

    # A wrong password over TLS: the client gets the authentication error, nothing is written.
    errors = []
    bad = Producer({**conf, "sasl.password": "wrong",
                    "error_cb": lambda e: errors.append(e)})
    bad.produce(topic_name, value=b"never", partition=0)
    deadline = time.monotonic() + OP_TIMEOUT_S
    while not errors and time.monotonic() < deadline:
        bad.poll(0.2)
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION, errors
    assert metric_sum(b.metrics(), "sluice_tls_handshake_failures_total") == 0
