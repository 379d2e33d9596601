#!/usr/bin/env bash
# Memory under load: starts Sluice with a fixed --memory budget, drives it with sluice-bench
# (many partitions and connections at full speed, then consumers that start behind a backlog
# and catch up from disk), samples the broker's RSS every 200 ms, and prints the peak next to
# the budget. Also reports idle RSS per partition. Loopback only; every phase is bounded.
#
# Never part of CI (minutes of load). Usage:
#   scripts/load-test.sh [--memory BYTES] [--duration D] [--partitions N] [--producers N]
# Results: a line per phase, and target/load-test/summary.txt for BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MEMORY=$((1 << 30))
DURATION=60s
PARTITIONS=1000
PRODUCERS=100 # workers, each with its own connections: ~2 per worker (producer + consumer side)

while [[ $# -gt 0 ]]; do
  case "$1" in
    --memory) MEMORY="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --producers) PRODUCERS="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "load-test: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "${CI:-}" ]] && { echo "load-test: refusing to run under CI" >&2; exit 2; }

OUT="$ROOT/target/load-test"
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release --workspace --quiet
SLUICE="$ROOT/target/release/sluice"
BENCH="$ROOT/target/release/sluice-bench"

"$SLUICE" serve --data-dir "$OUT/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --ports-file "$OUT/ports.json" --memory "$MEMORY" --log-level warn 2>"$OUT/broker.log" &
BROKER=$!
# The data (GBs) goes at exit; the summary, RSS samples and results stay.
trap 'kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; rm -rf "$OUT/data"' EXIT
for _ in $(seq 1 300); do [[ -s "$OUT/ports.json" ]] && break; sleep 0.1; done
[[ -s "$OUT/ports.json" ]] || { echo "load-test: broker did not start" >&2; exit 1; }
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['bootstrap'])" "$OUT/ports.json")
ADMIN=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$OUT/ports.json")

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$BROKER/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$BROKER/status"; }

# Sample RSS in the background for the whole run.
( while kill -0 "$BROKER" 2>/dev/null; do echo "$(date +%s.%N) $(rss_kib)"; sleep 0.2; done ) >"$OUT/rss.txt" &
SAMPLER=$!
# And what the allocator holds (jemalloc, from /metrics) once a second: live bytes vs RSS.
( while kill -0 "$BROKER" 2>/dev/null; do
    curl -s --max-time 1 "http://127.0.0.1:$ADMIN/metrics" |
      awk '/^sluice_memory_allocated_bytes/ {print $2}'
    sleep 1
  done ) >"$OUT/allocated.txt" &
ALLOC_SAMPLER=$!
# And the budgeted pools (all shards), once a second: tail cache, fetch and write buffers.
( while kill -0 "$BROKER" 2>/dev/null; do
    curl -s --max-time 1 "http://127.0.0.1:$ADMIN/metrics" |
      awk -v t="$(date +%s)" '/^sluice_tail_cache_used_bytes/ {c += $2}
        /^sluice_fetch_buffer_used_bytes/ {f += $2}
        /^sluice_write_buffer_used_bytes/ {w += $2}
        END {printf "%s cache=%d fetch=%d write=%d\n", t, c, f, w}'
    sleep 1
  done ) >"$OUT/pools.txt" &
POOL_SAMPLER=$!

workload() { # name file: a workload with PARTITIONS partitions and PRODUCERS producers, max rate
  sed -e "s/^partitionsPerTopic:.*/partitionsPerTopic: $PARTITIONS/" \
      -e "s/^producersPerTopic:.*/producersPerTopic: $PRODUCERS/" \
      -e "s/^producerRate:.*/producerRate: 0/" "$2" >"$OUT/$1.yaml"
  echo "$OUT/$1.yaml"
}

idle_before=$(rss_kib)
echo "== phase 1: $PARTITIONS partitions, $PRODUCERS producers, full speed, $DURATION"
timeout 900 "$BENCH" run -w "$(workload full "$ROOT/bench-harness/workloads/partitions-1000.yaml")" \
  -b "127.0.0.1:$PORT" --duration "$DURATION" --warmup 5s --acks 1 --name sluice \
  --topic-prefix full --output "$OUT/full.json" | tail -n 20
idle_after=$(rss_kib)

echo "== phase 2: consumers start behind a 1 GB backlog and catch up from disk"
timeout 1200 "$BENCH" run -w "$ROOT/bench-harness/workloads/backlog-drain-1kb.yaml" \
  -b "127.0.0.1:$PORT" --backlog-gb 1 --duration "$DURATION" --acks 1 --name sluice \
  --topic-prefix backlog --output "$OUT/backlog.json" | tail -n 20

kill "$SAMPLER" "$ALLOC_SAMPLER" "$POOL_SAMPLER" 2>/dev/null || true
peak=$(hwm_kib)
peak_alloc=$(sort -n "$OUT/allocated.txt" | tail -n 1)
{
  echo "budget (--memory):        $((MEMORY / 1024)) KiB"
  echo "peak RSS (VmHWM):         $peak KiB ($((peak * 100 / (MEMORY / 1024)))% of the budget)"
  echo "peak allocated (jemalloc): $(( ${peak_alloc:-0} / 1024 )) KiB (sampled each second)"
  echo "RSS before load:          $idle_before KiB"
  echo "RSS idle after phase 1:   $idle_after KiB ($PARTITIONS partitions open)"
  echo "idle RSS per partition:   $(( (idle_after - idle_before) / PARTITIONS )) KiB (upper bound: includes warm caches)"
} | tee "$OUT/summary.txt"
if (( peak * 1024 > MEMORY )); then
  echo "load-test: peak RSS is over the budget" >&2
  exit 1
fi
