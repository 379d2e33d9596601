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
die() { echo "catchup-bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gb) GB="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --cores) CORES="$2"; shift 2 ;;
    --pin) PIN=1; shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --keep-results) KEEP="$2"; shift 2 ;;
    --broker-arg) BROKER_ARGS+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) BINARIES+=("$1"); shift ;;
  esac
done
[[ -n "${CI:-}" ]] && die "refusing to run under CI"
if [[ ${#BINARIES[@]} -eq 0 || -z "${SLUICE_BENCH_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
fi
[[ ${#BINARIES[@]} -gt 0 ]] || BINARIES=("$ROOT/target/release/sluice")
BENCH="${SLUICE_BENCH_BIN:-$ROOT/target/release/sluice-bench}"
for b in "${BINARIES[@]}"; do [[ -x "$b" ]] || die "no broker binary $b"; done
# The data goes next to the repository (a disk), never to a tmpfs.
WORK="$(mktemp -d "$ROOT/target/catchup-bench.XXXXXX")"
AVAIL_KB=$(df -Pk "$WORK" | awk 'NR==2 {print $4}')
NEED_KB=$(( GB * 1100 * 1024 + 2 * 1024 * 1024 ))
[[ $AVAIL_KB -gt $NEED_KB ]] || { rm -rf "$WORK"; die "needs $((NEED_KB / 1024)) MB free, $((AVAIL_KB / 1024)) MB left"; }

if [[ $PIN -eq 1 ]]; then
  CPU_ARGS=(--cores 1 --cpuset 0); HARNESS=(taskset -c 1); PLACEMENT="broker on CPU 0 (1 shard), harness on CPU 1"
else
  CPU_ARGS=(--cores "$CORES"); HARNESS=(); PLACEMENT="broker ($CORES shards) and harness share the CPUs"
fi
PID=""
stop_broker() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
PANICKED=0
check_panics() {
  [[ $PANICKED -eq 0 ]] || return 0
  if grep -l panicked "$WORK"/*.log >/dev/null 2>&1; then
    PANICKED=1
    echo "catchup-bench: A BROKER PANICKED during the run:" >&2; grep -h -m5 -A2 panicked "$WORK"/*.log >&2
  fi
}
trap 'stop_broker; check_panics; [[ -n "$KEEP" ]] && mkdir -p "$KEEP" && cp "$WORK"/*.json "$WORK"/*.log "$KEEP"/ 2>/dev/null; rm -rf "$WORK"' EXIT

# start_broker BINARY LOGNAME: sets BOOT.
start_broker() {
  rm -f "$WORK/ports.json"
  "$1" serve "${CPU_ARGS[@]}" --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --ports-file "$WORK/ports.json" "${BROKER_ARGS[@]}" 2>"$WORK/$2.log" &
  PID=$!
  for _ in $(seq 600); do [[ -s "$WORK/ports.json" ]] && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  [[ -s "$WORK/ports.json" ]] || die "broker did not start: $(tail -5 "$WORK/$2.log")"
  BOOT="127.0.0.1:$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"])' "$WORK/ports.json")"
}

cat >"$WORK/fill.yaml" <<EOF
name: catch-up fill ${GB} GB / ${PARTITIONS} partitions / 1kb
topics: 1
partitionsPerTopic: ${PARTITIONS}
messageSize: 1024
subscriptionsPerTopic: 0
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 0
consumerBacklogSizeGB: ${GB}
warmupDurationMinutes: 0
testDurationMinutes: 0.02
EOF

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_broker "${BINARIES[0]}" fill
echo "filling ${GB} GB over ${PARTITIONS} partitions..."
"${HARNESS[@]}" "$BENCH" run -w "$WORK/fill.yaml" -b "$BOOT" --acks 1 --quiet --topic-prefix catchup \
  --output "$WORK/fill.json" >/dev/null
stop_broker
du -sh "$WORK/data" | awk '{print "stored: " $1}'

n=0
for round in $(seq "$ROUNDS"); do
  for b in "${BINARIES[@]}"; do
    n=$((n + 1))
    start_broker "$b" "drain-$n"
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
