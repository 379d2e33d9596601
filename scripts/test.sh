#!/usr/bin/env bash
# The one test command (README and .ci/run both call it). In order:
#   install test dependencies (kcat, Python venv, kafkajs) — fast when already installed,
#   cargo fmt --check, cargo clippy -D warnings, cargo build --release (the tests run the release
#   binary), cargo test --workspace (unit + integration tests), pytest over tests/clients
#   (kcat, confluent-kafka, kafka-python, aiokafka), node --test (kafkajs).
# Every step runs even if an earlier one failed (except those needing what failed), so one run
# shows everything that is wrong; the exit status is non-zero if any step failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export SLUICE_BIN="${SLUICE_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/sluice}"

declare -a names=() results=() times=()
failed=0

step() { # step NAME COMMAND...: runs the command, records its result and duration
    local name="$1"
    shift
    printf '\n===== %s: %s\n' "$name" "$*"
    local start=$SECONDS
    "$@"
    local rc=$?
    names+=("$name")
    times+=("$((SECONDS - start))")
    if ((rc == 0)); then
        results+=("PASS")
    else
        results+=("FAIL (exit $rc)")
        failed=1
    fi
    return $rc
}

skip() { # skip NAME REASON
    printf '\n===== %s: skipped (%s)\n' "$1" "$2"
    names+=("$1")
    times+=("0")
    results+=("SKIP ($2)")
    failed=1
}

deps_ok=1
step install-test-deps scripts/install-test-deps.sh || deps_ok=0
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
build_ok=1
step build-release cargo build --release --workspace || build_ok=0
step cargo-test cargo test --workspace

if ((build_ok == 0)); then
    skip pytest "no release binary"
    skip node-kafkajs "no release binary"
elif ((deps_ok == 0)); then
    skip pytest "test dependencies not installed"
    skip node-kafkajs "test dependencies not installed"
else
    # -p no:cacheprovider: no .pytest_cache in the source tree.
    step pytest bash -c 'cd tests/clients && exec .venv/bin/python -m pytest -p no:cacheprovider -v'
    step node-kafkajs bash -c 'cd tests/clients && exec node --test kafkajs.test.mjs kafkajs_tls.test.mjs'
fi

printf '\n===== summary\n'
for i in "${!names[@]}"; do
    printf '  %-18s %5ss  %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
done
printf '  total %ss\n' "$SECONDS"
if ((failed)); then
    echo "test.sh: FAILED"
    exit 1
fi
echo "test.sh: all steps passed"
