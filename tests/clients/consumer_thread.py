"""A confluent-kafka group member consuming on its own thread, shared by the KIP-848 tests
(test_consumer_groups.py, test_group_migration.py): each test's member says what one round of
consuming does (`step`); this runs the rounds, reports exceptions and failed commits in
`errors`, and stops and closes the consumer. Every record it got is a tuple in `got` whose
last element is the record's value."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaException


class ConsumerThread:
    def __init__(self, name: str):
        self.name = name
        self.got: list[tuple] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.c = None
        self.t: threading.Thread | None = None

    def start(self) -> None:
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def step(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def commit(self, **kwargs) -> None:
        """A synchronous commit (of `offsets=` if given); a failure goes to `errors`."""
        try:
            self.c.commit(asynchronous=False, **kwargs)
        except KafkaException as e:
            self.errors.append(f"commit: {e}")

    def stop(self) -> None:
        self._stop.set()
        if self.t is not None:
            self.t.join(timeout=20)
        self.c.close()


def wait_consumed(members: list[ConsumerThread], expected: set[str], what: str,
                  timeout_s: float = 60.0) -> None:
    """Until the members together got every value in `expected` (bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if expected <= {g[-1] for m in members for g in m.got}:
            return
        time.sleep(0.1)
    seen = {g[-1] for m in members for g in m.got}
    missing = sorted(expected - seen)
    raise AssertionError(f"{what}: {len(missing)} never consumed, e.g. {missing[:5]}")
