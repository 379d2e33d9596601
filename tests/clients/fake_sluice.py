#!/usr/bin/env python3
"""A stand-in for `sluice serve` that tests the harness itself (test_harness.py).

It takes the same flags the harness passes, binds the listeners, serves a tiny /metrics and
writes the ports file like the real broker. `--fake-mode` picks a misbehaviour:
  ok           behave (default)
  exit         exit 3 before writing the ports file
  hang         never write the ports file
  panic        write a Rust-style panic line to stderr, then behave
  ignore-term  ignore SIGTERM (the harness must fall back to SIGKILL)
It speaks no Kafka.
"""

import argparse
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time

LIFETIME_MAX_S = 300  # never outlive a forgotten test by much


def bind(addr: str) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen()
    return s


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--admin-listen", required=True)
    p.add_argument("--ports-file", required=True)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--fake-mode", default="ok")
    args, _unknown = p.parse_known_args()
    assert args.command == "serve"
    os.makedirs(args.data_dir, exist_ok=True)
    starts_path = os.path.join(args.data_dir, "starts")
    starts = int(open(starts_path).read()) + 1 if os.path.exists(starts_path) else 1
    with open(starts_path, "w") as f:
        f.write(str(starts))

    print(f"fake sluice starting (start {starts}, mode {args.fake_mode})", file=sys.stderr, flush=True)
    if args.fake_mode == "exit":
        print("error: something is wrong", file=sys.stderr, flush=True)
        return 3
    if args.fake_mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.fake_mode == "panic":
        print("thread 'shard-0' panicked at src/fake.rs:1:1:\nboom", file=sys.stderr, flush=True)

    host = args.listen.rsplit(":", 1)[0]
    bootstrap = bind(args.listen)
    shards = [bind(f"{host}:0") for _ in range(args.cores)]

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (
                "# TYPE sluice_requests_total counter\n"
                f'sluice_requests_total{{shard="0",api="Produce"}} {starts}\n'
                'sluice_requests_total{shard="1",api="Produce"} 2\n'
                'sluice_forwarded_requests_total{shard="0"} 0\n'
            ).encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

        def log_request(self, *a):
            pass

    ahost, aport = args.admin_listen.rsplit(":", 1)
    admin = http.server.HTTPServer((ahost, int(aport)), Metrics)
    threading.Thread(target=admin.serve_forever, daemon=True).start()

    if args.fake_mode != "hang":
        ports = {
            "host": host,
            "bootstrap": bootstrap.getsockname()[1],
            "shards": [s.getsockname()[1] for s in shards],
            "admin": admin.server_address[1],
        }
        # Written in two steps with a pause, so the harness sees a partial file at times and
        # must retry rather than fail on it.
        text = json.dumps(ports)
        with open(args.ports_file, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            time.sleep(0.1)
            f.write(text[len(text) // 2 :])
    time.sleep(LIFETIME_MAX_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
