#!/usr/bin/env bash
# Transactions' cost and their effect on plain producers (issue 17's Performance section):
#
# 1. Commit latency: `sluice-bench run` of bench-harness/workloads/txn-{1,10,100}p.yaml with
#    driver-txn.yaml (one transactional producer, 100 records of 1 KiB per transaction over
#    every partition, 2,000 msg/s): EndTxn round trip and whole-transaction p50/p99, every
#    committed record checked by read_committed consumers.
# 2. Plain producers with and without concurrent transactional load: the latency workload
#    (latency-10k-1kb.yaml + driver-latency.yaml, 10,000 msg/s of 1 KiB, acks=1) alone, then
#    again while a second sluice-bench runs txn-10p.yaml against the same broker for longer.
#    Publish p50/p99/p99.9 and msg/s of both.
# The broker runs on CPU 0 (--cores 1 --cpuset 0) unless --cores N is given (then unpinned);
# the load generators run wherever the OS puts them.
#
# Usage: [SLUICE_BENCH_BIN=path] scripts/txn-bench.sh [--duration S] [--warmup S]
#          [--cores N] [BINARY]
# Never part of CI. Loopback only; every loop is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=30
WARMUP=5
CORES=1
BINARY=""
die() { echo "txn-bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --cores) CORES="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) BINARY="$1"; shift ;;
  esac
done
[[ -n "${CI:-}" ]] && die "refusing to run under CI"
if [[ -z "$BINARY" || -z "${SLUICE_BENCH_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
fi
[[ -n "$BINARY" ]] || BINARY="$ROOT/target/release/sluice"
BENCH="${SLUICE_BENCH_BIN:-$ROOT/target/release/sluice-bench}"
W="$ROOT/bench-harness/workloads"
WORK="$(mktemp -d "$ROOT/target/txn-bench.XXXXXX")"

PID=""
LOAD_PID=""
stop_load() { if [[ -n "$LOAD_PID" ]]; then kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; LOAD_PID=""; fi; }
stop_broker() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap 'stop_load; stop_broker; if grep -l panicked "$WORK"/*.log >/dev/null 2>&1; then echo "txn-bench: THE BROKER PANICKED:" >&2; grep -h -m5 -A2 panicked "$WORK"/*.log >&2; fi; rm -rf "$WORK/data"; echo "results kept in $WORK"' EXIT

PIN=(--cores 1 --cpuset 0)
PLACEMENT="broker cpu 0 (--cores 1 --cpuset 0), harness unpinned"
if [[ "$CORES" != 1 ]]; then
  PIN=(--cores "$CORES")
  PLACEMENT="broker --cores $CORES unpinned, harness unpinned"
fi
"$BINARY" serve "${PIN[@]}" --data-dir "$WORK/data" --listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 --ports-file "$WORK/ports.json" 2>"$WORK/broker.log" &
PID=$!
for _ in $(seq 600); do [[ -s "$WORK/ports.json" ]] && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
[[ -s "$WORK/ports.json" ]] || die "broker did not start: $(tail -5 "$WORK/broker.log")"
BOOT="127.0.0.1:$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"])' "$WORK/ports.json")"

run() { # OUTPUT PREFIX WORKLOAD DRIVER [extra args]
  local out="$1" prefix="$2" workload="$3" driver="$4"; shift 4
  "$BENCH" run --quiet -b "$BOOT" -w "$workload" -d "$driver" --name sluice \
    --placement "$PLACEMENT" --durability "default (acks=all waits for fdatasync)" \
    --topic-prefix "$prefix" -o "$WORK/$out.json" "$@" >"$WORK/$out.txt"
}

for p in 1 10 100; do
  echo "txn-bench: commit latency, $p partition(s)" >&2
  run "txn-${p}p" "txn${p}" "$W/txn-${p}p.yaml" "$W/driver-txn.yaml" \
    --duration "${DURATION}s" --warmup "${WARMUP}s"
done
echo "txn-bench: plain latency workload alone" >&2
run plain-alone plain "$W/latency-10k-1kb.yaml" "$W/driver-latency.yaml" \
  --duration "${DURATION}s" --warmup "${WARMUP}s"
echo "txn-bench: plain latency workload with transactional load" >&2
# The load starts first and outlasts the measured run on both ends.
"$BENCH" run --quiet -b "$BOOT" -w "$W/txn-10p.yaml" -d "$W/driver-txn.yaml" --name sluice \
  --topic-prefix txnload -o "$WORK/txn-load.json" \
  --duration "$((DURATION + WARMUP + 10))s" --warmup 0s >"$WORK/txn-load.txt" 2>"$WORK/txn-load.log" &
LOAD_PID=$!
sleep 3
run plain-loaded plainloaded "$W/latency-10k-1kb.yaml" "$W/driver-latency.yaml" \
  --duration "${DURATION}s" --warmup "${WARMUP}s"
wait "$LOAD_PID" || die "the transactional load failed: $(tail -5 "$WORK/txn-load.log")"
LOAD_PID=""

python3 - "$WORK" <<'PY'
import json, sys, os
work = sys.argv[1]
def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        return json.load(f)
def ms(us): return f"{us / 1000:.2f} ms"
print("| workload | committed txns | commit p50 | commit p99 | transaction p50 | transaction p99 | msg/s | verified |")
print("|---|---|---|---|---|---|---|---|")
for p in (1, 10, 100):
    r = load(f"txn-{p}p"); t = r["summary"]["transactions"]; c = t["commit_latency"]; x = t["transaction_latency"]
    print(f"| txn-{p}p | {t['committed']} | {ms(c['p50_us'])} | {ms(c['p99_us'])} | {ms(x['p50_us'])} | {ms(x['p99_us'])} | {r['summary']['produced_msgs_per_s']:.0f} | {r['verification']['ok']} |")
print()
print("| plain latency-10k-1kb | publish p50 | p99 | p99.9 | max | msg/s | verified |")
print("|---|---|---|---|---|---|---|")
for name, label in (("plain-alone", "alone"), ("plain-loaded", "with txn-10p running")):
    r = load(name); s = r["summary"]; l = s["publish_latency"]
    print(f"| {label} | {ms(l['p50_us'])} | {ms(l['p99_us'])} | {ms(l['p999_us'])} | {ms(l['max_us'])} | {s['produced_msgs_per_s']:.0f} | {r['verification']['ok']} |")
r = load("txn-load"); t = r["summary"]["transactions"]
print(f"\ntransactional load alongside: {t['committed']} transactions committed, verified {r['verification']['ok']}")
PY
