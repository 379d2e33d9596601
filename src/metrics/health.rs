//! Shard liveness and readiness, as the admin thread sees them.
//!
//! Each shard runs a heartbeat task that stamps [`ShardMetrics::heartbeat_ms`] every
//! [`SHARD_HEARTBEAT_INTERVAL_MS`] and sets [`ShardMetrics::ready`] once its partitions are open
//! and its listeners accept. The admin thread never calls into a shard: it reads the stamps.
//! A shard is **up** while its last stamp is at most [`SHARD_HEARTBEAT_STALE_MS`] old — an
//! executor wedged by a blocking call or a task that never yields stops stamping and shows as
//! down, with how long it has been silent. The broker is **live** when every shard is up and
//! **ready** when, besides, every shard has finished recovery. A shard thread that ends is not
//! reported here: the process exits at once (`server::watch_shard`), so a supervisor restarts it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Serialize;

use super::ShardMetrics;
#[cfg(doc)]
use crate::limits::SHARD_HEARTBEAT_INTERVAL_MS;
use crate::limits::SHARD_HEARTBEAT_STALE_MS;

/// Milliseconds on a monotonic process clock, starting at 1 (0 in a stamp means "never").
pub fn clock_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_millis() as u64 + 1
}

/// One shard's health.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShardHealth {
    pub shard: u32,
    /// Heartbeat within [`SHARD_HEARTBEAT_STALE_MS`].
    pub up: bool,
    /// Partitions opened (recovery done) and listeners accepting.
    pub ready: bool,
    /// Milliseconds since the last heartbeat; None before the first.
    pub heartbeat_age_ms: Option<u64>,
}

/// The whole broker's health.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Health {
    pub live: bool,
    pub ready: bool,
    /// Why the broker is not live (or not ready), in one line; None when it is both.
    pub reason: Option<String>,
    pub shards: Vec<ShardHealth>,
}

/// The health of `shards` at `now_ms` (a [`clock_ms`] reading).
pub fn health(shards: &[Arc<ShardMetrics>], now_ms: u64) -> Health {
    let shards: Vec<ShardHealth> = shards
        .iter()
        .map(|m| {
            let beat = m.heartbeat_ms.load(Relaxed);
            let age = (beat != 0).then(|| now_ms.saturating_sub(beat));
            ShardHealth {
                shard: m.shard,
                up: age.is_some_and(|a| a <= SHARD_HEARTBEAT_STALE_MS),
                ready: m.ready.load(Relaxed),
                heartbeat_age_ms: age,
            }
        })
        .collect();
    let down: Vec<String> = shards
        .iter()
        .filter(|s| !s.up)
        .map(|s| match s.heartbeat_age_ms {
            Some(age) => format!(
                "shard {} has not answered its heartbeat for {:.1} s",
                s.shard,
                age as f64 / 1000.0
            ),
            None => format!("shard {} has not started", s.shard),
        })
        .collect();
    let recovering: Vec<String> = shards
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.shard.to_string())
        .collect();
    let live = down.is_empty();
    let ready = live && recovering.is_empty();
    let reason = if !live {
        Some(down.join("; "))
    } else if !ready {
        Some(format!(
            "recovering: shard(s) {} still opening their partitions",
            recovering.join(", ")
        ))
    } else {
        None
    };
    Health {
        live,
        ready,
        reason,
        shards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: u32, beat: u64, ready: bool) -> Arc<ShardMetrics> {
        let m = ShardMetrics::new(id);
        m.heartbeat_ms.store(beat, Relaxed);
        m.ready.store(ready, Relaxed);
        m
    }

    #[test]
    fn live_and_ready_only_when_every_shard_beats_in_time_and_has_recovered() {
        let now = 100_000;
        let fresh = now - SHARD_HEARTBEAT_STALE_MS;
        let h = health(&[shard(0, now, true), shard(1, fresh, true)], now);
        assert!(h.live && h.ready && h.reason.is_none(), "{h:?}");

        let h = health(&[shard(0, now, true), shard(1, fresh - 1, true)], now);
        assert!(!h.live && !h.ready);
        assert!(!h.shards[1].up && h.shards[0].up);
        let reason = h.reason.expect("a reason");
        assert!(
            reason.contains("shard 1") && reason.contains("2.0 s"),
            "{reason}"
        );

        let h = health(&[shard(0, now, true), shard(1, now, false)], now);
        assert!(h.live && !h.ready);
        assert!(h
            .reason
            .expect("a reason")
            .contains("recovering: shard(s) 1"));

        let h = health(&[shard(0, 0, false)], now);
        assert!(!h.live && !h.ready);
        assert_eq!(h.shards[0].heartbeat_age_ms, None);
        assert!(h.reason.expect("a reason").contains("not started"));
    }

    #[test]
    fn the_clock_never_reads_zero() {
        assert!(clock_ms() >= 1);
    }
}
