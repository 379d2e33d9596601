#!/usr/bin/env bash
# Log compaction: how fast a shard's cleaner cleans (MB/s of segment read), and what it does to
# produce latency while it runs.
#
# 1. Cleaning speed: a compacted topic (8 MiB segments) is filled with --fill-mb of 1 KiB
#    records over --keys keys (confluent-kafka, tests/clients/.venv) while nothing is cleanable
#    (min.compaction.lag.ms of an hour); then the lag is set to 0 and the cleaner's metrics are
#    polled until it is done: MB/s = bytes read / wall time, cleaner I/O uncapped.
# 2. Produce p99 with and without cleaning: sluice-bench runs a fixed-rate workload (--rate
#    msg/s of 1 KiB, 4 partitions, acks=1) for --duration, once with the cleaner idle and once
#    while it cleans a second --fill-mb backlog with its I/O capped at --io-cap bytes/s (so the
#    cleaning lasts through the run; the script checks it did).
# The broker runs on CPU 0 (--cpuset 0, one shard), the load generators on CPU 1.
#
# Usage: [SLUICE_BIN=path SLUICE_BENCH_BIN=path] scripts/compaction-bench.sh [--fill-mb N]
#          [--keys N] [--rate MSG_S] [--duration S] [--io-cap BYTES_S]
# Never part of CI; loopback only; every loop is bounded in count and time.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FILL_MB=300
KEYS=10000
RATE=10000
DURATION=20
IO_CAP=$((20 * 1024 * 1024))
die() { echo "compaction-bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fill-mb) FILL_MB="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --io-cap) IO_CAP="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ -n "${CI:-}" ]] && die "refusing to run under CI"
PY="$ROOT/tests/clients/.venv/bin/python"
[[ -x "$PY" ]] || die "needs the client test venv (scripts/install-test-deps.sh)"

# SLUICE_BIN / SLUICE_BENCH_BIN run given binaries instead (e.g. a before/after comparison of
# two builds in the same minutes); unset, the worktree's release build is built and run.
if [[ -z "${SLUICE_BIN:-}" || -z "${SLUICE_BENCH_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p sluice -p bench-harness >/dev/null)
fi
SLUICE="${SLUICE_BIN:-$ROOT/target/release/sluice}"
BENCH="${SLUICE_BENCH_BIN:-$ROOT/target/release/sluice-bench}"
WORK="$(mktemp -d)"
PID=""
stop_broker() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
# A panic anywhere in a broker invalidates the run: say so before the logs go.
trap 'stop_broker
      if grep -l panicked "$WORK"/*.log >/dev/null 2>&1; then
        echo "compaction-bench: A BROKER PANICKED during the run:" >&2; grep -h -m5 -A2 panicked "$WORK"/*.log >&2
      fi; rm -rf "$WORK"' EXIT

# start_broker NAME EXTRA_FLAGS...: sets BOOT and ADMIN.
start_broker() {
  local name="$1"; shift
  rm -f "$WORK/ports.json"
  "$SLUICE" serve --cores 1 --cpuset 0 --data-dir "$WORK/$name" --listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --ports-file "$WORK/ports.json" --log-cleaner-backoff-ms 100 \
    "$@" 2>"$WORK/$name.log" &
  PID=$!
  for _ in $(seq 300); do [[ -s "$WORK/ports.json" ]] && break; sleep 0.1; done
  [[ -s "$WORK/ports.json" ]] || die "broker did not start: $(tail -5 "$WORK/$name.log")"
  read -r BOOT ADMIN < <("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); print("127.0.0.1:%d 127.0.0.1:%d" % (p["bootstrap"], p["admin"]))' "$WORK/ports.json")
}

# python helper: fill / unlock / wait-clean / metric, bounded in time.
cat >"$WORK/h.py" <<'PYEOF'
import sys, time, urllib.request
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource, ConfigEntry, AlterConfigOpType

def metric(admin, name):
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=5).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + "{") or l.startswith(name + " "))

cmd, boot = sys.argv[1], sys.argv[2]
if cmd == "fill":
    topic, mb, keys = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    a = AdminClient({"bootstrap.servers": boot})
    a.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact", "segment.bytes": str(8 << 20),
        "min.compaction.lag.ms": "3600000", "min.cleanable.dirty.ratio": "0.01"})])[topic].result(30)
    time.sleep(0.5)
    p = Producer({"bootstrap.servers": boot, "linger.ms": 20, "batch.size": 1 << 20, "acks": "1"})
    value = b"v" * 1000
    n = mb * 1024 * 1024 // 1024
    deadline = time.monotonic() + 300
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=b"key-%d" % (i % keys), value=value, partition=0); break
            except BufferError:
                p.poll(0.01)
                if time.monotonic() > deadline: sys.exit("fill timed out")
        p.poll(0)
    assert p.flush(120) == 0
elif cmd == "unlock":
    topic = sys.argv[3]
    a = AdminClient({"bootstrap.servers": boot})
    r = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("min.compaction.lag.ms", "0", incremental_operation=AlterConfigOpType.SET)])
    for f in a.incremental_alter_configs([r]).values(): f.result(30)
elif cmd == "wait-clean":
    admin, timeout = sys.argv[3], float(sys.argv[4])
    start = time.monotonic(); last = -1; stable_since = None
    while time.monotonic() - start < timeout:
        read = metric(admin, "sluice_log_cleaner_bytes_read_total")
        ratio = metric(admin, "sluice_log_cleaner_max_dirty_ratio_permille")
        if read > 0 and read == last and ratio < 10:
            if stable_since is None: stable_since = time.monotonic()
            if time.monotonic() - stable_since > 1.0: break
        else:
            stable_since = None
        last = read
        time.sleep(0.05)
    else:
        sys.exit("cleaner did not finish in time")
    took = stable_since - start
    print(f"{read:.0f} {took:.3f} {metric(admin, 'sluice_log_cleaner_bytes_written_total'):.0f} {metric(admin, 'sluice_log_cleaner_passes_total'):.0f}")
elif cmd == "metric":
    print(f"{metric(sys.argv[3], sys.argv[4]):.0f}")
PYEOF
h() { taskset -c 1 "$PY" "$WORK/h.py" "$@"; }

echo "== 1. cleaning speed (cleaner I/O uncapped), ${FILL_MB} MB over ${KEYS} keys"
start_broker speed --log-cleaner-io-max-bytes-per-second 100000000000
h fill "$BOOT" speed "$FILL_MB" "$KEYS"
h unlock "$BOOT" speed
read -r BYTES SECS WRITTEN PASSES < <(h wait-clean "$BOOT" "$ADMIN" 300)
"$PY" -c "import sys; b,s,w,p=map(float,sys.argv[1:]); print(f'cleaned {b/1e6:.1f} MB in {s:.2f} s: {b/1e6/s:.1f} MB/s read, {w/1e6:.1f} MB written, {p:.0f} passes')" "$BYTES" "$SECS" "$WRITTEN" "$PASSES"
stop_broker

cat >"$WORK/w.yaml" <<EOF
name: compaction-bench fixed rate
topics: 1
partitionsPerTopic: 4
keyDistributor: "NO_KEY"
messageSize: 1024
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: $RATE
consumerBacklogSizeGB: 0
warmupDurationMinutes: 0.05
testDurationMinutes: $(echo "scale=4; $DURATION / 60" | bc)
EOF

p99() { "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]["publish_latency"]; print("p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms" % (s["p50_us"]/1e3, s["p99_us"]/1e3, s["p999_us"]/1e3))' "$1"; }

echo "== 2. produce latency at $RATE msg/s of 1 KiB, acks=1, ${DURATION} s; cleaner I/O capped at $IO_CAP B/s"
start_broker latency --log-cleaner-io-max-bytes-per-second "$IO_CAP"
h fill "$BOOT" backlog "$FILL_MB" "$KEYS"
taskset -c 1 "$BENCH" run -w "$WORK/w.yaml" -b "$BOOT" --acks 1 --quiet --topic-prefix idle \
  --placement "broker cpu 0, bench cpu 1" --durability "acks=1" -o "$WORK/idle.json" >/dev/null
BEFORE=$(h metric "$BOOT" "$ADMIN" sluice_log_cleaner_io_bytes_total)
h unlock "$BOOT" backlog
taskset -c 1 "$BENCH" run -w "$WORK/w.yaml" -b "$BOOT" --acks 1 --quiet --topic-prefix busy \
  --placement "broker cpu 0, bench cpu 1" --durability "acks=1" -o "$WORK/busy.json" >/dev/null
AFTER=$(h metric "$BOOT" "$ADMIN" sluice_log_cleaner_io_bytes_total)
echo "cleaner idle:     $(p99 "$WORK/idle.json")"
echo "cleaner running:  $(p99 "$WORK/busy.json")   (cleaner read+wrote $(( (AFTER - BEFORE) / 1000000 )) MB during the run)"
[[ "$AFTER" -gt "$BEFORE" ]] || echo "WARNING: the cleaner did not run during the second run"
