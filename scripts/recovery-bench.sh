#!/usr/bin/env bash
# Crash-recovery time of a large data dir: fills GIB GiB across PARTITIONS partitions at full
# speed, kill -9s the broker while producers are still writing (torn tails on every active
# segment), restarts it and times start-up until the ports file appears (written only after
# every shard has recovered and opened its partitions). Then does the same after a clean stop.
# Loopback only; every phase is bounded in time.
#
# Never part of CI (minutes, GiBs of disk). Usage:
#   scripts/recovery-bench.sh [--gib N] [--partitions N] [--segment-bytes N]
# Results: target/recovery-bench/summary.txt for BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
GIB=10
PARTITIONS=100
SEGMENT_BYTES=$((1 << 30))

while [[ $# -gt 0 ]]; do
  case "$1" in
    --gib) GIB="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --segment-bytes) SEGMENT_BYTES="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "recovery-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "${CI:-}" ]] && { echo "recovery-bench: refusing to run under CI" >&2; exit 2; }

OUT="$ROOT/target/recovery-bench"
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release --workspace --quiet
SLUICE="$ROOT/target/release/sluice"
BENCH="$ROOT/target/release/sluice-bench"
BROKER=""
LOAD=""
cleanup() {
  [[ -n "$LOAD" ]] && kill "$LOAD" 2>/dev/null || true
  [[ -n "$BROKER" ]] && kill "$BROKER" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$OUT/data" # GiBs; the summary and logs stay
}
trap cleanup EXIT

STARTUP_S=""
start_broker() { # sets BROKER and STARTUP_S (seconds until the ports file appeared)
  rm -f "$OUT/ports.json"
  local t0
  t0=$(date +%s.%N)
  "$SLUICE" serve --data-dir "$OUT/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --ports-file "$OUT/ports.json" --log-segment-bytes "$SEGMENT_BYTES" --log-level info \
    2>>"$OUT/broker.log" &
  BROKER=$!
  for _ in $(seq 1 6000); do [[ -s "$OUT/ports.json" ]] && break; sleep 0.05; done
  [[ -s "$OUT/ports.json" ]] || { echo "recovery-bench: broker did not start" >&2; exit 1; }
  STARTUP_S=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.2f}')" "$t0")
}
data_bytes() { du -sb "$OUT/data" | awk '{print $1}'; }

start_broker
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['bootstrap'])" "$OUT/ports.json")
sed -e "s/^partitionsPerTopic:.*/partitionsPerTopic: $PARTITIONS/" \
    -e "s/^producersPerTopic:.*/producersPerTopic: 8/" \
    -e "s/^producerRate:.*/producerRate: 0/" \
    -e "s/^consumerBacklogSizeGB:.*/consumerBacklogSizeGB: 0/" \
    "$ROOT/bench-harness/workloads/max-rate-1kb-16p.yaml" >"$OUT/fill.yaml"

echo "== filling $GIB GiB across $PARTITIONS partitions"
"$BENCH" run -w "$OUT/fill.yaml" -b "127.0.0.1:$PORT" --duration 600s --warmup 0s --acks 1 \
  --name sluice --topic-prefix fill --quiet --output "$OUT/fill.json" >"$OUT/fill.log" 2>&1 &
LOAD=$!
target=$((GIB << 30))
deadline=$((SECONDS + 600))
while (( $(data_bytes) < target )); do
  (( SECONDS < deadline )) || { echo "recovery-bench: could not fill $GIB GiB in time" >&2; exit 1; }
  kill -0 "$LOAD" 2>/dev/null || { echo "recovery-bench: the load stopped early" >&2; tail "$OUT/fill.log" >&2; exit 1; }
  sleep 0.5
done
kill -9 "$BROKER"; wait "$BROKER" 2>/dev/null || true
kill "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true
LOAD=""
bytes=$(data_bytes)
segments=$(find "$OUT/data" -name '*.log' | wc -l)
echo "== killed -9 under load with $bytes bytes in $segments segments; restarting"
start_broker
crash_s=$STARTUP_S
truncations=$(grep -c "recovery truncated" "$OUT/broker.log" || true)
kill "$BROKER"; wait "$BROKER" 2>/dev/null || true
start_broker
clean_s=$STARTUP_S
{
  echo "data:                      $bytes bytes, $PARTITIONS partitions, $segments segments (segment.bytes $SEGMENT_BYTES)"
  echo "start-up after kill -9:    $crash_s s (until the ports file: every partition recovered and open)"
  echo "start-up after clean stop: $clean_s s"
  echo "torn tails truncated:      $truncations partitions (the rest ended on a whole batch)"
} | tee "$OUT/summary.txt"
