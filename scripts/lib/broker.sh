# Shared by the disk benchmarks (catchup-bench.sh, isolation-bench.sh): start and stop one
# `sluice serve` on OS-picked loopback ports, find the binaries, check for panics, write the
# backlog-filling workload, parse their command lines. Sourced, not run. The sourcing script sets BENCH_NAME (its name in
# messages) and, before starting a broker, WORK (its scratch directory, on a disk).
#
# State it keeps: PID (the broker it started, stopped by that PID only), BOOT (its bootstrap
# address), PANICKED (1 once check_panics saw a panic in "$WORK"/*.log).

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# parse_bench_args ARG...: the command line of a disk benchmark, as the sourcing script
# declares it beforehand in three associative arrays, each from an option to the name of the
# variable it sets: BENCH_OPTS (the option takes a value), BENCH_FLAGS (no value: sets 1) and
# BENCH_LISTS (repeatable: appends its value to an array). -h/--help prints the script's header
# comment; any other word starting with - is refused; the rest are broker binaries, appended to
# BINARIES.
parse_bench_args() {
  local opt
  while [[ $# -gt 0 ]]; do
    opt="$1"
    if [[ "$opt" == -h || "$opt" == --help ]]; then
      sed -n '2,20p' "$0"; exit 0
    elif [[ -n "${BENCH_OPTS[$opt]:-}" ]]; then
      [[ $# -ge 2 ]] || die "$opt needs a value"
      printf -v "${BENCH_OPTS[$opt]}" '%s' "$2"; shift 2
    elif [[ -n "${BENCH_FLAGS[$opt]:-}" ]]; then
      printf -v "${BENCH_FLAGS[$opt]}" '%s' 1; shift
    elif [[ -n "${BENCH_LISTS[$opt]:-}" ]]; then
      [[ $# -ge 2 ]] || die "$opt needs a value"
      declare -n bench_list="${BENCH_LISTS[$opt]}"
      bench_list+=("$2"); unset -n bench_list; shift 2
    elif [[ "$opt" == -* ]]; then
      die "unknown option $opt"
    else
      BINARIES+=("$opt"); shift
    fi
  done
}

# bench_binaries ROOT BINARY...: builds the release binaries unless both the broker binaries
# and SLUICE_BENCH_BIN are given; sets BINARIES (default: ROOT's release build) and BENCH.
bench_binaries() {
  local root="$1"; shift
  BINARIES=("$@")
  if [[ ${#BINARIES[@]} -eq 0 || -z "${SLUICE_BENCH_BIN:-}" ]]; then
    (cd "$root" && cargo build --release -p sluice -p bench-harness >/dev/null)
  fi
  [[ ${#BINARIES[@]} -gt 0 ]] || BINARIES=("$root/target/release/sluice")
  BENCH="${SLUICE_BENCH_BIN:-$root/target/release/sluice-bench}"
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$b" ]] || die "no broker binary $b"; done
}

# bench_workdir ROOT NAME NEED_KB: sets WORK to a new directory under ROOT/target (a disk, never
# a tmpfs); refuses when the disk has less than NEED_KB free.
bench_workdir() {
  WORK="$(mktemp -d "$1/target/$2.XXXXXX")"
  local avail_kb
  avail_kb=$(df -Pk "$WORK" | awk 'NR==2 {print $4}')
  [[ $avail_kb -gt $3 ]] || { rm -rf "$WORK"; die "needs $(($3 / 1024)) MB free, $((avail_kb / 1024)) MB left"; }
}

PID=""
PANICKED=0

# start_broker BINARY LOGNAME [SERVE_ARG...]: starts the broker on WORK/data, stderr to
# WORK/LOGNAME.log, waits (bounded) for its ports file; sets PID and BOOT.
start_broker() {
  local binary="$1" log="$WORK/$2.log"; shift 2
  rm -f "$WORK/ports.json"
  "$binary" serve "$@" --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --ports-file "$WORK/ports.json" 2>"$log" &
  PID=$!
  for _ in $(seq 600); do [[ -s "$WORK/ports.json" ]] && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  [[ -s "$WORK/ports.json" ]] || die "broker did not start: $(tail -5 "$log")"
  BOOT="127.0.0.1:$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"])' "$WORK/ports.json")"
}

# stop_broker: SIGTERM to the broker this script started, and wait for it.
stop_broker() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }

# check_panics: says so (once) if any broker log in WORK has a panic; sets PANICKED.
check_panics() {
  [[ $PANICKED -eq 0 ]] || return 0
  if grep -l panicked "$WORK"/*.log >/dev/null 2>&1; then
    PANICKED=1
    echo "$BENCH_NAME: A BROKER PANICKED during the run:" >&2; grep -h -m5 -A2 panicked "$WORK"/*.log >&2
  fi
}

# write_fill_workload PATH NAME PARTITIONS GB: an OMB workload that only produces a GB backlog
# of 1 KiB records over PARTITIONS partitions (no consumers), as fast as the broker takes it.
write_fill_workload() {
  cat >"$1" <<WORKLOAD
name: $2
topics: 1
partitionsPerTopic: $3
messageSize: 1024
subscriptionsPerTopic: 0
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 0
consumerBacklogSizeGB: $4
warmupDurationMinutes: 0
testDurationMinutes: 0.02
WORKLOAD
}
