//! The internal-topic record fuzzer's short, deterministic form for CI: every decoder of what
//! Sluice reads back from `__consumer_offsets` and `__transaction_state` at start-up, fed
//! valid encodings (which must round-trip), every prefix of them, counts and lengths at their
//! extremes (i32::MAX, u64::MAX varints, negative lengths) and a bounded number of
//! pseudo-random and mutated inputs; and the replay of whole batches, Sluice's own and hostile
//! ones. The invariants are the fuzz target's (`harness/internal_records_check.rs`, shared
//! with `fuzz/fuzz_targets/offsets_records.rs`): errors, never a panic, an abort or a loop.
//! No broker: the decoders and replay are pure.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

#[path = "harness/internal_records_check.rs"]
mod internal_records_check;

use std::collections::BTreeSet;

use bytes::Bytes;
use internal_records_check as check;
use sluice::groups::consumer::records::{
    self as consumer_records, ClassicMetadata, ConsumerKey, ConsumerValue,
};
use sluice::groups::consumer::Assignment;
use sluice::groups::record_codec::RecordError;
use sluice::groups::records;
use sluice::groups::state::{CommittedOffset, GroupSnapshot, MemberSnapshot};
use sluice::share::records::{self as share_records, ShareRecordKey, ShareValue};
use sluice::txn::records::{self as txn_records, TxnStatus, TxnValue};

/// Which decoder a valid record is for.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Offset,
    Group,
    Consumer(i16),
    Share(i16),
    Txn,
}

struct Valid {
    kind: Kind,
    key: Bytes,
    value: Bytes,
}

fn assignment(parts: &[i32]) -> Assignment {
    let mut a = Assignment::new();
    a.insert(check::TOPIC_ID, parts.iter().copied().collect());
    a
}

/// A valid record of every type the decoders read, with fields that exercise every branch
/// (nulls and values, tags, nested arrays).
fn valid() -> Vec<Valid> {
    let mut out = Vec::new();
    let mut push = |kind, key: Bytes, value: Bytes| out.push(Valid { kind, key, value });
    let offset = CommittedOffset {
        offset: 42,
        leader_epoch: 5,
        metadata: "meta".into(),
        commit_timestamp_ms: 9,
        expire_timestamp_ms: None,
    };
    push(
        Kind::Offset,
        records::offset_key("g", "t", 0),
        records::offset_value(&offset),
    );
    push(
        Kind::Offset,
        records::offset_key("g", "t", 1),
        records::offset_value(&CommittedOffset {
            leader_epoch: -1,
            expire_timestamp_ms: Some(100),
            ..offset
        }),
    );
    let member = |id: &str, instance: Option<&str>| MemberSnapshot {
        id: id.into(),
        instance_id: instance.map(Into::into),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        subscription: Bytes::from_static(b"sub"),
        assignment: Bytes::from_static(b"asg"),
    };
    push(
        Kind::Group,
        records::group_key("g"),
        records::group_value(&GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: 1_700_000_000_000,
            members: vec![member("m1", Some("i1")), member("m2", None)],
        }),
    );
    let consumer = [
        (ConsumerKey::Metadata, ConsumerValue::Metadata { epoch: 3 }),
        (
            ConsumerKey::PartitionMetadata,
            ConsumerValue::PartitionMetadata(
                [(check::TOPIC_ID, ("t".to_string(), 3))]
                    .into_iter()
                    .collect(),
            ),
        ),
        (
            ConsumerKey::Member("m1".into()),
            ConsumerValue::Member(consumer_records::MemberMetadata {
                instance_id: Some("i1".into()),
                rack_id: Some("r".into()),
                client_id: "c".into(),
                client_host: "h".into(),
                topic_names: vec!["t".into(), "u".into()],
                topic_regex: Some("t.*".into()),
                rebalance_timeout_ms: 1_000,
                server_assignor: Some("range".into()),
                classic: Some(ClassicMetadata {
                    session_timeout_ms: 10_000,
                    protocols: vec![("range".into(), Bytes::from_static(b"md"))],
                }),
            }),
        ),
        (
            ConsumerKey::TargetMetadata,
            ConsumerValue::TargetMetadata { epoch: 3 },
        ),
        (
            ConsumerKey::TargetMember("m1".into()),
            ConsumerValue::TargetMember(assignment(&[0, 2])),
        ),
        (
            ConsumerKey::CurrentAssignment("m1".into()),
            ConsumerValue::CurrentAssignment(consumer_records::CurrentAssignment {
                epoch: 3,
                previous_epoch: 2,
                state: consumer_records::STATE_UNREVOKED,
                assigned: assignment(&[0]),
                revoking: assignment(&[2]),
            }),
        ),
    ];
    for (k, v) in consumer {
        let t = k.record_type();
        push(
            Kind::Consumer(t),
            consumer_records::key("cg", &k),
            consumer_records::value(&v),
        );
    }
    let share = [
        (
            ShareRecordKey::Member("m1".into()),
            ShareValue::Member(share_records::MemberMetadata {
                rack_id: Some("r".into()),
                client_id: "c".into(),
                client_host: "h".into(),
                topics: vec!["t".into()],
            }),
        ),
        (
            ShareRecordKey::Metadata,
            ShareValue::Metadata {
                epoch: 4,
                metadata_hash: 0,
            },
        ),
        (
            ShareRecordKey::TargetMetadata,
            ShareValue::TargetMetadata { epoch: 4 },
        ),
        (
            ShareRecordKey::TargetMember("m1".into()),
            ShareValue::TargetMember(assignment(&[1])),
        ),
        (
            ShareRecordKey::CurrentAssignment("m1".into()),
            ShareValue::CurrentAssignment(share_records::CurrentAssignment {
                epoch: 4,
                previous_epoch: 3,
                state: share_records::STATE_STABLE,
                assigned: assignment(&[1]),
            }),
        ),
        (
            ShareRecordKey::StatePartitions,
            ShareValue::StatePartitions(vec![share_records::TopicPartitions {
                id: check::TOPIC_ID,
                name: "t".into(),
                partitions: [0, 1].into_iter().collect(),
            }]),
        ),
    ];
    for (k, v) in share {
        let t = k.record_type();
        push(
            Kind::Share(t),
            share_records::key("sg", &k),
            share_records::value(&v),
        );
    }
    push(
        Kind::Txn,
        txn_records::key("tx"),
        txn_records::value(&TxnValue {
            producer_id: 7,
            producer_epoch: 3,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: [
                ("a".to_string(), 1),
                ("a".to_string(), 0),
                ("b".to_string(), 2),
            ]
            .into_iter()
            .collect::<BTreeSet<_>>(),
            last_update_ms: 11,
            start_ms: 10,
        }),
    );
    out
}

/// Does the decoder `kind` is for accept `key` and `value`?
fn decodes(kind: Kind, key: &[u8], value: &[u8]) -> (bool, bool) {
    match kind {
        Kind::Offset => (
            records::decode_key(key).is_ok(),
            records::decode_offset_value(value).is_ok(),
        ),
        Kind::Group => (
            records::decode_key(key).is_ok(),
            records::decode_group_value(value).is_ok(),
        ),
        Kind::Consumer(t) => (
            records::decode_key(key).is_ok(),
            consumer_records::decode_value(t, value).is_ok(),
        ),
        Kind::Share(t) => (
            records::decode_key(key).is_ok(),
            share_records::decode_value(t, value).is_ok(),
        ),
        Kind::Txn => (
            txn_records::decode_key(key).is_ok(),
            txn_records::decode_value(value).is_ok(),
        ),
    }
}

#[test]
fn valid_records_round_trip_and_every_prefix_is_refused() {
    let valid = valid();
    for v in &valid {
        assert_eq!(
            decodes(v.kind, &v.key, &v.value),
            (true, true),
            "{:?}",
            v.kind
        );
        // Round trip (asserted inside), and the record through replay and restore.
        check::record(&v.key, Some(&v.value[..]));
        check::record(&v.key, None);
        for cut in 0..v.key.len() {
            assert!(
                !decodes(v.kind, &v.key[..cut], &v.value).0,
                "{:?} key cut at {cut}",
                v.kind
            );
            check::record(&v.key[..cut], Some(&v.value[..]));
        }
        for cut in 0..v.value.len() {
            assert!(
                !decodes(v.kind, &v.key, &v.value[..cut]).1,
                "{:?} value cut at {cut}",
                v.kind
            );
            check::record(&v.key, Some(&v.value[..cut]));
        }
    }
    // The `__consumer_offsets` ones replay into three groups (g, cg, sg) with nothing skipped.
    let offsets: Vec<(Bytes, Option<Bytes>)> = valid
        .iter()
        .filter(|v| !matches!(v.kind, Kind::Txn))
        .map(|v| (v.key.clone(), Some(v.value.clone())))
        .collect();
    assert_eq!(check::sequence(&offsets), check::Kept { groups: 3, bad: 0 });
    // Tombstones of every key delete, and are not errors.
    let mut with_tombstones = offsets.clone();
    with_tombstones.extend(offsets.iter().map(|(k, _)| (k.clone(), None)));
    assert_eq!(check::sequence(&with_tombstones).bad, 0);
}

/// Every 4-byte field of each valid value set to a hostile count or length, and every byte
/// set to a varint that never ends or a negative length's first byte: each must decode to an
/// error or to a value that round-trips (asserted in `check::record`), quickly.
#[test]
fn extreme_counts_and_lengths_are_refused_or_round_trip() {
    let started = std::time::Instant::now();
    for v in valid() {
        for at in 0..v.value.len() {
            for word in [i32::MAX, i32::MIN, -1, -2, 0x7fff_0000, 0x00ff_ffff] {
                let mut b = v.value.to_vec();
                let end = (at + 4).min(b.len());
                b[at..end].copy_from_slice(&word.to_be_bytes()[..end - at]);
                check::record(&v.key, Some(&b[..]));
            }
            for byte in [0xff, 0x80, 0x00, 0x7f] {
                let mut b = v.value.to_vec();
                b[at] = byte;
                check::record(&v.key, Some(&b[..]));
            }
            // A run of continuation bytes: an 11-byte varint, and u64::MAX as a count.
            let mut b = v.value[..at].to_vec();
            b.extend([0xff; 11]);
            check::record(&v.key, Some(&b[..]));
            let mut b = v.value[..at].to_vec();
            b.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
            check::record(&v.key, Some(&b[..]));
        }
        for at in 0..v.key.len() {
            for word in [i16::MAX, i16::MIN, -1, -2] {
                let mut k = v.key.to_vec();
                let end = (at + 2).min(k.len());
                k[at..end].copy_from_slice(&word.to_be_bytes()[..end - at]);
                check::record(&k, Some(&v.value[..]));
            }
        }
    }
    // Named cases, each an error rather than an allocation of what it claims.
    let mut group = vec![0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    group.extend(0i64.to_be_bytes());
    group.extend(i32::MAX.to_be_bytes());
    assert_eq!(
        records::decode_group_value(&group),
        Err(RecordError::InvalidLength)
    );
    group.truncate(group.len() - 4);
    group.extend((-1i32).to_be_bytes());
    assert_eq!(
        records::decode_group_value(&group),
        Err(RecordError::InvalidLength)
    );
    assert_eq!(
        records::decode_key(&[0, 1, 0xff, 0xfe]),
        Err(RecordError::InvalidLength)
    );
    assert_eq!(
        records::decode_key(&[0, 1, 0x7f, 0xff]),
        Err(RecordError::Truncated)
    );
    let huge_varint = [
        0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    for t in 3..=8 {
        assert!(
            consumer_records::decode_value(t, &huge_varint).is_err(),
            "type {t}"
        );
    }
    for t in 10..=15 {
        assert!(
            share_records::decode_value(t, &huge_varint).is_err(),
            "type {t}"
        );
    }
    let mut txn = vec![0, 0];
    txn.extend([0; 8 + 2 + 4]);
    txn.push(1);
    txn.extend(i32::MAX.to_be_bytes());
    assert!(txn_records::decode_value(&txn).is_err());
    txn.extend([0, 1, b't']);
    txn.extend(i32::MAX.to_be_bytes());
    assert!(txn_records::decode_value(&txn).is_err());
    assert!(txn_records::decode_key(&[0, 0, 0xff, 0xfe]).is_err());
    eprintln!("extreme inputs checked in {:?}", started.elapsed());
}

/// A small deterministic generator (xorshift64*): the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Inputs per form below: enough to reach each decoder's branches many times, a fraction of
/// a second in a release build.
const RANDOM_INPUTS: usize = 20_000;

#[test]
fn pseudo_random_and_mutated_inputs_never_panic() {
    let started = std::time::Instant::now();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let valid = valid();
    // Random bytes in every mode of the check.
    for _ in 0..RANDOM_INPUTS {
        let len = rng.below(256);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check::check(&data);
    }
    // Valid records with 1-4 mutations (a byte set, bit flipped, inserted or removed).
    for _ in 0..RANDOM_INPUTS {
        let v = &valid[rng.below(valid.len())];
        let mut key = v.key.to_vec();
        let mut value = v.value.to_vec();
        for _ in 0..=rng.below(4) {
            let target = if rng.below(4) == 0 {
                &mut key
            } else {
                &mut value
            };
            let at = rng.below(target.len() + 1);
            match rng.below(4) {
                0 if at < target.len() => target[at] = rng.next() as u8,
                1 if at < target.len() => target[at] ^= 1 << rng.below(8),
                2 => target.insert(at, rng.next() as u8),
                _ if at < target.len() => {
                    target.remove(at);
                }
                _ => {}
            }
        }
        check::record(&key, Some(&value[..]));
    }
    // Sequences of valid and mutated records, tombstones among them, through replay.
    for _ in 0..RANDOM_INPUTS / 10 {
        let recs: Vec<(Bytes, Option<Bytes>)> = (0..rng.below(12))
            .map(|_| {
                let v = &valid[rng.below(valid.len())];
                let mut value = v.value.to_vec();
                if rng.below(3) == 0 && !value.is_empty() {
                    let at = rng.below(value.len());
                    value[at] = rng.next() as u8;
                }
                (
                    v.key.clone(),
                    (rng.below(5) != 0).then(|| Bytes::from(value)),
                )
            })
            .collect();
        check::sequence(&recs);
        let mut as_batches = vec![3u8];
        as_batches.extend(check::encode_records(&recs));
        check::check(&as_batches);
    }
    eprintln!("random inputs checked in {:?}", started.elapsed());
}

/// Batches as Sluice writes them replay record for record (asserted in the check); cut
/// anywhere, they are refused or read whole; resealed with a record count of i32::MAX (a
/// batch another writer could store with a valid CRC), they are refused without the
/// allocation kafka-protocol's decoder makes for it.
#[test]
fn stored_batches_replay_and_hostile_ones_are_refused() {
    let valid = valid();
    let recs: Vec<(Bytes, Option<Bytes>)> = valid
        .iter()
        .map(|v| (v.key.clone(), Some(v.value.clone())))
        .collect();
    let input = check::encode_records(&recs);
    check::built_batches(&input);
    // One plain batch of every record, as a log read returns it.
    let new: Vec<sluice_client::records::NewRecord> = recs
        .iter()
        .map(|(k, v)| sluice_client::records::NewRecord {
            key: Some(k.clone()),
            value: v.clone(),
            headers: Vec::new(),
            timestamp: 1,
        })
        .collect();
    let batch =
        sluice_client::records::encode_batch(&new, sluice_client::records::Compression::None)
            .unwrap()
            .to_vec();
    let seen = check::replay_all(&Bytes::from(batch.clone())).unwrap();
    assert_eq!(seen.len(), recs.len());
    for cut in 0..batch.len() {
        let r = check::replay_all(&Bytes::copy_from_slice(&batch[..cut]));
        assert_eq!(r.map(|s| s.len()), (cut == 0).then_some(0), "cut at {cut}");
    }
    let mut lying = batch.clone();
    lying[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes()); // last offset delta
    lying[57..61].copy_from_slice(&i32::MAX.to_be_bytes()); // record count
    check::reseal_all(&mut lying);
    assert_eq!(
        check::replay_all(&Bytes::from(lying)).map(|s| s.len()),
        None
    );
    // Each header byte set to an extreme, resealed: refused or replayed, never a panic.
    for at in 0..61 {
        for byte in [0x00, 0x7f, 0x80, 0xff] {
            let mut b = batch.clone();
            b[at] = byte;
            check::reseal_all(&mut b);
            let _ = check::replay_all(&Bytes::from(b));
        }
    }
}

/// Found by reading the decoders while writing the fuzz target (FUZZING.md, "internal
/// records" finding 1): a KIP-848 member record whose client id is longer than Kafka allows
/// (32,767 bytes) was accepted; restored, its member's strings reach the classic group value a
/// downgrade writes, whose i16-length writer asserts they fit: on the broker, a panic in the
/// coordinator's timer task, which ends the shard. Now the record is refused and skipped.
#[test]
fn a_member_with_a_client_id_past_kafkas_limit_is_skipped_not_downgraded_into_a_panic() {
    let member = |client_id: String, session_timeout_ms: i32| {
        consumer_records::value(&ConsumerValue::Member(consumer_records::MemberMetadata {
            client_id,
            client_host: "h".into(),
            topic_names: vec!["t".into()],
            rebalance_timeout_ms: 1_000,
            classic: Some(ClassicMetadata {
                session_timeout_ms,
                protocols: vec![("range".into(), Bytes::new())],
            }),
            ..consumer_records::MemberMetadata::default()
        }))
    };
    let group = |client_id_bytes: usize| {
        vec![
            (
                consumer_records::key("g", &ConsumerKey::Metadata),
                Some(consumer_records::value(&ConsumerValue::Metadata {
                    epoch: 1,
                })),
            ),
            // Expires first: its fencing leaves only `b`, a classic member, so the group is
            // downgraded and written as a classic group with b's client id.
            (
                consumer_records::key("g", &ConsumerKey::Member("a".into())),
                Some(member("c".into(), 1)),
            ),
            (
                consumer_records::key("g", &ConsumerKey::Member("b".into())),
                Some(member("x".repeat(client_id_bytes), 1_000_000)),
            ),
        ]
    };
    // At the limit: replayed, restored, downgraded and written.
    assert_eq!(
        check::sequence(&group(32_767)),
        check::Kept { groups: 1, bad: 0 }
    );
    // Past it: the record is skipped (before the fix, this panicked in the downgrade).
    assert_eq!(
        check::sequence(&group(32_768)),
        check::Kept { groups: 1, bad: 1 }
    );
}

/// Finding R3 (FUZZING.md): an epoch or generation of i32::MAX replayed from a record
/// overflowed on the next bump: `+= 1` panics with overflow checks (this debug build, the
/// fuzz build; on the broker, inside the coordinator's timer task) and wraps to a negative
/// epoch in release. Each kind of group is replayed from its records at i32::MAX - 1 and at
/// i32::MAX and driven through a bump (a member's session running out): the first must reach
/// i32::MAX (so the bump did run), the second must stay there.
#[test]
fn epochs_and_generations_replayed_at_i32_max_saturate_on_the_next_bump() {
    use std::collections::BTreeMap;

    use sluice::groups::consumer::group::{ConsumerGroup, TopicInfo, TopicsView};
    use sluice::groups::consumer::records::MemberMetadata;
    use sluice::groups::coordinator::PartitionReplay;
    use sluice::groups::state::Group;
    use sluice::groups::types::Now;
    use sluice::groups::GroupConfig;
    use sluice::share::group::ShareGroup;

    let replay = |recs: &[(Bytes, Option<Bytes>)]| {
        let mut r = PartitionReplay::default();
        for (k, v) in recs {
            r.apply(k, v.as_deref());
        }
        assert_eq!(r.bad, 0);
        r
    };
    let now = Now {
        mono_ms: 1_000,
        wall_ms: 1_700_000_000_000,
    };
    let topics: BTreeMap<String, TopicInfo> = [(
        check::TOPIC.to_string(),
        TopicInfo {
            id: check::TOPIC_ID,
            partitions: 3,
            internal: false,
        },
    )]
    .into();
    let view = TopicsView {
        version: 1,
        topics: &topics,
    };
    for (stored, next) in [(i32::MAX - 1, i32::MAX), (i32::MAX, i32::MAX)] {
        // A KIP-848 consumer group: its member's session runs out (`remove_member`).
        let recs = [
            (
                consumer_records::key("cg", &ConsumerKey::Metadata),
                Some(consumer_records::value(&ConsumerValue::Metadata {
                    epoch: stored,
                })),
            ),
            (
                consumer_records::key("cg", &ConsumerKey::Member("m".into())),
                Some(consumer_records::value(&ConsumerValue::Member(
                    MemberMetadata {
                        client_id: "c".into(),
                        client_host: "h".into(),
                        topic_names: vec![check::TOPIC.into()],
                        rebalance_timeout_ms: 1_000,
                        ..MemberMetadata::default()
                    },
                ))),
            ),
        ];
        let mut r = replay(&recs);
        let cg = r.groups.remove("cg").unwrap();
        let mut g = ConsumerGroup::restore(cg.consumer, &view, 45_000, now.mono_ms);
        assert_eq!(g.group_epoch, stored);
        assert!(g.tick(now.mono_ms + 45_000), "the member expired");
        assert_eq!(g.group_epoch, next, "consumer group from {stored}");
        let _ = g.records("cg");
        // The same records through the fuzz check's whole restore.
        check::sequence(&recs);

        // A classic group: its member's session runs out, the rebalance completes with no
        // one left (`complete_join`'s generation bump).
        let member = MemberSnapshot {
            id: "m".into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1_000,
            session_timeout_ms: 1_000,
            protocol_type: "consumer".into(),
            subscription: Bytes::new(),
            assignment: Bytes::new(),
        };
        let recs = [(
            records::group_key("g"),
            Some(records::group_value(&GroupSnapshot {
                protocol_type: "consumer".into(),
                generation: stored,
                protocol: Some("range".into()),
                leader: Some("m".into()),
                state_timestamp_ms: now.wall_ms,
                members: vec![member],
            })),
        )];
        let mut r = replay(&recs);
        let meta = r.groups.remove("g").unwrap().meta.unwrap();
        let mut g = Group::from_snapshot("g", GroupConfig::default(), meta, now);
        assert_eq!(g.generation(), stored);
        for mono_ms in [now.mono_ms + 10_000, now.mono_ms + 20_000] {
            g.tick(Now { mono_ms, ..now });
        }
        assert!(g.snapshot(None).members.is_empty(), "the member expired");
        assert_eq!(g.generation(), next, "classic group from {stored}");
        let _ = records::group_value(&g.snapshot(None));
        check::sequence(&recs);

        // A share group: its member's session runs out (`expire_members`).
        let recs = [
            (
                share_records::key("sg", &ShareRecordKey::Metadata),
                Some(share_records::value(&ShareValue::Metadata {
                    epoch: stored,
                    metadata_hash: 0,
                })),
            ),
            (
                share_records::key("sg", &ShareRecordKey::Member("m".into())),
                Some(share_records::value(&ShareValue::Member(
                    share_records::MemberMetadata {
                        rack_id: None,
                        client_id: "c".into(),
                        client_host: "h".into(),
                        topics: vec![check::TOPIC.into()],
                    },
                ))),
            ),
        ];
        let mut r = replay(&recs);
        let sg = r.groups.remove("sg").unwrap();
        let names = |id: &uuid::Uuid| (*id == check::TOPIC_ID).then(|| check::TOPIC.to_string());
        let (mut g, _, _) = ShareGroup::restore("sg", sg.share, &names, now.mono_ms);
        assert_eq!(g.epoch, stored);
        assert_eq!(g.expire_members(now.mono_ms + 45_000, 45_000), vec!["m"]);
        assert_eq!(g.epoch, next, "share group from {stored}");
        check::sequence(&recs);
    }
}
