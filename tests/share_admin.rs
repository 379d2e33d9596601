//! Share groups over raw TCP, with kafka-protocol as the oracle: the share-group offset admin
//! APIs (DescribeShareGroupOffsets v0–1, AlterShareGroupOffsets v0, DeleteShareGroupOffsets
//! v0) with Kafka's errors (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, UNKNOWN_TOPIC_OR_PARTITION),
//! KIP-1222's RENEW acknowledgement (ShareAcknowledge v2, and ShareFetch v2's renew-only
//! request), and share sessions ending with their connection (records released at once).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use harness::kafka::{create_topic, produce, s, topic_id, Conn};
use harness::Broker;
use kafka_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
use kafka_protocol::messages::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::*;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const INVALID_RECORD_STATE: i16 = 121;
const INVALID_REQUEST: i16 = 42;
const SHARE_SESSION_NOT_FOUND: i16 = 122;

const LOCK_MS: u64 = 2_000;

/// The coordinator of `group`, with client id "t".
fn coordinator(b: &Broker, group: &str) -> Conn {
    harness::kafka::coordinator(b, group).with_client_id("t")
}

/// The leader of `topic`-`partition`, with client id "t".
fn leader(b: &Broker, topic: &str, partition: i32) -> Conn {
    harness::kafka::leader(b, topic, partition).with_client_id("t")
}

fn broker(name: &str) -> Broker {
    broker_with(name, LOCK_MS, 5_000)
}

/// A broker whose records are locked for `lock_ms` and whose silent members expire after
/// `session_timeout_ms`.
fn broker_with(name: &str, lock_ms: u64, session_timeout_ms: u64) -> Broker {
    Broker::start(
        name,
        &[
            "--cores",
            "2",
            "--group-share-record-lock-duration-ms",
            &lock_ms.to_string(),
            "--group-share-heartbeat-interval-ms",
            "200",
            "--group-share-session-timeout-ms",
            &session_timeout_ms.to_string(),
        ],
    )
}

/// The renew tests' lock: renewed every `RENEW_EVERY`, it survives a stall of the test (a
/// noisy CI machine) of almost its whole length; the tests last a little longer than it.
const RENEW_LOCK_MS: u64 = 4_000;
const RENEW_EVERY: Duration = Duration::from_millis(250);

/// A broker for the renew tests: locks of `RENEW_LOCK_MS`, and members that outlive the test
/// without heartbeats (an expired member would give its records back, renewed or not).
fn renew_broker(name: &str) -> Broker {
    broker_with(name, RENEW_LOCK_MS, 60_000)
}

/// Renews offset 0 (through `renew`, at share-session epochs from `epoch` on) every
/// `RENEW_EVERY` until the locks taken before `acquired` have surely ended, each renew well
/// within the last one's lock; returns the next epoch. The last renew comes after the first
/// lock's end, so it only succeeds on a lock that renewing extended.
fn renew_past_first_lock(acquired: Instant, mut epoch: i32, mut renew: impl FnMut(i32)) -> i32 {
    // The broker stamped the lock before it answered; a margin for its millisecond clock.
    let first_lock_ended = acquired + Duration::from_millis(RENEW_LOCK_MS + 100);
    loop {
        renew(epoch);
        epoch += 1;
        if Instant::now() >= first_lock_ended {
            return epoch;
        }
        std::thread::sleep(RENEW_EVERY);
    }
}

fn heartbeat(
    c: &mut Conn,
    group: &str,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let r = c.call(
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(s(group).into())
            .with_member_id(s(member))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(topics.map(|t| t.iter().map(|t| s(t).into()).collect())),
        1,
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    r
}

fn describe(
    c: &mut Conn,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> DescribeShareGroupOffsetsResponse {
    c.call(
        &DescribeShareGroupOffsetsRequest::default().with_groups(vec![
            DescribeShareGroupOffsetsRequestGroup::default()
                .with_group_id(s(group).into())
                .with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            DescribeShareGroupOffsetsRequestTopic::default()
                                .with_topic_name(s(t).into())
                                .with_partitions(ps.to_vec())
                        })
                        .collect()
                })),
        ]),
        0,
    )
}

fn alter(
    c: &mut Conn,
    group: &str,
    offsets: &[(&str, i32, i64)],
) -> AlterShareGroupOffsetsResponse {
    let mut topics: Vec<AlterShareGroupOffsetsRequestTopic> = Vec::new();
    for (t, p, o) in offsets {
        let partition = AlterShareGroupOffsetsRequestPartition::default()
            .with_partition_index(*p)
            .with_start_offset(*o);
        match topics.iter_mut().find(|x| x.topic_name.0.as_str() == *t) {
            Some(x) => x.partitions.push(partition),
            None => topics.push(
                AlterShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(s(t).into())
                    .with_partitions(vec![partition]),
            ),
        }
    }
    c.call(
        &AlterShareGroupOffsetsRequest::default()
            .with_group_id(s(group).into())
            .with_topics(topics),
        0,
    )
}

fn delete(c: &mut Conn, group: &str, topics: &[&str]) -> DeleteShareGroupOffsetsResponse {
    c.call(
        &DeleteShareGroupOffsetsRequest::default()
            .with_group_id(s(group).into())
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        DeleteShareGroupOffsetsRequestTopic::default().with_topic_name(s(t).into())
                    })
                    .collect(),
            ),
        0,
    )
}

/// (partition, start offset, error) of a DescribeShareGroupOffsets group's topic.
fn starts(r: &DescribeShareGroupOffsetsResponse, topic: &str) -> Vec<(i32, i64, i16)> {
    let t = r.groups[0]
        .topics
        .iter()
        .find(|t| t.topic_name.0.as_str() == topic)
        .unwrap_or_else(|| panic!("{topic} not in {r:?}"));
    t.partitions
        .iter()
        .map(|p| (p.partition_index, p.start_offset, p.error_code))
        .collect()
}

/// Varint at the front of `b`.
fn varint(b: &mut Bytes) -> u32 {
    let (mut n, mut shift) = (0u32, 0);
    loop {
        let byte = b.get_u8();
        n |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn skip_string(b: &mut Bytes) {
    let n = varint(b);
    if n > 0 {
        b.advance(n as usize - 1);
    }
}

/// DescribeShareGroupOffsets v1 of one group and one topic (the crate writes v0 only; v1's
/// request is v0's bytes): each partition's (index, start offset, lag, error), read by hand
/// from the v1 layout (lag after the leader epoch).
fn describe_v1(
    c: &mut Conn,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i64, i64, i16)> {
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(s(group).into())
            .with_topics(Some(vec![DescribeShareGroupOffsetsRequestTopic::default()
                .with_topic_name(s(topic).into())
                .with_partitions(partitions.to_vec())])),
    ]);
    let (id, mut frame) = c.frame(&request, 0);
    frame[6..8].copy_from_slice(&1i16.to_be_bytes());
    c.stream_mut().write_all(&frame).unwrap();
    let mut b = c.recv_frame().unwrap();
    assert_eq!(b.get_i32(), id);
    assert_eq!(b.get_u8(), 0, "response header tags");
    let _throttle = b.get_i32();
    assert_eq!(varint(&mut b), 2, "one group");
    skip_string(&mut b);
    assert_eq!(varint(&mut b), 2, "one topic");
    skip_string(&mut b);
    b.advance(16);
    let n = varint(&mut b) - 1;
    let mut out = Vec::new();
    for _ in 0..n {
        let index = b.get_i32();
        let start = b.get_i64();
        let _epoch = b.get_i32();
        let lag = b.get_i64();
        let error = b.get_i16();
        skip_string(&mut b);
        assert_eq!(b.get_u8(), 0);
        out.push((index, start, lag, error));
    }
    assert_eq!(b.get_u8(), 0, "topic tags");
    assert_eq!(b.get_i16(), NONE, "group error");
    skip_string(&mut b);
    assert_eq!(b.get_u8(), 0, "group tags");
    assert_eq!(b.get_u8(), 0, "response tags");
    assert!(b.is_empty());
    out
}

#[test]
fn share_group_offsets_are_described_altered_and_deleted_as_kafka_does() {
    let b = broker("share_offsets_admin");
    let mut admin = Conn::connect(b.shard_addr(0));
    create_topic(&mut admin, "q", 2);
    for p in 0..2 {
        produce(&mut admin, "q", p, &[b"a", b"b", b"c", b"d", b"e"]);
    }
    let mut c = coordinator(&b, "g");

    // No such group: describe and delete say so; alter creates an empty share group.
    let r = describe(&mut c, "g", Some(&[("q", &[0])]));
    assert_eq!(r.groups[0].error_code, GROUP_ID_NOT_FOUND, "{r:?}");
    assert_eq!(delete(&mut c, "g", &["q"]).error_code, GROUP_ID_NOT_FOUND);
    let r = alter(
        &mut c,
        "g",
        &[("q", 0, 2), ("q", 1, 0), ("q", 9, 0), ("nope", 0, 0)],
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    let codes: Vec<(String, i32, i16)> = r
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.topic_name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            ("q".into(), 0, NONE),
            ("q".into(), 1, NONE),
            ("q".into(), 9, UNKNOWN_TOPIC_OR_PARTITION),
            ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    assert_eq!(r.responses[0].topic_id, topic_id(&b, "q"));

    // v0: the start offsets; v1: with the lag (records from the start to the end).
    let r = describe(&mut c, "g", Some(&[("q", &[0, 1])]));
    assert_eq!(r.groups[0].error_code, NONE, "{r:?}");
    assert_eq!(starts(&r, "q"), vec![(0, 2, NONE), (1, 0, NONE)]);
    assert_eq!(
        describe_v1(&mut c, "g", "q", &[0, 1]),
        vec![(0, 2, 3, NONE), (1, 0, 5, NONE)]
    );
    // No topic list: every share-partition with state.
    let all = describe(&mut c, "g", None);
    assert_eq!(starts(&all, "q"), vec![(0, 2, NONE), (1, 0, NONE)]);

    // A member: the group is not empty, its offsets can't change.
    heartbeat(
        &mut c,
        "g",
        "member-one-0000000000000000000000",
        0,
        Some(&["q"]),
    );
    assert_eq!(
        alter(&mut c, "g", &[("q", 0, 0)]).error_code,
        NON_EMPTY_GROUP
    );
    assert_eq!(delete(&mut c, "g", &["q"]).error_code, NON_EMPTY_GROUP);
    heartbeat(&mut c, "g", "member-one-0000000000000000000000", -1, None);

    // Empty again: delete forgets the state; the partitions have none (start -1).
    let r = delete(&mut c, "g", &["q", "nope"]);
    assert_eq!(r.error_code, NONE, "{r:?}");
    let codes: Vec<i16> = r.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![NONE, UNKNOWN_TOPIC_OR_PARTITION]);
    let r = describe(&mut c, "g", Some(&[("q", &[0, 1])]));
    assert_eq!(starts(&r, "q"), vec![(0, -1, NONE), (1, -1, NONE)]);
    assert!(describe(&mut c, "g", None).groups[0].topics.is_empty());
}

/// ShareAcknowledge v2 of `request` (encoded at v1, `IsRenewAck` inserted after the session
/// epoch): the v2 response's lock timeout and the response read as v1.
fn acknowledge_v2(
    c: &mut Conn,
    request: &ShareAcknowledgeRequest,
    renew: bool,
) -> (i32, ShareAcknowledgeResponse) {
    let (id, mut frame) = c.frame(request, 1);
    frame[6..8].copy_from_slice(&2i16.to_be_bytes());
    // length, key, version, correlation id, client id "t", header tags; group, member, epoch
    let group = request.group_id.as_ref().unwrap().0.len();
    let member = request.member_id.as_ref().unwrap().len();
    let at = 4 + 2 + 2 + 4 + (2 + 1) + 1 + (1 + group) + (1 + member) + 4;
    frame.insert(at, u8::from(renew));
    let len = i32::from_be_bytes(frame[0..4].try_into().unwrap()) + 1;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
    c.stream_mut().write_all(&frame).unwrap();
    let b = c.recv_frame().unwrap();
    // correlation id, header tags, throttle, error, null message, then the lock timeout.
    let lock = i32::from_be_bytes(b[12..16].try_into().unwrap());
    let mut v1 = b[..12].to_vec();
    v1.extend_from_slice(&b[16..]);
    let r =
        sluice_client::frame::decode_response::<ShareAcknowledgeRequest>(Bytes::from(v1), id, 1)
            .unwrap();
    (lock, r)
}

fn ack(
    topic: uuid::Uuid,
    first: i64,
    last: i64,
    kind: i8,
) -> Vec<share_acknowledge_request::AcknowledgeTopic> {
    vec![share_acknowledge_request::AcknowledgeTopic::default()
        .with_topic_id(topic)
        .with_partitions(vec![
            share_acknowledge_request::AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(vec![
                    share_acknowledge_request::AcknowledgementBatch::default()
                        .with_first_offset(first)
                        .with_last_offset(last)
                        .with_acknowledge_types(vec![kind]),
                ]),
        ])]
}

#[test]
fn renew_keeps_records_locked_past_the_lock_duration() {
    const RENEW: i8 = 4;
    let b = renew_broker("share_renew");
    let mut admin = Conn::connect(b.shard_addr(0));
    create_topic(&mut admin, "r", 1);
    let id = topic_id(&b, "r");
    let member = "renew-member-00000000000000000000";
    let mut coord = coordinator(&b, "gr");
    // Joining initializes the share-partition (at its end: latest), so produce after.
    let hb = heartbeat(&mut coord, "gr", member, 0, Some(&["r"]));
    assert!(hb.assignment.is_some(), "{hb:?}");
    produce(&mut admin, "r", 0, &[b"x", b"y"]);

    let mut c = leader(&b, "r", 0);
    let fetch = ShareFetchRequest::default()
        .with_group_id(Some(s("gr").into()))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(0)
        .with_max_wait_ms(5_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(10)
        .with_batch_size(10)
        .with_topics(vec![share_fetch_request::FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![
                share_fetch_request::FetchPartition::default().with_partition_index(0),
            ])]);
    let r = c.call(&fetch, 1);
    let acquired_at = Instant::now();
    assert_eq!(r.error_code, NONE, "{r:?}");
    let acquired = &r.responses[0].partitions[0].acquired_records;
    assert_eq!(
        (acquired[0].first_offset, acquired[0].last_offset),
        (0, 1),
        "{r:?}"
    );

    // Renew offset 0 before its lock ends, until past the original lock's end; offset 1 is
    // left to expire.
    let epoch = renew_past_first_lock(acquired_at, 1, |epoch| {
        let request = ShareAcknowledgeRequest::default()
            .with_group_id(Some(s("gr").into()))
            .with_member_id(Some(s(member)))
            .with_share_session_epoch(epoch)
            .with_topics(ack(id, 0, 0, RENEW));
        let (lock, r) = acknowledge_v2(&mut c, &request, true);
        assert_eq!(lock, RENEW_LOCK_MS as i32);
        assert_eq!(r.error_code, NONE, "{r:?}");
        assert_eq!(r.responses[0].partitions[0].error_code, NONE, "{r:?}");
    });
    // Offset 0 is still this member's; offset 1's lock ended.
    assert_renewed_0_expired_1(&mut c, "gr", member, id, epoch);
}

/// A broker whose locks outlast the test's waits (30 s, Kafka's default) and whose members
/// are not expired meanwhile: only a connection's end can give records back early.
fn long_lock_broker(name: &str) -> Broker {
    Broker::start(
        name,
        &[
            "--cores",
            "2",
            "--group-share-record-lock-duration-ms",
            "30000",
            "--group-share-heartbeat-interval-ms",
            "200",
            "--group-share-session-timeout-ms",
            "60000",
        ],
    )
}

fn share_fetch(
    group: &str,
    member: &str,
    epoch: i32,
    topic: uuid::Uuid,
    wait_ms: i32,
) -> ShareFetchRequest {
    ShareFetchRequest::default()
        .with_group_id(Some(s(group).into()))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(100)
        .with_batch_size(100)
        .with_topics(vec![share_fetch_request::FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![
                share_fetch_request::FetchPartition::default().with_partition_index(0),
            ])])
}

/// (first, last, delivery count) of partition 0's acquired records.
fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.partition_index == 0)
        .flat_map(|p| p.acquired_records.iter())
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect()
}

/// Kafka 4.1+: a share session ends with the connection that used it, and what its member
/// acquired comes back at once (delivery count kept), not when the 30 s locks run out. The
/// member itself stays in the group (it still heartbeats); its old session is gone.
#[test]
fn records_of_a_closed_connection_are_released_at_once() {
    let b = long_lock_broker("share_conn_close");
    let mut admin = Conn::connect(b.shard_addr(0));
    create_topic(&mut admin, "c", 1);
    let id = topic_id(&b, "c");
    let (one, two) = (
        "closing-member-000000000000000000",
        "second-member-0000000000000000000",
    );
    let mut coord = coordinator(&b, "gc");
    let joined = heartbeat(&mut coord, "gc", one, 0, Some(&["c"]));
    assert!(joined.assignment.is_some(), "{joined:?}");
    assert!(heartbeat(&mut coord, "gc", two, 0, Some(&["c"]))
        .assignment
        .is_some());
    produce(&mut admin, "c", 0, &[b"x", b"y", b"z"]);

    let mut first = leader(&b, "c", 0);
    let r = first.call(&share_fetch("gc", one, 0, id, 5_000), 1);
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(acquired(&r), vec![(0, 2, 1)], "{r:?}");
    // Nothing for the second member while the first holds them.
    let mut second = leader(&b, "c", 0);
    let r = second.call(&share_fetch("gc", two, 0, id, 200), 1);
    assert!(acquired(&r).is_empty(), "{r:?}");
    drop(first);

    // Well within the 30 s lock the second member gets them, on their second delivery.
    let started = Instant::now();
    let mut epoch = 1;
    let got = loop {
        let r = second.call(&share_fetch("gc", two, epoch, id, 500), 1);
        assert_eq!(r.error_code, NONE, "{r:?}");
        epoch += 1;
        let got = acquired(&r);
        if !got.is_empty() {
            break got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "records still locked 10 s after their member's connection closed"
        );
    };
    assert_eq!(got, vec![(0, 2, 2)]);
    // The closed connection's session is gone: continuing it is refused.
    let mut again = leader(&b, "c", 0);
    let r = again.call(&share_fetch("gc", one, 1, id, 0), 1);
    assert_eq!(r.error_code, SHARE_SESSION_NOT_FOUND, "{r:?}");
    // The member is still in the group.
    heartbeat(&mut coord, "gc", one, joined.member_epoch, None);
}

/// ShareFetch v2 of `request` (encoded at v1, `ShareAcquireMode` and `IsRenewAck` inserted
/// after `BatchSize` as Kafka 4.2's schema has them); the v2 response has v1's layout.
fn share_fetch_v2(
    c: &mut Conn,
    request: &ShareFetchRequest,
    acquire_mode: i8,
    renew: bool,
) -> ShareFetchResponse {
    let (id, mut frame) = c.frame(request, 1);
    frame[6..8].copy_from_slice(&2i16.to_be_bytes());
    // length, key, version, correlation id, client id "t", header tags; then group, member
    // (compact strings) and the six int32s up to BatchSize.
    let group = request.group_id.as_ref().unwrap().0.len();
    let member = request.member_id.as_ref().unwrap().len();
    let at = 4 + 2 + 2 + 4 + (2 + 1) + 1 + (1 + group) + (1 + member) + 6 * 4;
    frame.splice(at..at, [acquire_mode as u8, u8::from(renew)]);
    let len = i32::from_be_bytes(frame[0..4].try_into().unwrap()) + 2;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
    c.stream_mut().write_all(&frame).unwrap();
    let b = c
        .recv_frame()
        .expect("the broker answers a v2 ShareFetch, not close");
    sluice_client::frame::decode_response::<ShareFetchRequest>(b, id, 1).unwrap()
}

/// KIP-1222: a ShareFetch v2 that only renews (`IsRenewAck`, and MaxWaitMs, MinBytes,
/// MaxBytes and MaxRecords all 0) extends the locks at once and fetches nothing; one that
/// asks for records as well is INVALID_REQUEST.
#[test]
fn share_fetch_v2_renew_only_extends_the_locks() {
    const RENEW: i8 = 4;
    let b = renew_broker("share_fetch_renew");
    let mut admin = Conn::connect(b.shard_addr(0));
    create_topic(&mut admin, "f", 1);
    let id = topic_id(&b, "f");
    let member = "fetch-renew-member-00000000000000";
    let mut coord = coordinator(&b, "gf");
    assert!(heartbeat(&mut coord, "gf", member, 0, Some(&["f"]))
        .assignment
        .is_some());
    produce(&mut admin, "f", 0, &[b"x", b"y"]);

    // A plain v2 fetch (batch-optimized) acquires both.
    let mut c = leader(&b, "f", 0);
    let r = share_fetch_v2(&mut c, &share_fetch("gf", member, 0, id, 5_000), 0, false);
    let acquired_at = Instant::now();
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(r.acquisition_lock_timeout_ms, RENEW_LOCK_MS as i32);
    assert_eq!(acquired(&r), vec![(0, 1, 1)], "{r:?}");

    // The crate's default MaxBytes is Kafka's 0x7fffffff: a renew-only request sets it to 0.
    let renew = |epoch: i32| {
        ShareFetchRequest::default()
            .with_group_id(Some(s("gf").into()))
            .with_member_id(Some(s(member)))
            .with_share_session_epoch(epoch)
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(0)
            .with_max_records(0)
            .with_topics(vec![share_fetch_request::FetchTopic::default()
                .with_topic_id(id)
                .with_partitions(vec![
                    share_fetch_request::FetchPartition::default()
                        .with_partition_index(0)
                        .with_acknowledgement_batches(vec![
                            share_fetch_request::AcknowledgementBatch::default()
                                .with_first_offset(0)
                                .with_last_offset(0)
                                .with_acknowledge_types(vec![RENEW]),
                        ]),
                ])])
    };
    // Asking for records in a renew-only request is refused.
    let r = share_fetch_v2(&mut c, &renew(1).with_max_records(10), 0, true);
    assert_eq!(r.error_code, INVALID_REQUEST, "{r:?}");

    // Renew offset 0 past its first lock's end; offset 1 is left to expire.
    let epoch = renew_past_first_lock(acquired_at, 1, |epoch| {
        let asked = Instant::now();
        let r = share_fetch_v2(&mut c, &renew(epoch), 0, true);
        assert_eq!(r.error_code, NONE, "{r:?}");
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.acknowledge_error_code, NONE, "{r:?}");
        assert!(
            p.acquired_records.is_empty(),
            "a renew fetches nothing: {r:?}"
        );
        // It answers at once (MaxWaitMs 0); half a lock is a wide bound for that.
        assert!(
            asked.elapsed() < Duration::from_millis(RENEW_LOCK_MS / 2),
            "a renew-only request does not wait"
        );
    });
    assert_renewed_0_expired_1(&mut c, "gf", member, id, epoch);
}

/// After renewing offset 0's lock and letting offset 1's run out: `member` can still accept
/// offset 0 (at share-session `epoch`), but no longer offset 1 (INVALID_RECORD_STATE).
fn assert_renewed_0_expired_1(c: &mut Conn, group: &str, member: &str, id: uuid::Uuid, epoch: i32) {
    const ACCEPT: i8 = 1;
    let accept = |first: i64, epoch: i32| {
        ShareAcknowledgeRequest::default()
            .with_group_id(Some(s(group).into()))
            .with_member_id(Some(s(member)))
            .with_share_session_epoch(epoch)
            .with_topics(ack(id, first, first, ACCEPT))
    };
    let r = c.call(&accept(0, epoch), 1);
    assert_eq!(r.responses[0].partitions[0].error_code, NONE, "{r:?}");
    let r = c.call(&accept(1, epoch + 1), 1);
    assert_eq!(
        r.responses[0].partitions[0].error_code, INVALID_RECORD_STATE,
        "{r:?}"
    );
}
