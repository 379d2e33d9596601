//! The `__consumer_offsets` records of KIP-848 consumer groups, in Kafka 4's byte layouts
//! (its group coordinator's `ConsumerGroup*Key` / `ConsumerGroup*Value` schemas), so the topic
//! reads like Kafka's. Pure encoding and bounded decoding; no I/O.
//!
//! Key (not flexible; `string` = i16 length + UTF-8): the key's leading i16 is the record type.
//!
//! | type | record                               | key after the type              |
//! |------|--------------------------------------|---------------------------------|
//! | 3    | ConsumerGroupMetadata                | group string                    |
//! | 4    | ConsumerGroupPartitionMetadata       | group string                    |
//! | 5    | ConsumerGroupMemberMetadata          | group string · member string    |
//! | 6    | ConsumerGroupTargetAssignmentMetadata| group string                    |
//! | 7    | ConsumerGroupTargetAssignmentMember  | group string · member string    |
//! | 8    | ConsumerGroupCurrentMemberAssignment | group string · member string    |
//!
//! Value (encoded by `groups::record_codec`): i16 value version (0), then the fields in Kafka's
//! flexible encoding: `uvarint` = unsigned LEB128; `cstring` = uvarint (length + 1) + UTF-8,
//! 0 = null, read at most 32,767 bytes long; `carray` = uvarint (count + 1) + elements;
//! `uuid` = 16 bytes; every struct ends in its tagged fields (uvarint count, then per field
//! uvarint tag · uvarint size · bytes; Sluice writes none and skips the ones it reads). A null
//! value is a tombstone: the member left, or the group was deleted.
//!
//! | type | value fields (in order)                                                          |
//! |------|----------------------------------------------------------------------------------|
//! | 3    | epoch i32 · tags (0: metadata hash, 1: creation time; skipped)                   |
//! | 4    | topics carray of { id uuid · name cstring · partitions i32 · racks carray · tags } · tags |
//! | 5    | instance id cstring? · rack id cstring? · client id cstring · client host cstring · topic names carray of cstring · topic regex cstring? · rebalance timeout i32 · server assignor cstring? · tags (0: classic member metadata, below) |
//! | 6    | assignment epoch i32 · tags                                                      |
//! | 7    | partitions carray of { topic id uuid · partitions carray of i32 · tags } · tags  |
//! | 8    | member epoch i32 · previous epoch i32 · state i8 · assigned (as 7's) · pending revocation (as 7's) · tags |
//!
//! Tag 0 of record 5, written for a member that speaks the classic protocol: session timeout
//! i32 · supported protocols carray of { name cstring · metadata cbytes (uvarint length + 1,
//! then the bytes) · tags } · tags.
//!
//! Kafka 4.0 writes record 4; 4.1+ replaced it by a hash in record 3. Sluice writes 4, as 4.0
//! does: it keeps the subscribed topics exactly, so a restart does not rebalance the group.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::Assignment;
use crate::groups::record_codec::{
    group_record_key, put_assignment, put_cstring, put_len, put_no_tags, put_nullable_cstring,
    put_uvarint, start, Reader, RecordError,
};

pub const GROUP_METADATA: i16 = 3;
pub const PARTITION_METADATA: i16 = 4;
pub const MEMBER_METADATA: i16 = 5;
pub const TARGET_METADATA: i16 = 6;
pub const TARGET_MEMBER: i16 = 7;
pub const CURRENT_ASSIGNMENT: i16 = 8;

/// A consumer-group record's key, past the group id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsumerKey {
    Metadata,
    PartitionMetadata,
    Member(String),
    TargetMetadata,
    TargetMember(String),
    CurrentAssignment(String),
}

impl ConsumerKey {
    pub fn record_type(&self) -> i16 {
        match self {
            ConsumerKey::Metadata => GROUP_METADATA,
            ConsumerKey::PartitionMetadata => PARTITION_METADATA,
            ConsumerKey::Member(_) => MEMBER_METADATA,
            ConsumerKey::TargetMetadata => TARGET_METADATA,
            ConsumerKey::TargetMember(_) => TARGET_MEMBER,
            ConsumerKey::CurrentAssignment(_) => CURRENT_ASSIGNMENT,
        }
    }

    /// Does a key of record type `t` carry a member id after the group id?
    pub fn has_member(t: i16) -> bool {
        matches!(t, MEMBER_METADATA | TARGET_MEMBER | CURRENT_ASSIGNMENT)
    }

    /// The key of record type `t` (3–8) with its member id (for 5, 7, 8).
    pub fn from_type(t: i16, member: Option<String>) -> Result<ConsumerKey, RecordError> {
        Ok(match (t, member) {
            (GROUP_METADATA, None) => ConsumerKey::Metadata,
            (PARTITION_METADATA, None) => ConsumerKey::PartitionMetadata,
            (TARGET_METADATA, None) => ConsumerKey::TargetMetadata,
            (MEMBER_METADATA, Some(m)) => ConsumerKey::Member(m),
            (TARGET_MEMBER, Some(m)) => ConsumerKey::TargetMember(m),
            (CURRENT_ASSIGNMENT, Some(m)) => ConsumerKey::CurrentAssignment(m),
            (t, _) => return Err(RecordError::UnknownKeyVersion(t)),
        })
    }
}

/// Record 5: what a member asked for and who it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: Vec<String>,
    pub topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// Tag 0: the member speaks the classic protocol.
    pub classic: Option<ClassicMetadata>,
}

/// Record 5's tag 0 (Kafka's `ClassicMemberMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMetadata {
    pub session_timeout_ms: i32,
    /// (protocol name, its metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
}

/// The tag of [`ClassicMetadata`] in record 5.
const CLASSIC_MEMBER_TAG: u64 = 0;

/// Record 8: where a member is on its way to its target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentAssignment {
    pub epoch: i32,
    pub previous_epoch: i32,
    /// Kafka's `MemberState`: 0 stable, 1 unrevoked partitions, 2 unreleased partitions.
    pub state: i8,
    pub assigned: Assignment,
    pub revoking: Assignment,
}

/// Kafka's `MemberState` bytes.
pub const STATE_STABLE: i8 = 0;
pub const STATE_UNREVOKED: i8 = 1;
pub const STATE_UNRELEASED: i8 = 2;

/// One decoded consumer-group value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerValue {
    Metadata {
        epoch: i32,
    },
    /// Subscribed topics: id → (name, partitions).
    PartitionMetadata(BTreeMap<Uuid, (String, i32)>),
    Member(MemberMetadata),
    TargetMetadata {
        epoch: i32,
    },
    TargetMember(Assignment),
    CurrentAssignment(CurrentAssignment),
}

// --- encoding -------------------------------------------------------------------------------

pub fn key(group: &str, k: &ConsumerKey) -> Bytes {
    let member = match k {
        ConsumerKey::Member(m)
        | ConsumerKey::TargetMember(m)
        | ConsumerKey::CurrentAssignment(m) => Some(m.as_str()),
        ConsumerKey::Metadata | ConsumerKey::PartitionMetadata | ConsumerKey::TargetMetadata => {
            None
        }
    };
    group_record_key(k.record_type(), group, member)
}

pub fn value(v: &ConsumerValue) -> Bytes {
    let mut b = start();
    match v {
        ConsumerValue::Metadata { epoch } | ConsumerValue::TargetMetadata { epoch } => {
            b.put_i32(*epoch);
        }
        ConsumerValue::PartitionMetadata(topics) => {
            put_len(&mut b, topics.len());
            for (id, (name, partitions)) in topics {
                b.put_slice(id.as_bytes());
                put_cstring(&mut b, name);
                b.put_i32(*partitions);
                put_len(&mut b, 0); // per-partition racks: Sluice has none
                put_no_tags(&mut b);
            }
        }
        ConsumerValue::Member(m) => {
            put_nullable_cstring(&mut b, m.instance_id.as_deref());
            put_nullable_cstring(&mut b, m.rack_id.as_deref());
            put_cstring(&mut b, &m.client_id);
            put_cstring(&mut b, &m.client_host);
            put_len(&mut b, m.topic_names.len());
            for t in &m.topic_names {
                put_cstring(&mut b, t);
            }
            put_nullable_cstring(&mut b, m.topic_regex.as_deref());
            b.put_i32(m.rebalance_timeout_ms);
            put_nullable_cstring(&mut b, m.server_assignor.as_deref());
            if let Some(c) = &m.classic {
                let mut t = BytesMut::new();
                t.put_i32(c.session_timeout_ms);
                put_len(&mut t, c.protocols.len());
                for (name, metadata) in &c.protocols {
                    put_cstring(&mut t, name);
                    put_len(&mut t, metadata.len());
                    t.put_slice(metadata);
                    put_no_tags(&mut t);
                }
                put_no_tags(&mut t);
                put_uvarint(&mut b, 1);
                put_uvarint(&mut b, CLASSIC_MEMBER_TAG);
                put_uvarint(&mut b, t.len() as u64);
                b.put_slice(&t);
                return b.freeze();
            }
        }
        ConsumerValue::TargetMember(a) => put_assignment(&mut b, a),
        ConsumerValue::CurrentAssignment(c) => {
            b.put_i32(c.epoch);
            b.put_i32(c.previous_epoch);
            b.put_i8(c.state);
            put_assignment(&mut b, &c.assigned);
            put_assignment(&mut b, &c.revoking);
        }
    }
    put_no_tags(&mut b);
    b.freeze()
}

// --- decoding (bounded: every count is checked against the bytes that remain) ---------------

/// Record 5's tag 0.
fn decode_classic(field: &[u8]) -> Result<ClassicMetadata, RecordError> {
    let mut r = Reader { buf: field };
    let session_timeout_ms = r.i32()?;
    // Smallest protocol: an empty name, empty metadata, no tags.
    let n = r.count(3)?;
    let mut protocols = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.cstring()?;
        let len = r.count(1)?;
        let metadata = Bytes::copy_from_slice(r.take(len)?);
        r.skip_tags()?;
        protocols.push((name, metadata));
    }
    r.finish_flexible()?;
    Ok(ClassicMetadata {
        session_timeout_ms,
        protocols,
    })
}

/// Decode the value of a record of type `record_type` (3–8).
pub fn decode_value(record_type: i16, value: &[u8]) -> Result<ConsumerValue, RecordError> {
    let mut r = Reader::flexible_value(value)?;
    let v = match record_type {
        GROUP_METADATA => ConsumerValue::Metadata { epoch: r.i32()? },
        TARGET_METADATA => ConsumerValue::TargetMetadata { epoch: r.i32()? },
        PARTITION_METADATA => {
            // Smallest topic: uuid, empty name, partitions, empty racks, no tags.
            let n = r.count(16 + 1 + 4 + 1 + 1)?;
            let mut topics = BTreeMap::new();
            for _ in 0..n {
                let id = r.uuid()?;
                let name = r.cstring()?;
                let partitions = r.i32()?;
                let racks = r.count(4 + 1 + 1)?;
                for _ in 0..racks {
                    r.i32()?;
                    let nr = r.count(1)?;
                    for _ in 0..nr {
                        r.cstring()?;
                    }
                    r.skip_tags()?;
                }
                r.skip_tags()?;
                topics.insert(id, (name, partitions));
            }
            ConsumerValue::PartitionMetadata(topics)
        }
        MEMBER_METADATA => {
            let instance_id = r.nullable_cstring()?;
            let rack_id = r.nullable_cstring()?;
            let client_id = r.cstring()?;
            let client_host = r.cstring()?;
            let n = r.count(1)?;
            let mut topic_names = Vec::with_capacity(n);
            for _ in 0..n {
                topic_names.push(r.cstring()?);
            }
            let mut m = MemberMetadata {
                instance_id,
                rack_id,
                client_id,
                client_host,
                topic_names,
                topic_regex: r.nullable_cstring()?,
                rebalance_timeout_ms: r.i32()?,
                server_assignor: r.nullable_cstring()?,
                classic: None,
            };
            // Its tagged fields: tag 0 is read, others skipped.
            let n = r.count_raw()?;
            for _ in 0..n {
                let tag = r.uvarint()?;
                let size = usize::try_from(r.uvarint()?).map_err(|_| RecordError::InvalidLength)?;
                let field = r.take(size)?;
                if tag == CLASSIC_MEMBER_TAG {
                    m.classic = Some(decode_classic(field)?);
                }
            }
            if !r.buf.is_empty() {
                return Err(RecordError::TrailingBytes);
            }
            return Ok(ConsumerValue::Member(m));
        }
        TARGET_MEMBER => ConsumerValue::TargetMember(r.assignment()?),
        CURRENT_ASSIGNMENT => ConsumerValue::CurrentAssignment(CurrentAssignment {
            epoch: r.i32()?,
            previous_epoch: r.i32()?,
            state: r.i8()?,
            assigned: r.assignment()?,
            revoking: r.assignment()?,
        }),
        t => return Err(RecordError::UnknownKeyVersion(t)),
    };
    r.finish_flexible()?;
    Ok(v)
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
