#!/usr/bin/env bash
# Fuzz Sluice for a bounded time (a script, not CI; FUZZING.md has the figures of past runs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 180 s for each target below
#
# Targets (fuzz/fuzz_targets/):
#   request  sequences of generated requests of every served API and version, through a broker
#            running in the fuzzer's process (its handlers, shards, groups and logs), checked
#            after every request and every sequence (tests/harness/request_check.rs)
#   decode   arbitrary bytes through the request decoders
#   offsets_records
#            arbitrary bytes through what start-up reads back from the internal topics: the
#            `__consumer_offsets` and `__transaction_state` record decoders, the replay of whole
#            stored batches (CRCs resealed, so hostile counts reach the walker) and the groups
#            rebuilt from them (tests/harness/internal_records_check.rs)
#
# cargo-fuzz needs nightly features; on the stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# It is installed from crates.io if absent. Built without a sanitizer (`-s none`): the code is
# safe Rust, and the request target runs glommio's io_uring executors in process, where
# AddressSanitizer only slows the search. An allocation the size of a hostile count still
# aborts the decode target (it fails outright).
#
# Crashes land in fuzz/artifacts/<target>/, corpora grow in fuzz/corpus/<target>/, each run's
# log is fuzz/logs/<target>-<UTC time>.log (all ignored by git). The run ends with libFuzzer's
# final stats (executions, exec/s) and its last coverage line (cov, ft).
# Set FUZZ_NICE (default 10) to share the machine, FUZZ_ARGS for more libFuzzer flags.
set -euo pipefail

seconds="${1:-180}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request decode offsets_records)
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
mkdir -p corpus/decode corpus/request corpus/offsets_records logs
# Give the decoder real requests to mutate from: an ApiVersions v3 and a Metadata v1 frame.
printf '\x00\x12\x00\x03\x00\x00\x00\x01\x00\x03cli\x00\x04sdk\x041.0\x00' >corpus/decode/seed-api-versions
printf '\x00\x03\x00\x01\x00\x00\x00\x02\xff\xff\x00\x00\x00\x01\x00\x01t' >corpus/decode/seed-metadata
# And the record target real records (the first byte picks the check's mode,
# internal_records_check.rs): an offset commit (key and v3 value); a consumer group's metadata
# and classic member records with that commit, replayed; the same written as stored batches.
printf '\x00\x00\x0c\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x00\x05\x00\x01m\x00\x00\x00\x00\x00\x00\x00\x09' >corpus/offsets_records/seed-offset
group='\x00\x05\x00\x03\x00\x01g\x00\x07\x00\x00\x00\x00\x00\x05\x00\x00\x08\x00\x05\x00\x01g\x00\x01m\x00\x1e\x00\x00\x00\x00\x02c\x02h\x02\x02t\x00\x00\x00\x03\xe8\x00\x01\x00\x0a\x00\x00\x00\x0a\x02\x02r\x01\x00\x00\x00\x0c\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x00\x00\x19\x00\x03\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x00\x05\x00\x01m\x00\x00\x00\x00\x00\x00\x00\x09'
printf "\\x01$group" >corpus/offsets_records/seed-group
printf "\\x03$group" >corpus/offsets_records/seed-batches

RUSTC_BOOTSTRAP=1 nice -n "${FUZZ_NICE:-10}" cargo fuzz build -s none
status=0
for target in "${targets[@]}"; do
    case "$target" in
        # The in-process broker takes memory and threads; one execution can legitimately wait
        # tens of milliseconds (long polls, rebalances), never a minute.
        request) flags=(-timeout=60 -rss_limit_mb=4096 -max_len=1024 -len_control=0) ;;
        *) flags=(-rss_limit_mb=2048 -malloc_limit_mb=256) ;;
    esac
    log="logs/$target-$(date -u +%Y%m%dT%H%M%SZ).log"
    echo "fuzzing $target for ${seconds}s (log: fuzz/$log)" >&2
    # shellcheck disable=SC2086
    if ! RUSTC_BOOTSTRAP=1 nice -n "${FUZZ_NICE:-10}" cargo fuzz run -s none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${flags[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1; then
        echo "$target: FAILED (finding or error), see fuzz/$log and fuzz/artifacts/$target/" >&2
        status=1
    fi
    grep -E '^#[0-9]+' "$log" | tail -1 >&2 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" >&2 || true
done
exit $status
