//! What the log cleaner must know of transactions (Kafka's cleaner does the same with its
//! aborted-transaction index, the last stable offset and `CleanedTransactionMetadata`):
//!
//! - **Which transactional batches were aborted** — their records are dropped, and never
//!   count as a key's latest record, so an aborted write can't make the cleaner drop the
//!   committed value it would have replaced. Taken from the partition's aborted transactions
//!   (loaded from the `.txnindex` files at open, kept as markers are applied): a batch of
//!   producer P is aborted when an aborted transaction of P spans its offset.
//! - **Where undecided data starts** — the last stable offset: a pass cleans only segments
//!   wholly below it (Kafka bounds `firstUncleanableOffset` by it), and every transactional
//!   batch below it is decided, by a marker before the LSO or after it.
//! - **Which markers may go** ([`MarkerTracker`]): a COMMIT or ABORT marker whose transaction
//!   kept no batch in the cleaned output. Kafka's two steps: the first pass that finds it so
//!   writes a delete horizon (now + `delete.retention.ms`) into the marker batch, a pass after
//!   the horizon removes it. The `.txnindex` entry of such an ABORT goes at the first step
//!   (nothing is left for a read_committed consumer to filter).
//!
//! No segment is read to build the view: a log that never had a transaction costs nothing.
//! Lives on the partition's owner shard, for one cleaner pass.

use std::collections::{HashMap, HashSet};

use super::format::BatchHeader;
use crate::txn::partition_state::AbortedTxn;

/// The cleaner's view of a partition's transactions for one pass.
#[derive(Debug, Clone)]
pub struct TxnView {
    /// Producer id → its aborted transactions' `(first offset, marker offset)`, by marker.
    aborted: HashMap<i64, Vec<(i64, i64)>>,
    /// The partition's last stable offset when the pass started: at and past it nothing is
    /// decided.
    last_stable_offset: i64,
}

impl TxnView {
    /// A view from the partition's aborted transactions and its last stable offset. Only
    /// aborted transactions that started below the last stable offset matter.
    pub fn new(last_stable_offset: i64, aborted: &[AbortedTxn]) -> TxnView {
        let mut by_producer: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for a in aborted
            .iter()
            .filter(|a| a.first_offset < last_stable_offset)
        {
            by_producer
                .entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        for ranges in by_producer.values_mut() {
            ranges.sort_unstable_by_key(|r| r.1);
        }
        TxnView {
            aborted: by_producer,
            last_stable_offset,
        }
    }

    /// A log with no transactions: everything below `high_watermark` is decided.
    pub fn none(high_watermark: i64) -> TxnView {
        TxnView::new(high_watermark, &[])
    }

    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset
    }

    /// Whether the data batch `h` belongs to an aborted transaction.
    pub fn is_aborted(&self, h: &BatchHeader) -> bool {
        if !h.is_transactional() || h.is_control() {
            return false;
        }
        let Some(ranges) = self.aborted.get(&h.producer_id) else {
            return false;
        };
        // Sorted by marker offset: the first transaction whose marker is at or after the batch.
        let i = ranges.partition_point(|r| r.1 < h.base_offset);
        ranges.get(i).is_some_and(|r| r.0 <= h.base_offset)
    }

    /// Whether the data batch `h` belongs to a transaction not decided when the pass started
    /// (at or past the last stable offset; such batches are never cleaned).
    pub fn is_open(&self, h: &BatchHeader) -> bool {
        h.is_transactional() && !h.is_control() && h.base_offset >= self.last_stable_offset
    }
}

/// Per pass, in offset order over the cleaned output: which producers' current transactions
/// kept a batch, so a marker knows whether it may go (Kafka's `CleanedTransactionMetadata`,
/// counting what stays rather than what was read: a transaction whose data this pass removed
/// has its marker's horizon written in the same pass). Lives in one pass, on the owner shard.
#[derive(Debug, Default)]
pub struct MarkerTracker {
    with_data: HashSet<i64>,
    /// Marker offsets of ABORTs whose transaction kept nothing: their `.txnindex` entries go.
    pub aborts_emptied: Vec<i64>,
}

impl MarkerTracker {
    /// A batch stays in the output (kept, rewritten or emptied to its header).
    pub fn on_kept(&mut self, h: &BatchHeader) {
        if h.is_transactional() && !h.is_control() {
            self.with_data.insert(h.producer_id);
        }
    }

    /// The marker `h` (ABORT when `commit` is false) ends its producer's transaction: whether
    /// none of the transaction's batches stayed, so the marker may go after its horizon.
    pub fn on_marker(&mut self, h: &BatchHeader, commit: bool) -> bool {
        let emptied = !self.with_data.remove(&h.producer_id);
        if emptied && !commit {
            self.aborts_emptied.push(h.base_offset);
        }
        emptied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, base: i64, records: i32, transactional: bool) -> BatchHeader {
        let batch = crate::txn::markers::marker_batch(pid, 0, true, 0, 0);
        let mut h = BatchHeader::try_parse(&batch).unwrap();
        h.attributes = if transactional { 0x10 } else { 0 };
        h.base_offset = base;
        h.last_offset_delta = records - 1;
        h.record_count = records;
        h
    }

    fn marker(pid: i64, at: i64) -> BatchHeader {
        let mut h = header(pid, at, 1, true);
        h.attributes = 0x30;
        h
    }

    /// The view the cleaner built before `.txnindex` existed, from every sealed batch header:
    /// kept here as the oracle the new view is compared with.
    #[derive(Default)]
    struct ScannedView {
        aborted: Vec<(i64, i64)>,
        open: Vec<(i64, i64)>,
        pending: HashMap<i64, Vec<(i64, i64)>>,
    }

    impl ScannedView {
        fn on_batch(&mut self, h: &BatchHeader, control_commit: Option<bool>) {
            if !h.is_transactional() {
                return;
            }
            let range = (h.base_offset, h.next_offset() - 1);
            match (h.is_control(), control_commit) {
                (false, _) => self.pending.entry(h.producer_id).or_default().push(range),
                (true, Some(commit)) => {
                    if let Some(ranges) = self.pending.remove(&h.producer_id) {
                        if !commit {
                            self.aborted.extend(ranges);
                        }
                    }
                }
                (true, None) => {}
            }
        }

        fn finish(&mut self) {
            for ranges in std::mem::take(&mut self.pending).into_values() {
                self.open.extend(ranges);
            }
        }

        fn contains(ranges: &[(i64, i64)], offset: i64) -> bool {
            ranges.iter().any(|r| r.0 <= offset && offset <= r.1)
        }
    }

    /// A log with committed, aborted and open transactions, interleaved: the view from the
    /// partition's state (aborted transactions as `.txnindex` holds them, the last stable
    /// offset) says what the whole-log scan said about every data batch.
    #[test]
    fn the_view_from_the_index_and_lso_matches_a_scan_of_the_log() {
        // (batch, marker type for a control batch)
        let log: Vec<(BatchHeader, Option<bool>)> = vec![
            (header(1, 0, 2, true), None),  // 0-1: aborted (1)
            (header(2, 2, 2, true), None),  // 2-3: committed (2)
            (header(9, 4, 1, false), None), // 4: plain
            (header(1, 5, 1, true), None),  // 5: aborted (1)
            (marker(1, 6), Some(false)),    // ABORT 1
            (header(4, 7, 2, true), None),  // 7-8: aborted (4), its marker after the open one
            (marker(2, 9), Some(true)),     // COMMIT 2
            (header(3, 10, 3, true), None), // 10-12: open (3)
            (header(2, 13, 1, true), None), // 13: committed (2, second transaction)
            (marker(4, 14), Some(false)),   // ABORT 4
            (marker(2, 15), Some(true)),    // COMMIT 2
            (header(1, 16, 1, true), None), // 16: open (1, second transaction)
            (header(9, 17, 1, false), None),
        ];
        let mut scanned = ScannedView::default();
        // The partition's state, as markers are applied.
        let mut state = crate::txn::partition_state::PartitionTxns::default();
        for (h, commit) in &log {
            scanned.on_batch(h, *commit);
            match commit {
                Some(c) => {
                    state.on_marker(h.producer_id, 0, *c, h.base_offset);
                }
                None => state.on_data(h, h.base_offset),
            }
        }
        scanned.finish();
        let lso = state.first_unstable_offset().unwrap();
        assert_eq!(lso, 10, "the open transaction of producer 3 holds it");
        let view = TxnView::new(lso, state.aborted());
        for (h, commit) in &log {
            if commit.is_some() || !h.is_transactional() {
                assert!(!view.is_aborted(h) && !view.is_open(h), "{h:?}");
                continue;
            }
            assert_eq!(
                view.is_aborted(h),
                ScannedView::contains(&scanned.aborted, h.base_offset),
                "aborted at {}",
                h.base_offset
            );
            if ScannedView::contains(&scanned.open, h.base_offset) {
                assert!(view.is_open(h), "open at {}", h.base_offset);
            }
            if h.base_offset < lso {
                assert!(!view.is_open(h), "decided below the LSO: {}", h.base_offset);
            }
        }
        // Committed data past the LSO counts as open (not cleaned yet): more than the scan
        // kept, never less.
        assert!(view.is_open(&header(2, 13, 1, true)));
        assert!(!TxnView::none(100).is_open(&header(2, 13, 1, true)));
    }

    #[test]
    fn a_marker_may_go_once_its_transaction_kept_nothing() {
        let mut t = MarkerTracker::default();
        t.on_kept(&header(1, 0, 1, true));
        t.on_kept(&header(9, 1, 1, false));
        assert!(!t.on_marker(&marker(1, 2), false), "its data stayed");
        assert!(
            t.on_marker(&marker(2, 3), false),
            "nothing of producer 2 stayed"
        );
        assert!(
            t.on_marker(&marker(1, 4), true),
            "the second transaction kept nothing"
        );
        assert_eq!(t.aborts_emptied, vec![3]);
    }
}
