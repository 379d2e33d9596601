//! What Sluice reads back from its internal topics at start-up, fed hostile bytes: the record
//! decoders of `__consumer_offsets` (offset commits, classic group metadata, KIP-848 consumer
//! groups, share groups) and `__transaction_state`, the replay of whole stored batches
//! (`shard::offsets_topic::replay_batches`, transactional offsets held until their marker),
//! and the groups rebuilt from what replay kept (restored, their timers run, written back).
//!
//! Shared by the fuzz target `fuzz/fuzz_targets/offsets_records.rs` and its fixed-input form
//! in CI, `tests/internal_records.rs`; a plain module included by path from both, depending
//! only on crates both have (`sluice`, `sluice_client`, `bytes`, `uuid`).
//!
//! Invariants (an assertion fails, so libFuzzer keeps the input): a decoder may refuse
//! anything, but never panics, aborts, allocates past what its input could describe, or
//! loops; what it accepts re-encodes and decodes again to the same value; every string it
//! accepts fits the i16-length layouts the broker may write it back in; batches Sluice's own
//! encoders wrote always replay, record for record; a group rebuilt from any records can be
//! written back and downgraded without a panic.

// Each includer uses a different part of this module.
#![allow(dead_code, reason = "the fuzz target and the test each use part of it")]

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice::groups::consumer::group::{ConsumerGroup, TopicInfo, TopicsView};
use sluice::groups::consumer::records::{self as consumer_records, ConsumerValue};
use sluice::groups::coordinator::PartitionReplay;
use sluice::groups::records::{self, RecordKey};
use sluice::groups::state::Group;
use sluice::groups::types::Now;
use sluice::groups::GroupConfig;
use sluice::shard::offsets_topic::{replay_batches, OffsetsReplay, StoredRecord};
use sluice::share::group::ShareGroup;
use sluice::share::records::{self as share_records, ShareValue};
use sluice::txn::records as txn_records;
use sluice_client::records::{encode_batch_as, Compression, NewRecord, ProducerFields};

/// The longest string the broker may write back with an i16 length.
const STRING_MAX: usize = i16::MAX as usize;

/// The topic restored groups see (its id is what hostile assignments name most often: the
/// fuzzer finds 16 equal bytes quickly).
pub const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_bytes([7; 16]);
pub const TOPIC: &str = "t";

/// The whole check: the first byte picks what the rest is.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let (key, value) = split(rest);
            record(key, value);
        }
        1 => {
            sequence(&records_of(rest));
        }
        2 => raw_batches(rest, mode & 0x80 != 0),
        _ => built_batches(rest),
    }
}

/// A key and a value from one input: a u16 key length first (taken modulo what is there);
/// the value is what follows the key, None (a tombstone) when the length's top bit is set.
fn split(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    let [a, b, rest @ ..] = data else {
        return (data, None);
    };
    let n = usize::from(u16::from_be_bytes([*a & 0x7f, *b])) % (rest.len() + 1);
    let (key, value) = rest.split_at(n);
    (key, (*a & 0x80 == 0).then_some(value))
}

/// Records from an input: each a u16 key length, the key, a u16 value length (0xffff: a
/// tombstone), the value; lengths past the end take what is left.
pub fn records_of(mut data: &[u8]) -> Vec<(Bytes, Option<Bytes>)> {
    fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (head, rest) = data.split_at(n.min(data.len()));
        *data = rest;
        head
    }
    fn len(data: &mut &[u8]) -> Option<u16> {
        match take(data, 2) {
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
    let mut out = Vec::new();
    while let Some(k) = len(&mut data) {
        let key = Bytes::copy_from_slice(take(&mut data, usize::from(k)));
        let value = match len(&mut data) {
            None | Some(0xffff) => None,
            Some(v) => Some(Bytes::copy_from_slice(take(&mut data, usize::from(v)))),
        };
        out.push((key, value));
    }
    out
}

/// The input form of [`records_of`].
pub fn encode_records(records: &[(Bytes, Option<Bytes>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        out.extend(u16::try_from(k.len()).expect("a short key").to_be_bytes());
        out.extend_from_slice(k);
        match v {
            Some(v) => {
                out.extend(u16::try_from(v.len()).expect("a short value").to_be_bytes());
                out.extend_from_slice(v);
            }
            None => out.extend([0xff, 0xff]),
        }
    }
    out
}

fn fits(s: &str) {
    assert!(
        s.len() <= STRING_MAX,
        "a decoded string of {} bytes",
        s.len()
    );
}

/// One key and value through every decoder that could meet them; what decodes re-encodes to
/// the same value. Then the record through the partition replay and the groups it makes.
pub fn record(key: &[u8], value: Option<&[u8]>) {
    keys(key);
    if let Some(v) = value {
        values(v);
    }
    sequence(&[(
        Bytes::copy_from_slice(key),
        value.map(Bytes::copy_from_slice),
    )]);
}

fn keys(key: &[u8]) {
    if let Ok(k) = records::decode_key(key) {
        fits(k.group());
        let again = match &k {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => records::offset_key(group, topic, *partition),
            RecordKey::Group { group } => records::group_key(group),
            RecordKey::Consumer { group, key } => consumer_records::key(group, key),
            RecordKey::Share { group, key } => share_records::key(group, key),
        };
        assert_eq!(records::decode_key(&again), Ok(k));
    }
    if let Ok(id) = txn_records::decode_key(key) {
        fits(&id);
        let again = txn_records::decode_key(&txn_records::key(&id));
        assert_eq!(again, Ok(id));
    }
}

fn values(v: &[u8]) {
    if let Ok(o) = records::decode_offset_value(v) {
        assert_eq!(
            records::decode_offset_value(&records::offset_value(&o)),
            Ok(o)
        );
    }
    if let Ok(g) = records::decode_group_value(v) {
        assert_eq!(
            records::decode_group_value(&records::group_value(&g)),
            Ok(g)
        );
    }
    for t in 3..=8 {
        if let Ok(c) = consumer_records::decode_value(t, v) {
            consumer_strings_fit(&c);
            let again = consumer_records::decode_value(t, &consumer_records::value(&c));
            assert_eq!(again, Ok(c), "consumer record type {t}");
        }
    }
    for t in 10..=15 {
        if let Ok(s) = share_records::decode_value(t, v) {
            share_strings_fit(&s);
            let again = share_records::decode_value(t, &share_records::value(&s));
            assert_eq!(again, Ok(s), "share record type {t}");
        }
    }
    if let Ok(x) = txn_records::decode_value(v) {
        x.partitions.iter().for_each(|(t, _)| fits(t));
        assert_eq!(txn_records::decode_value(&txn_records::value(&x)), Ok(x));
    }
}

fn consumer_strings_fit(c: &ConsumerValue) {
    match c {
        ConsumerValue::PartitionMetadata(topics) => topics.values().for_each(|(n, _)| fits(n)),
        ConsumerValue::Member(m) => {
            let optional = [
                &m.instance_id,
                &m.rack_id,
                &m.topic_regex,
                &m.server_assignor,
            ];
            optional.into_iter().flatten().for_each(|s| fits(s));
            fits(&m.client_id);
            fits(&m.client_host);
            m.topic_names.iter().for_each(|s| fits(s));
            if let Some(c) = &m.classic {
                c.protocols.iter().for_each(|(n, _)| fits(n));
            }
        }
        ConsumerValue::Metadata { .. }
        | ConsumerValue::TargetMetadata { .. }
        | ConsumerValue::TargetMember(_)
        | ConsumerValue::CurrentAssignment(_) => {}
    }
}

fn share_strings_fit(s: &ShareValue) {
    match s {
        ShareValue::Member(m) => {
            m.rack_id.iter().for_each(|s| fits(s));
            fits(&m.client_id);
            fits(&m.client_host);
            m.topics.iter().for_each(|s| fits(s));
        }
        ShareValue::StatePartitions(t) => t.iter().for_each(|t| fits(&t.name)),
        ShareValue::Metadata { .. }
        | ShareValue::TargetMetadata { .. }
        | ShareValue::TargetMember(_)
        | ShareValue::CurrentAssignment(_) => {}
    }
}

/// What a replay of records kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Groups with any record.
    pub groups: usize,
    /// Records skipped as undecodable.
    pub bad: u64,
}

/// Records, in log order, through the partition replay; then every group it kept is rebuilt.
pub fn sequence(recs: &[(Bytes, Option<Bytes>)]) -> Kept {
    let mut replay = PartitionReplay::default();
    for (k, v) in recs {
        replay.apply(k, v.as_deref());
    }
    let kept = Kept {
        groups: replay.groups.len(),
        bad: replay.bad,
    };
    assert!(kept.bad <= recs.len() as u64);
    restore(replay);
    kept
}

/// Every group of `replay` rebuilt as the coordinator rebuilds it at load, written back as the
/// coordinator writes it, its timers run past every session, and (a consumer group whose
/// members are all classic) downgraded and written as a classic group.
pub fn restore(replay: PartitionReplay) {
    let topics: BTreeMap<String, TopicInfo> = [(
        TOPIC.to_string(),
        TopicInfo {
            id: TOPIC_ID,
            partitions: 3,
            internal: false,
        },
    )]
    .into_iter()
    .collect();
    let view = TopicsView {
        version: 1,
        topics: &topics,
    };
    let names: BTreeMap<uuid::Uuid, String> = [(TOPIC_ID, TOPIC.to_string())].into();
    let ids = |t: &str| (t == TOPIC).then_some(TOPIC_ID);
    let name_of = |id: &uuid::Uuid| names.get(id).cloned();
    let now = Now {
        mono_ms: 1_000,
        wall_ms: 1_700_000_000_000,
    };
    let config = GroupConfig::default();
    for (id, r) in replay.groups {
        let id = id.as_str();
        if r.share.exists() {
            let (mut g, initialized, _) = ShareGroup::restore(id, r.share, &name_of, now.mono_ms);
            let _ = g.records(id, &ids, &initialized);
            // Every member's session runs out (an epoch bump), and the group is written again.
            g.expire_members(u64::MAX / 2, 45_000);
            let _ = g.records(id, &ids, &initialized);
        }
        let is_consumer = r.consumer.exists();
        let mut group = match r.meta {
            Some(meta) if !is_consumer => Group::from_snapshot(id, config, meta, now),
            _ => Group::new(id, config, now),
        };
        group.offsets = r.offsets;
        let _ = records::group_value(&group.snapshot(None));
        // Every session runs out, then the rebalance that starts waits its longest timeout.
        for mono_ms in [u64::MAX / 2, u64::MAX / 2 + (1 << 32)] {
            group.tick(Now { mono_ms, ..now });
            let _ = records::group_value(&group.snapshot(None));
        }
        if is_consumer {
            let mut g = ConsumerGroup::restore(r.consumer, &view, 45_000, now.mono_ms);
            let _ = g.records(id);
            // Members fenced one session after another; after each, a downgrade as the
            // coordinator's timer would try it, and the classic group written.
            let mut deadlines: Vec<u64> =
                g.members.values().map(|m| m.session_deadline_ms).collect();
            deadlines.sort_unstable();
            for d in deadlines.into_iter().take(4) {
                if g.tick(d) {
                    let _ = g.records(id);
                    if g.all_classic() {
                        if let Some(s) = g.downgrade_snapshot(&names, now.wall_ms) {
                            let _ = records::group_value(&s);
                            let classic = Group::downgraded(id, config, s, BTreeMap::new(), now);
                            let _ = records::group_value(&classic.snapshot(None));
                        }
                    }
                }
            }
        }
    }
}

/// Stored batches as a log read returns them, `reseal`: each batch whose length fits gets its
/// CRC recomputed first, so the fuzzer's changes to counts, offsets and records reach the
/// walker instead of stopping at the checksum (a batch written by another Kafka version, or
/// by a client allowed to write internal topics, is CRC-valid whatever it claims).
pub fn raw_batches(data: &[u8], reseal: bool) {
    let mut buf = data.to_vec();
    if reseal {
        reseal_all(&mut buf);
    }
    replay_all(&Bytes::from(buf));
}

/// Recompute the CRC of every batch in `buf` whose length fits.
pub fn reseal_all(buf: &mut [u8]) {
    const HEADER: usize = 61;
    let mut pos = 0;
    while buf.len() - pos >= HEADER {
        let len = i32::from_be_bytes([buf[pos + 8], buf[pos + 9], buf[pos + 10], buf[pos + 11]]);
        let Some(total) = usize::try_from(len)
            .ok()
            .map(|l| l + 12)
            .filter(|t| *t >= HEADER && *t <= buf.len() - pos)
        else {
            return;
        };
        let crc = crc32c(&buf[pos + 21..pos + total]);
        buf[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        pos += total;
    }
}

fn crc32c(b: &[u8]) -> u32 {
    // The table-less bitwise form: this check must not depend on the broker's own CRC code.
    let mut crc = !0u32;
    for &byte in b {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `buf` through the offsets replay (and the transaction-state decoders); answers the records
/// replay saw, or None if it refused the buffer.
pub fn replay_all(buf: &Bytes) -> Option<Vec<StoredRecord>> {
    let mut seen = Vec::new();
    let mut applied: Vec<(Bytes, Option<Bytes>)> = Vec::new();
    let mut replay = OffsetsReplay::new(|k: &[u8], v: Option<&[u8]>| {
        applied.push((Bytes::copy_from_slice(k), v.map(Bytes::copy_from_slice)));
    });
    let r = replay_batches(buf, 0, |rec| {
        replay.record(rec);
        seen.push(rec.clone());
    });
    let open = std::mem::take(&mut replay.open);
    drop(replay);
    for rec in &seen {
        if let (false, Some(k)) = (rec.control, &rec.key) {
            if let (Ok(_), Some(v)) = (txn_records::decode_key(k), &rec.value) {
                let _ = txn_records::decode_value(v);
            }
        }
    }
    // What a transaction still open at the end holds is staged again: its offset records.
    for held in open.values().flatten() {
        if let Ok(RecordKey::Offset { .. }) = records::decode_key(&held.key) {
            if let Some(v) = &held.value {
                let _ = records::decode_offset_value(v);
            }
        }
    }
    sequence(&applied);
    r.ok().map(|_| seen)
}

/// Batches Sluice's own encoders write (plain and transactional offsets, COMMIT and ABORT
/// markers, each codec) from the input's records: replay must read every one of them back, in
/// order, at its offset.
pub fn built_batches(data: &[u8]) {
    let recs = records_of(data);
    let mut buf = Vec::new();
    let mut expected: Vec<(i64, bool)> = Vec::new();
    let mut offset = 0i64;
    for (i, chunk) in recs.chunks(3).enumerate() {
        // The chunk's first key byte picks the kind of batch and its codec.
        let pick = chunk[0].0.first().copied().unwrap_or(0);
        let producer = i64::from(pick % 3);
        if pick % 5 == 4 {
            let mut m =
                sluice::txn::markers::marker_batch(producer, 0, pick & 8 != 0, 0, 1).to_vec();
            sluice::log::format::stamp(&mut m, offset, 0);
            buf.extend(m);
            expected.push((offset, true));
            offset += 1;
            continue;
        }
        let transactional = pick % 5 >= 2;
        let fields = if transactional {
            ProducerFields {
                id: producer,
                epoch: 0,
                base_sequence: 0,
                transactional: true,
            }
        } else {
            ProducerFields::NONE
        };
        let codec = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ][(pick as usize / 16 + i) % 5];
        let new: Vec<NewRecord> = chunk
            .iter()
            .map(|(k, v)| NewRecord {
                key: Some(k.clone()),
                value: v.clone(),
                headers: Vec::new(),
                timestamp: 1_700_000_000_000,
            })
            .collect();
        let mut b = encode_batch_as(&new, codec, fields)
            .expect("encodes")
            .to_vec();
        sluice::log::format::stamp(&mut b, offset, 0);
        buf.extend(b);
        for _ in chunk {
            expected.push((offset, false));
            offset += 1;
        }
    }
    let seen = replay_all(&Bytes::from(buf)).expect("batches Sluice wrote replay");
    let got: Vec<(i64, bool)> = seen.iter().map(|r| (r.offset, r.control)).collect();
    assert_eq!(got, expected);
}
