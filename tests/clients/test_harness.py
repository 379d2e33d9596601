"""Tests of the harness itself, against fake_sluice.py (no Kafka): they run without the broker."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from harness import Broker, HarnessError, metric_sum, parse_prometheus

FAKE = Path(__file__).with_name("fake_sluice.py")


@pytest.fixture
def fake(workdir):
    made: list[Broker] = []

    def make(*args: str) -> Broker:
        b = Broker(workdir / f"b{len(made)}", list(args), binary=FAKE)
        b.workdir.mkdir()
        made.append(b)
        return b

    yield make
    for b in made:
        b.kill9()


def test_missing_binary_is_a_clear_error(workdir):
    b = Broker(workdir, binary=workdir / "no-such-sluice")
    with pytest.raises(HarnessError, match=r"sluice binary not found at .*no-such-sluice.*SLUICE_BIN"):
        b.start()


def test_ports_file_is_read_and_ports_listen(fake):
    b = fake().start()
    assert b.bootstrap == f"127.0.0.1:{b.bootstrap_port}"
    assert len(b.shard_ports) == 2
    for port in [b.bootstrap_port, *b.shard_ports]:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    m = b.metrics()
    assert metric_sum(m, "sluice_requests_total", api="Produce") == 3.0
    assert metric_sum(m, "sluice_requests_total", shard="1") == 2.0
    assert b.stop() == 0
    assert not b.running
    assert b.panics() == []


def test_restart_uses_same_data_dir_and_new_ports_file(fake):
    b = fake().start()
    first = b.ports
    assert b.restart() is b
    assert (b.data_dir / "starts").read_text() == "2"
    # The first start's metrics count 1 Produce on shard 0, the second 2: we read the new process.
    assert metric_sum(b.metrics(), "sluice_requests_total", shard="0") == 2.0
    assert b.ports is not None and b.ports is not first
    b.restart(kill=True)
    assert (b.data_dir / "starts").read_text() == "3"
    b.kill9()
    assert b.proc.returncode == -9


def test_early_exit_reports_code_and_stderr(fake):
    b = fake("--fake-mode", "exit")
    with pytest.raises(HarnessError, match=r"(?s)exited with code 3.*something is wrong"):
        b.start()


def test_ports_file_timeout(fake):
    b = fake("--fake-mode", "hang")
    with pytest.raises(HarnessError, match=r"did not write .*ports.json within 1"):
        b.start(timeout_s=1)
    assert not b.running, "a broker that timed out must be killed"


def test_panic_in_stderr_is_detected(fake):
    b = fake("--fake-mode", "panic").start()
    b.stop()
    assert len(b.panics()) == 1
    assert "boom" in b.stderr_text()


def test_sigterm_ignored_falls_back_to_sigkill(fake):
    b = fake("--fake-mode", "ignore-term").start()
    assert b.stop(timeout_s=0.5) == -9
    assert b.sigterm_timed_out


def test_sluice_bin_env_overrides(monkeypatch, workdir):
    monkeypatch.setenv("SLUICE_BIN", str(FAKE))
    b = Broker(workdir)
    assert b.binary == FAKE
    b.start()
    try:
        assert b.running
    finally:
        b.stop()


def test_parse_prometheus():
    text = (
        "# HELP x y\n# TYPE sluice_forwarded_requests_total counter\n"
        'sluice_forwarded_requests_total{shard="0"} 5\n'
        'sluice_forwarded_requests_total{shard="1"} 7 1700000000\n'
        'sluice_requests_total{shard="1",api="Fetch"} 1e3\n'
        "sluice_up 1\n"
    )
    m = parse_prometheus(text)
    assert metric_sum(m, "sluice_forwarded_requests_total") == 12
    assert metric_sum(m, "sluice_forwarded_requests_total", shard="1") == 7
    assert metric_sum(m, "sluice_requests_total", api="Fetch") == 1000
    assert metric_sum(m, "sluice_up") == 1
    with pytest.raises(HarnessError):
        parse_prometheus("not a metric line at all {")


def test_fake_is_executable():
    assert os.access(FAKE, os.X_OK), "fake_sluice.py must be executable (git keeps the mode)"
