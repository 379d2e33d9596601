#!/usr/bin/env bash
# TLS overhead: produce+consume throughput over an SSL listener against a PLAINTEXT listener of
# the same broker, in one session, as interleaved runs of sluice-bench (max rate, 1 KiB, 16
# partitions), with the broker's CPU time per run. Prints one line per run and the medians.
#
# Certificates are made with `openssl` into a temporary directory. Never part of CI.
#
# Usage: scripts/tls-bench.sh [--rounds N] [--duration D] [--warmup D] [--out DIR]
#   --rounds N     plaintext/TLS pairs, alternating which goes first (default 2; each run writes
#                  several GB, kept to ~50 MiB per partition by the retention flags below)
#   --duration D   measured time per run (default 10s)
#   --warmup D     warm-up per run (default 3s)
#   --out DIR      where results go (default bench-results/tls-<UTC timestamp>)
#   --sluice BIN   broker binary to measure instead of building this checkout's (an A/B of two
#                  builds: run the script once per binary, interleaved)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS=2
DURATION=10s
WARMUP=3s
OUT=""
SLUICE_BIN=""
# Bounds: the broker must be up within this many 0.1 s polls; a run may take this long.
READY_POLLS=300
RUN_TIMEOUT_S=300

die() { echo "tls-bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --sluice) SLUICE_BIN="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ -n "${CI:-}" ]] && die "refusing to run under CI"
command -v openssl >/dev/null || die "needs openssl"

OUT="${OUT:-$ROOT/bench-results/tls-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
echo "results in $OUT"

if [[ -z "$SLUICE_BIN" ]]; then
  echo "building sluice and sluice-bench (release)..."
  (cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
fi
SLUICE="${SLUICE_BIN:-$ROOT/target/release/sluice}"
BENCH="$ROOT/target/release/sluice-bench"

# --- certificates ---------------------------------------------------------------------------
PKI="$OUT/pki"
mkdir -p "$PKI"
EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
(
  cd "$PKI"
  openssl req -x509 "${EC[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=Sluice Bench CA" 2>/dev/null
  openssl req "${EC[@]}" -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >broker.ext
  openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -out broker.pem -extfile broker.ext 2>/dev/null
)

# --- broker ---------------------------------------------------------------------------------
DATA="$OUT/data"
PORTS="$OUT/ports.json"
"$SLUICE" serve --data-dir "$DATA" --admin-listen 127.0.0.1:0 --ports-file "$PORTS" \
  --listeners "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0" \
  --ssl-certificate "$PKI/broker.pem" --ssl-key "$PKI/broker.key" \
  --log-segment-bytes 16777216 --log-retention-bytes 33554432 \
  --log-retention-check-interval-ms 1000 \
  2>"$OUT/broker.log" &
BROKER=$!
# Small segments and retention keep the disk bounded (~50 MiB per partition); the data goes at
# exit, the results stay.
trap 'kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq "$READY_POLLS"); do [[ -s "$PORTS" ]] && break; sleep 0.1; done
[[ -s "$PORTS" ]] || die "broker not up; see $OUT/broker.log"
listener() { python3 -c "import json,sys; l=[l for l in json.load(open('$PORTS'))['listeners'] if l['protocol']=='$1'][0]; print(f\"{l['host']}:{l['bootstrap']}\")"; }
PLAIN="$(listener PLAINTEXT)"
SSL="$(listener SSL)"
echo "broker pid $BROKER: PLAINTEXT $PLAIN, SSL $SSL"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_one KIND ROUND
run_one() {
  local kind="$1" round="$2" out="$OUT/$1-$2.json" args=()
  local bootstrap="$PLAIN"
  if [[ "$kind" == tls ]]; then bootstrap="$SSL"; args=(--tls-ca "$PKI/ca.pem"); fi
  local t0 c0 t1 c1 load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  t0=$(date +%s.%N); c0=$(cpu_ticks "$BROKER")
  timeout "$RUN_TIMEOUT_S" "$BENCH" run --workload "$ROOT/bench-harness/workloads/max-rate-1kb-16p.yaml" \
    --driver "$ROOT/bench-harness/workloads/driver-acks-1.yaml" \
    --bootstrap "$bootstrap" --duration "$DURATION" --warmup "$WARMUP" --quiet \
    --name "sluice-$kind" --topic-prefix "tls-bench-$kind-$round" --data-dir "$DATA" \
    --output "$out" "${args[@]}" >/dev/null
  t1=$(date +%s.%N); c1=$(cpu_ticks "$BROKER")
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
  if (( r % 2 )); then run_one plain "$r"; run_one tls "$r"; else run_one tls "$r"; run_one plain "$r"; fi
done

python3 - "$OUT/runs.tsv" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
med = {}
for kind in ("plain", "tls"):
    rs = [r for r in rows if r[0] == kind]
    med[kind] = [statistics.median(float(r[i]) for r in rs) for i in (2, 3, 4, 5)]
    print(f"median {kind}: produce {med[kind][0]:.1f} MiB/s, consume {med[kind][1]:.1f} MiB/s, "
          f"broker {med[kind][2]:.2f} cores, harness {med[kind][3]:.2f} cores")
p = (med["tls"][0] + med["tls"][1]) / (med["plain"][0] + med["plain"][1])
print(f"TLS / plaintext (produce+consume): {p:.0%}")
EOF
