"""pytest fixtures over harness.py: a broker per test, its data kept if the test failed."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from harness import Broker, tmp_root

# --- pytest wiring --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Record each phase's outcome on the item so fixtures can tell whether the test failed.
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


def _failed(request) -> bool:
    if getattr(request.node, "sluice_failed", False):
        return True
    return any(
        getattr(getattr(request.node, "rep_" + when, None), "failed", False)
        for when in ("setup", "call")
    )


@pytest.fixture
def workdir(request):
    """A per-test directory, kept (and printed) if the test failed."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:80]
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp_root()))
    yield path
    if _failed(request):
        print(f"\nkept data of failed test {request.node.nodeid}: {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sluice(request, workdir):
    """Factory: `sluice(*extra_flags)` starts a broker; all of them are stopped at teardown."""
    brokers: list[Broker] = []

    def start(*extra_args: str, binary: Path | None = None) -> Broker:
        sub = workdir / f"broker{len(brokers)}" if brokers else workdir
        sub.mkdir(exist_ok=True)
        b = Broker(sub, list(extra_args), binary=binary)
        brokers.append(b)
        return b.start()

    yield start
    problems = []
    for b in brokers:
        b.stop()
        if b.panics():
            problems.append(f"broker in {b.workdir} panicked:\n{b.stderr_tail()}")
    if problems:
        # Keep the directory: the workdir fixture's teardown runs after this one.
        request.node.sluice_failed = True
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def broker(sluice) -> Broker:
    """A broker with two shards (so routing between shards is exercised) and defaults otherwise."""
    return sluice("--cores", "2")



@pytest.fixture
def topic_name(request) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:100]
    return f"{base}-{time.monotonic_ns() % 10**9}"
