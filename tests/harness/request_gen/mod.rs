//! Structure-aware request generator for request-level fuzzing: builds valid requests of every
//! API key and version Sluice serves (`sluice::handlers::SERVED`) with kafka-protocol's
//! encoders, bends their fields towards the values that break handlers (empty and huge arrays,
//! duplicates, unknown names and ids, negative and extreme indexes, offsets, timeouts and
//! sizes), and sometimes mutates the encoded frame's bytes as well.
//!
//! Every choice is read from a byte string ([`Choices`]), so the same generator serves
//! libFuzzer (which mutates the bytes, guided by coverage: `fuzz/fuzz_targets/request.rs`) and
//! the deterministic CI replay (which draws them from a seeded RNG: `tests/request_fuzz.rs`).
//! Both include this module by path; it depends only on crates both already have. Each family
//! of APIs builds its requests in its own file (`produce_fetch`, `admin`, `security`, `groups`,
//! `txn`, `share`); the shared choices and learned context are here.
//!
//! Timeouts the broker waits on (`max_wait_ms` with `min_bytes` > 0, rebalance and session
//! timeouts) stay small unless the request can't wait on them, so a sequence never legitimately
//! takes seconds: a reply slower than the runner's deadline is a finding, not a slow input.
#![allow(
    dead_code,
    reason = "each test crate including the harness uses a different part of it"
)]

use bytes::BytesMut;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

mod admin;
mod groups;
mod produce_fetch;
mod security;
mod share;
mod txn;

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

/// Builds (and encodes) one request body of API `key` at `version`. `None` if the crate
/// refused to encode what was built (counted by the caller: it should stay rare). Each family
/// of APIs builds its own (`admin`, `groups`, ...); the first that knows `key` answers.
fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    stats: &mut Stats,
    joined: &mut Option<String>,
) -> Option<BytesMut> {
    produce_fetch::body(c, ctx, key, v, stats, joined)
        .or_else(|| admin::body(c, ctx, key, v, stats, joined))
        .or_else(|| security::body(c, ctx, key, v, stats, joined))
        .or_else(|| groups::body(c, ctx, key, v, stats, joined))
        .or_else(|| txn::body(c, ctx, key, v, stats, joined))
        .or_else(|| share::body(c, ctx, key, v, stats, joined))
        .flatten()
}

/// `r` encoded at version `v`; `None` if the crate refuses (a field this version lacks).
fn enc<R: Encodable>(r: R, v: i16) -> Option<BytesMut> {
    let mut b = BytesMut::new();
    r.encode(&mut b, v).ok().map(|()| b)
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
