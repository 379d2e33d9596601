//! The records of `__consumer_offsets`, in Kafka's own byte layouts (so the topic reads like
//! Kafka's). All integers big-endian; `string` = i16 length + UTF-8; `nullable string` = the same
//! with length -1 for null; `bytes` = i32 length + bytes.
//!
//! Key (every record has one; its version says what the record is):
//!
//! | key version | layout                                                         | record        |
//! |-------------|----------------------------------------------------------------|---------------|
//! | 0, 1        | version i16 · group string · topic string · partition i32      | offset commit |
//! | 2           | version i16 · group string                                     | group metadata|
//! | 3–8         | type i16 · group string (· member string)                      | KIP-848 group |
//! | 10–15       | type i16 · group string (· member string)                      | share group   |
//!
//! Sluice writes key version 1 for offsets and 2 for groups (as Kafka does); a key version 0 is
//! read but never written, so a zeroed key cannot pass as a record Sluice wrote. Key types 3–8
//! are the consumer-group records, laid out in `consumer::records`; 10–15 the share-group records,
//! laid out in `share::records`.
//!
//! Offset commit value (null value = tombstone: the offset was deleted or expired):
//!
//! | version | layout                                                                           |
//! |---------|----------------------------------------------------------------------------------|
//! | 0       | version i16 · offset i64 · metadata string · timestamp i64                       |
//! | 1       | version i16 · offset i64 · metadata string · commit ts i64 · expire ts i64       |
//! | 2       | version i16 · offset i64 · metadata string · commit ts i64                       |
//! | 3       | version i16 · offset i64 · leader epoch i32 · metadata string · commit ts i64    |
//!
//! Written: v1 when the commit carries an explicit retention (OffsetCommit v2–4), else v3.
//!
//! Group metadata value (null value = tombstone: the group was deleted):
//!
//! | field                   | type            | versions |
//! |-------------------------|-----------------|----------|
//! | version                 | i16             | 0+       |
//! | protocol type           | string          | 0+       |
//! | generation              | i32             | 0+       |
//! | protocol                | nullable string | 0+       |
//! | leader                  | nullable string | 0+       |
//! | current state timestamp | i64             | 2+       |
//! | member count            | i32             | 0+       |
//! | per member: member id   | string          | 0+       |
//! | · group instance id     | nullable string | 3+       |
//! | · client id             | string          | 0+       |
//! | · client host           | string          | 0+       |
//! | · rebalance timeout     | i32             | 1+       |
//! | · session timeout       | i32             | 0+       |
//! | · subscription          | bytes           | 0+       |
//! | · assignment            | bytes           | 0+       |
//!
//! Written: v3.

use bytes::{BufMut, Bytes, BytesMut};

use super::consumer::records::ConsumerKey;
use super::record_codec::{put_string, Reader, RecordError};
use super::state::{CommittedOffset, GroupSnapshot, MemberSnapshot};
use crate::share::records::ShareRecordKey;

pub const OFFSET_KEY_VERSION: i16 = 1;
pub const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION_EXPIRING: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

/// Smallest encoding of one member in a v0 group value: three empty strings, a session timeout
/// and two empty byte arrays. Bounds the member count read off the disk.
const GROUP_MEMBER_BYTES_MIN: usize = 2 + 2 + 2 + 4 + 4 + 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    /// A KIP-848 consumer group's record (`consumer::records`).
    Consumer {
        group: String,
        key: ConsumerKey,
    },
    /// A share group's record (`share::records`).
    Share {
        group: String,
        key: ShareRecordKey,
    },
}

impl RecordKey {
    pub fn group(&self) -> &str {
        match self {
            RecordKey::Offset { group, .. }
            | RecordKey::Group { group }
            | RecordKey::Consumer { group, .. }
            | RecordKey::Share { group, .. } => group,
        }
    }
}

// --- encoding -------------------------------------------------------------------------------

/// Key/value records to append (None: a tombstone).
pub type Writes = Vec<(Bytes, Option<Bytes>)>;

/// What to append to go from the records `before` (encoded key → value, as last written) to
/// `now`: tombstones for the keys that went, then the values that are new or changed. The one
/// diff of the consumer and share groups' records.
pub fn diff(
    before: &std::collections::BTreeMap<Bytes, Bytes>,
    now: &std::collections::BTreeMap<Bytes, Bytes>,
) -> Writes {
    let mut writes: Writes = before
        .keys()
        .filter(|k| !now.contains_key(*k))
        .map(|k| (k.clone(), None))
        .collect();
    writes.extend(
        now.iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), Some(v.clone()))),
    );
    writes
}

fn put_nullable_string(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    assert!(v.len() <= i32::MAX as usize);
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + 2 + group.len() + 2 + topic.len() + 4);
    b.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut b, group);
    put_string(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + 2 + group.len());
    b.put_i16(GROUP_KEY_VERSION);
    put_string(&mut b, group);
    b.freeze()
}

pub fn offset_value(o: &CommittedOffset) -> Bytes {
    let mut b = BytesMut::with_capacity(32 + o.metadata.len());
    match o.expire_timestamp_ms {
        Some(expire) => {
            b.put_i16(OFFSET_VALUE_VERSION_EXPIRING);
            b.put_i64(o.offset);
            put_string(&mut b, &o.metadata);
            b.put_i64(o.commit_timestamp_ms);
            b.put_i64(expire);
        }
        None => {
            b.put_i16(OFFSET_VALUE_VERSION);
            b.put_i64(o.offset);
            b.put_i32(o.leader_epoch);
            put_string(&mut b, &o.metadata);
            b.put_i64(o.commit_timestamp_ms);
        }
    }
    b.freeze()
}

pub fn group_value(g: &GroupSnapshot) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut b, &g.protocol_type);
    b.put_i32(g.generation);
    put_nullable_string(&mut b, g.protocol.as_deref());
    put_nullable_string(&mut b, g.leader.as_deref());
    b.put_i64(g.state_timestamp_ms);
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_string(&mut b, &m.id);
        put_nullable_string(&mut b, m.instance_id.as_deref());
        put_string(&mut b, &m.client_id);
        put_string(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription);
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
}

// --- decoding (bounded: every length is checked against what remains) ------------------------

pub fn decode_key(key: &[u8]) -> Result<RecordKey, RecordError> {
    let mut r = Reader { buf: key };
    let version = r.i16()?;
    let k = match version {
        0 | 1 => RecordKey::Offset {
            group: r.string()?,
            topic: r.string()?,
            partition: r.i32()?,
        },
        2 => RecordKey::Group { group: r.string()? },
        3..=8 => {
            let group = r.string()?;
            let member = if ConsumerKey::has_member(version) {
                Some(r.string()?)
            } else {
                None
            };
            RecordKey::Consumer {
                group,
                key: ConsumerKey::from_type(version, member)?,
            }
        }
        t if ShareRecordKey::is_share(t) => {
            let group = r.string()?;
            let member = if ShareRecordKey::has_member(t) {
                Some(r.string()?)
            } else {
                None
            };
            RecordKey::Share {
                group,
                key: ShareRecordKey::from_type(t, member)?,
            }
        }
        v => return Err(RecordError::UnknownKeyVersion(v)),
    };
    r.finish()?;
    Ok(k)
}

pub fn decode_offset_value(value: &[u8]) -> Result<CommittedOffset, RecordError> {
    let mut r = Reader { buf: value };
    let version = r.i16()?;
    let o = match version {
        0 | 2 => CommittedOffset {
            offset: r.i64()?,
            leader_epoch: -1,
            metadata: r.string()?,
            commit_timestamp_ms: r.i64()?,
            expire_timestamp_ms: None,
        },
        1 => CommittedOffset {
            offset: r.i64()?,
            leader_epoch: -1,
            metadata: r.string()?,
            commit_timestamp_ms: r.i64()?,
            expire_timestamp_ms: Some(r.i64()?).filter(|e| *e >= 0),
        },
        3 => CommittedOffset {
            offset: r.i64()?,
            leader_epoch: r.i32()?,
            metadata: r.string()?,
            commit_timestamp_ms: r.i64()?,
            expire_timestamp_ms: None,
        },
        v => return Err(RecordError::UnknownValueVersion(v)),
    };
    r.finish()?;
    Ok(o)
}

pub fn decode_group_value(value: &[u8]) -> Result<GroupSnapshot, RecordError> {
    let mut r = Reader { buf: value };
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownValueVersion(version));
    }
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?;
    if count < 0 || count as usize > r.buf.len() / GROUP_MEMBER_BYTES_MIN {
        return Err(RecordError::InvalidLength);
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = r.string()?;
        let instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let session_timeout_ms = r.i32()?;
        let rebalance_timeout_ms = if rebalance_timeout_ms < 0 {
            session_timeout_ms
        } else {
            rebalance_timeout_ms
        };
        members.push(MemberSnapshot {
            id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocol_type: protocol_type.clone(),
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    r.finish()?;
    Ok(GroupSnapshot {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp_ms,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> GroupSnapshot {
        GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: 1_700_000_000_000,
            members: vec![
                MemberSnapshot {
                    id: "m1".into(),
                    instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 30_000,
                    session_timeout_ms: 10_000,
                    protocol_type: "consumer".into(),
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                },
                MemberSnapshot {
                    id: "m2".into(),
                    instance_id: None,
                    client_id: "c2".into(),
                    client_host: String::new(),
                    rebalance_timeout_ms: 1,
                    session_timeout_ms: 2,
                    protocol_type: "consumer".into(),
                    subscription: Bytes::new(),
                    assignment: Bytes::new(),
                },
            ],
        }
    }

    #[test]
    fn keys_round_trip_and_match_the_documented_layout() {
        let k = offset_key("g", "t", 3);
        assert_eq!(&k[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(
            decode_key(&k),
            Ok(RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3
            })
        );
        let k = group_key("grp");
        assert_eq!(&k[..], &[0, 2, 0, 3, b'g', b'r', b'p']);
        assert_eq!(
            decode_key(&k),
            Ok(RecordKey::Group {
                group: "grp".into()
            })
        );
        // Key version 0 (older Kafka) reads as an offset key.
        assert!(matches!(
            decode_key(&[0, 0, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]),
            Ok(RecordKey::Offset { .. })
        ));
    }

    #[test]
    fn offset_values_round_trip_and_match_the_layout() {
        let o = CommittedOffset {
            offset: 42,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp_ms: 9,
            expire_timestamp_ms: None,
        };
        let v = offset_value(&o);
        #[rustfmt::skip]
        let want = [
            0, 3,                       // version 3
            0, 0, 0, 0, 0, 0, 0, 42,    // offset
            0, 0, 0, 5,                 // leader epoch
            0, 1, b'm',                 // metadata
            0, 0, 0, 0, 0, 0, 0, 9,     // commit timestamp
        ];
        assert_eq!(&v[..], &want);
        assert_eq!(decode_offset_value(&v), Ok(o.clone()));
        let expiring = CommittedOffset {
            leader_epoch: -1,
            expire_timestamp_ms: Some(100),
            ..o
        };
        let v = offset_value(&expiring);
        assert_eq!(&v[..2], &[0, 1]);
        assert_eq!(v.len(), 2 + 8 + 3 + 8 + 8);
        assert_eq!(decode_offset_value(&v), Ok(expiring));
        // v0 / v2 as older Kafka wrote them.
        let mut v2 = vec![0, 2];
        v2.extend_from_slice(&7i64.to_be_bytes());
        v2.extend_from_slice(&[0, 0]);
        v2.extend_from_slice(&8i64.to_be_bytes());
        let o2 = decode_offset_value(&v2).unwrap();
        assert_eq!(
            (o2.offset, o2.commit_timestamp_ms, o2.leader_epoch),
            (7, 8, -1)
        );
    }

    #[test]
    fn group_value_round_trips() {
        let s = snapshot();
        let v = group_value(&s);
        assert_eq!(&v[..2], &[0, 3]);
        assert_eq!(decode_group_value(&v), Ok(s));
        let empty = GroupSnapshot {
            protocol: None,
            leader: None,
            members: vec![],
            ..snapshot()
        };
        assert_eq!(decode_group_value(&group_value(&empty)), Ok(empty));
    }

    #[test]
    fn group_value_v0_layout() {
        // version 0: no state timestamp, no instance id, no rebalance timeout.
        let mut b = BytesMut::new();
        b.put_i16(0);
        put_string(&mut b, "consumer");
        b.put_i32(3);
        put_nullable_string(&mut b, Some("range"));
        put_nullable_string(&mut b, Some("m"));
        b.put_i32(1);
        put_string(&mut b, "m");
        put_string(&mut b, "c");
        put_string(&mut b, "h");
        b.put_i32(6000);
        put_bytes(&mut b, b"s");
        put_bytes(&mut b, b"a");
        let g = decode_group_value(&b).unwrap();
        assert_eq!(g.generation, 3);
        assert_eq!(g.state_timestamp_ms, -1);
        assert_eq!(g.members[0].session_timeout_ms, 6000);
        assert_eq!(g.members[0].rebalance_timeout_ms, 6000);
        assert_eq!(g.members[0].instance_id, None);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let v = group_value(&snapshot());
        for cut in 0..v.len() {
            assert!(decode_group_value(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = v.to_vec();
        extra.push(0);
        assert_eq!(decode_group_value(&extra), Err(RecordError::TrailingBytes));
        // A member count far beyond the bytes present is refused before allocating.
        let mut b = BytesMut::new();
        b.put_i16(3);
        put_string(&mut b, "");
        b.put_i32(0);
        b.put_i16(-1);
        b.put_i16(-1);
        b.put_i64(0);
        b.put_i32(i32::MAX);
        assert_eq!(decode_group_value(&b), Err(RecordError::InvalidLength));
        let k = offset_key("g", "t", 1);
        for cut in 0..k.len() {
            assert!(decode_key(&k[..cut]).is_err());
        }
        assert_eq!(decode_key(&[0, 9]), Err(RecordError::UnknownKeyVersion(9)));
        // Consumer-group key types: member ones carry a member id, group ones don't.
        assert!(decode_key(&[0, 5, 0, 1, b'g']).is_err());
        assert!(decode_key(&[0, 3, 0, 1, b'g', 0, 1, b'm']).is_err());
        assert_eq!(decode_key(&[0, 0]), Err(RecordError::Truncated));
        assert_eq!(
            decode_offset_value(&[0, 4]),
            Err(RecordError::UnknownValueVersion(4))
        );
        assert_eq!(
            decode_key(&[0, 2, 0, 1, 0xff]),
            Err(RecordError::InvalidUtf8)
        );
    }
}
