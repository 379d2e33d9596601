"""Harness for the real-client tests: runs the real `sluice serve` binary.

Each test gets its own data directory and OS-picked ports. Readiness is the ports file the
broker writes once every listener is up (never a sleep). stderr goes to a file; a "panicked"
in it fails the test. On teardown the broker gets SIGTERM, then SIGKILL after a timeout. The data
directory of a failed test is kept and its path printed.

Environment:
  SLUICE_BIN          path of the binary (default: <repo>/target/release/sluice)
  SLUICE_TEST_TMPDIR  where per-test directories go (default: <repo>/target/test-data); must not
                      be tmpfs, which the broker refuses for durability
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Bounds on every wait the harness does, so a broken broker fails a test instead of hanging it.
PORTS_FILE_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
KILL_TIMEOUT_S = 5.0


class HarnessError(Exception):
    """The harness could not start or talk to the broker (not an assertion about Kafka)."""


def sluice_bin() -> Path:
    env = os.environ.get("SLUICE_BIN")
    return Path(env) if env else REPO / "target" / "release" / "sluice"


def tmp_root() -> Path:
    root = Path(os.environ.get("SLUICE_TEST_TMPDIR", REPO / "target" / "test-data"))
    root.mkdir(parents=True, exist_ok=True)
    return root


class Broker:
    """One `sluice serve` process (and its restarts) over one data directory."""

    def __init__(self, workdir: Path, extra_args: list[str] | None = None, binary: Path | None = None):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.ports_file = workdir / "ports.json"
        self.binary = binary or sluice_bin()
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen | None = None
        self.ports: dict | None = None
        self.starts = 0
        self.stderr_paths: list[Path] = []
        self.sigterm_timed_out = False

    # --- lifecycle ------------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            str(self.binary), "serve",
            "--data-dir", str(self.data_dir),
            "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0",
            "--ports-file", str(self.ports_file),
            *self.extra_args,
        ]

    def start(self, timeout_s: float = PORTS_FILE_TIMEOUT_S) -> "Broker":
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("broker already running")
        if not self.binary.is_file():
            raise HarnessError(
                f"sluice binary not found at {self.binary}: build it with "
                "`cargo build --release` or point SLUICE_BIN at it"
            )
        if not os.access(self.binary, os.X_OK):
            raise HarnessError(f"sluice binary at {self.binary} is not executable")
        # A stale ports file from the previous run would make us talk to a dead process.
        self.ports_file.unlink(missing_ok=True)
        self.ports = None
        self.starts += 1
        stderr_path = self.workdir / f"stderr.{self.starts}.log"
        self.stderr_paths.append(stderr_path)
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.workdir
            )
        self._wait_for_ports(timeout_s)
        return self

    def _wait_for_ports(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error = "ports file not written"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise HarnessError(
                    f"sluice exited with code {code} before writing {self.ports_file}; "
                    f"stderr:\n{self.stderr_tail()}"
                )
            try:
                ports = json.loads(self.ports_file.read_text())
                self._check_ports(ports)
                self.ports = ports
                return
            except FileNotFoundError:
                pass
            except (ValueError, KeyError, TypeError) as e:
                # Possibly caught mid-write: retry until the deadline, then report it.
                last_error = f"unreadable ports file: {e!r}"
            time.sleep(0.02)
        self.kill9()
        raise HarnessError(
            f"sluice did not write {self.ports_file} within {timeout_s}s ({last_error}); "
            f"stderr:\n{self.stderr_tail()}"
        )

    @staticmethod
    def _check_ports(ports: dict) -> None:
        if not isinstance(ports["host"], str):
            raise TypeError("host is not a string")
        for key in ("bootstrap", "admin"):
            if not isinstance(ports[key], int) or not 0 < ports[key] < 65536:
                raise ValueError(f"{key} port {ports[key]!r}")
        shards = ports["shards"]
        if not isinstance(shards, list) or not shards:
            raise ValueError(f"shards {shards!r}")
        for p in shards:
            if not isinstance(p, int) or not 0 < p < 65536:
                raise ValueError(f"shard port {p!r}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait, SIGKILL after the timeout. Returns the exit code (None if not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=KILL_TIMEOUT_S)
                self.sigterm_timed_out = True
        return self.proc.returncode

    def kill9(self) -> None:
        """Crash the broker: SIGKILL, no chance to flush or close anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=KILL_TIMEOUT_S)

    def restart(self, extra_args: list[str] | None = None, kill: bool = False) -> "Broker":
        """Stop (or kill -9) and start again on the same data directory."""
        if kill:
            self.kill9()
        else:
            self.stop()
        if extra_args is not None:
            self.extra_args = list(extra_args)
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- addresses ------------------------------------------------------------------------------

    def _ports(self) -> dict:
        if self.ports is None:
            raise HarnessError("broker not started")
        return self.ports

    @property
    def bootstrap(self) -> str:
        """`127.0.0.1:P` of the bootstrap listener: what every client gets as bootstrap.servers."""
        return f"{self._ports()['host']}:{self._ports()['bootstrap']}"

    @property
    def bootstrap_port(self) -> int:
        return self._ports()["bootstrap"]

    @property
    def shard_ports(self) -> list[int]:
        return list(self._ports()["shards"])

    def listener(self, name: str) -> dict:
        """The ports-file entry of listener `name`: host, bootstrap, shards, protocol."""
        for entry in self._ports().get("listeners", []):
            if entry["name"] == name:
                return entry
        raise HarnessError(f"no listener {name} in {self._ports()}")

    def listener_bootstrap(self, name: str) -> str:
        """`host:P` of listener `name`'s bootstrap port."""
        entry = self.listener(name)
        return f"{entry['host']}:{entry['bootstrap']}"

    @property
    def admin_url(self) -> str:
        return f"http://{self._ports()['host']}:{self._ports()['admin']}"

    # --- observation ----------------------------------------------------------------------------

    def stderr_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.stderr_paths if p.exists())

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def panics(self) -> list[str]:
        return [line for line in self.stderr_text().splitlines() if "panicked" in line]

    def metrics_text(self, timeout_s: float = 5.0) -> str:
        with urllib.request.urlopen(self.admin_url + "/metrics", timeout=timeout_s) as resp:
            if resp.status != 200:
                raise HarnessError(f"/metrics answered {resp.status}")
            return resp.read().decode()

    def metrics(self) -> dict[tuple[str, frozenset], float]:
        return parse_prometheus(self.metrics_text())


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text format → {(name, frozenset of (label, value))): value}."""
    out: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise HarnessError(f"unparseable metrics line: {line!r}")
        name, labels, value = m.groups()
        pairs = frozenset(_LABEL.findall(labels or ""))
        out[(name, pairs)] = float(value)
    return out


def metric_sum(metrics: dict, name: str, **labels: str) -> float:
    """Sum of every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))
