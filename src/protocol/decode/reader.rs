//! Fallible primitives of the Kafka wire format over `&mut Bytes`.
//!
//! Every `try_get_*` either returns its value and advances `buf` past exactly its bytes, or
//! returns a [`DecodeError`] and leaves `buf` as it was: it looks at the bytes first (a length
//! prefix included) and advances only once the whole value is known to be there and valid.
//!
//! Every count and length read off the wire is checked twice before anything is sized by it:
//! against the bytes that remain (a count of `n` elements needs at least `n` times the
//! element's smallest encoding) and against a `*_max` from [`crate::limits`].
//!
//! Strings and byte fields are zero-copy: they are slices of the frame (`Bytes::split_to`),
//! so a Produce's record batches stay in the buffer they arrived in.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::DecodeError;
use crate::limits::{
    REQUEST_ARRAY_ELEMENTS_MAX, REQUEST_ARRAY_RESERVE_ELEMENTS_MAX, REQUEST_BYTES_MAX_CEILING,
    REQUEST_STRING_BYTES_MAX, REQUEST_TAGGED_FIELDS_MAX,
};

pub type Result<T> = std::result::Result<T, DecodeError>;

/// Smallest encoding of a string, nullable or not: its length prefix.
pub const fn string_bytes_min(flexible: bool) -> usize {
    if flexible {
        1
    } else {
        2
    }
}

/// Smallest encoding of a byte field or an array: its length or count prefix.
pub const fn array_bytes_min(flexible: bool) -> usize {
    if flexible {
        1
    } else {
        4
    }
}

/// Smallest encoding of a tagged-field section (its count), or nothing before flexible versions.
pub const fn tags_bytes_min(flexible: bool) -> usize {
    if flexible {
        1
    } else {
        0
    }
}

/// The first `N` bytes of `buf`, consumed only if all are there.
fn take<const N: usize>(buf: &mut Bytes, what: &'static str) -> Result<[u8; N]> {
    let head: [u8; N] = buf
        .get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated { what })?;
    buf.advance(N);
    Ok(head)
}

pub fn try_get_i8(buf: &mut Bytes, what: &'static str) -> Result<i8> {
    take::<1>(buf, what).map(i8::from_be_bytes)
}

pub fn try_get_i16(buf: &mut Bytes, what: &'static str) -> Result<i16> {
    take::<2>(buf, what).map(i16::from_be_bytes)
}

pub fn try_get_u16(buf: &mut Bytes, what: &'static str) -> Result<u16> {
    take::<2>(buf, what).map(u16::from_be_bytes)
}

pub fn try_get_i32(buf: &mut Bytes, what: &'static str) -> Result<i32> {
    take::<4>(buf, what).map(i32::from_be_bytes)
}

pub fn try_get_u32(buf: &mut Bytes, what: &'static str) -> Result<u32> {
    take::<4>(buf, what).map(u32::from_be_bytes)
}

pub fn try_get_i64(buf: &mut Bytes, what: &'static str) -> Result<i64> {
    take::<8>(buf, what).map(i64::from_be_bytes)
}

pub fn try_get_f64(buf: &mut Bytes, what: &'static str) -> Result<f64> {
    take::<8>(buf, what).map(f64::from_be_bytes)
}

pub fn try_get_uuid(buf: &mut Bytes, what: &'static str) -> Result<Uuid> {
    take::<16>(buf, what).map(Uuid::from_bytes)
}

/// A boolean: any non-zero byte is true, as Kafka reads it.
pub fn try_get_bool(buf: &mut Bytes, what: &'static str) -> Result<bool> {
    take::<1>(buf, what).map(|[b]| b != 0)
}

/// An unsigned varint at the front of `bytes`: its value and its encoded length (1–5 bytes).
/// A fifth byte that would carry bits past 32, or a continuation bit, is refused.
fn peek_unsigned_varint(bytes: &[u8], what: &'static str) -> Result<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, &b) in bytes.iter().take(5).enumerate() {
        if i == 4 && b > 0x0f {
            return Err(DecodeError::InvalidVarint { what });
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok((value, i + 1));
        }
    }
    Err(DecodeError::Truncated { what })
}

pub fn try_get_unsigned_varint(buf: &mut Bytes, what: &'static str) -> Result<u32> {
    let (value, len) = peek_unsigned_varint(buf, what)?;
    buf.advance(len);
    Ok(value)
}

/// A zigzag-encoded signed varint (records' field encoding).
pub fn try_get_varint(buf: &mut Bytes, what: &'static str) -> Result<i32> {
    let zigzag = try_get_unsigned_varint(buf, what)?;
    Ok(((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32))
}

/// A length or count prefix: `None` for null, else the value and the prefix's own length.
/// Non-flexible: a big-endian i16 or i32, -1 is null. Flexible: an unsigned varint of `n + 1`,
/// 0 is null.
fn peek_length(
    bytes: &[u8],
    flexible: bool,
    wide: bool,
    what: &'static str,
) -> Result<(Option<usize>, usize)> {
    let (len, prefix): (i64, usize) = if flexible {
        let (n, prefix) = peek_unsigned_varint(bytes, what)?;
        (i64::from(n) - 1, prefix)
    } else if wide {
        let head: [u8; 4] = bytes
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(DecodeError::Truncated { what })?;
        (i64::from(i32::from_be_bytes(head)), 4)
    } else {
        let head: [u8; 2] = bytes
            .get(..2)
            .and_then(|s| s.try_into().ok())
            .ok_or(DecodeError::Truncated { what })?;
        (i64::from(i16::from_be_bytes(head)), 2)
    };
    match len {
        -1 => Ok((None, prefix)),
        len => usize::try_from(len)
            .map(|len| (Some(len), prefix))
            .map_err(|_| DecodeError::InvalidLength { what, len }),
    }
}

/// A nullable run of bytes with its prefix, sliced out of `buf` without a copy.
fn try_get_sized(
    buf: &mut Bytes,
    flexible: bool,
    wide: bool,
    max: usize,
    what: &'static str,
) -> Result<Option<Bytes>> {
    let (len, prefix) = peek_length(buf, flexible, wide, what)?;
    let Some(len) = len else {
        buf.advance(prefix);
        return Ok(None);
    };
    let remaining = buf.len().saturating_sub(prefix);
    if len > max {
        return Err(DecodeError::TooLarge { what, len, max });
    }
    if len > remaining {
        return Err(DecodeError::TooLarge {
            what,
            len,
            max: remaining,
        });
    }
    buf.advance(prefix);
    Ok(Some(buf.split_to(len)))
}

fn utf8(bytes: Bytes, what: &'static str) -> Result<StrBytes> {
    StrBytes::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { what })
}

/// A nullable string: i16 length before flexible versions, compact (varint `n + 1`) after.
pub fn try_get_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<Option<StrBytes>> {
    let before = buf.clone();
    let bytes = try_get_sized(buf, flexible, false, REQUEST_STRING_BYTES_MAX, what)?;
    match bytes.map(|b| utf8(b, what)).transpose() {
        Ok(s) => Ok(s),
        Err(e) => {
            *buf = before;
            Err(e)
        }
    }
}

/// A string that may not be null.
pub fn try_get_string(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<StrBytes> {
    let before = buf.clone();
    match try_get_nullable_string(buf, flexible, what)? {
        Some(s) => Ok(s),
        None => {
            *buf = before;
            Err(DecodeError::InvalidLength { what, len: -1 })
        }
    }
}

/// Nullable bytes: i32 length before flexible versions, compact after. Zero-copy.
pub fn try_get_nullable_bytes(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<Option<Bytes>> {
    try_get_sized(buf, flexible, true, REQUEST_BYTES_MAX_CEILING, what)
}

/// Bytes that may not be null. Zero-copy.
pub fn try_get_bytes(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<Bytes> {
    let before = buf.clone();
    match try_get_nullable_bytes(buf, flexible, what)? {
        Some(b) => Ok(b),
        None => {
            *buf = before;
            Err(DecodeError::InvalidLength { what, len: -1 })
        }
    }
}

/// A nullable array count (i32 before flexible versions, compact after), checked against the
/// bytes left (`count * element_bytes_min`) and [`REQUEST_ARRAY_ELEMENTS_MAX`].
pub fn try_get_nullable_array_count(
    buf: &mut Bytes,
    flexible: bool,
    element_bytes_min: usize,
    what: &'static str,
) -> Result<Option<usize>> {
    let (count, prefix) = peek_length(buf, flexible, true, what)?;
    let Some(count) = count else {
        buf.advance(prefix);
        return Ok(None);
    };
    check_count(
        count,
        buf.len().saturating_sub(prefix),
        element_bytes_min,
        REQUEST_ARRAY_ELEMENTS_MAX,
        what,
    )?;
    buf.advance(prefix);
    Ok(Some(count))
}

/// `count` elements of at least `element_bytes_min` bytes each must fit in `remaining`, and
/// `count` may not pass `max`.
fn check_count(
    count: usize,
    remaining: usize,
    element_bytes_min: usize,
    max: usize,
    what: &'static str,
) -> Result<()> {
    if count > max {
        return Err(DecodeError::TooLarge {
            what,
            len: count,
            max,
        });
    }
    let fits = remaining / element_bytes_min.max(1);
    if count > fits {
        return Err(DecodeError::TooLarge {
            what,
            len: count,
            max: fits,
        });
    }
    Ok(())
}

/// A nullable array whose elements `element` decodes. Reserves at most
/// [`REQUEST_ARRAY_RESERVE_ELEMENTS_MAX`] up front; past that the vector grows only as elements
/// are actually decoded, so its memory is backed by bytes that really arrived.
pub fn try_get_nullable_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    element_bytes_min: usize,
    what: &'static str,
    mut element: impl FnMut(&mut Bytes) -> Result<T>,
) -> Result<Option<Vec<T>>> {
    let Some(count) = try_get_nullable_array_count(buf, flexible, element_bytes_min, what)? else {
        return Ok(None);
    };
    let mut items = Vec::with_capacity(count.min(REQUEST_ARRAY_RESERVE_ELEMENTS_MAX));
    for _ in 0..count {
        items.push(element(buf)?);
    }
    Ok(Some(items))
}

/// An array that may not be null.
pub fn try_get_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    element_bytes_min: usize,
    what: &'static str,
    element: impl FnMut(&mut Bytes) -> Result<T>,
) -> Result<Vec<T>> {
    let before = buf.clone();
    match try_get_nullable_array(buf, flexible, element_bytes_min, what, element)? {
        Some(items) => Ok(items),
        None => {
            *buf = before;
            Err(DecodeError::InvalidLength { what, len: -1 })
        }
    }
}

/// An array of i32s (partition indexes, broker ids).
pub fn try_get_i32_array(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<Vec<i32>> {
    try_get_array(buf, flexible, 4, what, |buf| try_get_i32(buf, what))
}

/// An array of non-null strings.
pub fn try_get_string_array(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<Vec<StrBytes>> {
    try_get_array(buf, flexible, string_bytes_min(flexible), what, |buf| {
        try_get_string(buf, flexible, what)
    })
}

/// A tagged-field section (flexible versions only). `known(tag, field)` decodes a tag the
/// message defines from exactly its own bytes and returns `Ok(true)`, or returns `Ok(false)`
/// for a tag it does not know; those are kept as they came, keyed by tag, as kafka-protocol's
/// own decoder keeps them, so a message round-trips. A known field must use all its bytes.
pub fn try_get_tagged_fields(
    buf: &mut Bytes,
    what: &'static str,
    known: impl FnMut(u32, &mut Bytes) -> Result<bool>,
) -> Result<BTreeMap<i32, Bytes>> {
    let before = buf.clone();
    tagged_fields(buf, what, known).inspect_err(|_| *buf = before)
}

fn tagged_fields(
    buf: &mut Bytes,
    what: &'static str,
    mut known: impl FnMut(u32, &mut Bytes) -> Result<bool>,
) -> Result<BTreeMap<i32, Bytes>> {
    let count = try_get_unsigned_varint(buf, what)?;
    let count = usize::try_from(count).map_err(|_| DecodeError::TooLarge {
        what,
        len: usize::MAX,
        max: REQUEST_TAGGED_FIELDS_MAX,
    })?;
    // Each field is at least its tag and its size, one byte each.
    check_count(count, buf.len(), 2, REQUEST_TAGGED_FIELDS_MAX, what)?;
    let mut unknown = BTreeMap::new();
    for _ in 0..count {
        let tag = try_get_unsigned_varint(buf, what)?;
        // kafka-protocol keys tags as i32 and re-encodes only the non-negative ones, so a tag
        // past i32::MAX could never round-trip: no Kafka schema comes near it.
        let Ok(key) = i32::try_from(tag) else {
            return Err(DecodeError::InvalidTag { what, tag });
        };
        let size = try_get_unsigned_varint(buf, what)?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > buf.len() {
            return Err(DecodeError::TooLarge {
                what,
                len: size,
                max: buf.len(),
            });
        }
        let mut field = buf.split_to(size);
        if known(tag, &mut field)? {
            if !field.is_empty() {
                return Err(DecodeError::TrailingBytes { len: field.len() });
            }
        } else {
            unknown.insert(key, field);
        }
    }
    Ok(unknown)
}

/// A tagged-field section of a message that defines no tags of its own.
pub fn try_get_unknown_tagged_fields(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<BTreeMap<i32, Bytes>> {
    try_get_tagged_fields(buf, what, |_, _| Ok(false))
}

/// The tagged-field section if `flexible`, else nothing.
pub fn try_get_tags_if(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<BTreeMap<i32, Bytes>> {
    if flexible {
        try_get_unknown_tagged_fields(buf, what)
    } else {
        Ok(BTreeMap::new())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn b(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    #[test]
    fn fixed_width_ints_read_big_endian_and_leave_short_input_alone() {
        let mut buf = b(&[0x01, 0x02, 0x03]);
        assert_eq!(try_get_i16(&mut buf, "x").unwrap(), 0x0102);
        assert_eq!(
            try_get_i16(&mut buf, "x"),
            Err(DecodeError::Truncated { what: "x" })
        );
        assert_eq!(buf.len(), 1, "a failed read consumes nothing");
        assert_eq!(try_get_i8(&mut buf, "x").unwrap(), 3);
        let mut buf = b(&[0xff; 16]);
        assert_eq!(try_get_u16(&mut buf.clone(), "x").unwrap(), u16::MAX);
        assert_eq!(try_get_u32(&mut buf.clone(), "x").unwrap(), u32::MAX);
        assert_eq!(try_get_i64(&mut buf.clone(), "x").unwrap(), -1);
        assert!(try_get_f64(&mut buf.clone(), "x").unwrap().is_nan());
        assert_eq!(try_get_uuid(&mut buf, "x").unwrap(), Uuid::max());
        assert!(buf.is_empty());
        assert!(try_get_bool(&mut b(&[2]), "x").unwrap());
        assert!(!try_get_bool(&mut b(&[0]), "x").unwrap());
    }

    #[test]
    fn varints_are_bounded_to_five_bytes_and_32_bits() {
        assert_eq!(try_get_unsigned_varint(&mut b(&[0]), "v").unwrap(), 0);
        assert_eq!(
            try_get_unsigned_varint(&mut b(&[0xd8, 0x04]), "v").unwrap(),
            600
        );
        let max = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(
            try_get_unsigned_varint(&mut b(&max), "v").unwrap(),
            u32::MAX
        );
        for bad in [
            &[0xff, 0xff, 0xff, 0xff, 0x1f][..],
            &[0xff, 0xff, 0xff, 0xff, 0x8f, 0],
        ] {
            let mut buf = b(bad);
            assert_eq!(
                try_get_unsigned_varint(&mut buf, "v"),
                Err(DecodeError::InvalidVarint { what: "v" })
            );
            assert_eq!(buf.len(), bad.len());
        }
        let mut buf = b(&[0x80, 0x80]);
        assert_eq!(
            try_get_unsigned_varint(&mut buf, "v"),
            Err(DecodeError::Truncated { what: "v" })
        );
        assert_eq!(buf.len(), 2);
        assert_eq!(try_get_varint(&mut b(&[1]), "v").unwrap(), -1);
        assert_eq!(try_get_varint(&mut b(&[2]), "v").unwrap(), 1);
        assert_eq!(try_get_varint(&mut b(&max), "v").unwrap(), i32::MIN);
    }

    #[test]
    fn strings_are_checked_for_length_and_utf8_and_are_slices() {
        let frame = b(&[0, 3, b'a', b'b', b'c', 0xff, 0xff]);
        let mut buf = frame.clone();
        let s = try_get_string(&mut buf, false, "s").unwrap();
        assert_eq!(&*s, "abc");
        assert_eq!(s.as_ptr(), frame[2..].as_ptr(), "zero-copy");
        let mut null = buf.clone();
        assert_eq!(
            try_get_nullable_string(&mut null, false, "s").unwrap(),
            None
        );
        assert!(null.is_empty());
        assert_eq!(
            try_get_string(&mut buf, false, "s"),
            Err(DecodeError::InvalidLength { what: "s", len: -1 })
        );
        assert_eq!(buf.len(), 2);
        let mut neg = b(&[0xff, 0xfe]);
        assert_eq!(
            try_get_nullable_string(&mut neg, false, "s"),
            Err(DecodeError::InvalidLength { what: "s", len: -2 })
        );
        let mut long = b(&[0x7f, 0xff, b'a']);
        assert!(matches!(
            try_get_string(&mut long, false, "s"),
            Err(DecodeError::TooLarge { max: 1, .. })
        ));
        assert_eq!(long.len(), 3);
        let mut bad = b(&[0, 1, 0xc3]);
        assert_eq!(
            try_get_string(&mut bad, false, "s"),
            Err(DecodeError::InvalidUtf8 { what: "s" })
        );
        assert_eq!(bad.len(), 3);
        // Compact: varint n + 1; 0 is null; past the string maximum is refused outright.
        assert_eq!(
            &*try_get_string(&mut b(&[3, b'h', b'i']), true, "s").unwrap(),
            "hi"
        );
        assert_eq!(
            try_get_nullable_string(&mut b(&[0]), true, "s").unwrap(),
            None
        );
        let mut huge = b(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            try_get_string(&mut huge, true, "s"),
            Err(DecodeError::TooLarge {
                max: REQUEST_STRING_BYTES_MAX,
                ..
            })
        ));
    }

    #[test]
    fn bytes_are_slices_of_the_frame() {
        let frame = b(&[0, 0, 0, 2, 7, 8, 3, 9, 9]);
        let mut buf = frame.clone();
        let first = try_get_bytes(&mut buf, false, "b").unwrap();
        assert_eq!(&first[..], &[7, 8]);
        assert_eq!(first.as_ptr(), frame[4..].as_ptr());
        assert_eq!(&try_get_bytes(&mut buf, true, "b").unwrap()[..], &[9, 9]);
        let mut null = b(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(try_get_nullable_bytes(&mut null, false, "b").unwrap(), None);
        let mut huge = b(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            try_get_bytes(&mut huge, false, "b"),
            Err(DecodeError::TooLarge { max: 0, .. })
        ));
        assert_eq!(huge.len(), 4);
    }

    #[test]
    fn array_counts_must_fit_the_bytes_left_and_the_maximum() {
        let mut buf = b(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            try_get_nullable_array_count(&mut buf, false, 1, "a"),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(buf.len(), 4);
        let mut buf = b(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(try_get_i32_array(&mut buf, false, "a").unwrap(), vec![1, 2]);
        let mut short = b(&[0, 0, 0, 2, 0, 0, 0, 1]);
        assert!(matches!(
            try_get_i32_array(&mut short, false, "a"),
            Err(DecodeError::TooLarge { len: 2, max: 1, .. })
        ));
        let mut null = b(&[0]);
        assert_eq!(
            try_get_nullable_array_count(&mut null, true, 4, "a").unwrap(),
            None
        );
        let mut null = b(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            try_get_i32_array(&mut null, false, "a"),
            Err(DecodeError::InvalidLength { what: "a", len: -1 })
        );
        assert_eq!(null.len(), 4);
        let mut huge = b(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            try_get_nullable_array_count(&mut huge, true, 1, "a"),
            Err(DecodeError::TooLarge {
                max: REQUEST_ARRAY_ELEMENTS_MAX,
                ..
            })
        ));
        let mut neg = b(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(matches!(
            try_get_nullable_array_count(&mut neg, false, 1, "a"),
            Err(DecodeError::InvalidLength { len: -2, .. })
        ));
    }

    #[test]
    fn tagged_fields_keep_unknown_tags_and_decode_known_ones_from_their_own_bytes() {
        // Two fields: tag 0 (known, one i16), tag 9 (unknown, 3 bytes).
        let mut buf = b(&[2, 0, 2, 0x12, 0x34, 9, 3, 1, 2, 3, 0xaa]);
        let mut seen = None;
        let unknown = try_get_tagged_fields(&mut buf, "t", |tag, field| {
            if tag == 0 {
                seen = Some(try_get_i16(field, "t0")?);
                Ok(true)
            } else {
                Ok(false)
            }
        })
        .unwrap();
        assert_eq!(seen, Some(0x1234));
        assert_eq!(unknown.len(), 1);
        assert_eq!(&unknown[&9][..], &[1, 2, 3]);
        assert_eq!(&buf[..], &[0xaa]);
        // A known field that leaves bytes of its own unread is malformed.
        let mut buf = b(&[1, 0, 3, 0, 1, 2]);
        assert_eq!(
            try_get_tagged_fields(&mut buf, "t", |_, f| try_get_i16(f, "t0").map(|_| true)),
            Err(DecodeError::TrailingBytes { len: 1 })
        );
        // A count no bytes could back, and a size past the end.
        let mut buf = b(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            try_get_unknown_tagged_fields(&mut buf, "t"),
            Err(DecodeError::TooLarge { .. })
        ));
        // A tag past i32::MAX (it could not be re-encoded).
        let mut buf = b(&[1, 0x80, 0x80, 0x80, 0x80, 0x08, 0]);
        assert_eq!(
            try_get_unknown_tagged_fields(&mut buf, "t"),
            Err(DecodeError::InvalidTag {
                what: "t",
                tag: 1 << 31
            })
        );
        assert_eq!(buf.len(), 7);
        let mut buf = b(&[1, 5, 0x7f, 1]);
        assert!(matches!(
            try_get_unknown_tagged_fields(&mut buf, "t"),
            Err(DecodeError::TooLarge {
                len: 127,
                max: 1,
                ..
            })
        ));
    }
}
