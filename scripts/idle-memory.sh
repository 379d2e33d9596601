#!/usr/bin/env bash
# Idle memory and file descriptors per partition: starts Sluice, creates one topic with N
# partitions (no data), and prints the broker's RSS and open fds before and after, per
# partition. Loopback only; bounded (one CreateTopics, one sample).
#
# Never part of CI. Usage:
#   scripts/idle-memory.sh [--partitions N] [--cores N] [--max-connections N]
# Partitions must fit the open-file limit: RLIMIT_NOFILE - max-connections - 256 - 16 per core
# (one descriptor per partition).
# Results: target/idle-memory/summary.txt for BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PARTITIONS=10000
CORES=""
CONNECTIONS=10000

while [[ $# -gt 0 ]]; do
  case "$1" in
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --cores) CORES="--cores $2"; shift 2 ;;
    --max-connections) CONNECTIONS="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "idle-memory: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "${CI:-}" ]] && { echo "idle-memory: refusing to run under CI" >&2; exit 2; }

OUT="$ROOT/target/idle-memory"
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release --quiet
SLUICE="$ROOT/target/release/sluice"

# shellcheck disable=SC2086 # CORES is either empty or two words
"$SLUICE" serve --data-dir "$OUT/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --ports-file "$OUT/ports.json" --log-level warn --max-connections "$CONNECTIONS" $CORES \
  2>"$OUT/broker.log" &
BROKER=$!
trap 'kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; rm -rf "$OUT/data"' EXIT
for _ in $(seq 1 300); do [[ -s "$OUT/ports.json" ]] && break; sleep 0.1; done
[[ -s "$OUT/ports.json" ]] || { echo "idle-memory: broker did not start" >&2; exit 1; }
PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['bootstrap'])" "$OUT/ports.json")

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$BROKER/status"; }
fds() { find "/proc/$BROKER/fd" -mindepth 1 -maxdepth 1 | wc -l; }

rss_before=$(rss_kib)
fds_before=$(fds)
started=$(date +%s.%N)
timeout 600 "$SLUICE" topic create idle -p "$PARTITIONS" --brokers "127.0.0.1:$PORT" >/dev/null
took=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$started")
sleep 2 # let the shards publish; memory is sampled once, after creation
rss_after=$(rss_kib)
fds_after=$(fds)
{
  echo "partitions created:       $PARTITIONS in ${took} s"
  echo "RSS before / after:       $rss_before KiB / $rss_after KiB"
  echo "idle RSS per partition:   $(( (rss_after - rss_before) * 1024 / PARTITIONS )) bytes"
  echo "open fds before / after:  $fds_before / $fds_after ($(( (fds_after - fds_before) / PARTITIONS )) per partition)"
  echo "RLIMIT_NOFILE (soft):     $(awk '/Max open files/ {print $4}' "/proc/$BROKER/limits")"
} | tee "$OUT/summary.txt"
