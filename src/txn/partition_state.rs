//! What one partition knows of transactions: which producers the coordinator added it to a
//! transaction for (KIP-890 part 1: a transactional batch from any other producer or epoch is
//! refused), the first offset of each open transaction here, and the aborted transactions —
//! from which the last stable offset and a read_committed fetch's `aborted_transactions`
//! follow.
//!
//! Lives inside its `Partition`, on the partition's owner shard. Rebuilt at open from the
//! log's batches (transactional data and markers); the set of added producers is pushed again
//! by the coordinator when it replays an ongoing transaction.

use std::collections::HashMap;

use crate::log::format::BatchHeader;

/// An aborted transaction's range in this partition (the marker at `last_offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// Why a transactional batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnProduceError {
    /// The coordinator has not added this partition to the producer's transaction.
    NotInTransaction,
    /// The coordinator added it for a newer epoch: this producer is a zombie.
    StaleEpoch,
}

#[derive(Debug, Default)]
pub struct PartitionTxns {
    /// Producer id → the epoch the coordinator added this partition for.
    added: HashMap<i64, i16>,
    /// Producer id → offset of its open transaction's first batch here.
    ongoing: HashMap<i64, i64>,
    /// Aborted transactions, in marker-offset order.
    aborted: Vec<AbortedTxn>,
}

impl PartitionTxns {
    /// The coordinator added this partition to `producer_id`'s transaction at `epoch`.
    pub fn add(&mut self, producer_id: i64, epoch: i16) {
        let e = self.added.entry(producer_id).or_insert(epoch);
        *e = (*e).max(epoch);
    }

    /// Whether a transactional data batch may be appended (KIP-890 part 1).
    pub fn check_produce(&self, h: &BatchHeader) -> Result<(), TxnProduceError> {
        if !h.is_transactional() {
            return Ok(());
        }
        match self.added.get(&h.producer_id) {
            None => Err(TxnProduceError::NotInTransaction),
            Some(e) if h.producer_epoch < *e => Err(TxnProduceError::StaleEpoch),
            Some(e) if h.producer_epoch > *e => Err(TxnProduceError::NotInTransaction),
            Some(_) => Ok(()),
        }
    }

    /// A batch was appended at `base_offset` (produce, or replay at open).
    pub fn on_data(&mut self, h: &BatchHeader, base_offset: i64) {
        if h.is_transactional() && !h.is_control() {
            self.ongoing.entry(h.producer_id).or_insert(base_offset);
        }
    }

    /// A marker for `producer_id` was appended at `offset`: its transaction here is over.
    /// Returns the aborted range if it was an ABORT of a transaction with data here (what
    /// `.txnindex` records).
    pub fn on_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        offset: i64,
    ) -> Option<AbortedTxn> {
        if self.added.get(&producer_id).is_some_and(|e| *e <= epoch) {
            self.added.remove(&producer_id);
        }
        let first = self.ongoing.remove(&producer_id);
        if let (false, Some(first_offset)) = (commit, first) {
            debug_assert!(
                self.aborted.last().is_none_or(|a| a.last_offset < offset),
                "markers are appended in offset order"
            );
            let a = AbortedTxn {
                producer_id,
                first_offset,
                last_offset: offset,
            };
            self.aborted.push(a);
            return Some(a);
        }
        None
    }

    /// The last stable offset right after the marker at `marker_offset` was applied, as Kafka
    /// stores it in `.txnindex`: the first offset of the oldest transaction still open, else
    /// the offset after the marker.
    pub fn stable_after(&self, marker_offset: i64) -> i64 {
        self.first_unstable_offset().unwrap_or(marker_offset + 1)
    }

    /// Replace the aborted ranges (loaded at open from `.txnindex` and a scan of the tail),
    /// sorted by marker offset.
    pub fn set_aborted(&mut self, mut aborted: Vec<AbortedTxn>) {
        aborted.sort_by_key(|a| a.last_offset);
        aborted.dedup_by_key(|a| a.last_offset);
        self.aborted = aborted;
    }

    /// The producers added by the coordinator (kept across a rebuild at open).
    pub fn take_added(&mut self) -> HashMap<i64, i16> {
        std::mem::take(&mut self.added)
    }

    pub fn set_added(&mut self, added: HashMap<i64, i16>) {
        self.added = added;
    }

    /// The producers added by the coordinator, and the epoch of each.
    pub fn added(&self) -> &HashMap<i64, i16> {
        &self.added
    }

    /// Forget the aborted transactions whose markers are at `marker_offsets`: the cleaner
    /// removed all their data (and their `.txnindex` entries), so a read_committed fetch has
    /// nothing of theirs to filter — and must not be told to, once the marker is gone too.
    pub fn forget_aborted(&mut self, marker_offsets: &[i64]) {
        if marker_offsets.is_empty() {
            return;
        }
        self.aborted
            .retain(|a| marker_offsets.binary_search(&a.last_offset).is_err());
    }

    /// Aborted transactions known, in marker-offset order.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    /// The first offset of the oldest open transaction, if any: the last stable offset can't
    /// pass it.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.values().copied().min()
    }

    /// Aborted transactions that may hold batches in `[from, to)`: a read_committed fetch
    /// returns them so the client drops those batches.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        // Sorted by last offset: skip those that ended before `from`.
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|a| a.first_offset < to)
            .copied()
            .collect()
    }

    /// An append at `offset` failed: the log forgot it and everything after, so does this.
    pub fn forget_from(&mut self, offset: i64) {
        self.ongoing.retain(|_, first| *first < offset);
        self.aborted.retain(|a| a.last_offset < offset);
    }

    /// Forget aborted transactions wholly below the log start offset (retention).
    pub fn trim_below(&mut self, log_start_offset: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start_offset);
    }

    /// Open transactions here, (producer id, first offset), by first offset.
    pub fn ongoing(&self) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = self.ongoing.iter().map(|(p, o)| (*p, *o)).collect();
        v.sort_by_key(|(_, o)| *o);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, transactional: bool) -> BatchHeader {
        let batch = crate::txn::markers::marker_batch(pid, epoch, true, 0, 0);
        let mut h = BatchHeader::try_parse(&batch).unwrap();
        h.attributes = if transactional { 0x10 } else { 0 };
        h
    }

    #[test]
    fn lso_and_aborted_follow_data_and_markers() {
        let mut t = PartitionTxns::default();
        assert_eq!(
            t.check_produce(&header(1, 0, true)),
            Err(TxnProduceError::NotInTransaction)
        );
        assert_eq!(t.check_produce(&header(1, 0, false)), Ok(()));
        t.add(1, 0);
        t.add(2, 3);
        assert_eq!(t.check_produce(&header(1, 0, true)), Ok(()));
        assert_eq!(
            t.check_produce(&header(2, 2, true)),
            Err(TxnProduceError::StaleEpoch)
        );
        t.on_data(&header(1, 0, true), 10);
        t.on_data(&header(1, 0, true), 12);
        t.on_data(&header(2, 3, true), 11);
        assert_eq!(t.first_unstable_offset(), Some(10));
        assert_eq!(
            t.on_marker(1, 0, false, 13),
            Some(AbortedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 13
            })
        );
        assert_eq!(t.first_unstable_offset(), Some(11));
        assert_eq!(
            t.stable_after(13),
            11,
            "the oldest open transaction holds it back"
        );
        assert_eq!(
            t.check_produce(&header(1, 0, true)),
            Err(TxnProduceError::NotInTransaction),
            "a marker ends what the coordinator added"
        );
        assert_eq!(t.on_marker(2, 3, true, 14), None, "a commit is not indexed");
        assert_eq!(t.first_unstable_offset(), None);
        assert_eq!(t.stable_after(14), 15);
        let a = AbortedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 13,
        };
        assert_eq!(t.aborted_between(0, 20), vec![a]);
        assert_eq!(t.aborted_between(13, 20), vec![a]);
        assert_eq!(t.aborted_between(14, 20), vec![]);
        assert_eq!(t.aborted_between(0, 10), vec![]);
        t.trim_below(14);
        assert_eq!(t.aborted_between(0, 20), vec![]);
    }
}
