//! What the log cleaner must know of transactions (Kafka's cleaner does the same with its
//! aborted-transaction index and producer state): which transactional batches were aborted
//! (their records are dropped, and never count as a key's latest record, so an aborted write
//! can't make the cleaner drop the committed value it would have replaced) and which belong
//! to transactions not decided in the scanned range (kept untouched and left out of the key
//! map: data of an open transaction is never compacted away).
//!
//! Built per pass from the batch headers of the log's sealed segments, in offset order; a
//! transaction whose marker is beyond them (in the active segment) counts as open. Lives on
//! the partition's owner shard, for one cleaner pass.

use std::collections::HashMap;

use super::format::BatchHeader;

/// The transactional batches of the scanned segments, by fate.
#[derive(Debug, Default)]
pub struct TxnView {
    /// Offset ranges `[base, last]` of aborted transactional batches, in offset order.
    aborted: Vec<(i64, i64)>,
    /// Offset ranges of transactional batches with no marker in the scanned range.
    open: Vec<(i64, i64)>,
    /// Per producer, the ranges of its transaction in progress during the scan.
    pending: HashMap<i64, Vec<(i64, i64)>>,
}

impl TxnView {
    /// Feed the next batch header, in offset order. `control_commit` is a control batch's
    /// marker type (true for COMMIT), None for a data batch.
    pub fn on_batch(&mut self, h: &BatchHeader, control_commit: Option<bool>) {
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

    /// The scan is over: what is still pending is open.
    pub fn finish(&mut self) {
        for ranges in std::mem::take(&mut self.pending).into_values() {
            self.open.extend(ranges);
        }
        self.aborted.sort_unstable();
        self.open.sort_unstable();
    }

    /// Whether `offset` is a record of an aborted transaction.
    pub fn is_aborted(&self, offset: i64) -> bool {
        contains(&self.aborted, offset)
    }

    /// Whether `offset` is a record of a transaction not decided in the scanned range.
    pub fn is_open(&self, offset: i64) -> bool {
        contains(&self.open, offset)
    }
}

fn contains(ranges: &[(i64, i64)], offset: i64) -> bool {
    let i = ranges.partition_point(|r| r.1 < offset);
    ranges.get(i).is_some_and(|r| r.0 <= offset)
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

    #[test]
    fn aborted_open_and_committed_batches_are_told_apart() {
        let mut v = TxnView::default();
        v.on_batch(&header(1, 0, 2, true), None); // 0-1: aborted
        v.on_batch(&header(2, 2, 2, true), None); // 2-3: committed
        v.on_batch(&header(9, 4, 1, false), None); // 4: plain
        v.on_batch(&header(3, 5, 3, true), None); // 5-7: open
        v.on_batch(&header(1, 8, 1, true), None); // 8: aborted
        v.on_batch(&marker(1, 9), Some(false));
        v.on_batch(&marker(2, 10), Some(true));
        v.on_batch(&header(2, 11, 1, true), None); // 11: open (second transaction)
        v.finish();
        let aborted: Vec<i64> = (0..13).filter(|o| v.is_aborted(*o)).collect();
        let open: Vec<i64> = (0..13).filter(|o| v.is_open(*o)).collect();
        assert_eq!(aborted, vec![0, 1, 8]);
        assert_eq!(open, vec![5, 6, 7, 11]);
    }
}
