#!/usr/bin/env bash
# Preallocation (`--log-preallocate`) and acks=all: the broker's own fdatasync durations (its
# sluice_fsync_duration_seconds histogram) and sluice-bench's publish latency, with and without
# preallocation, run back to back (off, on, on, off) on the same machine.
#
# Usage: scripts/preallocate-bench.sh [--duration 20s] [--rate MSG_S]
# Broker: one shard on CPU 0; sluice-bench on CPU 1; 16 partitions of 1 KiB, acks=all.
# Never part of CI; loopback only; every run bounded in time.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=20s
RATE=50000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
[[ -n "${CI:-}" ]] && { echo "refusing to run under CI" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
SLUICE="$ROOT/target/release/sluice"
BENCH="$ROOT/target/release/sluice-bench"
WORK="$(mktemp -d)"
PID=""
trap 'if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
      if grep -l panicked "$WORK"/*.log >/dev/null 2>&1; then echo "A BROKER PANICKED" >&2; fi
      rm -rf "$WORK"' EXIT

run() {
  local label="$1" prealloc="$2" data="$WORK/data-$1" ports="$WORK/ports-$1.json"
  "$SLUICE" serve --data-dir "$data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --ports-file "$ports" --cores 1 --cpuset 0 --log-preallocate "$prealloc" >"$WORK/$label.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do [[ -s "$ports" ]] && break; sleep 0.1; done
  [[ -s "$ports" ]] || { echo "broker did not start" >&2; exit 1; }
  local boot admin
  boot=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['bootstrap'])" "$ports")
  admin=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['admin'])" "$ports")
  timeout 300 taskset -c 1 "$BENCH" run --bootstrap "127.0.0.1:$boot" \
    --workload "$ROOT/bench-harness/workloads/fixed-rate-100mb-1kb.yaml" \
    --driver "$ROOT/bench-harness/workloads/driver-acks-all.yaml" --rate "$RATE" \
    --duration "$DURATION" --warmup 3s --output "$WORK/$label.json" >"$WORK/$label.bench" 2>&1
  python3 - "$label" "$admin" "$WORK/$label.json" <<'PY'
import json, sys, urllib.request
label, admin, result = sys.argv[1], sys.argv[2], sys.argv[3]
text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10).read().decode()
buckets = []
for line in text.splitlines():
    if line.startswith("sluice_fsync_duration_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
buckets.sort()
total = buckets[-1][1] if buckets else 0
def q(p):
    for le, c in buckets:
        if c >= p * total:
            return le
    return float("nan")
s = json.load(open(result))["summary"]
pub = s["publish_latency"]
def ms(v): return f"{v:.2f}"
print(f"{label:6} fsyncs {int(total):7d}  fsync p50 <= {q(0.5)*1e3:.3f} ms  p99 <= {q(0.99)*1e3:.3f} ms"
      f"  | publish p50 {pub['p50_us']/1e3:.2f}  p99 {pub['p99_us']/1e3:.2f}  p99.9 {pub['p999_us']/1e3:.2f} ms")
PY
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
run off-1 false
run on-1 true
run on-2 true
run off-2 false
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
