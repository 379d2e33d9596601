//! One share-partition: the state of one topic-partition as one share group consumes it
//! (KIP-932's `SharePartition`). Pure logic: no I/O, no clock (time comes in as `now_ms`), no
//! async, so every rule is unit-tested here. Lives on the partition's owner shard, inside
//! [`super::ShareState`]; persisted by [`super::store`].
//!
//! Offsets below `start` (the share-partition start offset, SPSO) are done: acknowledged or
//! archived. Offsets in `[start, end)` are in flight and each has a [`Record`]; `end` is the
//! next offset never yet handed out (the SPEO). After a restart the restored records may lie
//! at or past `end` (`end` restarts at `start`): the acquisition walk honours them.

use std::collections::BTreeMap;

/// A record's delivery state, with Kafka's codes (`RecordState`), as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    Available = 0,
    Acquired = 1,
    Acknowledged = 2,
    Archived = 4,
}

impl RecordState {
    pub fn from_code(code: u8) -> Option<RecordState> {
        match code {
            0 => Some(RecordState::Available),
            1 => Some(RecordState::Acquired),
            2 => Some(RecordState::Acknowledged),
            4 => Some(RecordState::Archived),
            _ => None,
        }
    }

    /// Acknowledged or archived: never delivered again.
    pub fn is_terminal(self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }
}

/// Acknowledgement types on the wire (`AcknowledgeType`; GAP is 0 in ShareFetch batches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckType {
    Gap = 0,
    Accept = 1,
    Release = 2,
    Reject = 3,
    /// KIP-1222 (v2): extend the acquisition lock, keep the record.
    Renew = 4,
}

impl AckType {
    pub fn from_code(code: i8) -> Option<AckType> {
        match code {
            0 => Some(AckType::Gap),
            1 => Some(AckType::Accept),
            2 => Some(AckType::Release),
            3 => Some(AckType::Reject),
            4 => Some(AckType::Renew),
            _ => None,
        }
    }
}

/// One in-flight record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub state: RecordState,
    /// Times it was acquired (Kafka's delivery count).
    pub delivery_count: u16,
    /// The member holding it while Acquired.
    pub member: Option<String>,
    /// When its acquisition lock ends (ms on the shard's clock) while Acquired.
    pub lock_until_ms: u64,
}

/// Limits one share-partition works within (the `group.share.*` broker flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `group.share.record.lock.duration.ms`
    pub lock_duration_ms: u64,
    /// `group.share.delivery.count.limit`: a record released or timed out after this many
    /// deliveries is archived instead of made available again.
    pub delivery_count_limit: u16,
    /// `group.share.partition.max.record.locks`: at most this many offsets in flight.
    pub record_locks_max: usize,
}

/// A contiguous range of records handed to a member with one delivery count (the ShareFetch
/// response's `AcquiredRecords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: u16,
}

/// Why an acknowledgement was refused (INVALID_RECORD_STATE or INVALID_REQUEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// A record not acquired by this member, or its lock already ended.
    InvalidRecordState,
    /// Offsets or types that make no sense (last < first, unknown type, a type count that
    /// matches neither 1 nor the range).
    InvalidRequest,
}

/// Counters for the status page and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records handed out again (delivery count above 1).
    pub redeliveries: u64,
    /// Records archived (rejected, or past the delivery limit).
    pub archived: u64,
    /// Records accepted.
    pub acknowledged: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartition {
    start: i64,
    end: i64,
    records: BTreeMap<i64, Record>,
    /// Bumped by every change the store must see; the store remembers the last it wrote.
    pub generation: u64,
    pub counters: Counters,
}

/// A batch's offsets as the log holds them: `[base, last]`, `control` for transaction markers,
/// `aborted` for the records of an aborted transaction (only under `share.isolation.level =
/// read_committed`; a read_uncommitted group delivers them, as Kafka does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpan {
    pub base: i64,
    pub last: i64,
    pub control: bool,
    pub aborted: bool,
}

impl SharePartition {
    /// A new share-partition starting at `start` (from `share.auto.offset.reset`).
    pub fn new(start: i64) -> SharePartition {
        SharePartition {
            start,
            end: start,
            records: BTreeMap::new(),
            generation: 1,
            counters: Counters::default(),
        }
    }

    /// A share-partition restored from its store: records Acquired at the crash come back
    /// Available (their lock holder is gone).
    pub fn restored(start: i64, records: Vec<(i64, RecordState, u16)>) -> SharePartition {
        let mut map = BTreeMap::new();
        for (offset, state, delivery_count) in records {
            if offset < start {
                continue;
            }
            let state = if state == RecordState::Acquired {
                RecordState::Available
            } else {
                state
            };
            map.insert(
                offset,
                Record {
                    state,
                    delivery_count,
                    member: None,
                    lock_until_ms: 0,
                },
            );
        }
        let mut sp = SharePartition {
            start,
            end: start,
            records: map,
            generation: 0,
            counters: Counters::default(),
        };
        sp.advance_start();
        sp
    }

    pub fn start(&self) -> i64 {
        self.start
    }

    pub fn end(&self) -> i64 {
        self.end
    }

    /// (offset, state, delivery count) of every record the store must keep: terminal ones past
    /// the start, and those delivered at least once.
    pub fn persisted(&self) -> Vec<(i64, RecordState, u16)> {
        self.records
            .iter()
            .filter(|(_, r)| r.state.is_terminal() || r.delivery_count > 0)
            .map(|(o, r)| (*o, r.state, r.delivery_count))
            .collect()
    }

    /// Records in each state: (available in flight, acquired, terminal not yet passed).
    pub fn state_counts(&self) -> (usize, usize, usize) {
        let mut out = (0, 0, 0);
        for r in self.records.values() {
            match r.state {
                RecordState::Available => out.0 += 1,
                RecordState::Acquired => out.1 += 1,
                RecordState::Acknowledged | RecordState::Archived => out.2 += 1,
            }
        }
        out
    }

    /// Offsets in flight (between the start and the furthest record handed out or restored).
    pub fn in_flight(&self) -> usize {
        let top = self
            .records
            .last_key_value()
            .map_or(self.end, |(o, _)| (o + 1).max(self.end));
        usize::try_from(top - self.start).unwrap_or(0)
    }

    /// Move the start to `offset` (AlterShareGroupOffsets, or the log start passing it):
    /// everything before it is forgotten.
    pub fn reset_start(&mut self, offset: i64) {
        if offset < self.start {
            // Moving back: nothing past the old start keeps a state.
            self.records.clear();
        } else {
            self.records = self.records.split_off(&offset);
        }
        self.start = offset;
        self.end = offset;
        self.generation += 1;
        self.advance_start();
    }

    /// Acquisition locks that ended by `now_ms` give their records back (or archive them past
    /// the delivery limit). Returns how many were released.
    pub fn expire_locks(&mut self, now_ms: u64, limits: &Limits) -> usize {
        let mut released = 0;
        for r in self.records.values_mut() {
            if r.state == RecordState::Acquired && r.lock_until_ms <= now_ms {
                release(r, limits, &mut self.counters);
                released += 1;
            }
        }
        if released > 0 {
            self.generation += 1;
            self.advance_start();
        }
        released
    }

    /// Every record `member` holds goes back (its share session closed or it left).
    pub fn release_member(&mut self, member: &str, limits: &Limits) -> usize {
        let mut released = 0;
        for r in self.records.values_mut() {
            if r.state == RecordState::Acquired && r.member.as_deref() == Some(member) {
                release(r, limits, &mut self.counters);
                released += 1;
            }
        }
        if released > 0 {
            self.generation += 1;
            self.advance_start();
        }
        released
    }

    /// Where a fetch for this share-partition should read the log from: the first available
    /// record, else the end; None when nothing could be acquired below `high_watermark`.
    pub fn next_fetch_offset(&self, high_watermark: i64, limits: &Limits) -> Option<i64> {
        let available = self
            .records
            .iter()
            .find(|(_, r)| r.state == RecordState::Available)
            .map(|(o, _)| *o);
        let room = self.in_flight() < limits.record_locks_max;
        let from = match available {
            Some(o) => o,
            None if room => self.end,
            None => return None,
        };
        (from < high_watermark).then_some(from)
    }

    /// Acquire for `member` the records of `batches` (what the log returned, in order) that
    /// may be delivered, at most `max_records` of them, up to `high_watermark`. Returns the
    /// acquired ranges.
    pub fn acquire(
        &mut self,
        member: &str,
        batches: &[BatchSpan],
        max_records: usize,
        high_watermark: i64,
        now_ms: u64,
        limits: &Limits,
    ) -> Vec<Acquired> {
        let mut out: Vec<Acquired> = Vec::new();
        let mut taken = 0usize;
        let lock_until_ms = now_ms + limits.lock_duration_ms;
        'batches: for b in batches {
            for offset in b.base.max(self.start)..=b.last.min(high_watermark - 1) {
                if taken >= max_records {
                    break 'batches;
                }
                let existing = self.records.get(&offset).map(|r| r.state);
                let delivery_count = match existing {
                    Some(RecordState::Available) => {
                        let r = self.records.get_mut(&offset);
                        let Some(r) = r else { continue };
                        r.delivery_count = r.delivery_count.saturating_add(1);
                        self.counters.redeliveries += 1;
                        r.state = RecordState::Acquired;
                        r.member = Some(member.to_string());
                        r.lock_until_ms = lock_until_ms;
                        r.delivery_count
                    }
                    Some(_) => continue,
                    None if offset >= self.end => {
                        if self.in_flight() >= limits.record_locks_max {
                            break 'batches;
                        }
                        if b.control || b.aborted {
                            // Transaction markers are never delivered, nor (read_committed)
                            // the records of an aborted transaction: archived as reached.
                            if b.aborted {
                                self.counters.archived += 1;
                            }
                            self.records.insert(
                                offset,
                                Record {
                                    state: RecordState::Archived,
                                    delivery_count: 0,
                                    member: None,
                                    lock_until_ms: 0,
                                },
                            );
                            self.end = self.end.max(offset + 1);
                            continue;
                        }
                        self.records.insert(
                            offset,
                            Record {
                                state: RecordState::Acquired,
                                delivery_count: 1,
                                member: Some(member.to_string()),
                                lock_until_ms,
                            },
                        );
                        self.end = self.end.max(offset + 1);
                        1
                    }
                    None => continue,
                };
                taken += 1;
                match out.last_mut() {
                    Some(last)
                        if last.last_offset + 1 == offset
                            && last.delivery_count == delivery_count =>
                    {
                        last.last_offset = offset;
                    }
                    _ => out.push(Acquired {
                        first_offset: offset,
                        last_offset: offset,
                        delivery_count,
                    }),
                }
            }
        }
        if !out.is_empty() || taken > 0 {
            self.generation += 1;
        }
        self.advance_start();
        out
    }

    /// Apply one acknowledgement batch from `member`: `types` holds one type for the whole
    /// range or one per offset. All or nothing: a refused batch changes nothing. Returns
    /// whether a durable state changed (the store must write before answering).
    pub fn acknowledge(
        &mut self,
        member: &str,
        first_offset: i64,
        last_offset: i64,
        types: &[i8],
        now_ms: u64,
        limits: &Limits,
    ) -> Result<bool, AckError> {
        if last_offset < first_offset || first_offset < 0 {
            return Err(AckError::InvalidRequest);
        }
        let span = last_offset - first_offset + 1;
        let per_offset = match types.len() {
            1 => false,
            n if i64::try_from(n).ok() == Some(span) => true,
            _ => return Err(AckError::InvalidRequest),
        };
        let mut parsed = Vec::with_capacity(types.len());
        for t in types {
            parsed.push(AckType::from_code(*t).ok_or(AckError::InvalidRequest)?);
        }
        let type_at = |offset: i64| -> AckType {
            let i = if per_offset {
                usize::try_from(offset - first_offset).unwrap_or(0)
            } else {
                0
            };
            parsed.get(i).copied().unwrap_or(AckType::Accept)
        };
        // Check the whole batch first.
        for offset in first_offset..=last_offset {
            let ty = type_at(offset);
            match self.records.get(&offset) {
                Some(r)
                    if r.state == RecordState::Acquired
                        && r.member.as_deref() == Some(member)
                        && r.lock_until_ms > now_ms => {}
                // A gap is an offset the log does not hold (compaction, markers): fine when
                // it was never handed out as a record.
                _ if ty == AckType::Gap => {}
                _ => return Err(AckError::InvalidRecordState),
            }
        }
        let mut durable = false;
        for offset in first_offset..=last_offset {
            let ty = type_at(offset);
            let Some(r) = self.records.get_mut(&offset) else {
                continue;
            };
            if r.state != RecordState::Acquired {
                continue;
            }
            match ty {
                AckType::Accept => {
                    r.state = RecordState::Acknowledged;
                    self.counters.acknowledged += 1;
                    durable = true;
                }
                AckType::Reject | AckType::Gap => {
                    r.state = RecordState::Archived;
                    self.counters.archived += 1;
                    durable = true;
                }
                AckType::Release => {
                    release(r, limits, &mut self.counters);
                    durable = true;
                }
                AckType::Renew => r.lock_until_ms = now_ms + limits.lock_duration_ms,
            }
            r.member = r.member.take().filter(|_| r.state == RecordState::Acquired);
        }
        if durable {
            self.generation += 1;
            self.advance_start();
        }
        Ok(durable)
    }

    /// The earliest time a lock ends, if any record is acquired.
    pub fn next_lock_end_ms(&self) -> Option<u64> {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .map(|r| r.lock_until_ms)
            .min()
    }

    /// Drop the terminal records at the start and move it past them.
    fn advance_start(&mut self) {
        while let Some(entry) = self.records.first_entry() {
            if *entry.key() != self.start || !entry.get().state.is_terminal() {
                break;
            }
            entry.remove();
            self.start += 1;
        }
        // Restored records may begin past the start with nothing between: the gap is fresh.
        self.end = self.end.max(self.start);
    }
}

/// A record given back: available again, or archived once delivered `delivery_count_limit`
/// times.
fn release(r: &mut Record, limits: &Limits, counters: &mut Counters) {
    r.member = None;
    r.lock_until_ms = 0;
    if r.delivery_count >= limits.delivery_count_limit {
        r.state = RecordState::Archived;
        counters.archived += 1;
    } else {
        r.state = RecordState::Available;
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
