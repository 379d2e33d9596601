#!/usr/bin/env python3
"""Broker CPU on the cross-shard path: requests that reach a shard which owns only part of
their partitions (a bootstrap connection, stale metadata), and long polls parked there.

Starts `sluice serve --cores 2` (unpinned), creates a 16-partition topic, then:

  forward: sends REQUESTS Produce requests (acks=1, one small batch for each of the 16
           partitions, so 8 are owned by the other shard) over one connection to shard 0,
           WINDOW pipelined; reports the broker's CPU (utime + stime) per request.
  parked:  opens POLLS connections to shard 0, each parking one Fetch (max_wait 10 s,
           min_bytes 1) of all 16 empty partitions; reports the broker's CPU per second
           while they wait (nothing is produced).

Usage: scripts/forward-bench.py [--broker BIN] [--requests N] [--polls N]
Needs the tests' venv (kafka-python, for the record batch): tests/clients/.venv/bin/python.
Bounded: every wait has a timeout; the broker is killed at the end. Never part of CI.
"""

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

from kafka.record.default_records import DefaultRecordBatchBuilder

TOPIC = b"fwd"
PARTITIONS = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")


def string(b):
    return struct.pack(">h", len(b)) + b


def frame(api_key, version, correlation, body):
    header = struct.pack(">hhi", api_key, version, correlation) + string(b"forward-bench")
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock):
    def exactly(n):
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise EOFError("connection closed")
            out += chunk
        return out

    (n,) = struct.unpack(">i", exactly(4))
    return exactly(n)


def batch():
    b = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
    b.append(0, int(time.time() * 1000), None, b"x" * 100, [])
    return bytes(b.build())


def produce_body(records):
    parts = b"".join(struct.pack(">i", p) + struct.pack(">i", len(records)) + records
                     for p in range(PARTITIONS))
    return (struct.pack(">h", -1) + struct.pack(">hi", 1, 10_000) + struct.pack(">i", 1)
            + string(TOPIC) + struct.pack(">i", PARTITIONS) + parts)


def fetch_body(wait_ms):
    parts = b"".join(struct.pack(">iqi", p, 0, 1 << 20) for p in range(PARTITIONS))
    return (struct.pack(">iiiib", -1, wait_ms, 1, 1 << 20, 0) + struct.pack(">i", 1)
            + string(TOPIC) + struct.pack(">i", PARTITIONS) + parts)


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default=os.path.join(root, "target/release/sluice"))
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--polls", type=int, default=50)
    ap.add_argument("--parked-seconds", type=float, default=8.0)
    args = ap.parse_args()
    if os.environ.get("CI"):
        sys.exit("refusing to run under CI: this measures the machine")
    with tempfile.TemporaryDirectory() as tmp:
        ports_file = os.path.join(tmp, "ports.json")
        broker = subprocess.Popen(
            [args.broker, "serve", "--cores", "2", "--data-dir", os.path.join(tmp, "data"),
             "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
             "--ports-file", ports_file],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "sluice.log"), "w"))
        try:
            for _ in range(300):
                if os.path.exists(ports_file) and os.path.getsize(ports_file) > 0:
                    break
                time.sleep(0.1)
            ports = json.load(open(ports_file))
            shard0 = ("127.0.0.1", ports["shards"][0])
            subprocess.run([args.broker, "topic", "create", TOPIC.decode(), "--partitions",
                            str(PARTITIONS), "--brokers", f"127.0.0.1:{ports['shards'][0]}"],
                           check=True, capture_output=True, timeout=30)
            load = open("/proc/loadavg").read().split()[0]

            # forward
            s = socket.create_connection(shard0, timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            body = produce_body(batch())
            sent = received = 0
            t0, w0 = ticks(broker.pid), time.monotonic()
            while received < args.requests:
                while sent < args.requests and sent - received < args.window:
                    sent += 1
                    s.sendall(frame(0, 3, sent, body))
                read_frame(s)
                received += 1
            t1, w1 = ticks(broker.pid), time.monotonic()
            s.close()
            cpu_ns = (t1 - t0) / CLK_TCK * 1e9
            print(f"forward: {args.requests} produce requests x {PARTITIONS} partitions in "
                  f"{w1 - w0:.1f} s; broker cpu {cpu_ns / 1e9:.2f} s = "
                  f"{cpu_ns / args.requests / 1000:.1f} us/request; load {load}")

            # parked
            conns = []
            for i in range(args.polls):
                c = socket.create_connection(shard0, timeout=30)
                conns.append(c)
            # From the end of each partition: produce moved them, so fetch at the ends.
            # (Offsets: each partition got `requests` one-record batches.)
            end = args.requests
            parts = b"".join(struct.pack(">iqi", p, end, 1 << 20) for p in range(PARTITIONS))
            fbody = (struct.pack(">iiiib", -1, 10_000, 1, 1 << 20, 0) + struct.pack(">i", 1)
                     + string(TOPIC) + struct.pack(">i", PARTITIONS) + parts)
            for i, c in enumerate(conns):
                c.sendall(frame(1, 4, i + 1, fbody))
            time.sleep(0.5)
            t0, w0 = ticks(broker.pid), time.monotonic()
            time.sleep(args.parked_seconds)
            t1, w1 = ticks(broker.pid), time.monotonic()
            cpu = (t1 - t0) / CLK_TCK
            print(f"parked: {args.polls} long polls parked on shard 0 for {w1 - w0:.1f} s: "
                  f"broker cpu {cpu:.2f} s = {cpu / (w1 - w0) * 1000:.0f} ms/s")
            for c in conns:
                c.close()
        finally:
            broker.kill()
            broker.wait(timeout=30)


if __name__ == "__main__":
    main()
