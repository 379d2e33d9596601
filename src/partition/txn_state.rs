//! A partition's transaction state across restarts: the per-segment `.txnindex` files
//! (`log::txn_index`) written as ABORT markers are applied, and the state rebuilt at open from
//! them plus a scan of the log from the last entry's last stable offset (the whole log when
//! an index is missing its first entry, torn or inconsistent; the indexes are then rewritten).
//!
//! Runs on the partition's owner shard; file work goes to its blocking pool.

use std::path::PathBuf;

use super::{Partition, TXN_FLAG_FILE};
use crate::log::cleaner_txn::TxnView;
use crate::log::txn_index::{self, Entry, IndexError, TXN_INDEX_SUFFIX};
use crate::log::{file_ops, segment, BatchHeader};
use crate::protocol::errors::PartitionError;
use crate::shard::blocking::BlockingPool;
use crate::txn::partition_state::{AbortedTxn, PartitionTxns};

/// What the index files held at open.
enum Loaded {
    /// Entries of every file, sorted by marker offset, checked against the log.
    Entries(Vec<Entry>),
    /// Unusable: rebuild from the whole log.
    Rebuild(IndexError),
}

impl Partition {
    /// Record an aborted transaction (its marker applied) in the `.txnindex` of the segment
    /// holding the marker. Entries are queued in the order markers were applied and written in
    /// that order, so the entries that survive a crash are a prefix of them; a failure is only
    /// logged: the next open finds the missing entry in its scan of the tail (or rebuilds).
    pub(super) async fn index_abort(&self, txn: AbortedTxn) {
        let entry = Entry {
            txn,
            last_stable_offset: self.txns.borrow().stable_after(txn.last_offset),
        };
        self.txn_index_queue.borrow_mut().push(entry);
        if let Err(e) = self.write_txn_index_queue().await {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing .txnindex (rebuilt at the next open)");
        }
    }

    /// Append the queued entries to their files (fdatasynced), in queue order, one writer at a
    /// time (a cleaner swap merging files is a writer too). Each goes to the segment holding
    /// its marker now: the cleaner may have merged the one it was in when it was queued.
    async fn write_txn_index_queue(&self) -> std::io::Result<()> {
        let _writer = self
            .log
            .txn_index_lock()
            .acquire_permit(1)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let pending = std::mem::take(&mut *self.txn_index_queue.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let writes: Vec<(PathBuf, [u8; txn_index::ENTRY_BYTES])> = pending
            .iter()
            .map(|e| {
                let base = self.log.segment_base_of(e.txn.last_offset).unwrap_or(0);
                (
                    segment::path(self.log.dir(), base, TXN_INDEX_SUFFIX),
                    e.encode(),
                )
            })
            .collect();
        file_ops::run_fs(self.log.blocking(), move || {
            use std::io::Write;
            let mut last: Option<(PathBuf, std::fs::File)> = None;
            for (path, bytes) in writes {
                if last.as_ref().is_none_or(|(p, _)| *p != path) {
                    if let Some((_, f)) = last.take() {
                        f.sync_data()?;
                    }
                    let f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)?;
                    last = Some((path, f));
                }
                if let Some((_, f)) = last.as_mut() {
                    f.write_all(&bytes)?;
                }
            }
            match last {
                Some((_, f)) => f.sync_data(),
                None => Ok(()),
            }
        })
        .await
    }

    /// Forget aborted transactions wholly below the log start offset (after retention deleted
    /// their segments, and their `.txnindex` files with them).
    pub fn txn_trim(&self) {
        self.txns.borrow_mut().trim_below(self.log_start_offset());
    }

    /// The log cleaner's view of this partition's transactions for one pass: the aborted
    /// ones (as `.txnindex` holds them) and the last stable offset, which the pass stays below.
    pub fn cleaner_txn_view(&self) -> TxnView {
        TxnView::new(self.last_stable_offset(), self.txns.borrow().aborted())
    }

    /// A cleaner pass removed every batch of the aborted transactions whose markers are at
    /// `marker_offsets` (sorted), and their `.txnindex` entries.
    pub fn txn_forget_aborted(&self, marker_offsets: &[i64]) {
        self.txns.borrow_mut().forget_aborted(marker_offsets);
    }

    /// This partition reopened on `log` (after a storage error): the state rebuilt from the
    /// log as at any open, plus what no log holds — the producers the coordinator added this
    /// partition for, so an open transaction's next batch is still accepted (KIP-890 part 1).
    pub async fn reopened(
        &self,
        log: std::rc::Rc<crate::log::Log>,
        settings: super::Settings,
        pool: &BlockingPool,
    ) -> std::rc::Rc<Partition> {
        let fresh = Partition::new(
            self.topic.clone(),
            self.index,
            self.leader_epoch(),
            log,
            settings,
        );
        if let Err(e) = fresh.rebuild_txn_state(pool).await {
            tracing::error!(topic = %self.topic, partition = self.index, error = ?e, "rebuilding transaction state");
        }
        fresh.load_producer_snapshot(pool).await;
        let added = self.txns.borrow().added().clone();
        {
            let mut txns = fresh.txns.borrow_mut();
            for (producer_id, epoch) in added {
                txns.add(producer_id, epoch);
            }
        }
        if self.transactional.get() {
            fresh.transactional.set(true);
        }
        fresh
    }

    /// Aborted transactions known here, in marker order (tests, `sluice` status).
    pub fn txn_aborted(&self) -> Vec<AbortedTxn> {
        self.txns.borrow().aborted().to_vec()
    }

    /// Rebuild the transaction state (open transactions, aborted ones) if the partition ever
    /// took part in a transaction (its flag file exists): aborted ranges from the
    /// `.txnindex` files, the rest from the log after the last entry's last stable offset.
    /// Called once at open, before the partition serves anything.
    pub async fn rebuild_txn_state(&self, pool: &BlockingPool) -> Result<(), PartitionError> {
        let flag = self.log.dir().join(TXN_FLAG_FILE);
        if file_ops::read_small_file(pool, &flag).await.is_err() {
            return Ok(());
        }
        self.transactional.set(true);
        let start = self.log_start_offset();
        let end = self.log.log_end_offset();
        let (indexed, rebuild) = match self.load_txn_index(pool).await {
            Loaded::Entries(entries) => (entries, false),
            Loaded::Rebuild(e) => {
                tracing::warn!(topic = %self.topic, partition = self.index, error = ?e, "aborted-transaction index unusable: rebuilding it from the log");
                (Vec::new(), true)
            }
        };
        // Every transaction open when the last entry was written starts at or after its last
        // stable offset; without an entry, only the whole log tells.
        let scan_from = indexed
            .last()
            .map_or(start, |e| e.last_stable_offset.clamp(start, end.max(start)));
        let indexed_up_to = indexed.last().map_or(-1, |e| e.txn.last_offset);
        let mut txns = PartitionTxns::default();
        let mut found: Vec<Entry> = Vec::new();
        self.scan_txns(scan_from, end, &mut txns, |txns, a| {
            if a.last_offset > indexed_up_to {
                found.push(Entry {
                    txn: a,
                    last_stable_offset: txns.stable_after(a.last_offset),
                });
            }
        })
        .await?;
        let aborted: Vec<AbortedTxn> = indexed
            .iter()
            .chain(found.iter())
            .map(|e| e.txn)
            .filter(|a| a.last_offset >= start)
            .collect();
        tracing::info!(
            topic = %self.topic,
            partition = self.index,
            indexed = indexed.len(),
            scanned_from = scan_from,
            found = found.len(),
            rebuild,
            "transaction state loaded"
        );
        {
            let mut current = self.txns.borrow_mut();
            txns.set_added(current.take_added());
            txns.set_aborted(aborted);
            *current = txns;
        }
        if rebuild {
            if let Err(e) = self.rewrite_txn_index(pool, &found).await {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "rewriting .txnindex");
            }
        } else if !found.is_empty() {
            // Aborts whose entries a crash lost: append them after the surviving prefix.
            self.txn_index_queue.borrow_mut().extend(found);
            if let Err(e) = self.write_txn_index_queue().await {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "repairing .txnindex");
            }
        }
        Ok(())
    }

    /// Every `.txnindex` file of the partition, checked; files of segments that retention
    /// deleted (a crash between the removals) are removed. The cleaner merges a group's files
    /// in its swap; a file of a merged-away segment left by an older version keeps its
    /// entries (still inside the log).
    async fn load_txn_index(&self, pool: &BlockingPool) -> Loaded {
        let dir = self.log.dir().to_path_buf();
        let start = self.log_start_offset();
        let bases = self.log.segment_bases();
        let read = file_ops::run_fs(pool, move || {
            let mut files = Vec::new();
            for e in std::fs::read_dir(&dir)? {
                let name = e?.file_name().to_string_lossy().into_owned();
                let Some(base) = txn_index::parse_file_name(&name) else {
                    continue;
                };
                let path = dir.join(&name);
                if base < start && !bases.contains(&base) {
                    std::fs::remove_file(&path)?;
                    continue;
                }
                let len = std::fs::metadata(&path)?.len();
                if len > txn_index::TXN_INDEX_FILE_BYTES_MAX as u64 {
                    return Ok(Err(IndexError::TooLarge));
                }
                files.push((base, std::fs::read(&path)?));
            }
            Ok(Ok(files))
        })
        .await;
        let files = match read {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => return Loaded::Rebuild(e),
            Err(e) => {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "reading .txnindex files");
                return Loaded::Rebuild(IndexError::Unreadable);
            }
        };
        let mut decoded = Vec::with_capacity(files.len());
        for (base, bytes) in files {
            match txn_index::decode(&bytes) {
                Ok(entries) => decoded.push((base, entries)),
                Err(e) => return Loaded::Rebuild(e),
            }
        }
        match txn_index::check_against_log(decoded, self.log.log_end_offset()) {
            Ok(entries) => Loaded::Entries(entries),
            Err(e) => Loaded::Rebuild(e),
        }
    }

    /// Replace every `.txnindex` file with `entries` (all the aborts of the log), grouped by
    /// the segment holding each marker; files left without entries are removed.
    async fn rewrite_txn_index(
        &self,
        pool: &BlockingPool,
        entries: &[Entry],
    ) -> std::io::Result<()> {
        let dir = self.log.dir().to_path_buf();
        let mut by_base: std::collections::BTreeMap<i64, Vec<u8>> = Default::default();
        for e in entries {
            let base = self.log.segment_base_of(e.txn.last_offset).unwrap_or(0);
            by_base.entry(base).or_default().extend(e.encode());
        }
        let listing = file_ops::list_dir(pool, &dir).await?;
        for name in listing {
            if let Some(base) = txn_index::parse_file_name(&name) {
                if !by_base.contains_key(&base) {
                    file_ops::remove_file(pool, &dir.join(&name)).await?;
                }
            }
        }
        for (base, bytes) in by_base {
            file_ops::replace_file(
                pool,
                &dir,
                &segment::file_name(base, TXN_INDEX_SUFFIX),
                bytes,
            )
            .await?;
        }
        Ok(())
    }

    /// Feed the batches in `[from, end)` to `txns` (transactional data and markers); `on_abort`
    /// sees each aborted range as its marker is applied.
    async fn scan_txns(
        &self,
        from: i64,
        end: i64,
        txns: &mut PartitionTxns,
        mut on_abort: impl FnMut(&PartitionTxns, AbortedTxn),
    ) -> Result<(), PartitionError> {
        self.scan_batches(from, end, |batch, h| {
            if !h.is_transactional() {
                return;
            }
            if !h.is_control() {
                txns.on_data(h, h.base_offset);
                return;
            }
            if let Some(kind) = crate::txn::markers::control_type(h, batch) {
                let commit = kind == crate::txn::markers::CONTROL_COMMIT;
                if let Some(a) =
                    txns.on_marker(h.producer_id, h.producer_epoch, commit, h.base_offset)
                {
                    on_abort(txns, a);
                }
            }
        })
        .await
    }

    /// Call `f(batch, header)` for every whole batch in `[from, end)` of the log, in order
    /// (the one log scan of open: transaction state, producers after a snapshot).
    pub(super) async fn scan_batches(
        &self,
        from: i64,
        end: i64,
        mut f: impl FnMut(&[u8], &BatchHeader),
    ) -> Result<(), PartitionError> {
        let mut offset = from;
        while offset < end {
            let read = self
                .log
                .read(
                    offset,
                    end,
                    crate::limits::OFFSETS_REPLAY_READ_BYTES_MAX,
                    true,
                )
                .await?;
            if read.bytes == 0 {
                break;
            }
            let buf = read.into_contiguous();
            let before = offset;
            let mut at = 0usize;
            while let Some(rest) = buf.get(at..) {
                let Ok(h) = BatchHeader::try_parse(rest) else {
                    break;
                };
                let Some(total) = h.total_bytes() else {
                    break;
                };
                f(rest.get(..total).unwrap_or(rest), &h);
                offset = offset.max(h.next_offset());
                at += total;
            }
            if offset <= before {
                return Err(PartitionError::Storage);
            }
        }
        Ok(())
    }
}
