#!/usr/bin/env bash
# Fuzz Sluice's request decoders for a bounded time (a script, not CI).
#
#   scripts/fuzz.sh [SECONDS]      default 180
#
# cargo-fuzz needs nightly features; on the stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# It is installed from crates.io if absent. Crashes land in fuzz/artifacts/decode/; the corpus
# grows in fuzz/corpus/decode/ (both ignored by git).
set -euo pipefail

seconds="${1:-180}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
mkdir -p corpus/decode
# Give the fuzzer real requests to mutate from: an ApiVersions v3 and a Metadata v1 frame.
printf '\x00\x12\x00\x03\x00\x00\x00\x01\x00\x03cli\x00\x04sdk\x041.0\x00' >corpus/decode/seed-api-versions
printf '\x00\x03\x00\x01\x00\x00\x00\x02\xff\xff\x00\x00\x00\x01\x00\x01t' >corpus/decode/seed-metadata

RUSTC_BOOTSTRAP=1 exec cargo fuzz run decode corpus/decode -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256
