#!/usr/bin/env bash
# Authorization overhead: produce+consume throughput against a broker with
# `--authorizer standard` (User:ANONYMOUS allowed by ACLs, not a super user, so every Produce
# and Fetch really asks the authorizer: a decision-cache hit per topic per request) against
# the same build with `--authorizer none`, in one session, as interleaved runs of sluice-bench
# (max rate, 1 KiB, 16 partitions, acks=1), with each broker's CPU time per run. Prints one
# line per run and the medians.
#
# The two brokers run side by side (the idle one costs nothing measurable); the ACLs are made
# while the standard broker runs with User:ANONYMOUS as super user, which it then loses on a
# restart (the ACLs are metadata and persist). Never part of CI.
#
# Usage: scripts/acl-bench.sh [--rounds N] [--duration D] [--warmup D] [--out DIR]
#   --rounds N     none/standard pairs, alternating which goes first (default 2: each run writes
#                  several GB, see the TLS entry of BENCHMARKS.md)
#   --duration D   measured time per run (default 10s)
#   --warmup D     warm-up per run (default 3s)
#   --out DIR      where results go (default bench-results/acl-<UTC timestamp>)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS=2
DURATION=10s
WARMUP=3s
OUT=""
# Bounds: a broker must be up within this many 0.1 s polls; a run may take this long.
READY_POLLS=300
RUN_TIMEOUT_S=300

die() { echo "acl-bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ -n "${CI:-}" ]] && die "refusing to run under CI"

OUT="${OUT:-$ROOT/bench-results/acl-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
echo "results in $OUT"

echo "building sluice and sluice-bench (release)..."
(cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
SLUICE="$ROOT/target/release/sluice"
BENCH="$ROOT/target/release/sluice-bench"

declare -A PID BOOT
# Small segments and retention keep the disk bounded; the data goes at exit, the results stay.
COMMON=(--admin-listen 127.0.0.1:0 --listen 127.0.0.1:0
  --log-segment-bytes 16777216 --log-retention-bytes 33554432
  --log-retention-check-interval-ms 1000)

# start KIND EXTRA_FLAGS...
start() {
  local kind="$1"; shift
  local ports="$OUT/ports-$kind.json"
  rm -f "$ports"
  "$SLUICE" serve --data-dir "$OUT/data-$kind" --ports-file "$ports" "${COMMON[@]}" "$@" \
    2>>"$OUT/broker-$kind.log" &
  PID[$kind]=$!
  for _ in $(seq "$READY_POLLS"); do [[ -s "$ports" ]] && break; sleep 0.1; done
  [[ -s "$ports" ]] || die "$kind broker not up; see $OUT/broker-$kind.log"
  BOOT[$kind]="$(python3 -c "import json; p=json.load(open('$ports')); print(f\"127.0.0.1:{p['bootstrap']}\")")"
}
stop() { kill "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; }
cleanup() {
  for k in "${!PID[@]}"; do stop "$k"; done
  rm -rf "$OUT"/data-*
}
trap cleanup EXIT

start none --authorizer none
start standard --authorizer standard --super-users User:ANONYMOUS
acl() { "$SLUICE" acl create --brokers "${BOOT[standard]}" --allow-principal User:ANONYMOUS "$@" >/dev/null; }
acl --topic acl-bench- --resource-pattern-type prefixed --operation All
acl --group '*' --operation All
acl --cluster --operation Create --operation IdempotentWrite --operation Describe
stop standard
start standard --authorizer standard
echo "none: ${BOOT[none]} (pid ${PID[none]}), standard: ${BOOT[standard]} (pid ${PID[standard]})"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_one KIND ROUND
run_one() {
  local kind="$1" round="$2" out="$OUT/$1-$2.json" pid="${PID[$1]}"
  local t0 c0 t1 c1 load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
  timeout "$RUN_TIMEOUT_S" "$BENCH" run --workload "$ROOT/bench-harness/workloads/max-rate-1kb-16p.yaml" \
    --driver "$ROOT/bench-harness/workloads/driver-acks-1.yaml" \
    --bootstrap "${BOOT[$kind]}" --duration "$DURATION" --warmup "$WARMUP" --quiet \
    --name "sluice-authorizer-$kind" --topic-prefix "acl-bench-$kind-$round" \
    --data-dir "$OUT/data-$kind" --output "$out" >/dev/null
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  python3 - "$out" "$kind" "$round" "$t0" "$t1" "$c0" "$c1" "$CLK_TCK" "$load" >>"$OUT/runs.tsv" <<'EOF'
import json, sys
out, kind, rnd, t0, t1, c0, c1, tck, load = sys.argv[1:]
s = json.load(open(out))["summary"]
wall = float(t1) - float(t0)
cores = (int(c1) - int(c0)) / int(tck) / wall
print(f"{kind}\t{rnd}\t{s['produced_bytes_per_s']/2**20:.1f}\t{s['consumed_bytes_per_s']/2**20:.1f}\t{cores:.2f}\t{s['harness_cpu_cores']:.2f}\t{load}")
EOF
  tail -n1 "$OUT/runs.tsv"
}

printf "kind\tround\tproduce_MiB_s\tconsume_MiB_s\tbroker_cores\tharness_cores\tload1\n" | tee "$OUT/runs.tsv"
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then run_one none "$r"; run_one standard "$r"; else run_one standard "$r"; run_one none "$r"; fi
done

python3 - "$OUT/runs.tsv" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
med = {}
for kind in ("none", "standard"):
    rs = [r for r in rows if r[0] == kind]
    med[kind] = [statistics.median(float(r[i]) for r in rs) for i in (2, 3, 4, 5)]
    print(f"median {kind}: produce {med[kind][0]:.1f} MiB/s, consume {med[kind][1]:.1f} MiB/s, "
          f"broker {med[kind][2]:.2f} cores, harness {med[kind][3]:.2f} cores")
p = (med["standard"][0] + med["standard"][1]) / (med["none"][0] + med["none"][1])
print(f"standard / none (produce+consume): {p:.0%}")
EOF
