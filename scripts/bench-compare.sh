#!/usr/bin/env bash
# Runs the same OMB workloads against Sluice, Tansu and any already-running Kafka-compatible
# broker, measures the machine's ceilings in the same session, and writes one JSON result per
# (target, workload), a side-by-side HTML report and ratio tables.
#
# Never part of CI: installing Tansu builds it from source (~10 minutes on 2 cores).
#
# Usage: scripts/bench-compare.sh [options] [WORKLOAD.yaml ...]
#   --duration D         measured time per workload (default 30s; OMB's own values if "omb")
#   --warmup D           warm-up per workload (default 5s)
#   --driver FILE        OMB Kafka driver file (default bench-harness/workloads/driver-acks-1.yaml)
#   --out DIR            where results go (default bench-results/<UTC timestamp>)
#   --target NAME=H:P    add an already-running broker (repeatable); it is not started or stopped
#   --no-sluice          skip Sluice
#   --no-tansu           skip Tansu
#   --pin                pin the broker to the first half of the CPUs and the harness to the rest
#                        (Sluice: --cpuset/--cores; others: taskset); otherwise they share all CPUs
#   --no-fsync           start Sluice with --acks-all-no-fsync true (Kafka's acks=all semantics)
#   --no-ceilings        skip iperf3/fio
#   --tansu-bin PATH     use this tansu binary (default: `tansu` on PATH, else install it)
# Environment: SLUICE_SERVE_ARGS adds flags to `sluice serve` (A/B runs of one setting).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORKLOADS_DIR="$ROOT/bench-harness/workloads"
DURATION=30s
WARMUP=5s
DRIVER="$WORKLOADS_DIR/driver-acks-1.yaml"
OUT=""
TARGETS=()
RUN_SLUICE=1
RUN_TANSU=1
PIN=0
NO_FSYNC=0
CEILINGS=1
TANSU_BIN="${TANSU_BIN:-}"
WORKLOADS=()

die() { echo "bench-compare: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --driver) DRIVER="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --target) TARGETS+=("$2"); shift 2 ;;
    --no-sluice) RUN_SLUICE=0; shift ;;
    --no-tansu) RUN_TANSU=0; shift ;;
    --pin) PIN=1; shift ;;
    --no-fsync) NO_FSYNC=1; shift ;;
    --no-ceilings) CEILINGS=0; shift ;;
    --tansu-bin) TANSU_BIN="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) WORKLOADS+=("$1"); shift ;;
  esac
done

[[ -n "${CI:-}" ]] && die "refusing to run under CI: this builds Tansu and runs for many minutes"
if [[ ${#WORKLOADS[@]} -eq 0 ]]; then
  WORKLOADS=("$WORKLOADS_DIR/max-rate-1kb-16p.yaml" "$WORKLOADS_DIR/max-rate-100b-16p.yaml"
             "$WORKLOADS_DIR/fixed-rate-50k-1kb.yaml" "$WORKLOADS_DIR/fixed-rate-100mb-1kb.yaml")
fi
OUT="${OUT:-$ROOT/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
echo "results in $OUT"

# --- CPU placement -------------------------------------------------------------------------
NCPU=$(nproc)
if [[ $PIN -eq 1 ]]; then
  [[ $NCPU -ge 2 ]] || die "--pin needs at least 2 CPUs"
  HALF=$(( NCPU / 2 ))
  BROKER_CPUS="0-$(( HALF - 1 ))"
  HARNESS_CPUS="$HALF-$(( NCPU - 1 ))"
  PLACEMENT="broker on CPUs $BROKER_CPUS, harness on CPUs $HARNESS_CPUS"
  HARNESS_PREFIX=(taskset -c "$HARNESS_CPUS")
  BROKER_PREFIX=(taskset -c "$BROKER_CPUS")
else
  BROKER_CPUS=""
  PLACEMENT="broker and harness share all $NCPU CPUs (not pinned)"
  HARNESS_PREFIX=()
  BROKER_PREFIX=()
fi

# --- Build ---------------------------------------------------------------------------------
echo "building sluice and sluice-bench (release)..."
(cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
SLUICE="$ROOT/target/release/sluice"
BENCH="$ROOT/target/release/sluice-bench"
BENCH_VERSION="$("$BENCH" --version | awk '{print $2}')"
SLUICE_VERSION="$("$SLUICE" --version 2>/dev/null | awk '{print $2}')-$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"

if [[ $RUN_TANSU -eq 1 ]]; then
  if [[ -z "$TANSU_BIN" ]]; then
    TANSU_BIN="$(command -v tansu || true)"
  fi
  if [[ -z "$TANSU_BIN" ]]; then
    echo "installing Tansu 0.6.0 from crates.io with sqlite storage (~10 minutes)..."
    cargo install tansu --version 0.6.0 --locked --features libsql
    TANSU_BIN="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
  fi
  [[ -x "$TANSU_BIN" ]] || die "no tansu binary at $TANSU_BIN"
fi

# --- Ceilings ------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CEIL_FILE="$OUT/ceilings.json"
if [[ $CEILINGS -eq 1 ]]; then
  if ! command -v iperf3 >/dev/null || ! command -v fio >/dev/null; then
    echo "installing iperf3 and fio from Debian..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q iperf3 fio >/dev/null
  fi
  echo "measuring ceilings: loopback TCP (iperf3), O_DIRECT write and fdatasync (fio)..."
  P=$(free_port)
  # Not one-off (-1): the readiness probe below is a connection too, and would use it up.
  iperf3 -s -p "$P" >/dev/null 2>&1 &
  IPERF_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null && break; sleep 0.1; done
  iperf3 -c 127.0.0.1 -p "$P" -t 5 -J >"$OUT/iperf3.json" || true
  kill "$IPERF_PID" 2>/dev/null || true
  wait "$IPERF_PID" 2>/dev/null || true
  FIO_DIR="$OUT/fio-scratch"
  mkdir -p "$FIO_DIR"
  fio --name=seqwrite --directory="$FIO_DIR" --rw=write --bs=1M --size=2G --direct=1 \
      --ioengine=libaio --iodepth=8 --output-format=json >"$OUT/fio-write.json" || true
  fio --name=fdatasync --directory="$FIO_DIR" --rw=write --bs=16k --size=64M --fdatasync=1 \
      --ioengine=sync --output-format=json >"$OUT/fio-sync.json" || true
  rm -rf "$FIO_DIR"
  python3 - "$OUT" >"$CEIL_FILE" <<'EOF'
import json, sys, os
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except Exception:
        return None
c = {"loopback_bytes_per_s": None, "disk_write_bytes_per_s": None,
     "fdatasync_p50_us": None, "fdatasync_p99_us": None}
ip = load("iperf3.json")
if ip and "sum_received" in ip.get("end", {}):
    c["loopback_bytes_per_s"] = ip["end"]["sum_received"]["bits_per_second"] / 8
fw = load("fio-write.json")
if fw:
    c["disk_write_bytes_per_s"] = float(fw["jobs"][0]["write"]["bw_bytes"])
fs = load("fio-sync.json")
if fs:
    pct = fs["jobs"][0].get("sync", {}).get("lat_ns", {}).get("percentile", {})
    if pct:
        c["fdatasync_p50_us"] = pct.get("50.000000", 0) / 1000
        c["fdatasync_p99_us"] = pct.get("99.000000", 0) / 1000
print(json.dumps(c, indent=2))
EOF
  cat "$CEIL_FILE"
  CEIL_ARGS=(--ceilings "$CEIL_FILE")
else
  CEIL_ARGS=()
fi

# --- Running ---------------------------------------------------------------------------------
RESULTS=()
BROKER_PID=""
stop_broker() {
  if [[ -n "$BROKER_PID" ]]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
  fi
}
trap stop_broker EXIT

wait_port() { # host port seconds
  for _ in $(seq $(( $3 * 10 ))); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    kill -0 "$BROKER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

slug() { echo "$1" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-' | sed 's/--*/-/g; s/^-//; s/-$//'; }

# run_one NAME VERSION BOOTSTRAP DURABILITY DATA_DIR WORKLOAD
run_one() {
  local name="$1" version="$2" bootstrap="$3" durability="$4" data="$5" workload="$6"
  local wl_name out
  wl_name="$(basename "$workload" .yaml)"
  out="$OUT/$(slug "$name")-$wl_name.json"
  echo "== $name: $wl_name"
  local rc=0
  "${HARNESS_PREFIX[@]}" "$BENCH" run --workload "$workload" --driver "$DRIVER" \
      --bootstrap "$bootstrap" --duration "$DURATION" --warmup "$WARMUP" \
      --name "$name" --broker-version "$version" --placement "$PLACEMENT" \
      --durability "$durability" --data-dir "$data" --output "$out" "${CEIL_ARGS[@]}" || rc=$?
  [[ -f "$out" ]] && RESULTS+=("$out")
  [[ $rc -eq 0 ]] || echo "!! $name / $wl_name: sluice-bench exited with $rc (see above)" >&2
}

for workload in "${WORKLOADS[@]}"; do
  [[ -f "$workload" ]] || die "no workload $workload"
  # Each broker gets a fresh data dir per workload, so one workload's data can't slow the next.
  if [[ $RUN_SLUICE -eq 1 ]]; then
    data="$OUT/data-sluice"; rm -rf "$data"; mkdir -p "$data"
    ports="$data.ports.json"; rm -f "$ports"
    args=(serve --data-dir "$data/log" --listen 127.0.0.1:0 --ports-file "$ports" --admin-listen 127.0.0.1:0)
    if [[ $PIN -eq 1 ]]; then args+=(--cpuset "$BROKER_CPUS" --cores "$HALF"); fi
    # SLUICE_SERVE_ARGS: more `sluice serve` flags for an A/B run (e.g. "--log-preallocate true").
    if [[ -n "${SLUICE_SERVE_ARGS:-}" ]]; then read -r -a extra <<<"$SLUICE_SERVE_ARGS"; args+=("${extra[@]}"); fi
    if [[ $NO_FSYNC -eq 1 ]]; then
      args+=(--acks-all-no-fsync true); durability="acks=all acknowledged after the write, without fsync"
    else
      durability="acks=all acknowledged after fdatasync (group commit)"
    fi
    "$SLUICE" "${args[@]}" >"$OUT/sluice.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 300); do [[ -s "$ports" ]] && break; kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    if [[ -s "$ports" ]]; then
      port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"])' "$ports")
      run_one sluice "$SLUICE_VERSION" "127.0.0.1:$port" "$durability" "$data" "$workload"
    else
      echo "!! sluice did not start; log: $OUT/sluice.log" >&2
    fi
    stop_broker
    rm -rf "$data"
  fi
  if [[ $RUN_TANSU -eq 1 ]]; then
    data="$OUT/data-tansu"; rm -rf "$data"; mkdir -p "$data"
    port=$(free_port)
    (cd "$data" && exec "${BROKER_PREFIX[@]}" "$TANSU_BIN" broker \
        --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "sqlite://tansu.db") >"$OUT/tansu.log" 2>&1 &
    BROKER_PID=$!
    if wait_port 127.0.0.1 "$port" 60; then
      run_one tansu "0.6.0" "127.0.0.1:$port" "sqlite storage engine (Tansu's own commit semantics)" "$data" "$workload"
    else
      echo "!! tansu did not start; log: $OUT/tansu.log" >&2
    fi
    stop_broker
    rm -rf "$data"
  fi
  for t in "${TARGETS[@]}"; do
    run_one "${t%%=*}" "external" "${t#*=}" "as configured by its operator" "." "$workload"
  done
done

# --- Report ----------------------------------------------------------------------------------
[[ ${#RESULTS[@]} -gt 0 ]] || die "no results"
"$BENCH" report --output "$OUT/report.html" "${CEIL_ARGS[@]}" "${RESULTS[@]}"
for workload in "${WORKLOADS[@]}"; do
  wl_name="$(basename "$workload" .yaml)"
  files=()
  for r in "${RESULTS[@]}"; do [[ "$r" == *"-$wl_name.json" ]] && files+=("$r"); done
  if [[ ${#files[@]} -gt 0 ]]; then
    echo; echo "### $wl_name"; "$BENCH" compare "${files[@]}" | tee "$OUT/compare-$wl_name.txt"
  fi
done
echo; echo "sluice-bench $BENCH_VERSION; report: $OUT/report.html"
