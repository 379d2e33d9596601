//! The `__consumer_offsets` records of share groups, in Kafka 4.2's byte layouts (its group
//! coordinator's `ShareGroup*Key` / `ShareGroup*Value` schemas, KIP-932), so the topic reads
//! like Kafka's. Pure encoding and bounded decoding; no I/O. The key and value encodings are
//! the consumer groups' (`groups::consumer::records`): a key is the record type i16, the group
//! `string` and, for per-member records, the member `string`; a value is version i16 (0) then
//! Kafka's flexible encoding (`cstring`, `carray`, `uuid`, tagged fields; `groups::record_codec`).
//!
//! | type | record                                | key after the type           |
//! |------|---------------------------------------|------------------------------|
//! | 10   | ShareGroupMemberMetadata              | group string · member string |
//! | 11   | ShareGroupMetadata                    | group string                 |
//! | 12   | ShareGroupTargetAssignmentMetadata    | group string                 |
//! | 13   | ShareGroupTargetAssignmentMember      | group string · member string |
//! | 14   | ShareGroupCurrentMemberAssignment     | group string · member string |
//! | 15   | ShareGroupStatePartitionMetadata      | group string                 |
//!
//! | type | value fields (in order)                                                           |
//! |------|-----------------------------------------------------------------------------------|
//! | 10   | rack id cstring? · client id cstring · client host cstring · subscribed topic names carray of cstring · tags |
//! | 11   | epoch i32 · metadata hash i64 · tags                                              |
//! | 12   | assignment epoch i32 · tags                                                       |
//! | 13   | partitions carray of { topic id uuid · partitions carray of i32 · tags } · tags   |
//! | 14   | member epoch i32 · previous epoch i32 · state i8 · assigned (as 13's) · tags      |
//! | 15   | initializing, initialized: carray of { topic id uuid · name cstring · partitions carray of i32 · create time i64 · tags } · deleting carray of { topic id uuid · name cstring · tags } · tags |
//!
//! A null value is a tombstone: the member left, or the group was deleted. Type 9 (the old
//! ShareGroupPartitionMetadata, replaced by record 11's hash) is neither written nor read.
//! Sluice writes metadata hash 0 (it does not hash topic metadata: a topic change is seen by
//! the next heartbeat) and no initializing or deleting topics (a share-partition is
//! initialized on its owner before the coordinator records it).

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes};
use uuid::Uuid;

use crate::groups::consumer::Assignment;
use crate::groups::record_codec::{
    group_record_key, put_assignment, put_cstring, put_len, put_no_tags, put_nullable_cstring,
    start, Reader, RecordError,
};

pub const MEMBER_METADATA: i16 = 10;
pub const GROUP_METADATA: i16 = 11;
pub const TARGET_METADATA: i16 = 12;
pub const TARGET_MEMBER: i16 = 13;
pub const CURRENT_ASSIGNMENT: i16 = 14;
pub const STATE_PARTITION_METADATA: i16 = 15;

/// Kafka's `MemberState.STABLE`: a share member has no revocation to wait for.
pub const STATE_STABLE: i8 = 0;

/// A share-group record's key, past the group id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShareRecordKey {
    Member(String),
    Metadata,
    TargetMetadata,
    TargetMember(String),
    CurrentAssignment(String),
    StatePartitions,
}

impl ShareRecordKey {
    pub fn record_type(&self) -> i16 {
        match self {
            ShareRecordKey::Member(_) => MEMBER_METADATA,
            ShareRecordKey::Metadata => GROUP_METADATA,
            ShareRecordKey::TargetMetadata => TARGET_METADATA,
            ShareRecordKey::TargetMember(_) => TARGET_MEMBER,
            ShareRecordKey::CurrentAssignment(_) => CURRENT_ASSIGNMENT,
            ShareRecordKey::StatePartitions => STATE_PARTITION_METADATA,
        }
    }

    /// Is `t` a share-group record type?
    pub fn is_share(t: i16) -> bool {
        (MEMBER_METADATA..=STATE_PARTITION_METADATA).contains(&t)
    }

    /// Does a key of record type `t` carry a member id after the group id?
    pub fn has_member(t: i16) -> bool {
        matches!(t, MEMBER_METADATA | TARGET_MEMBER | CURRENT_ASSIGNMENT)
    }

    /// The key of record type `t` (10–15) with its member id (for 10, 13, 14).
    pub fn from_type(t: i16, member: Option<String>) -> Result<ShareRecordKey, RecordError> {
        Ok(match (t, member) {
            (MEMBER_METADATA, Some(m)) => ShareRecordKey::Member(m),
            (GROUP_METADATA, None) => ShareRecordKey::Metadata,
            (TARGET_METADATA, None) => ShareRecordKey::TargetMetadata,
            (TARGET_MEMBER, Some(m)) => ShareRecordKey::TargetMember(m),
            (CURRENT_ASSIGNMENT, Some(m)) => ShareRecordKey::CurrentAssignment(m),
            (STATE_PARTITION_METADATA, None) => ShareRecordKey::StatePartitions,
            (t, _) => return Err(RecordError::UnknownKeyVersion(t)),
        })
    }
}

/// Record 10: who a member is and what it subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadata {
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topics: Vec<String>,
}

/// Record 14: the epoch and partitions a member was last told.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentAssignment {
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: i8,
    pub assigned: Assignment,
}

/// One topic's partitions in record 15.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    pub id: Uuid,
    pub name: String,
    pub partitions: BTreeSet<i32>,
}

/// One decoded share-group value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareValue {
    Member(MemberMetadata),
    Metadata {
        epoch: i32,
        metadata_hash: i64,
    },
    TargetMetadata {
        epoch: i32,
    },
    TargetMember(Assignment),
    CurrentAssignment(CurrentAssignment),
    /// The share-partitions initialized on their owners (record 15's initialized topics;
    /// initializing and deleting topics are read and dropped).
    StatePartitions(Vec<TopicPartitions>),
}

pub fn key(group: &str, k: &ShareRecordKey) -> Bytes {
    let member = match k {
        ShareRecordKey::Member(m)
        | ShareRecordKey::TargetMember(m)
        | ShareRecordKey::CurrentAssignment(m) => Some(m.as_str()),
        ShareRecordKey::Metadata
        | ShareRecordKey::TargetMetadata
        | ShareRecordKey::StatePartitions => None,
    };
    group_record_key(k.record_type(), group, member)
}

pub fn value(v: &ShareValue) -> Bytes {
    // `start` writes the value version, `record_codec::VALUE_VERSION`.
    let mut b = start();
    match v {
        ShareValue::Member(m) => {
            put_nullable_cstring(&mut b, m.rack_id.as_deref());
            put_cstring(&mut b, &m.client_id);
            put_cstring(&mut b, &m.client_host);
            put_len(&mut b, m.topics.len());
            for t in &m.topics {
                put_cstring(&mut b, t);
            }
        }
        ShareValue::Metadata {
            epoch,
            metadata_hash,
        } => {
            b.put_i32(*epoch);
            b.put_i64(*metadata_hash);
        }
        ShareValue::TargetMetadata { epoch } => b.put_i32(*epoch),
        ShareValue::TargetMember(a) => put_assignment(&mut b, a),
        ShareValue::CurrentAssignment(c) => {
            b.put_i32(c.epoch);
            b.put_i32(c.previous_epoch);
            b.put_i8(c.state);
            put_assignment(&mut b, &c.assigned);
        }
        ShareValue::StatePartitions(initialized) => {
            put_len(&mut b, 0); // initializing
            put_len(&mut b, initialized.len());
            for t in initialized {
                b.put_slice(t.id.as_bytes());
                put_cstring(&mut b, &t.name);
                put_len(&mut b, t.partitions.len());
                for p in &t.partitions {
                    b.put_i32(*p);
                }
                b.put_i64(0); // create timestamp: only meaningful while initializing
                put_no_tags(&mut b);
            }
            put_len(&mut b, 0); // deleting
        }
    }
    put_no_tags(&mut b);
    b.freeze()
}

/// Record 15's topic-partitions array.
fn topic_partitions(r: &mut Reader<'_>) -> Result<Vec<TopicPartitions>, RecordError> {
    // Smallest topic: uuid, empty name, empty partitions, create time, no tags.
    let n = r.count(16 + 1 + 1 + 8 + 1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.uuid()?;
        let name = r.cstring()?;
        let np = r.count(4)?;
        let mut partitions = BTreeSet::new();
        for _ in 0..np {
            partitions.insert(r.i32()?);
        }
        r.i64()?;
        r.skip_tags()?;
        out.push(TopicPartitions {
            id,
            name,
            partitions,
        });
    }
    Ok(out)
}

/// Decode the value of a record of type `record_type` (10–15).
pub fn decode_value(record_type: i16, value: &[u8]) -> Result<ShareValue, RecordError> {
    let mut r = Reader::flexible_value(value)?;
    let v = match record_type {
        MEMBER_METADATA => {
            let rack_id = r.nullable_cstring()?;
            let client_id = r.cstring()?;
            let client_host = r.cstring()?;
            let n = r.count(1)?;
            let mut topics = Vec::with_capacity(n);
            for _ in 0..n {
                topics.push(r.cstring()?);
            }
            ShareValue::Member(MemberMetadata {
                rack_id,
                client_id,
                client_host,
                topics,
            })
        }
        GROUP_METADATA => ShareValue::Metadata {
            epoch: r.i32()?,
            metadata_hash: r.i64()?,
        },
        TARGET_METADATA => ShareValue::TargetMetadata { epoch: r.i32()? },
        TARGET_MEMBER => ShareValue::TargetMember(r.assignment()?),
        CURRENT_ASSIGNMENT => ShareValue::CurrentAssignment(CurrentAssignment {
            epoch: r.i32()?,
            previous_epoch: r.i32()?,
            state: r.i8()?,
            assigned: r.assignment()?,
        }),
        STATE_PARTITION_METADATA => {
            topic_partitions(&mut r)?;
            let initialized = topic_partitions(&mut r)?;
            // Deleting: smallest topic is a uuid, an empty name, no tags.
            let n = r.count(16 + 1 + 1)?;
            for _ in 0..n {
                r.uuid()?;
                r.cstring()?;
                r.skip_tags()?;
            }
            ShareValue::StatePartitions(initialized)
        }
        t => return Err(RecordError::UnknownKeyVersion(t)),
    };
    r.finish_flexible()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::records::{decode_key, RecordKey};

    const T: Uuid = Uuid::from_bytes([7; 16]);

    fn a(parts: &[i32]) -> Assignment {
        let mut x = Assignment::new();
        x.insert(T, parts.iter().copied().collect());
        x
    }

    #[test]
    fn keys_match_the_schema() {
        assert_eq!(
            &key("g", &ShareRecordKey::Member("m".into()))[..],
            &[0, 10, 0, 1, b'g', 0, 1, b'm']
        );
        assert_eq!(
            &key("g", &ShareRecordKey::Metadata)[..],
            &[0, 11, 0, 1, b'g']
        );
        assert_eq!(
            &key("g", &ShareRecordKey::StatePartitions)[..],
            &[0, 15, 0, 1, b'g']
        );
        for k in [
            ShareRecordKey::Member("m1".into()),
            ShareRecordKey::Metadata,
            ShareRecordKey::TargetMetadata,
            ShareRecordKey::TargetMember("m2".into()),
            ShareRecordKey::CurrentAssignment("m3".into()),
            ShareRecordKey::StatePartitions,
        ] {
            assert_eq!(
                decode_key(&key("grp", &k)),
                Ok(RecordKey::Share {
                    group: "grp".into(),
                    key: k
                })
            );
        }
        // Type 9 (4.0's ShareGroupPartitionMetadata) is not a record Sluice reads.
        assert!(decode_key(&[0, 9, 0, 1, b'g']).is_err());
    }

    #[test]
    fn values_match_the_schema_and_round_trip() {
        // version 0 · epoch 5 · hash 0 · no tags
        let v = value(&ShareValue::Metadata {
            epoch: 5,
            metadata_hash: 0,
        });
        assert_eq!(&v[..], &[0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let m = ShareValue::Member(MemberMetadata {
            rack_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            topics: vec!["t".into()],
        });
        let v = value(&m);
        // version · null rack · "c" · "h" · ["t"] · no tags
        assert_eq!(&v[..], &[0, 0, 0, 2, b'c', 2, b'h', 2, 2, b't', 0]);
        let values = [
            m,
            ShareValue::TargetMetadata { epoch: 300 },
            ShareValue::TargetMember(a(&[0, 2])),
            ShareValue::CurrentAssignment(CurrentAssignment {
                epoch: 4,
                previous_epoch: 3,
                state: STATE_STABLE,
                assigned: a(&[1]),
            }),
            ShareValue::StatePartitions(vec![TopicPartitions {
                id: T,
                name: "t".into(),
                partitions: [0, 1].into_iter().collect(),
            }]),
        ];
        for (t, v) in [
            MEMBER_METADATA,
            TARGET_METADATA,
            TARGET_MEMBER,
            CURRENT_ASSIGNMENT,
            STATE_PARTITION_METADATA,
        ]
        .into_iter()
        .zip(values)
        {
            assert_eq!(decode_value(t, &value(&v)), Ok(v));
        }
    }

    #[test]
    fn corrupt_values_are_refused_without_allocating() {
        // A topic count of 2^28 in 4 bytes of input.
        let v = [0u8, 0, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert!(decode_value(TARGET_MEMBER, &v).is_err());
        assert!(decode_value(STATE_PARTITION_METADATA, &v).is_err());
        assert_eq!(
            decode_value(GROUP_METADATA, &[0, 1, 0, 0, 0, 5]),
            Err(RecordError::UnknownValueVersion(1))
        );
        let mut v = value(&ShareValue::TargetMetadata { epoch: 1 }).to_vec();
        v.push(9);
        assert!(decode_value(TARGET_METADATA, &v).is_err());
    }
}
