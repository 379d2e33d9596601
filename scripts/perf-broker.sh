#!/usr/bin/env bash
# Profiles the Sluice broker while scripts/bench-compare.sh drives it: once the broker is up
# and the warm-up is over, for the same SECONDS on the broker's PID, `perf stat -e
# page-faults,task-clock`, `perf record` of cycles (999 Hz) and `perf record` of page faults
# (every 200th, with its stack: who touched fresh pages); prints the counters and the top of
# both profiles (`perf report --no-children`), and leaves everything in OUT (perf-stat.txt,
# perf-cycles.txt, perf-faults.txt, perf-faults-callers.txt, and the bench's own results).
# The samplers cost the broker a few percent of CPU (the dwarf stacks most), the same in an
# A/B pair.
#
# Figures from a shared machine: page faults and CPU per MB mean something on a loaded
# machine, latency does not.
#
# Usage: scripts/perf-broker.sh [--seconds N] [--skip S] --out OUT [BENCH-COMPARE ARGS...]
#   --seconds N   length of the perf window (default 14); the bench's --duration plus
#                 --warmup must cover --skip plus it
#   --skip S      seconds from the broker's start to the first window (default 8: start-up
#                 plus the bench's warm-up)
#   --out OUT     where everything goes (also given to bench-compare.sh)
# Example:
#   scripts/perf-broker.sh --out /tmp/pb -- --no-tansu --no-ceilings --duration 40s \
#       --warmup 5s bench-harness/workloads/fixed-rate-100mb-1kb.yaml
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_EACH=14
SKIP=8
OUT=""
ARGS=()
die() { echo "perf-broker: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --skip) SKIP="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --) shift; ARGS+=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ -n "$OUT" ]] || die "give --out DIR"
[[ -n "${CI:-}" ]] && die "refusing to run under CI: this measures the machine"
command -v perf >/dev/null || die "perf is not installed"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

"$ROOT/scripts/bench-compare.sh" --out "$OUT" "${ARGS[@]}" >"$OUT/bench.log" 2>&1 &
BENCH_PID=$!
BROKER=""
# The build may take minutes; the broker is the bench script's own child named sluice.
for _ in $(seq 3000); do
  BROKER="$(pgrep -P "$BENCH_PID" -x sluice || true)"
  [[ -n "$BROKER" ]] && break
  kill -0 "$BENCH_PID" 2>/dev/null || { cat "$OUT/bench.log"; die "bench-compare ended first"; }
  sleep 0.2
done
[[ -n "$BROKER" ]] || die "no broker after 10 minutes"
echo "broker pid $BROKER; profiling after ${SKIP}s"
sleep "$SKIP"
perf record -q -F 999 -p "$BROKER" -o "$OUT/perf-cycles.data" -- sleep "$SECONDS_EACH" 2>/dev/null &
CYCLES=$!
# Every 200th fault with its user stack (dwarf: release builds keep no frame pointers).
perf record -q -e page-faults -c 200 --call-graph dwarf,8192 -p "$BROKER" \
    -o "$OUT/perf-faults.data" -- sleep "$SECONDS_EACH" 2>/dev/null &
FAULTS=$!
perf stat -e page-faults,task-clock -p "$BROKER" -o "$OUT/perf-stat.txt" -- sleep "$SECONDS_EACH"
wait "$CYCLES" "$FAULTS" || true
wait "$BENCH_PID" || echo "bench-compare exited with $?" >&2
for kind in cycles faults; do
  perf report --no-children --stdio --sort dso,symbol -g none -i "$OUT/perf-$kind.data" \
    2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 >"$OUT/perf-$kind.txt" || true
done
# Who the faulting code was called by (the frames of the hottest stacks).
perf report --no-children --stdio --sort symbol -g caller,2,callee --percent-limit 3 \
    -i "$OUT/perf-faults.data" 2>/dev/null | grep -v '^#' | grep -v '^ *|* *$' \
    | head -150 >"$OUT/perf-faults-callers.txt" || true
cat "$OUT/perf-stat.txt"
echo "--- cycles (top 25, --no-children)"; cat "$OUT/perf-cycles.txt"
echo "--- page faults (top 25, --no-children)"; cat "$OUT/perf-faults.txt"
grep -h -A12 "^### " "$OUT/bench.log" || tail -20 "$OUT/bench.log"
