#!/usr/bin/env bash
# Catch-up reads: how fast a consumer drains a backlog from disk (not the tail cache).
#
# 1. Fill: `sluice-bench run` with no consumers writes --gb GB of 1 KiB records over
#    --partitions partitions (acks=1, as fast as the broker takes them).
# 2. For each broker binary given (A/B pairs, back to back, on the same data): restart the
#    broker on the filled data directory, so its tail cache is empty and every fetch reads
#    the segment files with O_DIRECT (which bypasses the page cache), then drain the topic from
#    offset 0 to its end with `sluice-bench drain` (one consumer per shard, every record
#    checked: offsets and each writer's sequence contiguous) and report GB/s of record values.
# Each drain is repeated --rounds times, alternating the binaries.
#
# Usage: [SLUICE_BENCH_BIN=path] scripts/catchup-bench.sh [--gb N] [--partitions N]
#          [--cores N] [--pin] [--rounds N] [--timeout 10m] [--keep-results DIR]
#          [--broker-arg ARG]... [BINARY ...]
#   BINARY   broker binaries to compare (default: the worktree's release build)
#   --pin    broker on CPU 0 (--cores 1 --cpuset 0), harness on CPU 1
# Never part of CI: it writes GBs to the disk. Loopback only; every loop is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
GB=3
PARTITIONS=16
CORES=2
PIN=0
ROUNDS=1
TIMEOUT=10m
KEEP=""
BROKER_ARGS=()
BINARIES=()
BENCH_NAME=catchup-bench
# shellcheck source=lib/broker.sh
source "$ROOT/scripts/lib/broker.sh"
declare -A BENCH_OPTS=([--gb]=GB [--partitions]=PARTITIONS [--cores]=CORES [--rounds]=ROUNDS
  [--timeout]=TIMEOUT [--keep-results]=KEEP)
declare -A BENCH_FLAGS=([--pin]=PIN)
declare -A BENCH_LISTS=([--broker-arg]=BROKER_ARGS)
parse_bench_args "$@"
[[ -n "${CI:-}" ]] && die "refusing to run under CI"
bench_binaries "$ROOT" "${BINARIES[@]}"
bench_workdir "$ROOT" catchup-bench $(( GB * 1100 * 1024 + 2 * 1024 * 1024 ))

if [[ $PIN -eq 1 ]]; then
  CPU_ARGS=(--cores 1 --cpuset 0); HARNESS=(taskset -c 1); PLACEMENT="broker on CPU 0 (1 shard), harness on CPU 1"
else
  CPU_ARGS=(--cores "$CORES"); HARNESS=(); PLACEMENT="broker ($CORES shards) and harness share the CPUs"
fi
trap 'stop_broker; check_panics; [[ -n "$KEEP" ]] && mkdir -p "$KEEP" && cp "$WORK"/*.json "$WORK"/*.log "$KEEP"/ 2>/dev/null; rm -rf "$WORK"' EXIT

write_fill_workload "$WORK/fill.yaml" "catch-up fill ${GB} GB / ${PARTITIONS} partitions / 1kb" \
  "$PARTITIONS" "$GB"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_broker "${BINARIES[0]}" fill "${CPU_ARGS[@]}" "${BROKER_ARGS[@]}"
echo "filling ${GB} GB over ${PARTITIONS} partitions..."
"${HARNESS[@]}" "$BENCH" run -w "$WORK/fill.yaml" -b "$BOOT" --acks 1 --quiet --topic-prefix catchup \
  --output "$WORK/fill.json" >/dev/null
stop_broker
du -sh "$WORK/data" | awk '{print "stored: " $1}'

n=0
for round in $(seq "$ROUNDS"); do
  for b in "${BINARIES[@]}"; do
    n=$((n + 1))
    start_broker "$b" "drain-$n" "${CPU_ARGS[@]}" "${BROKER_ARGS[@]}"
    load=$(cut -d' ' -f1 /proc/loadavg)
    rc=0
    "${HARNESS[@]}" "$BENCH" drain -b "$BOOT" --topic-prefix catchup --timeout "$TIMEOUT" --quiet \
      --output "$WORK/drain-$n.json" || rc=$?
    stop_broker
    python3 - "$WORK/drain-$n.json" "$b" "$round" "$load" "$rc" "$PLACEMENT" <<'EOF'
import json, sys
path, binary, rnd, load, rc, placement = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"round {rnd} {binary}: no result ({e}), exit {rc}"); sys.exit(0)
secs = r["per_second_bytes"]
print(f"round {rnd} {binary}: {r['value_bytes']/1e9:.2f} GB in {r['seconds']:.2f} s = "
      f"{r['value_bytes_per_s']/1e9:.3f} GB/s ({r['records_per_s']/1e3:.0f} k rec/s), "
      f"per-second max {max(secs)/1e9 if secs else 0:.3f} GB/s, {r['partitions']} partitions, "
      f"{r['consumers']} consumers, verified {'ok' if r['ok'] else 'FAILED ' + '; '.join(r['details'][:3])}; "
      f"load {load}; {placement}")
EOF
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
check_panics
[[ $PANICKED -eq 0 ]] || exit 3
