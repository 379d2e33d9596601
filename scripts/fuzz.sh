#!/usr/bin/env bash
# Fuzz Sluice for a bounded time (a script, not CI; FUZZING.md has the figures of past runs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 180 s for each of `request` and `decode`
#
# Targets (fuzz/fuzz_targets/):
#   request  sequences of generated requests of every served API and version, through a broker
#            running in the fuzzer's process (its handlers, shards, groups and logs), checked
#            after every request and every sequence (tests/harness/request_check.rs)
#   decode   arbitrary bytes through the request decoders
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
[ ${#targets[@]} -gt 0 ] || targets=(request decode)
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
mkdir -p corpus/decode corpus/request logs
# Give the decoder real requests to mutate from: an ApiVersions v3 and a Metadata v1 frame.
printf '\x00\x12\x00\x03\x00\x00\x00\x01\x00\x03cli\x00\x04sdk\x041.0\x00' >corpus/decode/seed-api-versions
printf '\x00\x03\x00\x01\x00\x00\x00\x02\xff\xff\x00\x00\x00\x01\x00\x01t' >corpus/decode/seed-metadata

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
