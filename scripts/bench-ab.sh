#!/usr/bin/env bash
# Compares two sluice-bench binaries (say, before and after a change to the harness) against
# the same broker build: runs them interleaved (A B A B ...) on each workload, each run against
# a fresh Sluice with a fresh data dir, broker pinned to CPU 0 and harness to CPU 1, and prints
# throughput and harness CPU per message per run, then the median and spread per binary.
#
# Harness CPU per message is taken two ways: sluice-bench's own figure (getrusage over the
# measured window, messages produced + consumed) and the whole process's utime + stime from
# /usr/bin/time divided by every message it produced and consumed (warm-up and drain included).
#
# Bounded: every run is killed after its duration + warm-up + 120 s. Never part of CI.
#
# Usage: scripts/bench-ab.sh [options] BENCH_A BENCH_B [WORKLOAD.yaml ...]
#   --broker BIN      the sluice binary (default target/release/sluice)
#   --broker-b BIN    run B against this sluice binary instead (compare two broker builds
#                     with the same sluice-bench: give the same BENCH twice)
#   --pairs N         A/B pairs per workload (default 3)
#   --duration D      measured time per run (default 20s)
#   --warmup D        warm-up per run (default 5s)
#   --driver FILE     OMB driver file (default bench-harness/workloads/driver-acks-1.yaml)
#   --out DIR         where results go (default bench-results/ab-<UTC timestamp>)
# Workloads default to the max-rate 1 KiB and 100 B ones.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORKLOADS_DIR="$ROOT/bench-harness/workloads"
BROKER="$ROOT/target/release/sluice"
BROKER_B=""
PAIRS=3
DURATION=20s
WARMUP=5s
DRIVER="$WORKLOADS_DIR/driver-acks-1.yaml"
OUT=""
ARGS=()

die() { echo "bench-ab: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --broker) BROKER="$2"; shift 2 ;;
    --broker-b) BROKER_B="$2"; shift 2 ;;
    --pairs) PAIRS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --driver) DRIVER="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ -n "${CI:-}" ]] && die "refusing to run under CI: this takes minutes and measures the machine"
[[ ${#ARGS[@]} -ge 2 ]] || die "give two sluice-bench binaries (see --help)"
BENCH_A="${ARGS[0]}"
BENCH_B="${ARGS[1]}"
WORKLOADS=("${ARGS[@]:2}")
if [[ ${#WORKLOADS[@]} -eq 0 ]]; then
  WORKLOADS=("$WORKLOADS_DIR/max-rate-1kb-16p.yaml" "$WORKLOADS_DIR/max-rate-100b-16p.yaml")
fi
BROKER_B="${BROKER_B:-$BROKER}"
for f in "$BENCH_A" "$BENCH_B" "$BROKER" "$BROKER_B"; do [[ -x "$f" ]] || die "not executable: $f"; done
[[ $(nproc) -ge 2 ]] || die "needs 2 CPUs (broker on 0, harness on 1)"
OUT="${OUT:-$ROOT/bench-results/ab-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SUMMARY="$OUT/runs.tsv"
printf 'workload\tbinary\tpair\tproduced_msgs_per_s\tproduced_MB_per_s\tconsumed_msgs_per_s\tcpu_ns_per_msg_window\tcpu_ns_per_msg_process\tverified\tloadavg_1m\tbroker_cpu_ns_per_msg\n' >"$SUMMARY"
echo "results in $OUT"

secs() { python3 -c 'import re,sys; m=re.fullmatch(r"(\d+)(ms|s|m)?",sys.argv[1]); n=int(m[1]); print({"ms":n//1000,"s":n,"m":n*60,None:n}[m[2]])' "$1"; }
RUN_LIMIT_S=$(( $(secs "$DURATION") + $(secs "$WARMUP") + 120 ))

BROKER_PID=""
stop_broker() {
  if [[ -n "$BROKER_PID" ]]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
  fi
}
trap stop_broker EXIT

# run_one LABEL BENCH WORKLOAD PAIR
run_one() {
  local label="$1" bench="$2" workload="$3" pair="$4"
  local wl data ports port out broker="$BROKER"
  [[ "$label" == B ]] && broker="$BROKER_B"
  wl="$(basename "$workload" .yaml)"
  data="$OUT/data"; rm -rf "$data"; mkdir -p "$data"
  ports="$OUT/ports.json"; rm -f "$ports"
  "$broker" serve --cores 1 --cpuset 0 --data-dir "$data" --listen 127.0.0.1:0 \
      --admin-listen 127.0.0.1:0 --ports-file "$ports" >"$OUT/sluice-$wl-$label-$pair.log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 300); do [[ -s "$ports" ]] && break; kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
  [[ -s "$ports" ]] || die "sluice did not start; see $OUT/sluice-$wl-$label-$pair.log"
  port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"])' "$ports")
  out="$OUT/$wl-$label-$pair.json"
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== $wl $label pair $pair (load $load)"
  local rc=0
  timeout "$RUN_LIMIT_S" /usr/bin/time -f '%U %S' -o "$OUT/$wl-$label-$pair.time" \
    taskset -c 1 "$bench" run --workload "$workload" --driver "$DRIVER" \
      --bootstrap "127.0.0.1:$port" --duration "$DURATION" --warmup "$WARMUP" --quiet \
      --name "$label" --placement "broker cpu 0, harness cpu 1" --durability "acks=1" \
      --data-dir "$data" --output "$out" >"$OUT/$wl-$label-$pair.out" 2>&1 || rc=$?
  # The broker's utime + stime (clock ticks) over its life, warm-up and drain included.
  local broker_ticks
  broker_ticks=$(awk '{print $14 + $15}' "/proc/$BROKER_PID/stat" 2>/dev/null || echo 0)
  stop_broker
  rm -rf "$data"
  if [[ $rc -ne 0 || ! -f "$out" ]]; then
    echo "!! $label on $wl failed (exit $rc); see $OUT/$wl-$label-$pair.out" >&2
    return 0
  fi
  python3 - "$out" "$OUT/$wl-$label-$pair.time" "$wl" "$label" "$pair" "$load" "$broker_ticks" "$(getconf CLK_TCK)" >>"$SUMMARY" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
user, sys_ = map(float, open(sys.argv[2]).read().split()[-2:])
s = r["summary"]
total = s["produced_msgs"] + s["consumed_msgs"]
proc = (user + sys_) * 1e9 / total if total else 0.0
print("\t".join([sys.argv[3], sys.argv[4], sys.argv[5],
    f'{s["produced_msgs_per_s"]:.0f}', f'{s["produced_bytes_per_s"] / 1e6:.1f}',
    f'{s["consumed_msgs_per_s"]:.0f}', f'{s["harness_cpu_ns_per_msg"]:.0f}', f'{proc:.0f}',
    str(r["verification"]["ok"]).lower(), sys.argv[6],
    f'{float(sys.argv[7]) / float(sys.argv[8]) * 1e9 / s["produced_msgs"]:.0f}' if s["produced_msgs"] else "0"]))
EOF
  tail -1 "$SUMMARY"
}

for workload in "${WORKLOADS[@]}"; do
  [[ -f "$workload" ]] || die "no workload $workload"
  for pair in $(seq "$PAIRS"); do
    run_one A "$BENCH_A" "$workload" "$pair"
    run_one B "$BENCH_B" "$workload" "$pair"
  done
done

echo
echo "A = $BENCH_A"
echo "B = $BENCH_B"
echo "brokers: A $BROKER, B $BROKER_B"
python3 - "$SUMMARY" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cols = ["produced_msgs_per_s", "produced_MB_per_s", "cpu_ns_per_msg_window", "cpu_ns_per_msg_process", "broker_cpu_ns_per_msg"]
print("workload\tbinary\truns\t" + "\t".join(f"{c} median (min-max)" for c in cols))
for wl in dict.fromkeys(r["workload"] for r in rows):
    for b in ("A", "B"):
        rs = [r for r in rows if r["workload"] == wl and r["binary"] == b]
        if not rs:
            continue
        cells = []
        for c in cols:
            v = [float(r[c]) for r in rs]
            cells.append(f"{statistics.median(v):.6g} ({min(v):.6g}-{max(v):.6g})")
        print(f"{wl}\t{b}\t{len(rs)}\t" + "\t".join(cells))
EOF
