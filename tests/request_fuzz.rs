//! The request fuzzer's short, deterministic form for CI: a fixed-seed replay of ~2,000
//! generated requests (every served API and version, bent and byte-mutated as the fuzz target
//! does) against the real binary, with the same invariants (`harness/request_check.rs`): every
//! request answered in order or its connection closed, well-formed requests never closed on,
//! replies that decode, and every port healthy after each sequence. The long, coverage-guided
//! form is `scripts/fuzz.sh` (`fuzz/fuzz_targets/request.rs`); both use one generator,
//! `harness/request_gen/`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
#[path = "harness/request_check.rs"]
mod request_check;
#[path = "harness/request_gen/mod.rs"]
mod request_gen;

use std::time::Instant;

use harness::Broker;
use rand::{Rng, SeedableRng};
use request_check::Target;

/// Requests to replay at least; sequences are drawn until this many were sent and every served
/// API was sent at every version, up to [`REQUESTS_MAX`].
const REQUESTS: u64 = 2_000;
const REQUESTS_MAX: u64 = 6_000;
/// Bytes of choices per sequence: enough for several requests, few enough to keep sequences
/// short and the health checks between them frequent.
const SEQUENCE_CHOICE_BYTES_MAX: usize = 600;
const SEED: u64 = 0x5175_1ce0_f022;

#[test]
fn fixed_seed_request_sequences_keep_every_shard_serving() {
    // The broker flags the fuzz target uses (see fuzz/fuzz_targets/request.rs).
    let b = Broker::start(
        "request-fuzz",
        &[
            "--cores",
            "2",
            "--memory",
            "1073741824",
            "--default-partitions",
            "2",
            "--group-initial-rebalance-delay-ms",
            "0",
            "--group-min-session-timeout-ms",
            "1",
            "--group-max-session-timeout-ms",
            "1000",
        ],
    );
    let mut addrs = vec![b.bootstrap_addr()];
    addrs.extend((0..b.ports().shards.len()).map(|s| b.shard_addr(s)));
    let target = Target { addrs };
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut stats = request_gen::Stats::default();
    let started = Instant::now();
    let mut sequences = 0;
    let every_version_sent = |stats: &request_gen::Stats| {
        sluice::handlers::SERVED.iter().all(|v| {
            (v.min..=v.max).all(|version| stats.served.contains_key(&(v.key as i16, version)))
        })
    };
    while stats.requests < REQUESTS || !every_version_sent(&stats) && stats.requests < REQUESTS_MAX
    {
        let len = rng.gen_range(1..=SEQUENCE_CHOICE_BYTES_MAX);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let before = stats.requests;
        if let Err(finding) = request_check::run_sequence(&target, &data, &mut stats) {
            panic!(
                "sequence {sequences} (requests {before}..): {finding}\nbroker stderr:\n{}",
                b.stderr_tail(30)
            );
        }
        if let Err(finding) = request_check::health(&target) {
            panic!(
                "after sequence {sequences}: {finding}\nbroker stderr:\n{}",
                b.stderr_tail(30)
            );
        }
        sequences += 1;
    }
    eprintln!(
        "{} requests in {sequences} sequences, {:.1} s: {} byte-mutated, {} out-of-range versions, {} acks=0, {} encode failures",
        stats.requests,
        started.elapsed().as_secs_f64(),
        stats.byte_mutated,
        stats.out_of_range_versions,
        stats.acks_zero,
        stats.encode_failures,
    );
    // The generator reaches every API at every version served.
    for v in sluice::handlers::SERVED {
        for version in v.min..=v.max {
            assert!(
                stats.served.contains_key(&(v.key as i16, version)),
                "{:?} v{version} never generated",
                v.key
            );
        }
    }
    assert!(
        stats.encode_failures * 50 < stats.requests,
        "the crate refused {} of {} generated requests",
        stats.encode_failures,
        stats.requests
    );
}
