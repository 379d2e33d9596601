#!/usr/bin/env python3
"""Rebalance pause of a busy consumer group when a fourth member joins: the classic protocol
(eager `range` and incremental `cooperative-sticky` assignors) against KIP-848's consumer
protocol (`group.protocol=consumer`, the broker's default assignor), with confluent-kafka.

Per round and mode: a 12-partition topic, a producer at a fixed rate (--rate msg/s of
--size bytes, round-robin over the partitions), three members (one process each) consuming
until every one holds partitions and has records, --warmup seconds of steady consumption,
then a fourth member subscribes. Each member records when each `consume()` returned records.
Reported per member:
  gap before  the longest time with no record delivered in the --warmup seconds before the join
              (what the member sees without a rebalance)
  gap after   the longest time with no record delivered from the join to --measure seconds
              after it (a pause still running at the end counts up to the end)
  first       the fourth member only: from its subscribe() to its first record
  records     records the member got in the measured window
  partitions  partitions held before the join -> at the end; emptied: it held none at some
              point after the join (an eager revocation); last change: its last assignment
              change after the join
Modes run alternately, --rounds times. The broker is Sluice's release build started on
OS-picked ports (tests/clients/harness.py), stopped (SIGTERM, then SIGKILL) by its PID at the
end. Every wait has a deadline; members exit by themselves after MEMBER_LIFETIME_S.

Usage: tests/clients/.venv/bin/python scripts/rebalance-pause-bench.py [--rounds N]
         [--modes classic-range,classic-cooperative,consumer] [--rate MSG_S] [--size BYTES]
         [--warmup S] [--measure S] [--heartbeat-ms MS] [--cores N] [--json PATH]
--heartbeat-ms sets the classic members' heartbeat.interval.ms and the broker's
--group-consumer-heartbeat-interval-ms alike (default: each protocol's own default, 3000 ms
for librdkafka's classic member, 5000 ms for Kafka's consumer groups).
Loopback only. Never part of CI: the timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 12
MEMBERS = 4
MODES = {
    "classic-range": {"group.protocol": "classic", "partition.assignment.strategy": "range"},
    "classic-cooperative": {
        "group.protocol": "classic",
        "partition.assignment.strategy": "cooperative-sticky",
    },
    "consumer": {"group.protocol": "consumer"},
}
# Bounds on every wait, so a broken broker or client ends the run instead of hanging it.
MEMBER_LIFETIME_S = 300.0
SETTLE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# One consume() call returns at most this many records and waits at most this long: the
# resolution of a member's delivery times.
CONSUME_BATCH = 100
CONSUME_TIMEOUT_S = 0.05
PRODUCE_TICK_S = 0.01


# --- a member: its own process ----------------------------------------------------------------


def member_main(bootstrap: str, topic: str, group: str, conf_json: str) -> int:
    """One consumer, run as `rebalance-pause-bench.py --member ...`. Prints JSON lines:
    {"subscribed": t}, {"assigned": n, "t": t} on each change, {"first": t} at its first
    record; on "stop" (stdin) or at MEMBER_LIFETIME_S, {"deliveries": [[t, n], ...]}.
    Times are time.monotonic() (CLOCK_MONOTONIC: one clock for every process here)."""
    from confluent_kafka import Consumer

    def out(obj) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    extra = json.loads(conf_json)
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    conf.update(extra)
    # Eager (range) hands the whole assignment to each callback; cooperative-sticky and the
    # consumer protocol hand the change.
    incremental = extra.get("group.protocol") == "consumer" or "cooperative" in extra.get(
        "partition.assignment.strategy", "")
    held: set[int] = set()

    def on_assign(_c, parts):
        nonlocal held
        new = {p.partition for p in parts}
        held = held | new if incremental else new
        out({"assigned": len(held), "t": time.monotonic()})

    def on_revoke(_c, parts):
        nonlocal held
        held = held - {p.partition for p in parts} if incremental else set()
        out({"assigned": len(held), "t": time.monotonic()})

    c = Consumer(conf)
    out({"subscribed": time.monotonic()})
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    deliveries: list[tuple[float, int]] = []
    deadline = time.monotonic() + MEMBER_LIFETIME_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sys.stdin], [], [], 0)
            if ready and sys.stdin.readline().strip() in ("stop", ""):
                break
            msgs = c.consume(num_messages=CONSUME_BATCH, timeout=CONSUME_TIMEOUT_S)
            n = sum(1 for m in msgs if m.error() is None)
            if n:
                now = time.monotonic()
                if not deliveries:
                    out({"first": now})
                deliveries.append((round(now, 4), n))
    finally:
        out({"deliveries": deliveries})
        c.close()
    return 0


class Member:
    """The bench's handle on one member process: its reports, read by a thread."""

    def __init__(self, name: str, bootstrap: str, topic: str, group: str, conf: dict):
        self.name = name
        self.subscribed: float | None = None
        self.first: float | None = None
        self.assigned = 0
        self.assignments: list[tuple[float, int]] = []
        self.deliveries: list[tuple[float, int]] | None = None
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--member", bootstrap, topic, group, json.dumps(conf)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "subscribed" in msg:
                self.subscribed = msg["subscribed"]
            elif "assigned" in msg:
                self.assigned = msg["assigned"]
                self.assignments.append((msg["t"], msg["assigned"]))
            elif "first" in msg:
                self.first = msg["first"]
            elif "deliveries" in msg:
                self.deliveries = [tuple(d) for d in msg["deliveries"]]

    def stop(self) -> None:
        """Ask it to stop and report; killed by its PID if it does not exit in time."""
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.reader.join(timeout=5)


# --- the producer: a thread at a fixed rate ------------------------------------------------------


class RateProducer:
    """Produces `rate` records a second of `size` bytes, round-robin over the partitions,
    until stopped or `max_s` passed."""

    def __init__(self, bootstrap: str, topic: str, rate: int, size: int, max_s: float):
        from confluent_kafka import Producer

        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": 1})
        self.topic, self.rate, self.value = topic, rate, b"x" * size
        self.max_s = max_s
        self.sent = 0
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            elapsed = time.monotonic() - start
            if elapsed > self.max_s:
                break
            due = int(elapsed * self.rate)
            while self.sent < due:
                try:
                    self.p.produce(self.topic, self.value, partition=self.sent % PARTITIONS)
                except BufferError:
                    break  # queue full: catch up on the next tick
                self.sent += 1
            self.p.poll(0)
            time.sleep(PRODUCE_TICK_S)
        self.p.flush(10)

    def stop(self) -> None:
        self._stop.set()
        self.t.join(timeout=30)


# --- measuring -------------------------------------------------------------------------------------


def longest_gap(deliveries: list[tuple[float, int]], start: float, end: float) -> float:
    """The longest time within [start, end] with no delivery: between two deliveries, from
    `start` to the first, from the last to `end` (a pause still running counts)."""
    times = [t for t, _ in deliveries]
    before = [t for t in times if t <= start]
    inside = [t for t in times if start < t <= end]
    points = [before[-1] if before else start, *inside, end]
    return max(max(b, start) - max(a, start) for a, b in zip(points, points[1:]))


def records_between(deliveries: list[tuple[float, int]], start: float, end: float) -> int:
    return sum(n for t, n in deliveries if start < t <= end)


def wait_until(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def run_one(bootstrap: str, mode: str, rnd: int, args) -> list[dict]:
    from kafka_util import create_topic

    topic = f"pause-{mode}-{rnd}-{os.getpid()}"
    group = f"g-{topic}"
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    conf = dict(MODES[mode])
    if args.heartbeat_ms and conf["group.protocol"] == "classic":
        conf["heartbeat.interval.ms"] = args.heartbeat_ms
    budget_s = 3 * SETTLE_TIMEOUT_S + args.warmup + args.measure
    producer = RateProducer(bootstrap, topic, args.rate, args.size, budget_s)
    members: list[Member] = []
    try:
        members = [Member(f"m{i + 1}", bootstrap, topic, group, conf) for i in range(MEMBERS - 1)]
        wait_until(
            lambda: all(m.assigned and m.first for m in members)
            and sum(m.assigned for m in members) == PARTITIONS,
            SETTLE_TIMEOUT_S, f"{mode}: three members holding every partition and consuming")
        time.sleep(args.warmup)
        members.append(Member(f"m{MEMBERS}", bootstrap, topic, group, conf))
        wait_until(lambda: members[-1].subscribed is not None, SETTLE_TIMEOUT_S,
                   f"{mode}: the fourth member subscribing")
        joined = members[-1].subscribed
        end = joined + args.measure
        time.sleep(max(0.0, end - time.monotonic()))
        settled = True
        try:
            wait_until(lambda: all(m.assigned for m in members)
                       and sum(m.assigned for m in members) == PARTITIONS,
                       SETTLE_TIMEOUT_S, f"{mode}: four members holding every partition")
        except RuntimeError:
            settled = False
        held_at = time.monotonic()  # before the members stop (a close revokes everything)
    finally:
        for m in members:
            m.stop()
        producer.stop()
    rows = []
    for m in members:
        d = m.deliveries or []
        fourth = m is members[-1]
        before = [n for t, n in m.assignments if t <= joined]
        after = [(t, n) for t, n in m.assignments if joined < t <= held_at]
        rows.append({
            "round": rnd,
            "mode": mode,
            "member": m.name,
            "gap_before_ms": None if fourth else round(
                1e3 * longest_gap(d, joined - args.warmup, joined)),
            "gap_after_ms": round(1e3 * longest_gap(d, joined, end)),
            "first_ms": (round(1e3 * (m.first - joined)) if fourth and m.first else None),
            "records": records_between(d, joined, end),
            "partitions_before": before[-1] if before else 0,
            "partitions_after": after[-1][1] if after else (before[-1] if before else 0),
            # Held nothing at some point after the join (an eager revocation).
            "emptied": any(n == 0 for _, n in after) and not fourth,
            "last_change_ms": round(1e3 * (after[-1][0] - joined)) if after else None,
            "settled": settled,
        })
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'round':>5} {'mode':<20} {'member':<6} {'gap before ms':>13} "
          f"{'gap after ms':>12} {'first ms':>9} {'records':>8} {'partitions':>10} "
          f"{'emptied':>7} {'last change ms':>14}")
    for r in rows:
        dash = lambda v: "-" if v is None else str(v)  # noqa: E731
        print(f"{r['round']:>5} {r['mode']:<20} {r['member']:<6} {dash(r['gap_before_ms']):>13} "
              f"{r['gap_after_ms']:>12} {dash(r['first_ms']):>9} {r['records']:>8} "
              f"{str(r['partitions_before']) + '->' + str(r['partitions_after']):>10} "
              f"{'yes' if r['emptied'] else 'no':>7} {dash(r['last_change_ms']):>14}"
              + ("" if r["settled"] else "  (assignment not settled)"))
    print()
    print("median over rounds: longest pause of members 1-3 after the join; fourth member's "
          "first record")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        pauses = [max(r["gap_after_ms"] for r in rows
                      if r["mode"] == mode and r["round"] == rnd and r["member"] != f"m{MEMBERS}")
                  for rnd in sorted({r["round"] for r in rows if r["mode"] == mode})]
        firsts = [r["first_ms"] for r in rows
                  if r["mode"] == mode and r["first_ms"] is not None]
        first = f"{statistics.median(firsts):.0f} ms" if firsts else "never"
        print(f"  {mode:<20} pause {statistics.median(pauses):.0f} ms, first record {first}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--member":
        return member_main(*sys.argv[2:6])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--rate", type=int, default=20_000, help="records a second")
    ap.add_argument("--size", type=int, default=100, help="record value bytes")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before the join")
    ap.add_argument("--measure", type=float, default=20.0, help="seconds after the join")
    ap.add_argument("--heartbeat-ms", type=int, default=0)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--broker", type=Path, default=None, help="sluice binary")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m}; known: {', '.join(MODES)}")
    if not (1 <= args.rounds <= 20 and 0 < args.warmup <= 120 and 0 < args.measure <= 120
            and 0 < args.rate <= 200_000):
        ap.error("rounds 1-20, warmup and measure up to 120 s, rate up to 200000")

    sys.path.insert(0, str(ROOT / "tests" / "clients"))
    from harness import Broker, tmp_root

    flags = ["--cores", str(args.cores)]
    if args.heartbeat_ms:
        flags += ["--group-consumer-heartbeat-interval-ms", str(args.heartbeat_ms),
                  "--group-consumer-min-heartbeat-interval-ms",
                  str(min(args.heartbeat_ms, 5000))]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rebalance-pause-", dir=tmp_root()) as work:
        broker = Broker(Path(work), flags, binary=args.broker)
        broker.start()
        try:
            print(f"broker: sluice {' '.join(flags)} (pid {broker.proc.pid}); load average "
                  f"{open('/proc/loadavg').read().split()[0]}; {args.rate} msg/s of "
                  f"{args.size} B over {PARTITIONS} partitions; warm-up {args.warmup} s, "
                  f"measured {args.measure} s after the join; heartbeat "
                  f"{args.heartbeat_ms or 'defaults'}", flush=True)
            for rnd in range(1, args.rounds + 1):
                order = modes if rnd % 2 else list(reversed(modes))
                for mode in order:
                    rows += run_one(broker.bootstrap, mode, rnd, args)
            panics = broker.panics()
        finally:
            broker.stop()
    if panics:
        print("THE BROKER PANICKED:\n" + "\n".join(panics[:5]), file=sys.stderr)
    print_table(rows)
    print(f"load average after: {open('/proc/loadavg').read().split()[0]}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "panics": panics}, indent=1))
    return 3 if panics else 0


if __name__ == "__main__":
    sys.exit(main())
