//! Runs generated request sequences (`request_gen`) against a broker over loopback and checks
//! the request-level invariants:
//!
//! - every request gets its reply, in request order, with its correlation id, or the broker
//!   closes that connection; a Produce may get none (acks=0), which an ApiVersions probe sent
//!   after it settles;
//! - a reply to a request that was not byte-mutated decodes with kafka-protocol at the
//!   request's version, with no bytes left over, and a Fetch reply's records are never null;
//! - the broker never closes a connection over a well-formed request of a served version;
//! - after a sequence, every port (the bootstrap port and each shard's) answers ApiVersions and
//!   Metadata within [`HEALTH_TIMEOUT`].
//!
//! A violation is returned as a [`Finding`] (a sentence and the frame that caused it); the
//! fuzz target aborts on it so libFuzzer keeps the input, the CI test fails.
//!
//! Included by path from `fuzz/fuzz_targets/request.rs` and `tests/request_fuzz.rs`, next to
//! `request_gen/` (both at their crate's root).
#![allow(
    dead_code,
    reason = "each test crate including the harness uses a different part of it"
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::request_gen::{self, Choices, Context, Generated, Stats, SEQUENCE_REQUESTS_MAX};

/// How long a reply may take. Generated requests wait at most `request_gen::WAIT_MS_MAX` on
/// purpose, so a reply this late means a request hangs.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How a reply that never came is reported.
const NO_REPLY: &str = "no reply and no close";
/// How long each port has to answer the health check after a sequence.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests sent back to back on one connection before their replies are read.
pub const PIPELINE_DEPTH_MAX: usize = 4;
/// A reply larger than this is a framing bug (replies to generated requests are small).
const REPLY_BYTES_MAX: usize = 128 << 20;
/// The ApiVersions probe's correlation id (generated requests count up from 1).
const PROBE_CORRELATION_ID: i32 = i32::MIN + 7;

pub type Finding = String;

/// Where the broker listens: the bootstrap port first, then each shard's.
#[derive(Debug, Clone)]
pub struct Target {
    pub addrs: Vec<SocketAddr>,
}

struct Conn {
    stream: TcpStream,
    next_correlation_id: i32,
}

enum Read1 {
    Frame(Bytes),
    Closed,
}

impl Conn {
    fn connect(addr: SocketAddr) -> Result<Conn, Finding> {
        let stream = TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT)
            .map_err(|e| format!("connect to {addr} failed: {e}"))?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(REPLY_TIMEOUT)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| format!("socket options: {e}"))?;
        Ok(Conn {
            stream,
            next_correlation_id: 1,
        })
    }

    fn read_frame(&mut self) -> Result<Read1, Finding> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("{NO_REPLY} within {REPLY_TIMEOUT:?}"));
            }
            Err(_) => return Ok(Read1::Closed),
        }
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (4..=REPLY_BYTES_MAX).contains(l))
            .ok_or_else(|| format!("reply length prefix {len}"))?;
        let mut buf = vec![0u8; len];
        match self.stream.read_exact(&mut buf) {
            Ok(()) => Ok(Read1::Frame(buf.into())),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(format!("a reply of {len} bytes stalled after its length"))
            }
            Err(e) => Err(format!(
                "connection closed inside a reply of {len} bytes: {e}"
            )),
        }
    }
}

/// What a sent frame says about itself (after any mutation): its API key, version and
/// correlation id, if its header got that far.
fn frame_header(frame: &[u8]) -> (Option<i16>, Option<i16>, Option<i32>) {
    let i16_at = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
    };
    let id = frame
        .get(8..12)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    (i16_at(4), i16_at(6), id)
}

/// A frame in hex; a long one as its first 192 and last 64 bytes.
fn hex(frame: &[u8]) -> String {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if frame.len() > 256 {
        format!(
            "{}…{} ({} bytes)",
            hex(&frame[..192]),
            hex(&frame[frame.len() - 64..]),
            frame.len()
        )
    } else {
        hex(frame)
    }
}

fn describe(g: &Generated) -> String {
    format!(
        "{:?} v{} (correlation id {}{}): frame {}",
        g.key,
        g.version,
        g.correlation_id,
        if g.mutated { ", bytes mutated" } else { "" },
        hex(&g.frame)
    )
}

/// Runs one sequence described by `data` against `target`. Connections are opened as the
/// sequence needs them (one per port at most) and closed at its end.
pub fn run_sequence(target: &Target, data: &[u8], stats: &mut Stats) -> Result<(), Finding> {
    let mut c = Choices::new(data);
    let mut ctx = Context::default();
    let mut conns: Vec<Option<Conn>> = target.addrs.iter().map(|_| None).collect();
    let mut sent = 0;
    while !c.is_empty() && sent < SEQUENCE_REQUESTS_MAX {
        let which = c.below(target.addrs.len());
        let depth = if c.one_in(4) {
            1 + c.below(PIPELINE_DEPTH_MAX)
        } else {
            1
        };
        let conn = match &mut conns[which] {
            Some(conn) => conn,
            slot => slot.insert(Conn::connect(target.addrs[which])?),
        };
        let requests: Vec<Generated> = (0..depth)
            .map(|_| {
                let id = conn.next_correlation_id;
                conn.next_correlation_id += 1;
                request_gen::request(&mut c, &ctx, id, stats)
            })
            .collect();
        sent += depth;
        if verbose() {
            for g in &requests {
                eprintln!("-> port {which}: {}", describe(g));
            }
        }
        let started = std::time::Instant::now();
        let open = exchange(conn, &requests, &mut ctx)?;
        if verbose() {
            eprintln!(
                "<- {:?}{}",
                started.elapsed(),
                if open { "" } else { ", closed" }
            );
        }
        if !open {
            conns[which] = None;
        }
    }
    Ok(())
}

/// `SLUICE_FUZZ_VERBOSE=1` prints every request sent and how long its replies took (to read
/// what a saved input does).
fn verbose() -> bool {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("SLUICE_FUZZ_VERBOSE").is_some())
}

/// One expected reply.
struct Expect<'a> {
    id: Option<i32>,
    /// A Produce (after mutation, by its frame's key): acks=0 gets no reply.
    may_be_silent: bool,
    request: Option<&'a Generated>,
}

/// Sends `requests` back to back and reads their replies. Ok(false) if the broker closed the
/// connection (allowed: a request it refuses closes it), Ok(true) if it stays usable.
fn exchange(conn: &mut Conn, requests: &[Generated], ctx: &mut Context) -> Result<bool, Finding> {
    let mut out = Vec::new();
    let mut expects = Vec::new();
    for g in requests {
        let (key, _, id) = frame_header(&g.frame);
        out.extend_from_slice(&g.frame);
        expects.push(Expect {
            id,
            may_be_silent: key == Some(ApiKey::Produce as i16),
            request: Some(g),
        });
    }
    if expects.iter().any(|e| e.may_be_silent) {
        out.extend_from_slice(&probe_frame());
        expects.push(Expect {
            id: Some(PROBE_CORRELATION_ID),
            may_be_silent: false,
            request: None,
        });
    }
    if let Err(e) = conn.stream.write_all(&out) {
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            return Err(format!(
                "the broker took no bytes for {REPLY_TIMEOUT:?}; first request {}",
                describe(&requests[0])
            ));
        }
        // Closed while we wrote: an earlier frame was refused. Replies sent before the close
        // are still checked below.
    }
    let mut next = 0;
    while next < expects.len() {
        let mut frame = match conn.read_frame() {
            Ok(Read1::Frame(f)) => f,
            Ok(Read1::Closed) => {
                let culprit = &expects[next];
                // A Produce may be closed on (Kafka closes when an acks=0 produce fails), and
                // after one that went unanswered the culprit is unclear.
                if let Some(g) = culprit.request {
                    if well_formed(g)
                        && !culprit.may_be_silent
                        && !expects[..next].iter().any(|e| e.may_be_silent)
                    {
                        return Err(format!(
                            "the broker closed the connection on a well-formed request: {}",
                            describe(g)
                        ));
                    }
                }
                return Ok(false);
            }
            Err(why)
                if why.starts_with(NO_REPLY)
                    && expects[next..]
                        .iter()
                        .any(|e| e.request.is_some_and(|g| g.mutated)) =>
            {
                // A mutated request may legitimately wait long (a Fetch's max_wait_ms, up to
                // the broker's FETCH_WAIT_MS_MAX; a JoinGroup's rebalance timeout): abandon
                // this connection. A wedged shard is still caught by the health check that
                // follows every sequence, on fresh connections.
                return Ok(false);
            }
            Err(why) => {
                let waiting = expects[next].request.map_or(
                    "the ApiVersions probe after a Produce".to_string(),
                    describe,
                );
                return Err(format!("{why}, waiting for the reply to {waiting}"));
            }
        };
        let id = frame.get_i32();
        while expects[next].id != Some(id) && expects[next].may_be_silent {
            next += 1;
        }
        let e = &expects[next];
        if e.id != Some(id) {
            return Err(format!(
                "reply with correlation id {id} where {:?} was due: {}",
                e.id,
                e.request.map_or("the probe".to_string(), describe)
            ));
        }
        if let Some(g) = e.request {
            if !g.mutated {
                check_reply(g, frame, ctx).map_err(|why| format!("{why}: {}", describe(g)))?;
            }
        }
        next += 1;
    }
    Ok(true)
}

/// A request the broker must answer: its bytes are the crate's encoding, of a served version.
fn well_formed(g: &Generated) -> bool {
    !g.mutated && sluice::handlers::served(g.key as i16).is_some_and(|v| v.contains(g.version))
}

fn probe_frame() -> Vec<u8> {
    frame(&ApiVersionsRequest::default(), 0, PROBE_CORRELATION_ID)
}

fn frame<R: kafka_protocol::protocol::Request>(req: &R, version: i16, id: i32) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(id)
        .with_client_id(Some(StrBytes::from_static_str("sluice-fuzz-check")));
    let mut b = BytesMut::new();
    b.extend_from_slice(&[0; 4]);
    header
        .encode(&mut b, R::header_version(version))
        .and_then(|()| req.encode(&mut b, version))
        .unwrap_or_else(|e| panic!("encoding a check request: {e}"));
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.to_vec()
}

fn decode<R: Decodable>(buf: &mut Bytes, version: i16) -> Result<R, Finding> {
    let r = R::decode(buf, version).map_err(|e| format!("reply does not decode: {e}"))?;
    if buf.has_remaining() {
        return Err(format!("{} bytes left after the reply", buf.remaining()));
    }
    Ok(r)
}

fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), Finding> {
    fn uvarint(buf: &mut Bytes) -> Result<u64, Finding> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            if !buf.has_remaining() {
                return Err("reply header cut short".to_string());
            }
            let b = buf.get_u8();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("reply header varint too long".to_string())
    }
    for _ in 0..uvarint(buf)? {
        uvarint(buf)?;
        let size = usize::try_from(uvarint(buf)?).unwrap_or(usize::MAX);
        if size > buf.remaining() {
            return Err("reply header tagged field cut short".to_string());
        }
        buf.advance(size);
    }
    Ok(())
}

/// OffsetCommit / OffsetFetch name topics by id from v10 only: an earlier version never
/// answers UNKNOWN_TOPIC_ID.
fn unknown_topic_id_only_by_id(
    api: &str,
    v: i16,
    mut codes: impl Iterator<Item = i16>,
) -> Result<(), Finding> {
    const UNKNOWN_TOPIC_ID: i16 = 100;
    if v < 10 && codes.any(|c| c == UNKNOWN_TOPIC_ID) {
        return Err(format!(
            "{api} v{v} answered UNKNOWN_TOPIC_ID for a named topic"
        ));
    }
    Ok(())
}

/// Decodes the reply (correlation id already read) to `g` with the crate, and learns what
/// later requests can name.
pub fn check_reply(g: &Generated, mut buf: Bytes, ctx: &mut Context) -> Result<(), Finding> {
    let served = sluice::handlers::served(g.key as i16).is_some_and(|v| v.contains(g.version));
    if g.key == ApiKey::ApiVersions {
        // Always response header v0; an unsupported version gets a v0 body.
        let r: ApiVersionsResponse = decode(&mut buf, if served { g.version } else { 0 })?;
        if served && r.error_code != 0 {
            return Err(format!("ApiVersions answered error {}", r.error_code));
        }
        return Ok(());
    }
    if !served {
        return Err("a reply to an unsupported version (Kafka closes)".to_string());
    }
    let v = g.version;
    if g.key.response_header_version(v) >= 1 {
        skip_tagged_fields(&mut buf)?;
    }
    let b = &mut buf;
    match g.key {
        ApiKey::Produce => drop(decode::<ProduceResponse>(b, v)?),
        ApiKey::Fetch => {
            let r: FetchResponse = decode(b, v)?;
            // Kafka sends empty records, never null (librdkafka drops a whole reply with a
            // null one: issue 12).
            for t in &r.responses {
                for p in &t.partitions {
                    if p.records.is_none() {
                        return Err(format!(
                            "Fetch partition {} (error {}) has null records",
                            p.partition_index, p.error_code
                        ));
                    }
                }
            }
        }
        // v11 has v10's layout (the crate decodes up to v10).
        ApiKey::ListOffsets => drop(decode::<ListOffsetsResponse>(b, v.min(10))?),
        ApiKey::Metadata => {
            let r: MetadataResponse = decode(b, v)?;
            for t in &r.topics {
                ctx.learn_topic_id(t.topic_id);
            }
        }
        ApiKey::CreateTopics => {
            let r: CreateTopicsResponse = decode(b, v)?;
            for t in &r.topics {
                ctx.learn_topic_id(t.topic_id);
            }
        }
        ApiKey::DeleteTopics => drop(decode::<DeleteTopicsResponse>(b, v)?),
        ApiKey::InitProducerId => {
            let r: InitProducerIdResponse = decode(b, v)?;
            ctx.learn_producer(r.producer_id.0, r.producer_epoch);
        }
        ApiKey::OffsetForLeaderEpoch => drop(decode::<OffsetForLeaderEpochResponse>(b, v)?),
        ApiKey::DescribeConfigs => drop(decode::<DescribeConfigsResponse>(b, v)?),
        ApiKey::DescribeCluster => drop(decode::<DescribeClusterResponse>(b, v)?),
        ApiKey::DescribeTopicPartitions => {
            let r: DescribeTopicPartitionsResponse = decode(b, v)?;
            for t in &r.topics {
                ctx.learn_topic_id(t.topic_id);
            }
        }
        ApiKey::FindCoordinator => drop(decode::<FindCoordinatorResponse>(b, v)?),
        ApiKey::ConsumerGroupHeartbeat => drop(decode::<ConsumerGroupHeartbeatResponse>(b, v)?),
        ApiKey::ConsumerGroupDescribe => drop(decode::<ConsumerGroupDescribeResponse>(b, v)?),
        ApiKey::ShareGroupHeartbeat => drop(decode::<ShareGroupHeartbeatResponse>(b, v)?),
        ApiKey::ShareGroupDescribe => drop(decode::<ShareGroupDescribeResponse>(b, v)?),
        // v2 has v1's layout (ShareFetch) or v1's plus the lock timeout (ShareAcknowledge),
        // which the crate can't read: v1 is decoded, v2 only framed.
        ApiKey::ShareFetch if v == 1 => drop(decode::<ShareFetchResponse>(b, v)?),
        ApiKey::ShareFetch => drop(decode::<ShareFetchResponse>(b, 1)?),
        ApiKey::ShareAcknowledge if v == 1 => drop(decode::<ShareAcknowledgeResponse>(b, v)?),
        ApiKey::ShareAcknowledge => {}
        ApiKey::DescribeShareGroupOffsets if v == 0 => {
            drop(decode::<DescribeShareGroupOffsetsResponse>(b, v)?)
        }
        // v1 adds each partition's lag, which the crate (v0 only) can't read: only framed.
        ApiKey::DescribeShareGroupOffsets => {}
        ApiKey::AlterShareGroupOffsets => drop(decode::<AlterShareGroupOffsetsResponse>(b, v)?),
        ApiKey::DeleteShareGroupOffsets => drop(decode::<DeleteShareGroupOffsetsResponse>(b, v)?),
        ApiKey::JoinGroup => {
            let r: JoinGroupResponse = decode(b, v)?;
            if let Some(group) = &g.group {
                ctx.learn_member(group.clone(), r.member_id.to_string(), r.generation_id);
            }
        }
        ApiKey::SyncGroup => drop(decode::<SyncGroupResponse>(b, v)?),
        ApiKey::Heartbeat => drop(decode::<HeartbeatResponse>(b, v)?),
        ApiKey::LeaveGroup => drop(decode::<LeaveGroupResponse>(b, v)?),
        // UNKNOWN_TOPIC_ID (100) only where topics are named by id (v10, Kafka 4.2).
        ApiKey::OffsetCommit => {
            let r: OffsetCommitResponse = decode(b, v)?;
            let codes = r
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code);
            unknown_topic_id_only_by_id("OffsetCommit", v, codes)?;
        }
        ApiKey::OffsetFetch => {
            let r: OffsetFetchResponse = decode(b, v)?;
            let grouped = r
                .groups
                .iter()
                .flat_map(|g| &g.topics)
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code);
            let single = r
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code);
            unknown_topic_id_only_by_id("OffsetFetch", v, grouped.chain(single))?;
        }
        ApiKey::ListGroups => drop(decode::<ListGroupsResponse>(b, v)?),
        ApiKey::DescribeGroups => drop(decode::<DescribeGroupsResponse>(b, v)?),
        ApiKey::DeleteGroups => drop(decode::<DeleteGroupsResponse>(b, v)?),
        ApiKey::OffsetDelete => drop(decode::<OffsetDeleteResponse>(b, v)?),
        ApiKey::IncrementalAlterConfigs => drop(decode::<IncrementalAlterConfigsResponse>(b, v)?),
        ApiKey::AlterConfigs => drop(decode::<AlterConfigsResponse>(b, v)?),
        ApiKey::DeleteRecords => drop(decode::<DeleteRecordsResponse>(b, v)?),
        ApiKey::CreatePartitions => drop(decode::<CreatePartitionsResponse>(b, v)?),
        ApiKey::DescribeLogDirs => drop(decode::<DescribeLogDirsResponse>(b, v)?),
        ApiKey::DescribeProducers => drop(decode::<DescribeProducersResponse>(b, v)?),
        ApiKey::SaslHandshake => drop(decode::<SaslHandshakeResponse>(b, v)?),
        ApiKey::SaslAuthenticate => drop(decode::<SaslAuthenticateResponse>(b, v)?),
        ApiKey::DescribeUserScramCredentials => {
            drop(decode::<DescribeUserScramCredentialsResponse>(b, v)?)
        }
        ApiKey::AlterUserScramCredentials => {
            drop(decode::<AlterUserScramCredentialsResponse>(b, v)?)
        }
        ApiKey::DescribeClientQuotas => drop(decode::<DescribeClientQuotasResponse>(b, v)?),
        ApiKey::AlterClientQuotas => drop(decode::<AlterClientQuotasResponse>(b, v)?),
        ApiKey::DescribeAcls => drop(decode::<DescribeAclsResponse>(b, v)?),
        ApiKey::CreateAcls => drop(decode::<CreateAclsResponse>(b, v)?),
        ApiKey::DeleteAcls => drop(decode::<DeleteAclsResponse>(b, v)?),
        ApiKey::AddPartitionsToTxn => drop(decode::<AddPartitionsToTxnResponse>(b, v)?),
        ApiKey::AddOffsetsToTxn => drop(decode::<AddOffsetsToTxnResponse>(b, v)?),
        ApiKey::EndTxn => drop(decode::<EndTxnResponse>(b, v)?),
        ApiKey::TxnOffsetCommit => drop(decode::<TxnOffsetCommitResponse>(b, v)?),
        ApiKey::DescribeTransactions => drop(decode::<DescribeTransactionsResponse>(b, v)?),
        ApiKey::ListTransactions => drop(decode::<ListTransactionsResponse>(b, v)?),
        other => return Err(format!("no reply check for {other:?}")),
    }
    Ok(())
}

/// Every port answers ApiVersions v3 and Metadata v12 (all topics) within [`HEALTH_TIMEOUT`].
pub fn health(target: &Target) -> Result<(), Finding> {
    for &addr in &target.addrs {
        health_of(addr).map_err(|why| format!("health check of {addr}: {why}"))?;
    }
    Ok(())
}

fn health_of(addr: SocketAddr) -> Result<(), Finding> {
    let mut conn = Conn::connect(addr)?;
    conn.stream
        .set_read_timeout(Some(HEALTH_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let api_versions = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("sluice-fuzz"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let mut out = frame(&api_versions, 3, 1);
    out.extend_from_slice(&frame(&MetadataRequest::default().with_topics(None), 12, 2));
    conn.stream
        .write_all(&out)
        .map_err(|e| format!("send: {e}"))?;
    for (id, what) in [(1, "ApiVersions"), (2, "Metadata")] {
        let Read1::Frame(mut f) = conn.read_frame()? else {
            return Err(format!("closed instead of answering {what}"));
        };
        let got = f.get_i32();
        if got != id {
            return Err(format!("{what} reply has correlation id {got}"));
        }
        if id == 1 {
            let r: ApiVersionsResponse = decode(&mut f, 3)?;
            if r.error_code != 0 {
                return Err(format!("ApiVersions error {}", r.error_code));
            }
        } else {
            skip_tagged_fields(&mut f)?;
            decode::<MetadataResponse>(&mut f, 12)?;
        }
    }
    Ok(())
}
