//! The encodings every `__consumer_offsets` record is written and read in, shared by the
//! record layouts (`groups::records`: offsets and classic groups; `groups::consumer::records`:
//! KIP-848 consumer groups; `share::records`: share groups), none of which this module
//! imports, so the layouts do not import each other for their primitives.
//!
//! Classic (keys and the offset and group values): integers big-endian; `string` = an i16
//! length and UTF-8; `nullable string` = the same with length -1 for null; `bytes` = an i32
//! length and the bytes.
//!
//! Flexible (the consumer and share groups' values): i16 value version (`VALUE_VERSION`),
//! then `uvarint` = unsigned LEB128; `cstring` = uvarint (length + 1) + UTF-8, 0 = null, at
//! most 32,767 bytes when read (Kafka's limit, `RECORD_STRING_BYTES_MAX`); `carray` = uvarint
//! (count + 1) + elements; `uuid` = 16 bytes; every struct ends in its tagged fields (uvarint
//! count, then per field uvarint tag · uvarint size · bytes; Sluice writes none and skips the
//! ones it reads). An assignment is a carray of { topic id uuid · partitions carray of i32 ·
//! tags }.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use crate::groups::consumer::assignor::Assignment;
use crate::limits::RECORD_STRING_BYTES_MAX;

/// The version of every consumer and share group value Sluice writes and reads: 0, as
/// Kafka 4's (consumer groups) and 4.2's (share groups).
pub(crate) const VALUE_VERSION: i16 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    Truncated,
    InvalidLength,
    InvalidUtf8,
    UnknownKeyVersion(i16),
    UnknownValueVersion(i16),
    TrailingBytes,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

// --- encoding -------------------------------------------------------------------------------

/// A `string` (i16 length + UTF-8): the one writer of every key's group, topic and member id.
pub(crate) fn put_string(b: &mut BytesMut, s: &str) {
    // Strings here come from requests whose strings are i16-length on the wire, or were checked
    // against offset.metadata.max.bytes; a longer one is a bug upstream.
    assert!(
        s.len() <= i16::MAX as usize,
        "string too long for the record"
    );
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

pub(crate) fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

pub(crate) fn put_len(b: &mut BytesMut, n: usize) {
    put_uvarint(b, n as u64 + 1);
}

pub(crate) fn put_cstring(b: &mut BytesMut, s: &str) {
    put_len(b, s.len());
    b.put_slice(s.as_bytes());
}

pub(crate) fn put_nullable_cstring(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_cstring(b, s),
        None => put_uvarint(b, 0),
    }
}

/// No tagged fields.
pub(crate) fn put_no_tags(b: &mut BytesMut) {
    put_uvarint(b, 0);
}

pub(crate) fn put_assignment(b: &mut BytesMut, a: &Assignment) {
    put_len(b, a.len());
    for (id, ps) in a {
        b.put_slice(id.as_bytes());
        put_len(b, ps.len());
        for p in ps {
            b.put_i32(*p);
        }
        put_no_tags(b);
    }
}

/// A consumer or share group record's key: its record type, the group `string`, and for
/// per-member records the member `string`.
pub(crate) fn group_record_key(record_type: i16, group: &str, member: Option<&str>) -> Bytes {
    let member_len = member.map_or(0, |m| 2 + m.len());
    let mut b = BytesMut::with_capacity(2 + 2 + group.len() + member_len);
    b.put_i16(record_type);
    put_string(&mut b, group);
    if let Some(m) = member {
        put_string(&mut b, m);
    }
    b.freeze()
}

/// A flexible value's buffer, its version (`VALUE_VERSION`) written.
pub(crate) fn start() -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(VALUE_VERSION);
    b
}

// --- decoding (bounded: every length is checked against what remains) ------------------------

/// Bounded reading of a record's key or value: every length is checked against the bytes
/// left. The one reader of `__consumer_offsets` records, classic and flexible encodings.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.buf.len() {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, RecordError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, RecordError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, RecordError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub(crate) fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let len = self.i16()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(RecordError::InvalidLength);
        }
        let b = self.take(len as usize)?;
        let s = std::str::from_utf8(b).map_err(|_| RecordError::InvalidUtf8)?;
        Ok(Some(s.to_string()))
    }

    pub(crate) fn string(&mut self) -> Result<String, RecordError> {
        self.nullable_string()?.ok_or(RecordError::InvalidLength)
    }

    pub(crate) fn bytes(&mut self) -> Result<Bytes, RecordError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(Bytes::new());
        }
        if len < 0 {
            return Err(RecordError::InvalidLength);
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }

    pub(crate) fn finish(&self) -> Result<(), RecordError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes)
        }
    }
}

/// Kafka's flexible encoding.
impl<'a> Reader<'a> {
    /// A reader of a consumer or share group's value (`value` whole), past its version, which
    /// must be `VALUE_VERSION`.
    pub(crate) fn flexible_value(value: &'a [u8]) -> Result<Reader<'a>, RecordError> {
        let mut r = Reader { buf: value };
        let version = r.i16()?;
        if version != VALUE_VERSION {
            return Err(RecordError::UnknownValueVersion(version));
        }
        Ok(r)
    }

    pub(crate) fn i8(&mut self) -> Result<i8, RecordError> {
        Ok(i8::from_be_bytes([self.take(1)?[0]]))
    }

    pub(crate) fn uuid(&mut self) -> Result<Uuid, RecordError> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Uuid::from_bytes(a))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(RecordError::InvalidLength)
    }

    /// A compact length (None: null), checked against the bytes left at `min_bytes` each.
    pub(crate) fn len(&mut self, min_bytes: usize) -> Result<Option<usize>, RecordError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(None);
        }
        let n = usize::try_from(n - 1).map_err(|_| RecordError::InvalidLength)?;
        if n.saturating_mul(min_bytes.max(1)) > self.buf.len() {
            return Err(RecordError::InvalidLength);
        }
        Ok(Some(n))
    }

    /// A compact string (None: null) of at most `RECORD_STRING_BYTES_MAX` bytes, as Kafka's
    /// generated readers allow: the broker writes these strings back in i16-length layouts too
    /// (a downgraded consumer group's classic value), whose writer asserts they fit.
    pub(crate) fn nullable_cstring(&mut self) -> Result<Option<String>, RecordError> {
        let Some(n) = self.len(1)? else {
            return Ok(None);
        };
        if n > RECORD_STRING_BYTES_MAX {
            return Err(RecordError::InvalidLength);
        }
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| RecordError::InvalidUtf8)?;
        Ok(Some(s.to_string()))
    }

    pub(crate) fn cstring(&mut self) -> Result<String, RecordError> {
        self.nullable_cstring()?.ok_or(RecordError::InvalidLength)
    }

    /// A non-nullable compact array's count.
    pub(crate) fn count(&mut self, min_bytes: usize) -> Result<usize, RecordError> {
        self.len(min_bytes)?.ok_or(RecordError::InvalidLength)
    }

    /// Skip a struct's tagged fields (Sluice writes none; Kafka may write some).
    pub(crate) fn skip_tags(&mut self) -> Result<(), RecordError> {
        let n = self.count_raw()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).map_err(|_| RecordError::InvalidLength)?;
            self.take(size)?;
        }
        Ok(())
    }

    pub(crate) fn count_raw(&mut self) -> Result<u64, RecordError> {
        let n = self.uvarint()?;
        if n > self.buf.len() as u64 {
            return Err(RecordError::InvalidLength);
        }
        Ok(n)
    }

    pub(crate) fn assignment(&mut self) -> Result<Assignment, RecordError> {
        // Smallest topic: uuid, an empty partition array, no tags.
        let n = self.count(16 + 1 + 1)?;
        let mut a = Assignment::new();
        for _ in 0..n {
            let id = self.uuid()?;
            let np = self.count(4)?;
            let mut ps = BTreeSet::new();
            for _ in 0..np {
                ps.insert(self.i32()?);
            }
            self.skip_tags()?;
            if !ps.is_empty() {
                a.entry(id).or_default().extend(ps);
            }
        }
        Ok(a)
    }

    /// The struct's tagged fields, then nothing may be left.
    pub(crate) fn finish_flexible(&mut self) -> Result<(), RecordError> {
        self.skip_tags()?;
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes)
        }
    }
}
