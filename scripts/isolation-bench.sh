#!/usr/bin/env bash
# Isolation: publish latency at a fixed 100 MB/s (1 KiB, 16 partitions, acks=1) with the disk
# idle, and while a second consumer drains a backlog from disk on the same shard (Redpanda's
# scheduling groups are the anchor: foreground produce and fetch outrank background reads).
#
# 1. A backlog topic of --gb GB is filled, and the broker restarted (its tail cache is empty:
#    reading the backlog means O_DIRECT reads of the segment files).
# 2. For each broker binary (A/B, back to back, on the same data), --rounds times:
#    idle:  `sluice-bench run` of the fixed-rate workload for --duration;
#    busy:  the same while `sluice-bench drain` reads the backlog from offset 0 again and
#           again (niced, so the load generator's own threads are not the ones slowed: the
#           drain stands for a consumer on another machine).
#    Publish p50/p99/p99.9/max of both, and the drain's MB/s.
# The broker runs on CPU 0 (--cores 1 --cpuset 0), the load generators on CPU 1.
#
# Usage: [SLUICE_BENCH_BIN=path] scripts/isolation-bench.sh [--gb N] [--duration S]
#          [--warmup S] [--rounds N] [--rate MSG_S] [BINARY ...]
# Never part of CI: it writes GBs to the disk. Loopback only; every loop is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
GB=3
DURATION=30
WARMUP=5
ROUNDS=1
RATE=97656
BINARIES=()
BENCH_NAME=isolation-bench
# shellcheck source=lib/broker.sh
source "$ROOT/scripts/lib/broker.sh"
declare -A BENCH_OPTS=([--gb]=GB [--duration]=DURATION [--warmup]=WARMUP [--rounds]=ROUNDS
  [--rate]=RATE)
declare -A BENCH_FLAGS=()
declare -A BENCH_LISTS=()
parse_bench_args "$@"
[[ -n "${CI:-}" ]] && die "refusing to run under CI"
bench_binaries "$ROOT" "${BINARIES[@]}"
WORKLOAD="$ROOT/bench-harness/workloads/fixed-rate-100mb-1kb.yaml"
bench_workdir "$ROOT" isolation-bench $(( GB * 1100 * 1024 + 4 * 1024 * 1024 ))

DRAIN_PID=""
# The drain loop's current `sluice-bench drain` first (by parent PID: killing only the loop
# left it reading until the broker stopped under it), then the loop.
stop_drain() { if [[ -n "$DRAIN_PID" ]]; then pkill -TERM -P "$DRAIN_PID" 2>/dev/null || true; kill "$DRAIN_PID" 2>/dev/null || true; wait "$DRAIN_PID" 2>/dev/null || true; DRAIN_PID=""; fi; }
trap 'stop_drain; stop_broker; check_panics; rm -rf "$WORK"' EXIT

PINNED=(--cores 1 --cpuset 0)
write_fill_workload "$WORK/fill.yaml" "isolation backlog ${GB} GB / 16 partitions / 1kb" 16 "$GB"

start_broker "${BINARIES[0]}" fill "${PINNED[@]}"
echo "filling a ${GB} GB backlog..."
taskset -c 1 "$BENCH" run -w "$WORK/fill.yaml" -b "$BOOT" --acks 1 --quiet --topic-prefix backlog \
  --output "$WORK/fill.json" >/dev/null
stop_broker

summary() { # RESULT LABEL LOAD
  python3 - "$@" <<'EOF'
import json, sys
path, label, load = sys.argv[1:]
r = json.load(open(path))
s = r["summary"]; p = s["publish_latency"]
print(f"{label}: publish p50 {p['p50_us']/1e3:.2f} ms, p99 {p['p99_us']/1e3:.2f} ms, "
      f"p99.9 {p['p999_us']/1e3:.2f} ms, max {p['max_us']/1e3:.1f} ms; "
      f"{s['produced_bytes_per_s']/1e6:.0f} MB/s produced; verified {r['verification']['ok']}; load {load}")
EOF
}

n=0
for round in $(seq "$ROUNDS"); do
  for b in "${BINARIES[@]}"; do
    for mode in idle busy; do
      n=$((n + 1))
      start_broker "$b" "$mode-$n" "${PINNED[@]}"
      if [[ $mode == busy ]]; then
        # Drain the backlog from the start again and again until the run ends (bounded).
        ( for i in $(seq 50); do
            taskset -c 1 nice -n 19 "$BENCH" drain -b "$BOOT" --topic-prefix backlog --quiet \
              --timeout 5m --output "$WORK/drain-$n-$i.json" || exit 0
          done ) &
        DRAIN_PID=$!
        sleep 2
      fi
      load=$(cut -d' ' -f1 /proc/loadavg)
      taskset -c 1 "$BENCH" run -w "$WORKLOAD" -b "$BOOT" --acks 1 --quiet --rate "$RATE" \
        --duration "${DURATION}s" --warmup "${WARMUP}s" --topic-prefix "fg$n" \
        --placement "broker on CPU 0 (1 shard), harness on CPU 1" \
        --output "$WORK/run-$n.json" >/dev/null || true
      drained=""
      if [[ $mode == busy ]]; then
        drained=$(python3 - "$WORK" "$n" <<'EOF'
import glob, json, sys
work, n = sys.argv[1:]
rs = []
for f in glob.glob(f"{work}/drain-{n}-*.json"):
    try: rs.append(json.load(open(f)))
    except Exception: pass
b = sum(r["value_bytes"] for r in rs); s = sum(r["seconds"] for r in rs)
print(f"; drain {b/1e9:.1f} GB at {b/s/1e6:.0f} MB/s over {len(rs)} complete passes" if s else "; no drain completed")
EOF
)
        stop_drain
      fi
      stop_broker
      [[ -f "$WORK/run-$n.json" ]] && echo "$(summary "$WORK/run-$n.json" "round $round $b $mode" "$load")$drained"
    done
  done
done
check_panics
[[ $PANICKED -eq 0 ]] || exit 3
