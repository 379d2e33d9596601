#!/usr/bin/env bash
# Simulated power loss, long form (a script, not CI): N random crash points across produce at
# acks=1 and acks=all, segment rolls, index persists, retention and DeleteRecords, on the
# test-only simulated disk under the log (src/log/faults.rs, src/log/power_loss.rs). After
# each crash the unsynced bytes are lost, partly persisted, scattered or torn and the log is
# reopened; every acks=all acknowledgement must survive.
#
#   scripts/power-loss.sh [CRASH_POINTS] [SEED]      default 1000, a random seed
#
# Prints the seed (SLUICE_POWER_LOSS_SEED replays the same workload and crash choices; I/O
# completion order still varies run to run), the crash points by operation, what happened to
# the unsynced bytes, and the violations found. Needs a file system with O_DIRECT (ext4), not
# tmpfs: the test works under the repository directory. The CI form (150 crash points) is
# `cargo test --lib power_loss_short`.
set -euo pipefail

crashes="${1:-1000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export SLUICE_POWER_LOSS_CRASHES="$crashes"
if [[ $# -ge 2 ]]; then
    export SLUICE_POWER_LOSS_SEED="$2"
fi
exec cargo test --lib -- log::power_loss::power_loss_long --ignored --exact --nocapture
