//! Client quota enforcement, node-wide (KIP-13 byte rates, KIP-124 request time, KIP-219
//! throttling): usage is measured per quota key over Kafka's windows (`QUOTA_WINDOW_NUM` ×
//! `QUOTA_WINDOW_MS`), and a request that takes its key past the bound gets a throttle time,
//! computed as Kafka does: `(rate - bound) / bound × window`, which the response carries and
//! for which the connection is then muted.
//!
//! A client sees every shard as its own broker, so each shard enforcing alone would allow N
//! times the quota. Instead each shard records its own usage ([`ShardQuotas`], shard-local,
//! no lock on the request path) and every `QUOTA_SYNC_INTERVAL_MS` publishes its per-key
//! sample windows to the node's [`QuotaBoard`] (one slot per shard, an `Arc` swap under a
//! mutex only that shard writes) and reads the other shards' slots into a per-key "remote"
//! total. A request's rate is local windows + remote total over the window length. The
//! windows are aligned to the wall clock, so the same sample means the same second on every
//! shard; what another shard did in the last sync interval is seen one interval late.
//!
//! `request_percentage` is measured as time a shard spends polling the request's handler (the
//! CPU work of it on that core, not waiting for I/O): 100 = one whole shard's time for the
//! whole window, summed over the node's shards like the byte rates.

pub mod timed;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::limits::{QUOTA_TRACKED_KEYS_MAX, QUOTA_WINDOW_MS, QUOTA_WINDOW_NUM};
use crate::metadata::quotas::{QuotaKey, QuotaKind, Resolved};

const N: usize = QUOTA_WINDOW_NUM as usize;

/// The wall clock in ms: windows are aligned to it, identically on every shard.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Usage in the last `QUOTA_WINDOW_NUM` windows of `QUOTA_WINDOW_MS`, each tagged with its
/// window number (`ms / QUOTA_WINDOW_MS`) so a stale one is recognised and not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Samples {
    window: [u64; N],
    value: [f64; N],
}

impl Samples {
    pub fn record(&mut self, now_ms: u64, amount: f64) {
        let w = now_ms / QUOTA_WINDOW_MS;
        let slot = (w % QUOTA_WINDOW_NUM) as usize;
        if let (Some(sw), Some(sv)) = (self.window.get_mut(slot), self.value.get_mut(slot)) {
            if *sw != w {
                *sw = w;
                *sv = 0.0;
            }
            *sv += amount;
        }
    }

    /// The sum of the samples still inside the windows ending at `now_ms`.
    pub fn total(&self, now_ms: u64) -> f64 {
        let w = now_ms / QUOTA_WINDOW_MS;
        let oldest = w.saturating_sub(QUOTA_WINDOW_NUM - 1);
        self.window
            .iter()
            .zip(&self.value)
            .filter(|(sw, _)| **sw >= oldest && **sw <= w && **sw != 0)
            .map(|(_, v)| *v)
            .sum()
    }
}

/// The length of time a rate is measured over, Kafka's `Rate.windowSize`: from the start of
/// the oldest window still counted (not before the key was first seen) to now, but at least
/// `QUOTA_WINDOW_NUM - 1` whole windows, so a new client's first burst is not taken as a rate.
pub fn window_ms(first_ms: u64, now_ms: u64) -> u64 {
    let w = now_ms / QUOTA_WINDOW_MS;
    let oldest_start = w.saturating_sub(QUOTA_WINDOW_NUM - 1) * QUOTA_WINDOW_MS;
    let first_start = first_ms / QUOTA_WINDOW_MS * QUOTA_WINDOW_MS;
    let elapsed = now_ms.saturating_sub(oldest_start.max(first_start));
    let full = elapsed / QUOTA_WINDOW_MS;
    let min_full = QUOTA_WINDOW_NUM - 1;
    if full < min_full {
        elapsed + (min_full - full) * QUOTA_WINDOW_MS
    } else {
        elapsed
    }
}

/// Kafka's throttle time for a rate over its bound, measured over `window_ms`: how long the
/// client must stay silent for the rate to fall back to the bound. 0 within the bound. The
/// request quota's is capped at one window, as Kafka caps it.
pub fn throttle_ms(kind: QuotaKind, rate: f64, bound: f64, window_ms: u64) -> u64 {
    if rate <= bound || bound <= 0.0 {
        return 0;
    }
    let ms = ((rate - bound) / bound * window_ms as f64).round();
    let ms = if ms.is_finite() { ms as u64 } else { u64::MAX };
    match kind {
        QuotaKind::Request => ms.min(QUOTA_WINDOW_MS),
        QuotaKind::Produce | QuotaKind::Fetch => ms.min(i32::MAX as u64),
    }
}

/// What one shard published last: its samples per quota key.
pub type Usage = HashMap<(QuotaKind, QuotaKey), Samples>;

/// The node's meeting point for quota usage: one slot per shard, written only by that shard
/// every `QUOTA_SYNC_INTERVAL_MS` and read by the others at theirs. Never touched on the
/// request path. Shared by every shard (`Arc`, in `BrokerConfig`).
#[derive(Debug)]
pub struct QuotaBoard {
    slots: Vec<Mutex<Arc<Usage>>>,
}

impl QuotaBoard {
    pub fn new(shards: u32) -> QuotaBoard {
        QuotaBoard {
            slots: (0..shards).map(|_| Mutex::new(Arc::default())).collect(),
        }
    }

    fn publish(&self, shard: u32, usage: Arc<Usage>) {
        if let Some(slot) = self.slots.get(shard as usize) {
            *slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = usage;
        }
    }

    fn others(&self, shard: u32) -> Vec<Arc<Usage>> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(s, _)| *s != shard as usize)
            .map(|(_, slot)| {
                slot.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
            .collect()
    }
}

#[derive(Debug)]
struct Tracked {
    local: Samples,
    /// The other shards' total in the counted windows, as of the last sync.
    remote: f64,
    first_ms: u64,
    last_ms: u64,
}

/// One shard's quota accounting. Lives on its shard (`Shard::quotas`), never shared.
#[derive(Debug)]
pub struct ShardQuotas {
    shard: u32,
    board: Arc<QuotaBoard>,
    tracked: RefCell<HashMap<(QuotaKind, QuotaKey), Tracked>>,
    /// Whether the last sync published anything (an idle broker stops publishing).
    published: std::cell::Cell<bool>,
    /// The other shards' usage as of the last sync: a key first seen here starts from it.
    others: RefCell<Vec<Arc<Usage>>>,
    keys_max: usize,
}

impl ShardQuotas {
    pub fn new(shard: u32, board: Arc<QuotaBoard>) -> ShardQuotas {
        ShardQuotas::with_keys_max(shard, board, QUOTA_TRACKED_KEYS_MAX)
    }

    pub fn with_keys_max(shard: u32, board: Arc<QuotaBoard>, keys_max: usize) -> ShardQuotas {
        ShardQuotas {
            shard,
            board,
            tracked: RefCell::new(HashMap::new()),
            published: std::cell::Cell::new(false),
            others: RefCell::new(Vec::new()),
            keys_max,
        }
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.tracked.borrow().len()
    }

    /// Record `amount` (bytes; for the request kind, percent-seconds of a shard's time) against
    /// `quota` and return the throttle time in ms the key has earned, node-wide (0: within).
    pub fn record(&self, kind: QuotaKind, quota: &Resolved, amount: f64, now_ms: u64) -> u64 {
        let mut tracked = self.tracked.borrow_mut();
        let id = (kind, quota.key.clone());
        if !tracked.contains_key(&id) && tracked.len() >= self.keys_max {
            // At the limit: forget the key used least recently.
            let oldest = tracked
                .iter()
                .min_by_key(|(_, t)| t.last_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                tracked.remove(&k);
            }
        }
        let t = tracked.entry(id).or_insert_with_key(|id| Tracked {
            local: Samples::default(),
            remote: remote_total(&self.others.borrow(), id, now_ms),
            first_ms: now_ms,
            last_ms: now_ms,
        });
        t.local.record(now_ms, amount);
        t.last_ms = now_ms;
        let window = window_ms(t.first_ms, now_ms);
        let rate = (t.local.total(now_ms) + t.remote) * 1000.0 / window as f64;
        throttle_ms(kind, rate, quota.bound, window)
    }

    /// Take back a recorded amount (a throttled fetch answered without its data, as Kafka
    /// does).
    pub fn unrecord(&self, kind: QuotaKind, quota: &Resolved, amount: f64, now_ms: u64) {
        if let Some(t) = self
            .tracked
            .borrow_mut()
            .get_mut(&(kind, quota.key.clone()))
        {
            t.local.record(now_ms, -amount);
        }
    }

    /// Whether this shard tracks any quota usage, or still has some published.
    pub fn is_active(&self) -> bool {
        self.published.get() || !self.tracked.borrow().is_empty()
    }

    /// Publish this shard's usage and adopt the other shards': the node-wide combination.
    /// Keys idle for a whole measurement span are forgotten.
    pub fn sync(&self, now_ms: u64) {
        let span = QUOTA_WINDOW_NUM * QUOTA_WINDOW_MS;
        let mut tracked = self.tracked.borrow_mut();
        tracked.retain(|_, t| now_ms.saturating_sub(t.last_ms) < span);
        if !tracked.is_empty() || self.published.get() {
            let usage: Usage = tracked.iter().map(|(k, t)| (k.clone(), t.local)).collect();
            self.published.set(!usage.is_empty());
            self.board.publish(self.shard, Arc::new(usage));
        }
        let others = self.board.others(self.shard);
        for (k, t) in tracked.iter_mut() {
            t.remote = remote_total(&others, k, now_ms);
        }
        *self.others.borrow_mut() = others;
    }
}

/// What the other shards used of key `id` in the windows counted at `now_ms`.
fn remote_total(others: &[Arc<Usage>], id: &(QuotaKind, QuotaKey), now_ms: u64) -> f64 {
    others
        .iter()
        .filter_map(|u| u.get(id))
        .map(|s| s.total(now_ms))
        .sum()
}

/// One connection's throttle (KIP-219): handlers add the throttle time a request earned; once
/// that request's reply is written the connection starts the mute, and reads no request until
/// it ends. Per connection, so a throttled client never slows another. Lives in the
/// connection's `Session`, on its shard.
#[derive(Debug, Default)]
pub struct Throttle {
    pending_ms: std::cell::Cell<u64>,
    muted_until: std::cell::Cell<Option<std::time::Instant>>,
}

impl Throttle {
    /// A request earned `ms` of throttle (the longest one counts). The connection reads no
    /// further request from now on: Kafka handles one request per connection at a time, so
    /// nothing a client pipelined behind a throttled request gets in before the mute either.
    pub fn add(&self, ms: u64) {
        self.pending_ms.set(self.pending_ms.get().max(ms));
        self.mute_for(ms);
    }

    /// A reply was written: the mute earned so far runs from now (KIP-219: after the response).
    pub fn reply_written(&self) {
        let ms = self.pending_ms.replace(0);
        if ms > 0 {
            self.mute_for(ms);
        }
    }

    fn mute_for(&self, ms: u64) {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        if self.muted_until.get().is_none_or(|u| u < until) {
            self.muted_until.set(Some(until));
        }
    }

    /// How long the connection stays muted from now (None: not muted).
    pub fn muted_for(&self) -> Option<std::time::Duration> {
        let until = self.muted_until.get()?;
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            self.muted_until.set(None);
            return None;
        }
        Some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(user: &str, bound: f64) -> Resolved {
        Resolved {
            key: QuotaKey {
                user: user.into(),
                client_id: String::new(),
            },
            bound,
        }
    }

    #[test]
    fn samples_expire_after_the_window_count() {
        let mut s = Samples::default();
        let t0 = 1_000_000;
        s.record(t0, 5.0);
        s.record(t0 + 1_000, 7.0);
        assert_eq!(s.total(t0 + 1_000), 12.0);
        assert_eq!(s.total(t0 + 10_999), 12.0);
        assert_eq!(s.total(t0 + 11_000), 7.0);
        assert_eq!(s.total(t0 + 12_000), 0.0);
        s.record(t0 + 12_000, 1.0);
        assert_eq!(s.total(t0 + 12_000), 1.0);
    }

    #[test]
    fn window_is_at_least_ten_whole_windows() {
        assert_eq!(window_ms(5_000, 5_000), 10_000);
        assert_eq!(window_ms(5_000, 5_500), 10_500);
        assert_eq!(window_ms(0, 100_500), 10_500);
    }

    #[test]
    fn throttle_is_kafkas_formula() {
        assert_eq!(throttle_ms(QuotaKind::Produce, 100.0, 100.0, 10_000), 0);
        assert_eq!(
            throttle_ms(QuotaKind::Produce, 200.0, 100.0, 10_000),
            10_000
        );
        assert_eq!(throttle_ms(QuotaKind::Fetch, 150.0, 100.0, 10_500), 5_250);
        assert_eq!(throttle_ms(QuotaKind::Request, 300.0, 100.0, 10_000), 1_000);
    }

    #[test]
    fn usage_on_other_shards_counts_after_a_sync() {
        let board = Arc::new(QuotaBoard::new(2));
        let a = ShardQuotas::new(0, board.clone());
        let b = ShardQuotas::new(1, board);
        let q = quota("u", 1_000.0);
        let t = 50_000_000;
        // 10 s window: 10,000 bytes is exactly the quota.
        assert_eq!(a.record(QuotaKind::Produce, &q, 6_000.0, t), 0);
        assert_eq!(
            b.record(QuotaKind::Produce, &q, 6_000.0, t),
            0,
            "alone within"
        );
        a.sync(t);
        b.sync(t);
        a.sync(t);
        // Now each shard sees 12,000 + 1 over a 10 s window: throttled.
        let ms = b.record(QuotaKind::Produce, &q, 1.0, t);
        assert!(ms > 1_000, "{ms}");
        assert!(a.record(QuotaKind::Produce, &q, 1.0, t) > 1_000);
        // A shard that never saw the key counts the others' usage from its first request.
        let board = Arc::new(QuotaBoard::new(2));
        let a = ShardQuotas::new(0, board.clone());
        let b = ShardQuotas::new(1, board);
        assert_eq!(a.record(QuotaKind::Produce, &q, 7_000.0, t), 0);
        a.sync(t);
        b.sync(t);
        assert!(b.record(QuotaKind::Produce, &q, 7_000.0, t) > 1_000);
        // Another key is not affected.
        assert_eq!(
            a.record(QuotaKind::Produce, &quota("v", 1_000.0), 1.0, t),
            0
        );
    }

    #[test]
    fn tracked_keys_are_bounded() {
        let board = Arc::new(QuotaBoard::new(1));
        let s = ShardQuotas::with_keys_max(0, board, 3);
        for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            s.record(QuotaKind::Fetch, &quota(user, 1.0), 1.0, 1_000 + i as u64);
            assert!(s.tracked() <= 3);
        }
        assert_eq!(s.tracked(), 3);
        // Idle keys are dropped at a sync after a whole span.
        s.sync(1_000 + QUOTA_WINDOW_NUM * QUOTA_WINDOW_MS + 10);
        assert_eq!(s.tracked(), 0);
    }
}
