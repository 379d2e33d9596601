//! Structure-aware request generator for request-level fuzzing: builds valid requests of every
//! API key and version Sluice serves (`sluice::handlers::SERVED`) with kafka-protocol's
//! encoders, bends their fields towards the values that break handlers (empty and huge arrays,
//! duplicates, unknown names and ids, negative and extreme indexes, offsets, timeouts and
//! sizes), and sometimes mutates the encoded frame's bytes as well.
//!
//! Every choice is read from a byte string ([`Choices`]), so the same generator serves
//! libFuzzer (which mutates the bytes, guided by coverage: `fuzz/fuzz_targets/request.rs`) and
//! the deterministic CI replay (which draws them from a seeded RNG: `tests/request_fuzz.rs`).
//! Both include this file by path; it depends only on crates both already have.
//!
//! Timeouts the broker waits on (`max_wait_ms` with `min_bytes` > 0, rebalance and session
//! timeouts) stay small unless the request can't wait on them, so a sequence never legitimately
//! takes seconds: a reply slower than the runner's deadline is a finding, not a slow input.
#![allow(
    dead_code,
    reason = "each test crate including the harness uses a different part of it"
)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use uuid::Uuid;

/// Requests in one sequence at most (libFuzzer inputs and CI chunks alike).
pub const SEQUENCE_REQUESTS_MAX: usize = 24;
/// Elements in a "huge" array: large enough to cross every per-request reservation and
/// small-vector fast path, small enough to keep a fuzz execution in milliseconds.
pub const HUGE_ARRAY_ELEMENTS_MAX: usize = 3_000;
/// A larger body (a huge array of long strings or batches) is replaced by the API's empty
/// one: it would only slow the fuzzer down (frame limits are tested in tests/bad_input.rs).
pub const BODY_BYTES_MAX: usize = 4 << 20;
/// The longest wait a generated request may impose when it asks the broker to wait (Fetch
/// long polls, group rebalances, session timeouts).
pub const WAIT_MS_MAX: i32 = 40;

/// A fuzzer's bytes read as a stream of choices. Past the end every choice is 0, so any input
/// is a valid (if short) description of a sequence.
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
    /// Set while building an element of a huge array: its own arrays and strings stay small,
    /// or nested huge arrays multiply (3,000³ elements) and exhaust memory.
    in_huge: bool,
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices {
            data,
            pos: 0,
            in_huge: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A number in `0..n` (`n` ≥ 1).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            self.u32() as usize % n
        }
    }

    /// True with probability about 1 in `n`; false past the end of the input, so an input
    /// that runs out takes the common path rather than every rare one.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == n - 1
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const INTERESTING_I32: &[i32] = &[
    -1,
    0,
    1,
    2,
    -2,
    i32::MIN,
    i32::MAX,
    i32::MIN + 1,
    i32::MAX - 1,
    100_000,
    1 << 20,
    -(1 << 20),
];
const INTERESTING_I64: &[i64] = &[
    -1,
    -2,
    -3,
    -4,
    0,
    1,
    i64::MIN,
    i64::MAX,
    i64::MAX - 1,
    i32::MAX as i64 + 1,
    1_700_000_000_000,
    -1_700_000_000_000,
];
const INTERESTING_I16: &[i16] = &[-1, 0, 1, 2, -2, i16::MIN, i16::MAX];
const INTERESTING_I8: &[i8] = &[0, 1, 2, 3, -1, i8::MIN, i8::MAX];

/// Mostly a value from `small` (what real clients send), sometimes an extreme one.
fn int32(c: &mut Choices, small: std::ops::RangeInclusive<i32>) -> i32 {
    match c.below(8) {
        0 => c.pick(INTERESTING_I32),
        1 => c.u32() as i32,
        _ => {
            let span = (i64::from(*small.end()) - i64::from(*small.start()) + 1) as usize;
            small.start() + c.below(span) as i32
        }
    }
}

fn int64(c: &mut Choices, small: std::ops::RangeInclusive<i64>) -> i64 {
    match c.below(8) {
        0 | 1 => c.pick(INTERESTING_I64),
        2 => (u64::from(c.u32()) << 32 | u64::from(c.u32())) as i64,
        _ => {
            let span = (small.end() - small.start() + 1) as usize;
            small.start() + c.below(span) as i64
        }
    }
}

fn int16(c: &mut Choices, small: std::ops::RangeInclusive<i16>) -> i16 {
    if c.one_in(6) {
        c.pick(INTERESTING_I16)
    } else {
        let span = (i32::from(*small.end()) - i32::from(*small.start()) + 1) as usize;
        small.start() + c.below(span) as i16
    }
}

fn int8(c: &mut Choices, small: std::ops::RangeInclusive<i8>) -> i8 {
    if c.one_in(6) {
        c.pick(INTERESTING_I8)
    } else {
        let span = (i16::from(*small.end()) - i16::from(*small.start()) + 1) as usize;
        small.start() + c.below(span) as i8
    }
}

/// A wait in milliseconds the broker honours: small, or a value it must clamp or refuse.
fn wait_ms(c: &mut Choices) -> i32 {
    match c.below(10) {
        0 => c.pick(&[-1, i32::MIN, 0]),
        _ => c.below(WAIT_MS_MAX as usize + 1) as i32,
    }
}

/// Arrays: empty, one, a few, duplicates of one element, or huge.
fn list<T: Clone>(c: &mut Choices, mut element: impl FnMut(&mut Choices) -> T) -> Vec<T> {
    match c.below(16) {
        0 => Vec::new(),
        1 if !c.in_huge => {
            let n = 100 + c.below(HUGE_ARRAY_ELEMENTS_MAX - 100);
            c.in_huge = true;
            let one = element(c);
            c.in_huge = false;
            vec![one; n]
        }
        2 | 3 => {
            let one = element(c);
            vec![one; 2 + c.below(2)]
        }
        _ => (0..1 + c.below(3)).map(|_| element(c)).collect(),
    }
}

/// As [`list`], never huge.
fn few<T: Clone>(c: &mut Choices, element: impl FnMut(&mut Choices) -> T) -> Vec<T> {
    let in_huge = std::mem::replace(&mut c.in_huge, true);
    let v = list(c, element);
    c.in_huge = in_huge;
    v
}

fn nullable_list<T: Clone>(
    c: &mut Choices,
    element: impl FnMut(&mut Choices) -> T,
) -> Option<Vec<T>> {
    if c.one_in(6) {
        None
    } else {
        Some(list(c, element))
    }
}

/// One of `items` (learned from replies) or `None`, consuming the same choices either way, so
/// a sequence's later choices don't shift with what the broker happened to answer.
fn learned<T: Clone>(c: &mut Choices, items: &[T]) -> Option<T> {
    let i = c.byte() as usize;
    items.get(i % items.len().max(1)).cloned()
}

/// A long string's length: up to a few thousand, or at the i16 limit of a non-compact string
/// (where a broker that appends to it, or stores it in a record, overflows).
fn long_len(c: &mut Choices) -> usize {
    match c.below(4) {
        0 if !c.in_huge => i16::MAX as usize - c.below(64),
        _ if c.in_huge => c.below(64),
        _ => c.below(3_000),
    }
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Topics the sequences share (so a Produce can meet the Fetch, DeleteTopics and CreateTopics
/// of the same name), plus names no topic has or may have.
const TOPICS: &[&str] = &["fz-a", "fz-b", "fz-c"];

fn topic_text(c: &mut Choices) -> String {
    match c.below(16) {
        0 => String::new(),
        1 => "__consumer_offsets".to_string(),
        2 => "fz-unknown".to_string(),
        3 => "bad name/..".to_string(),
        4 => "x".repeat(249 + c.below(3)),
        5 => "日本-🦀".to_string(),
        6 => ".".to_string(),
        _ => c.pick(TOPICS).to_string(),
    }
}

fn topic(c: &mut Choices) -> TopicName {
    TopicName(s(&topic_text(c)))
}

const GROUPS: &[&str] = &["fz-g1", "fz-g2"];

fn group_text(c: &mut Choices) -> String {
    match c.below(10) {
        0 => String::new(),
        1 => "g".repeat(300),
        2 => "fz-g-unknown".to_string(),
        _ => c.pick(GROUPS).to_string(),
    }
}

fn group(c: &mut Choices) -> GroupId {
    GroupId(s(&group_text(c)))
}

fn partition(c: &mut Choices) -> i32 {
    int32(c, 0..=3)
}

fn offset(c: &mut Choices) -> i64 {
    int64(c, 0..=20)
}

fn bytes_limit(c: &mut Choices) -> i32 {
    match c.below(8) {
        0 => c.pick(INTERESTING_I32),
        1 => c.below(200) as i32,
        _ => 1 << 20,
    }
}

fn short_text(c: &mut Choices) -> StrBytes {
    match c.below(6) {
        0 => s(""),
        1 => s(&"k".repeat(long_len(c))),
        _ => s(c.pick(&[
            "a",
            "range",
            "roundrobin",
            "consumer",
            "cleanup.policy",
            "retention.ms",
        ])),
    }
}

fn uuid(c: &mut Choices, ctx: &Context) -> Uuid {
    let made_up = Uuid::from_u128(u128::from(c.u32()) << 64 | 0xfeed);
    let known = learned(c, &ctx.topic_ids);
    match c.below(6) {
        0 => Uuid::nil(),
        1 => made_up,
        _ => known.unwrap_or(made_up),
    }
}

/// What the runner learned from earlier replies, so later requests can name live things:
/// topic ids (Metadata), group members and generations (JoinGroup), producer ids
/// (InitProducerId).
#[derive(Default, Debug)]
pub struct Context {
    pub topic_ids: Vec<Uuid>,
    /// (group, member id, generation)
    pub members: Vec<(String, String, i32)>,
    /// (producer id, epoch)
    pub producers: Vec<(i64, i16)>,
}

/// Learned items kept per kind, oldest dropped first.
const CONTEXT_ITEMS_MAX: usize = 16;

impl Context {
    pub fn learn_topic_id(&mut self, id: Uuid) {
        if !id.is_nil() && !self.topic_ids.contains(&id) {
            push_bounded(&mut self.topic_ids, id);
        }
    }
    pub fn learn_member(&mut self, group: String, member: String, generation: i32) {
        if !member.is_empty() {
            self.members
                .retain(|(g, m, _)| !(g == &group && m == &member));
            push_bounded(&mut self.members, (group, member, generation));
        }
    }
    pub fn learn_producer(&mut self, id: i64, epoch: i16) {
        if id >= 0 && !self.producers.contains(&(id, epoch)) {
            push_bounded(&mut self.producers, (id, epoch));
        }
    }
}

fn push_bounded<T>(v: &mut Vec<T>, item: T) {
    if v.len() >= CONTEXT_ITEMS_MAX {
        v.remove(0);
    }
    v.push(item);
}

/// A (group, member id, generation): learned from a JoinGroup reply, or made up.
fn membership(c: &mut Choices, ctx: &Context) -> (GroupId, StrBytes, i32) {
    let known = learned(c, &ctx.members);
    let nudge = c.one_in(5);
    let use_known = c.below(4) != 0;
    if let (Some((g, m, gen)), true) = (known, use_known) {
        let gen = if nudge {
            gen.wrapping_add(c.pick(&[-1, 1]))
        } else {
            gen
        };
        (GroupId(s(&g)), s(&m), gen)
    } else {
        let member = match c.below(3) {
            0 => s(""),
            1 => s("fz-member-unknown"),
            _ => s(&"m".repeat(long_len(c))),
        };
        (group(c), member, int32(c, -1..=3))
    }
}

fn member_id(c: &mut Choices, ctx: &Context) -> StrBytes {
    membership(c, ctx).1
}

fn instance_id(c: &mut Choices) -> Option<StrBytes> {
    match c.below(4) {
        0 => Some(s(c.pick(&["fz-static-1", "fz-static-2"]))),
        1 => match c.below(4) {
            0 => Some(s("")),
            1 => Some(s(&"i".repeat(long_len(c)))),
            _ => None,
        },
        _ => None,
    }
}

/// A (producer id, epoch): learned from InitProducerId, extreme, or none (-1, -1).
fn producer(c: &mut Choices, ctx: &Context) -> (i64, i16) {
    let known = learned(c, &ctx.producers);
    let extreme = (c.pick(INTERESTING_I64), c.pick(INTERESTING_I16));
    match c.below(4) {
        0 => known.unwrap_or(extreme),
        1 => extreme,
        _ => (-1, -1),
    }
}

/// One record batch (or something that is not one) for a Produce partition.
fn records(c: &mut Choices, ctx: &Context) -> Option<Bytes> {
    match c.below(16) {
        0 => return None,
        1 => return Some(Bytes::new()),
        2 => {
            let n = c.below(120);
            return Some((0..n).map(|_| c.byte()).collect::<Vec<u8>>().into());
        }
        _ => {}
    }
    let (producer_id, producer_epoch) = producer(c, ctx);
    let first_sequence = if producer_id >= 0 {
        int32(c, 0..=5)
    } else {
        -1
    };
    let transactional = c.one_in(12);
    let control = c.one_in(16);
    let compression = c.pick(&[
        Compression::None,
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]);
    let timestamp = int64(c, 1_700_000_000_000..=1_700_000_000_100);
    let count = 1 + c.below(4);
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: first_sequence.wrapping_add(i as i32),
            timestamp,
            key: if c.one_in(3) {
                None
            } else {
                Some(Bytes::from(format!("k{i}")))
            },
            value: match c.below(8) {
                0 => None,
                1 if !c.in_huge => Some(Bytes::from(vec![b'v'; c.below(5_000)])),
                _ => Some(Bytes::from_static(b"value")),
            },
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    if RecordBatchEncoder::encode(&mut buf, &records, &options).is_err() {
        return Some(Bytes::from_static(b"not a batch"));
    }
    match c.below(10) {
        // A flipped byte: a wrong CRC, a bad magic or attribute, a length that lies.
        0 if !buf.is_empty() => {
            let at = c.below(buf.len());
            buf[at] ^= c.byte() | 1;
        }
        // Two batches in one partition's records.
        1 => {
            let again = buf.clone();
            buf.extend_from_slice(&again);
        }
        // A batch cut short.
        2 if buf.len() > 1 => buf.truncate(c.below(buf.len())),
        _ => {}
    }
    Some(buf.freeze())
}

/// Builds (and encodes) one request body of API `key` at `version`. `None` if the crate
/// refused to encode what was built (counted by the caller: it should stay rare).
fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    stats: &mut Stats,
    joined: &mut Option<String>,
) -> Option<BytesMut> {
    fn enc<R: Encodable>(r: R, v: i16) -> Option<BytesMut> {
        let mut b = BytesMut::new();
        r.encode(&mut b, v).ok().map(|()| b)
    }
    // Sets a field only in the versions that carry it (the crate refuses to encode a
    // non-default value elsewhere).
    let within = |lo: i16, hi: i16| (lo..=hi).contains(&v);
    match key {
        ApiKey::Produce => {
            let acks = match c.below(12) {
                0 => 0,
                1 => c.pick(INTERESTING_I16),
                2..=6 => 1,
                _ => -1,
            };
            if acks == 0 {
                stats.acks_zero += 1;
            }
            enc(
                ProduceRequest::default()
                    .with_transactional_id(match c.below(10) {
                        0 => Some(TransactionalId(s("fz-txn"))),
                        _ => None,
                    })
                    .with_acks(acks)
                    .with_timeout_ms(int32(c, 0..=5_000))
                    .with_topic_data(list(c, |c| {
                        let mut t = TopicProduceData::default().with_partition_data(list(c, |c| {
                            PartitionProduceData::default()
                                .with_index(partition(c))
                                .with_records(records(c, ctx))
                        }));
                        if within(13, 13) {
                            t.topic_id = uuid(c, ctx);
                        } else {
                            t.name = topic(c);
                        }
                        t
                    })),
                v,
            )
        }
        ApiKey::Fetch => {
            let mut min_bytes = match c.below(6) {
                0 => c.pick(INTERESTING_I32),
                1 | 2 => 0,
                _ => 1,
            };
            let mut max_wait_ms = wait_ms(c);
            if c.one_in(16) {
                // Extreme waits: only where the broker must not wait on them.
                max_wait_ms = c.pick(&[i32::MAX, 30_001, 60_000]);
                min_bytes = c.pick(&[0, -1, i32::MIN]);
            }
            let mut r = FetchRequest::default()
                .with_max_wait_ms(max_wait_ms)
                .with_min_bytes(min_bytes)
                .with_max_bytes(bytes_limit(c))
                .with_isolation_level(int8(c, 0..=1))
                .with_topics(list(c, |c| {
                    let mut t = FetchTopic::default().with_partitions(list(c, |c| {
                        let mut p = FetchPartition::default()
                            .with_partition(partition(c))
                            .with_fetch_offset(offset(c))
                            .with_partition_max_bytes(bytes_limit(c));
                        if within(9, 18) {
                            p.current_leader_epoch = int32(c, -1..=1);
                        }
                        if within(12, 18) {
                            p.last_fetched_epoch = int32(c, -1..=1);
                        }
                        if within(5, 18) {
                            p.log_start_offset = int64(c, -1..=1);
                        }
                        p
                    }));
                    if within(13, 18) {
                        t.topic_id = uuid(c, ctx);
                    } else {
                        t.topic = topic(c);
                    }
                    t
                }));
            if within(4, 14) {
                r.replica_id = BrokerId(int32(c, -1..=-1));
            }
            if within(7, 18) {
                r.session_id = int32(c, 0..=0);
                r.session_epoch = int32(c, -1..=0);
                if c.one_in(4) {
                    r.forgotten_topics_data = list(c, |c| {
                        let mut f = ForgottenTopic::default().with_partitions(list(c, partition));
                        if within(13, 18) {
                            f.topic_id = uuid(c, ctx);
                        } else {
                            f.topic = topic(c);
                        }
                        f
                    });
                }
            }
            if within(11, 18) && c.one_in(4) {
                r.rack_id = short_text(c);
            }
            if within(12, 18) && c.one_in(4) {
                r.cluster_id = Some(short_text(c));
            }
            enc(r, v)
        }
        ApiKey::ListOffsets => {
            let mut r = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(int32(c, -1..=-1)))
                .with_topics(list(c, |c| {
                    ListOffsetsTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            let mut p = ListOffsetsPartition::default()
                                .with_partition_index(partition(c))
                                .with_timestamp(int64(c, -7..=2));
                            if within(4, 11) {
                                p.current_leader_epoch = int32(c, -1..=1);
                            }
                            p
                        }))
                }));
            if within(2, 11) {
                r.isolation_level = int8(c, 0..=1);
            }
            if within(10, 11) {
                r.timeout_ms = int32(c, 0..=1000);
            }
            // v11 has v10's layout (the crate encodes up to v10).
            enc(r, v.min(10))
        }
        ApiKey::Metadata => {
            let mut r = MetadataRequest::default().with_topics(nullable_list(c, |c| {
                let mut t = MetadataRequestTopic::default();
                if within(10, 13) && c.one_in(3) {
                    t.topic_id = uuid(c, ctx);
                } else {
                    t.name = Some(topic(c));
                }
                t
            }));
            if within(4, 13) {
                r.allow_auto_topic_creation = c.one_in(2);
            }
            if within(8, 10) {
                r.include_cluster_authorized_operations = c.one_in(2);
            }
            if within(8, 13) {
                r.include_topic_authorized_operations = c.one_in(2);
            }
            enc(r, v)
        }
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if within(3, 4) {
                r.client_software_name = short_text(c);
                r.client_software_version = short_text(c);
            }
            enc(r, v)
        }
        ApiKey::CreateTopics => {
            let validate_only = c.one_in(4);
            enc(
                CreateTopicsRequest::default()
                    .with_timeout_ms(int32(c, 0..=1_000))
                    .with_validate_only(validate_only)
                    .with_topics(list(c, |c| {
                        CreatableTopic::default()
                            .with_name(topic(c))
                            .with_num_partitions(match c.below(8) {
                                0 => c.pick(&[0, -1, -2, i32::MIN, i32::MAX, 100_001, 1_000_000]),
                                // Thousands of partitions only where nothing is created (finding 3).
                                1 if validate_only => 5_000,
                                _ => 1 + c.below(4) as i32,
                            })
                            .with_replication_factor(int16(c, 1..=1))
                            // Never a huge list here: each assignment is a partition, and deleting
                            // a topic of thousands of partitions blocks every shard for seconds
                            // (FUZZING.md, finding 3, open): the fuzzer would find only that.
                            .with_assignments(if c.one_in(6) {
                                few(c, |c| {
                                    CreatableReplicaAssignment::default()
                                        .with_partition_index(partition(c))
                                        .with_broker_ids(list(c, |c| BrokerId(int32(c, 0..=2))))
                                })
                            } else {
                                Vec::new()
                            })
                            .with_configs(if c.one_in(4) {
                                list(c, |c| {
                                    CreatableTopicConfig::default()
                                        .with_name(short_text(c))
                                        .with_value(config_value(c))
                                })
                            } else {
                                Vec::new()
                            })
                    })),
                v,
            )
        }
        ApiKey::DeleteTopics => {
            let mut r = DeleteTopicsRequest::default().with_timeout_ms(int32(c, 0..=1_000));
            if within(6, 6) {
                r.topics = list(c, |c| {
                    let mut t = DeleteTopicState::default();
                    if c.one_in(2) {
                        t.topic_id = uuid(c, ctx);
                    } else {
                        t.name = Some(topic(c));
                    }
                    t
                });
            } else {
                r.topic_names = list(c, topic);
            }
            enc(r, v)
        }
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdRequest::default()
                .with_transactional_id(if c.one_in(5) {
                    Some(TransactionalId(s("fz-txn")))
                } else {
                    None
                })
                .with_transaction_timeout_ms(int32(c, 0..=60_000));
            if within(3, 5) {
                let (id, epoch) = producer(c, ctx);
                r.producer_id = ProducerId(id);
                r.producer_epoch = epoch;
            }
            enc(r, v)
        }
        ApiKey::OffsetForLeaderEpoch => {
            let mut r = OffsetForLeaderEpochRequest::default().with_topics(list(c, |c| {
                OffsetForLeaderTopic::default()
                    .with_topic(topic(c))
                    .with_partitions(list(c, |c| {
                        OffsetForLeaderPartition::default()
                            .with_partition(partition(c))
                            .with_current_leader_epoch(int32(c, -1..=1))
                            .with_leader_epoch(int32(c, -1..=2))
                    }))
            }));
            if within(3, 4) {
                r.replica_id = BrokerId(int32(c, -2..=-1));
            }
            enc(r, v)
        }
        ApiKey::DescribeConfigs => {
            let mut r = DescribeConfigsRequest::default()
                .with_include_synonyms(c.one_in(2))
                .with_resources(list(c, |c| {
                    DescribeConfigsResource::default()
                        .with_resource_type(resource_type(c))
                        .with_resource_name(resource_name(c))
                        .with_configuration_keys(nullable_list(c, short_text))
                }));
            if within(3, 4) {
                r.include_documentation = c.one_in(2);
            }
            enc(r, v)
        }
        ApiKey::DescribeCluster => {
            let mut r = DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(c.one_in(2));
            if within(1, 2) {
                r.endpoint_type = int8(c, 1..=2);
            }
            enc(r, v)
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if within(0, 3) {
                r.key = s(&group_text(c));
            }
            if within(1, 6) {
                r.key_type = int8(c, 0..=1);
            }
            if within(4, 6) {
                r.coordinator_keys = list(c, |c| s(&group_text(c)));
            }
            enc(r, v)
        }
        ApiKey::JoinGroup => {
            let (group_id, member, _) = membership(c, ctx);
            *joined = Some(group_id.0.to_string());
            let mut r = JoinGroupRequest::default()
                .with_group_id(group_id)
                .with_session_timeout_ms(session_timeout(c))
                .with_member_id(member)
                .with_protocol_type(s(c.pick(&["consumer", "consumer", "", "connect"])))
                .with_protocols(list(c, |c| {
                    JoinGroupRequestProtocol::default()
                        .with_name(short_text(c))
                        .with_metadata(subscription(c))
                }));
            if within(1, 9) {
                r.rebalance_timeout_ms = wait_ms(c);
            }
            if within(5, 9) {
                r.group_instance_id = instance_id(c);
            }
            if within(8, 9) && c.one_in(4) {
                r.reason = Some(short_text(c));
            }
            enc(r, v)
        }
        ApiKey::SyncGroup => {
            let (group_id, member, generation) = membership(c, ctx);
            let mut r = SyncGroupRequest::default()
                .with_group_id(group_id)
                .with_generation_id(generation)
                .with_member_id(member)
                .with_assignments(list(c, |c| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(member_id(c, ctx))
                        .with_assignment(assignment(c))
                }));
            if within(3, 5) {
                r.group_instance_id = instance_id(c);
            }
            if within(5, 5) {
                r.protocol_type = if c.one_in(3) {
                    None
                } else {
                    Some(s("consumer"))
                };
                r.protocol_name = if c.one_in(3) {
                    None
                } else {
                    Some(short_text(c))
                };
            }
            enc(r, v)
        }
        ApiKey::Heartbeat => {
            let (group_id, member, generation) = membership(c, ctx);
            let mut r = HeartbeatRequest::default()
                .with_group_id(group_id)
                .with_generation_id(generation)
                .with_member_id(member);
            if within(3, 4) {
                r.group_instance_id = instance_id(c);
            }
            enc(r, v)
        }
        ApiKey::LeaveGroup => {
            let (group_id, member, _) = membership(c, ctx);
            let mut r = LeaveGroupRequest::default().with_group_id(group_id);
            if within(0, 2) {
                r.member_id = member;
            } else {
                r.members = list(c, |c| {
                    let mut m = MemberIdentity::default()
                        .with_member_id(member_id(c, ctx))
                        .with_group_instance_id(instance_id(c));
                    if within(5, 5) && c.one_in(3) {
                        m.reason = Some(short_text(c));
                    }
                    m
                });
            }
            enc(r, v)
        }
        ApiKey::OffsetCommit => {
            let (group_id, member, generation) = membership(c, ctx);
            let mut r = OffsetCommitRequest::default()
                .with_group_id(group_id)
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(member)
                .with_topics(list(c, |c| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            let mut p = OffsetCommitRequestPartition::default()
                                .with_partition_index(partition(c))
                                .with_committed_offset(offset(c))
                                .with_committed_metadata(match c.below(6) {
                                    0 => None,
                                    1 => Some(s(&"d".repeat(4_000 + c.below(200)))),
                                    _ => Some(s("")),
                                });
                            if within(6, 9) {
                                p.committed_leader_epoch = int32(c, -1..=1);
                            }
                            p
                        }))
                }));
            if within(7, 9) {
                r.group_instance_id = instance_id(c);
            }
            if within(2, 4) {
                r.retention_time_ms = int64(c, -1..=-1);
            }
            // --- kip848c: OffsetCommit v10 names topics by id (crate requests stop at v9) ---
            if v >= 10 {
                for t in &mut r.topics {
                    t.topic_id = uuid(c, ctx);
                }
                return Some(topic_ids_v10::offset_commit(&r));
            }
            // --- end kip848c ---
            enc(r, v)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if within(1, 7) {
                r.group_id = group(c);
                r.topics = nullable_list(c, |c| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic(c))
                        .with_partition_indexes(list(c, partition))
                });
            } else {
                r.groups = list(c, |c| {
                    let mut g = OffsetFetchRequestGroup::default()
                        .with_group_id(group(c))
                        .with_topics(nullable_list(c, |c| {
                            OffsetFetchRequestTopics::default()
                                .with_name(topic(c))
                                .with_partition_indexes(list(c, partition))
                        }));
                    if within(9, 9) {
                        g.member_id = if c.one_in(2) {
                            None
                        } else {
                            Some(member_id(c, ctx))
                        };
                        g.member_epoch = int32(c, -1..=1);
                    }
                    g
                });
            }
            if within(7, 9) {
                r.require_stable = c.one_in(2);
            }
            // --- kip848c: OffsetFetch v10 names topics by id (crate requests stop at v9) ---
            if v >= 10 {
                for t in r.groups.iter_mut().flat_map(|g| g.topics.iter_mut().flatten()) {
                    t.topic_id = uuid(c, ctx);
                }
                return Some(topic_ids_v10::offset_fetch(&r));
            }
            // --- end kip848c ---
            enc(r, v)
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if within(4, 5) {
                r.states_filter = if c.one_in(2) {
                    Vec::new()
                } else {
                    list(c, |c| {
                        s(c.pick(&["Stable", "Empty", "PreparingRebalance", "Dead", "nope", ""]))
                    })
                };
            }
            if within(5, 5) && c.one_in(3) {
                r.types_filter = list(c, |c| s(c.pick(&["classic", "consumer", "share", "?"])));
            }
            enc(r, v)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default().with_groups(list(c, group));
            if within(3, 6) {
                r.include_authorized_operations = c.one_in(2);
            }
            enc(r, v)
        }
        ApiKey::DeleteGroups => enc(
            DeleteGroupsRequest::default().with_groups_names(list(c, group)),
            v,
        ),
        ApiKey::OffsetDelete => enc(
            OffsetDeleteRequest::default()
                .with_group_id(group(c))
                .with_topics(list(c, |c| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            OffsetDeleteRequestPartition::default()
                                .with_partition_index(partition(c))
                        }))
                })),
            v,
        ),
        ApiKey::IncrementalAlterConfigs => enc(
            IncrementalAlterConfigsRequest::default()
                .with_validate_only(c.one_in(3))
                .with_resources(list(c, |c| {
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(resource_type(c))
                        .with_resource_name(resource_name(c))
                        .with_configs(list(c, |c| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(config_name(c))
                                .with_config_operation(int8(c, 0..=3))
                                .with_value(config_value(c))
                        }))
                })),
            v,
        ),
        ApiKey::AlterConfigs => enc(
            AlterConfigsRequest::default()
                .with_validate_only(c.one_in(3))
                .with_resources(list(c, |c| {
                    alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(resource_type(c))
                        .with_resource_name(resource_name(c))
                        .with_configs(list(c, |c| {
                            alter_configs_request::AlterableConfig::default()
                                .with_name(config_name(c))
                                .with_value(config_value(c))
                        }))
                })),
            v,
        ),
        ApiKey::DeleteRecords => enc(
            DeleteRecordsRequest::default()
                .with_timeout_ms(int32(c, 0..=1_000))
                .with_topics(list(c, |c| {
                    DeleteRecordsTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            DeleteRecordsPartition::default()
                                .with_partition_index(partition(c))
                                .with_offset(offset(c))
                        }))
                })),
            v,
        ),
        ApiKey::CreatePartitions => {
            let validate_only = c.one_in(3);
            enc(
                CreatePartitionsRequest::default()
                    .with_timeout_ms(int32(c, 0..=1_000))
                    .with_validate_only(validate_only)
                    .with_topics(list(c, |c| {
                        CreatePartitionsTopic::default()
                            .with_name(topic(c))
                            .with_count(match c.below(6) {
                                0 => c.pick(&[0, -1, i32::MIN, i32::MAX, 100_001]),
                                1 if validate_only => 5_000,
                                _ => 1 + c.below(8) as i32,
                            })
                            .with_assignments(if c.one_in(5) {
                                nullable_list(c, |c| {
                                    CreatePartitionsAssignment::default()
                                        .with_broker_ids(list(c, |c| BrokerId(int32(c, 0..=2))))
                                })
                            } else {
                                None
                            })
                    })),
                v,
            )
        }
        ApiKey::DescribeLogDirs => enc(
            DescribeLogDirsRequest::default().with_topics(nullable_list(c, |c| {
                DescribableLogDirTopic::default()
                    .with_topic(topic(c))
                    .with_partitions(list(c, partition))
            })),
            v,
        ),
        ApiKey::DescribeProducers => enc(
            DescribeProducersRequest::default().with_topics(list(c, |c| {
                describe_producers_request::TopicRequest::default()
                    .with_name(topic(c))
                    .with_partition_indexes(list(c, partition))
            })),
            v,
        ),
        // On a PLAINTEXT listener both are answered ILLEGAL_SASL_STATE; the decoders are what
        // is fuzzed (tests/sasl.rs covers the SASL listener's state machine).
        ApiKey::SaslHandshake => enc(
            SaslHandshakeRequest::default().with_mechanism(match c.below(3) {
                0 => s(c.pick(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"])),
                _ => short_text(c),
            }),
            v,
        ),
        ApiKey::SaslAuthenticate => enc(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from(short_text(c).to_string().into_bytes())),
            v,
        ),
        ApiKey::DescribeUserScramCredentials => enc(
            DescribeUserScramCredentialsRequest::default().with_users(nullable_list(c, |c| {
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(scram_user(c))
            })),
            v,
        ),
        // Upsertions in Kafka's bounds are persisted (an fsync each): few users, so the
        // credentials file stays small however long the run.
        ApiKey::AlterUserScramCredentials => enc(
            AlterUserScramCredentialsRequest::default()
                .with_deletions(few(c, |c| {
                    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                        .with_name(scram_user(c))
                        .with_mechanism(int8(c, 0..=3))
                }))
                .with_upsertions(few(c, |c| {
                    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                        .with_name(s(c.pick(&["fuzz-a", "fuzz-b", "fuzz-c", ""])))
                        .with_mechanism(int8(c, 0..=3))
                        .with_iterations(match c.below(4) {
                            0 => c.pick(&[0, -1, 4095, 16_385, i32::MIN, i32::MAX]),
                            _ => 4096 + c.below(4) as i32,
                        })
                        .with_salt(Bytes::from(short_text(c).to_string().into_bytes()))
                        .with_salted_password(Bytes::from(short_text(c).to_string().into_bytes()))
                })),
            v,
        ),
        // Client quotas: a few entities (each alteration that passes is persisted, an fsync),
        // valid and invalid entity types, keys, match types and values (never a bound the run
        // could reach).
        ApiKey::DescribeClientQuotas => enc(
            DescribeClientQuotasRequest::default()
                .with_components(few(c, |c| {
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(quota_entity_type(c))
                        .with_match_type(int8(c, 0..=3))
                        .with_match(if c.one_in(3) {
                            None
                        } else {
                            Some(quota_name(c))
                        })
                }))
                .with_strict(c.one_in(2)),
            v,
        ),
        ApiKey::AlterClientQuotas => enc(
            AlterClientQuotasRequest::default()
                .with_entries(few(c, |c| {
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(few(c, |c| {
                            alter_client_quotas_request::EntityData::default()
                                .with_entity_type(quota_entity_type(c))
                                .with_entity_name(if c.one_in(3) {
                                    None
                                } else {
                                    Some(quota_name(c))
                                })
                        }))
                        .with_ops(few(c, |c| {
                            alter_client_quotas_request::OpData::default()
                                .with_key(s(c.pick(&[
                                    "producer_byte_rate",
                                    "consumer_byte_rate",
                                    "request_percentage",
                                    "bogus",
                                ])))
                                // Every value that passes is huge: a quota the run's
                                // clients could reach would mute them and fail its checks.
                                .with_value(c.pick(&[
                                    1e12,
                                    0.0,
                                    -1.0,
                                    1e9 + 0.5,
                                    f64::NAN,
                                    f64::INFINITY,
                                ]))
                                .with_remove(c.one_in(3))
                        }))
                }))
                .with_validate_only(c.one_in(3)),
            v,
        ),
        // ACL bindings: few, from small sets of names, so the store stays small (each change
        // is persisted with an fsync); the codes range over valid, filter-only and unknown.
        ApiKey::CreateAcls => enc(
            CreateAclsRequest::default().with_creations(few(c, |c| {
                create_acls_request::AclCreation::default()
                    .with_resource_type(int8(c, 0..=7))
                    .with_resource_name(acl_name(c))
                    .with_resource_pattern_type(int8(c, 0..=4))
                    .with_principal(acl_principal(c))
                    .with_host(s(c.pick(&["*", "127.0.0.1", "::1", ""])))
                    .with_operation(int8(c, 0..=15))
                    .with_permission_type(int8(c, 0..=3))
            })),
            v,
        ),
        ApiKey::DescribeAcls => {
            let name = (!c.one_in(3)).then(|| acl_name(c));
            let principal = c.one_in(3).then(|| acl_principal(c));
            enc(
                DescribeAclsRequest::default()
                    .with_resource_type_filter(int8(c, 0..=7))
                    .with_resource_name_filter(name)
                    .with_pattern_type_filter(int8(c, 0..=4))
                    .with_principal_filter(principal)
                    .with_host_filter(c.one_in(4).then(|| s("*")))
                    .with_operation(int8(c, 0..=15))
                    .with_permission_type(int8(c, 0..=3)),
                v,
            )
        }
        // Transactions: one transactional id (the one InitProducerId asks for), producer ids
        // learned from it or extreme, few partitions so the coordinator's writes stay small.
        ApiKey::AddPartitionsToTxn => {
            let (id, epoch) = producer(c, ctx);
            enc(
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(s("fz-txn")))
                    .with_v3_and_below_producer_id(ProducerId(id))
                    .with_v3_and_below_producer_epoch(epoch)
                    .with_v3_and_below_topics(few(c, |c| {
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(topic(c))
                            .with_partitions(few(c, partition))
                    })),
                v,
            )
        }
        ApiKey::AddOffsetsToTxn => {
            let (id, epoch) = producer(c, ctx);
            enc(
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(s("fz-txn")))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_group_id(group(c)),
                v,
            )
        }
        ApiKey::EndTxn => {
            let (id, epoch) = producer(c, ctx);
            enc(
                EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(s("fz-txn")))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_committed(c.one_in(2)),
                v,
            )
        }
        ApiKey::TxnOffsetCommit => {
            let (id, epoch) = producer(c, ctx);
            let mut r = TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("fz-txn")))
                .with_group_id(group(c))
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch)
                .with_topics(few(c, |c| {
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic(c))
                        .with_partitions(few(c, |c| {
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(partition(c))
                                .with_committed_offset(offset(c))
                        }))
                }));
            if within(3, 5) {
                let (group_id, member, generation) = membership(c, ctx);
                r.group_id = group_id;
                r.member_id = member;
                r.generation_id = generation;
            }
            enc(r, v)
        }
        ApiKey::DescribeTransactions => enc(
            DescribeTransactionsRequest::default().with_transactional_ids(few(c, |c| {
                TransactionalId(s(c.pick(&["fz-txn", "fz-txn-unknown", ""])))
            })),
            v,
        ),
        ApiKey::ListTransactions => {
            let mut r = ListTransactionsRequest::default()
                .with_state_filters(few(c, |c| s(c.pick(&["Ongoing", "Empty", "Nonsense", ""]))))
                .with_producer_id_filters(few(c, |c| ProducerId(c.pick(INTERESTING_I64))));
            if within(1, 2) {
                r.duration_filter = int64(c, -1..=1_000);
            }
            enc(r, v)
        }
        ApiKey::DeleteAcls => enc(
            DeleteAclsRequest::default().with_filters(few(c, |c| {
                let name = (!c.one_in(3)).then(|| acl_name(c));
                let principal = c.one_in(3).then(|| acl_principal(c));
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(int8(c, 0..=7))
                    .with_resource_name_filter(name)
                    .with_pattern_type_filter(int8(c, 0..=4))
                    .with_principal_filter(principal)
                    .with_host_filter(c.one_in(4).then(|| s("*")))
                    .with_operation(int8(c, 0..=15))
                    .with_permission_type(int8(c, 0..=3))
            })),
            v,
        ),
        ApiKey::DescribeTopicPartitions => {
            let cursor = c.one_in(3).then(|| {
                describe_topic_partitions_request::Cursor::default()
                    .with_topic_name(topic(c))
                    .with_partition_index(int32(c, -1..=3))
            });
            enc(
                DescribeTopicPartitionsRequest::default()
                    .with_topics(
                        nullable_list(c, |c| {
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(topic(c))
                        })
                        .unwrap_or_default(),
                    )
                    .with_response_partition_limit(int32(c, -1..=4))
                    .with_cursor(cursor),
                v,
            )
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let (group_id, member, epoch) = membership(c, ctx);
            let mut r = ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group_id)
                .with_member_id(member)
                .with_member_epoch(match c.below(4) {
                    0 => 0,
                    1 => -1,
                    2 => -2,
                    _ => epoch,
                })
                .with_instance_id(instance_id(c))
                .with_rebalance_timeout_ms(int32(c, -1..=WAIT_MS_MAX))
                .with_subscribed_topic_names(nullable_list(c, topic))
                .with_server_assignor(match c.below(4) {
                    0 => Some(s("uniform")),
                    1 => Some(s("range")),
                    2 => Some(short_text(c)),
                    _ => None,
                })
                .with_topic_partitions(nullable_list(c, |c| {
                    consumer_group_heartbeat_request::TopicPartitions::default()
                        .with_topic_id(Uuid::from_u128(u128::from(c.u32())))
                        .with_partitions(list(c, partition))
                }));
            if within(1, 1) && c.one_in(3) {
                r.subscribed_topic_regex = Some(s(c.pick(&["^fuzz-.*", "(", ".*", ""])));
            }
            enc(r, v)
        }
        ApiKey::ConsumerGroupDescribe => enc(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(list(c, group))
                .with_include_authorized_operations(c.one_in(2)),
            v,
        ),
        ApiKey::ShareGroupHeartbeat => enc(
            ShareGroupHeartbeatRequest::default()
                .with_group_id(group(c))
                .with_member_id(s(c.pick(&["fz-share-member", "", "fz-share-other"])))
                .with_member_epoch(int32(c, -2..=3))
                .with_rack_id(c.one_in(4).then(|| s("rack")))
                .with_subscribed_topic_names(nullable_list(c, topic)),
            v,
        ),
        ApiKey::ShareGroupDescribe => enc(
            ShareGroupDescribeRequest::default()
                .with_group_ids(list(c, group))
                .with_include_authorized_operations(c.one_in(2)),
            v,
        ),
        ApiKey::ShareFetch => {
            let ack_batches = |c: &mut Choices| {
                few(c, |c| {
                    share_fetch_request::AcknowledgementBatch::default()
                        .with_first_offset(offset(c))
                        .with_last_offset(offset(c))
                        .with_acknowledge_types(few(c, |c| int8(c, -1..=5)))
                })
            };
            let group_id = if c.one_in(8) { None } else { Some(group(c)) };
            let r = ShareFetchRequest::default()
                .with_group_id(group_id)
                .with_member_id(Some(s(c.pick(&["fz-share-member", "", "fz-share-other"]))))
                .with_share_session_epoch(int32(c, -2..=3))
                .with_max_wait_ms(wait_ms(c))
                .with_min_bytes(int32(c, 0..=1))
                .with_max_bytes(bytes_limit(c))
                .with_max_records(int32(c, -1..=50))
                .with_batch_size(int32(c, -1..=50))
                .with_topics(few(c, |c| {
                    share_fetch_request::FetchTopic::default()
                        .with_topic_id(uuid(c, ctx))
                        .with_partitions(few(c, |c| {
                            share_fetch_request::FetchPartition::default()
                                .with_partition_index(partition(c))
                                .with_acknowledgement_batches(ack_batches(c))
                        }))
                }))
                .with_forgotten_topics_data(few(c, |c| {
                    share_fetch_request::ForgottenTopic::default()
                        .with_topic_id(uuid(c, ctx))
                        .with_partitions(few(c, partition))
                }));
            let mut b = enc(r.clone(), 1)?;
            if v >= 2 {
                // v2 adds ShareAcquireMode (int8) and IsRenewAck (bool) after BatchSize.
                let at = compact_len(r.group_id.as_ref().map(|g| g.0.len()))
                    + compact_len(r.member_id.as_ref().map(|m| m.len()))
                    + 4 * 6;
                let mut v2 = b.split_to(at.min(b.len()));
                v2.extend_from_slice(&[int8(c, 0..=1) as u8, u8::from(c.one_in(4))]);
                v2.extend_from_slice(&b);
                b = v2;
            }
            Some(b)
        }
        ApiKey::ShareAcknowledge => {
            let r = ShareAcknowledgeRequest::default()
                .with_group_id(Some(group(c)))
                .with_member_id(Some(s(c.pick(&["fz-share-member", "", "fz-share-other"]))))
                .with_share_session_epoch(int32(c, -2..=3))
                .with_topics(few(c, |c| {
                    share_acknowledge_request::AcknowledgeTopic::default()
                        .with_topic_id(uuid(c, ctx))
                        .with_partitions(few(c, |c| {
                            share_acknowledge_request::AcknowledgePartition::default()
                                .with_partition_index(partition(c))
                                .with_acknowledgement_batches(few(c, |c| {
                                    share_acknowledge_request::AcknowledgementBatch::default()
                                        .with_first_offset(offset(c))
                                        .with_last_offset(offset(c))
                                        .with_acknowledge_types(few(c, |c| int8(c, -1..=5)))
                                }))
                        }))
                }));
            let mut b = enc(r.clone(), 1)?;
            if v >= 2 {
                // v2 adds IsRenewAck (bool) after ShareSessionEpoch.
                let at = compact_len(r.group_id.as_ref().map(|g| g.0.len()))
                    + compact_len(r.member_id.as_ref().map(|m| m.len()))
                    + 4;
                let mut v2 = b.split_to(at.min(b.len()));
                v2.extend_from_slice(&[u8::from(c.one_in(4))]);
                v2.extend_from_slice(&b);
                b = v2;
            }
            Some(b)
        }
        // v1 has v0's request layout (KIP-1226 changed the response only).
        ApiKey::DescribeShareGroupOffsets => enc(
            DescribeShareGroupOffsetsRequest::default().with_groups(few(c, |c| {
                describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                    .with_group_id(group(c))
                    .with_topics((!c.one_in(3)).then(|| {
                        few(c, |c| {
                            describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                                .with_topic_name(topic(c))
                                .with_partitions(few(c, partition))
                        })
                    }))
            })),
            0,
        ),
        ApiKey::AlterShareGroupOffsets => enc(
            AlterShareGroupOffsetsRequest::default()
                .with_group_id(group(c))
                .with_topics(few(c, |c| {
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic(c))
                        .with_partitions(few(c, |c| {
                            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                                .with_partition_index(partition(c))
                                .with_start_offset(int64(c, -2..=20))
                        }))
                })),
            v,
        ),
        ApiKey::DeleteShareGroupOffsets => enc(
            DeleteShareGroupOffsetsRequest::default()
                .with_group_id(group(c))
                .with_topics(few(c, |c| {
                    delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic(c))
                })),
            v,
        ),
        _ => None,
    }
}

/// Bytes of a compact nullable string of `len` bytes (None: null).
fn compact_len(len: Option<usize>) -> usize {
    let Some(len) = len else { return 1 };
    let mut n = len + 1;
    let mut varint = 1;
    while n >= 0x80 {
        n >>= 7;
        varint += 1;
    }
    varint + len
}

fn quota_entity_type(c: &mut Choices) -> StrBytes {
    s(c.pick(&["user", "client-id", "ip", "topic", ""]))
}

fn quota_name(c: &mut Choices) -> StrBytes {
    match c.below(4) {
        0 => short_text(c),
        _ => s(c.pick(&["fuzz-a", "fuzz-b", ""])),
    }
}

fn acl_name(c: &mut Choices) -> StrBytes {
    match c.below(6) {
        0 => s(c.pick(&["*", "", "kafka-cluster", "fz-"])),
        _ => s(&topic_text(c)),
    }
}

fn acl_principal(c: &mut Choices) -> StrBytes {
    s(c.pick(&["User:*", "User:ANONYMOUS", "User:fz", "fz", ":x", ""]))
}

fn scram_user(c: &mut Choices) -> StrBytes {
    match c.below(4) {
        0 => short_text(c),
        _ => s(c.pick(&["fuzz-a", "fuzz-b", "fuzz-c", ""])),
    }
}

fn session_timeout(c: &mut Choices) -> i32 {
    match c.below(8) {
        0 => c.pick(INTERESTING_I32),
        _ => 1 + c.below(WAIT_MS_MAX as usize) as i32,
    }
}

fn resource_type(c: &mut Choices) -> i8 {
    // 2 topic, 4 broker, 8 broker logger; the rest unknown.
    c.pick(&[2, 2, 2, 4, 8, 0, 1, -1, i8::MAX])
}

fn resource_name(c: &mut Choices) -> StrBytes {
    match c.below(5) {
        0 => s(c.pick(&["0", "1", "2", "-1", "", "999"])),
        _ => s(&topic_text(c)),
    }
}

fn config_name(c: &mut Choices) -> StrBytes {
    s(c.pick(&[
        "retention.ms",
        "retention.bytes",
        "segment.bytes",
        "segment.ms",
        "cleanup.policy",
        "max.message.bytes",
        "flush.messages",
        "flush.ms",
        "unknown.config",
        "",
    ]))
}

fn config_value(c: &mut Choices) -> Option<StrBytes> {
    match c.below(8) {
        0 => None,
        1 => Some(s("")),
        2 => Some(s(c.pick(&[
            "-1",
            "-2",
            "0",
            "9223372036854775807",
            "9223372036854775808",
            "1e3",
            "delete",
            "compact",
            "x",
        ]))),
        _ => Some(s(c.pick(&["1000", "86400000", "1048576", "1"]))),
    }
}

/// A consumer-protocol subscription (or bytes that aren't one).
fn subscription(c: &mut Choices) -> Bytes {
    let mut b = Vec::new();
    match c.below(4) {
        0 => (0..c.below(40)).for_each(|_| b.push(c.byte())),
        _ => {
            b.extend_from_slice(&int16(c, 0..=3).to_be_bytes());
            let n = int32(c, 0..=2);
            b.extend_from_slice(&n.to_be_bytes());
            for _ in 0..n.clamp(0, 3) {
                let t = topic_text(c);
                b.extend_from_slice(&(t.len() as i16).to_be_bytes());
                b.extend_from_slice(t.as_bytes());
            }
            b.extend_from_slice(&int32(c, -1..=-1).to_be_bytes());
        }
    }
    b.into()
}

/// A consumer-protocol assignment (or bytes that aren't one).
fn assignment(c: &mut Choices) -> Bytes {
    let mut b = Vec::new();
    match c.below(4) {
        0 => (0..c.below(40)).for_each(|_| b.push(c.byte())),
        _ => {
            b.extend_from_slice(&int16(c, 0..=3).to_be_bytes());
            let n = int32(c, 0..=1);
            b.extend_from_slice(&n.to_be_bytes());
            for _ in 0..n.clamp(0, 2) {
                let t = topic_text(c);
                b.extend_from_slice(&(t.len() as i16).to_be_bytes());
                b.extend_from_slice(t.as_bytes());
                let parts = int32(c, 0..=2);
                b.extend_from_slice(&parts.to_be_bytes());
                for _ in 0..parts.clamp(0, 3) {
                    b.extend_from_slice(&partition(c).to_be_bytes());
                }
            }
            b.extend_from_slice(&int32(c, -1..=-1).to_be_bytes());
        }
    }
    b.into()
}

/// Counts over a run, so a test can tell the generator still reaches what it should.
#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub requests: u64,
    pub encode_failures: u64,
    pub byte_mutated: u64,
    pub out_of_range_versions: u64,
    pub acks_zero: u64,
    /// Requests per (api key, version).
    pub served: std::collections::BTreeMap<(i16, i16), u64>,
}

/// One generated request: its frame (length prefix included) and what the runner needs.
#[derive(Debug, Clone)]
pub struct Generated {
    pub frame: Vec<u8>,
    /// The API and version before any byte mutation (what the body was encoded as).
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    /// The frame's bytes were mutated after encoding: the reply may be for another API.
    pub mutated: bool,
    /// The group a JoinGroup named (for learning its member id from the reply).
    pub group: Option<String>,
}

/// Builds the next request of a sequence.
pub fn request(
    c: &mut Choices,
    ctx: &Context,
    correlation_id: i32,
    stats: &mut Stats,
) -> Generated {
    let served = sluice::handlers::SERVED;
    let versions = served[c.below(served.len())];
    let mut version = versions.min + c.below((versions.max - versions.min + 1) as usize) as i16;
    let mut header_version = version;
    if c.one_in(40) {
        // A version outside the served range: the body is a served version's, the header lies.
        header_version = c.pick(&[versions.min - 1, versions.max + 1, -1, i16::MAX, i16::MIN]);
        stats.out_of_range_versions += 1;
    }
    let key = versions.key;
    let mut group = None;
    let body = match body(c, ctx, key, version, stats, &mut group) {
        Some(b) if b.len() <= BODY_BYTES_MAX => b,
        _ => {
            stats.encode_failures += 1;
            version = versions.max;
            header_version = version;
            empty_body(key, version)
        }
    };
    let client_id = match c.below(8) {
        0 => None,
        1 => Some(s("")),
        2 => Some(s(&"c".repeat(long_len(c)))),
        _ => Some(s("sluice-fuzz")),
    };
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(header_version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id);
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    // An out-of-range version's header is encoded as the body's version would have it.
    let _ = header.encode(&mut frame, key.request_header_version(version));
    frame.extend_from_slice(&body);
    let mut frame = frame.to_vec();
    let mutate = c.one_in(8);
    if mutate {
        mutate_bytes(c, &mut frame);
        stats.byte_mutated += 1;
    }
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    stats.requests += 1;
    *stats
        .served
        .entry((key as i16, header_version))
        .or_default() += 1;
    Generated {
        frame,
        key,
        version: header_version,
        correlation_id,
        mutated: mutate,
        group,
    }
}

fn empty_body(key: ApiKey, version: i16) -> BytesMut {
    // The smallest body the crate encodes for every served API: its default value.
    let mut c = Choices::new(&[]);
    let mut stats = Stats::default();
    body(
        &mut c,
        &Context::default(),
        key,
        version,
        &mut stats,
        &mut None,
    )
    .unwrap_or_default()
}

/// Raw mutations of an encoded frame (after its 4-byte length prefix, which the caller
/// rewrites so the broker always gets a whole frame).
fn mutate_bytes(c: &mut Choices, frame: &mut Vec<u8>) {
    for _ in 0..1 + c.below(4) {
        let len = frame.len() - 4;
        if len == 0 {
            frame.push(c.byte());
            continue;
        }
        let at = 4 + c.below(len);
        match c.below(7) {
            0 => frame[at] ^= 1 << c.below(8),
            1 => frame[at] = c.pick(&[0, 0xff, 0x7f, 0x80, 1]),
            2 => {
                let v = c.pick(INTERESTING_I32).to_be_bytes();
                for (i, b) in v.iter().enumerate() {
                    if let Some(slot) = frame.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            3 => frame.truncate(at),
            4 => {
                let n = 1 + c.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| c.byte()).collect();
                frame.splice(at..at, bytes);
            }
            5 => {
                let end = (at + 1 + c.below(16)).min(frame.len());
                frame.drain(at..end);
            }
            _ => frame[at] = c.byte(),
        }
    }
}

// --- kip848c: OffsetCommit / OffsetFetch v10 requests, which the crate does not encode ---
/// v10 is v9's layout with each topic's name replaced by its 16-byte id; everything else is
/// written with the crate (partitions at v9, byte for byte the same).
mod topic_ids_v10 {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::{OffsetCommitRequest, OffsetFetchRequest};
    use kafka_protocol::protocol::Encodable;
    use std::collections::BTreeMap;

    fn uvarint(b: &mut BytesMut, mut v: u64) {
        while v >= 0x80 {
            b.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        b.put_u8(v as u8);
    }

    fn string(b: &mut BytesMut, s: Option<&str>) {
        match s {
            None => uvarint(b, 0),
            Some(s) => {
                uvarint(b, s.len() as u64 + 1);
                b.put_slice(s.as_bytes());
            }
        }
    }

    fn tags(b: &mut BytesMut, t: &BTreeMap<i32, bytes::Bytes>) {
        uvarint(b, t.len() as u64);
        for (k, v) in t {
            uvarint(b, *k as u64);
            uvarint(b, v.len() as u64);
            b.put_slice(v);
        }
    }

    pub fn offset_commit(r: &OffsetCommitRequest) -> BytesMut {
        let mut b = BytesMut::new();
        string(&mut b, Some(r.group_id.0.as_str()));
        b.put_i32(r.generation_id_or_member_epoch);
        string(&mut b, Some(r.member_id.as_str()));
        string(&mut b, r.group_instance_id.as_ref().map(|s| s.as_str()));
        uvarint(&mut b, r.topics.len() as u64 + 1);
        for t in &r.topics {
            b.put_slice(t.topic_id.as_bytes());
            uvarint(&mut b, t.partitions.len() as u64 + 1);
            for p in &t.partitions {
                let _ = p.encode(&mut b, 9);
            }
            tags(&mut b, &t.unknown_tagged_fields);
        }
        tags(&mut b, &r.unknown_tagged_fields);
        b
    }

    pub fn offset_fetch(r: &OffsetFetchRequest) -> BytesMut {
        let mut b = BytesMut::new();
        uvarint(&mut b, r.groups.len() as u64 + 1);
        for g in &r.groups {
            string(&mut b, Some(g.group_id.0.as_str()));
            string(&mut b, g.member_id.as_ref().map(|s| s.as_str()));
            b.put_i32(g.member_epoch);
            match &g.topics {
                None => uvarint(&mut b, 0),
                Some(ts) => {
                    uvarint(&mut b, ts.len() as u64 + 1);
                    for t in ts {
                        b.put_slice(t.topic_id.as_bytes());
                        uvarint(&mut b, t.partition_indexes.len() as u64 + 1);
                        for p in &t.partition_indexes {
                            b.put_i32(*p);
                        }
                        tags(&mut b, &t.unknown_tagged_fields);
                    }
                }
            }
            tags(&mut b, &g.unknown_tagged_fields);
        }
        b.put_u8(u8::from(r.require_stable));
        tags(&mut b, &r.unknown_tagged_fields);
        b
    }
}
// --- end kip848c ---
