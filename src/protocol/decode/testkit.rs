//! Test support shared by the request decoders' tests: random values, the kafka-protocol
//! oracle (encode with the crate, decode with ours and with the crate, compare), truncation and
//! hostile-count checks, and an allocator that records the largest allocation a thread makes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes, VersionRange};
pub use rand::rngs::StdRng;
pub use rand::Rng;
use rand::SeedableRng;
use uuid::Uuid;

use super::TryDecode;

/// Wraps the system allocator to record, per thread and only while a test asks, the largest
/// single allocation: how the hostile-input tests see that nothing large was reserved.
struct Tracking;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let on = TRACKING.try_with(Cell::get).unwrap_or(false);
    if on {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

// SAFETY: forwards every call unchanged to `System`; recording touches only const-initialised
// thread-local `Cell`s, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made on this thread.
pub fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    let r = f();
    TRACKING.with(|t| t.set(false));
    (r, LARGEST.with(Cell::get))
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

const CHARS: &[char] = &['a', 'z', '0', '-', '_', '.', ' ', 'é', 'ß', '日', '🦀'];

/// A short random string, sometimes empty, sometimes not ASCII.
pub fn string(rng: &mut StdRng) -> StrBytes {
    let len = rng.gen_range(0..12);
    let s: String = (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())])
        .collect();
    StrBytes::from_string(s)
}

/// A random string, or `None` one time in four.
pub fn opt_string(rng: &mut StdRng) -> Option<StrBytes> {
    rng.gen_bool(0.75).then(|| string(rng))
}

pub fn bytes(rng: &mut StdRng) -> Bytes {
    let len = rng.gen_range(0..40);
    (0..len)
        .map(|_| rng.gen::<u8>())
        .collect::<Vec<u8>>()
        .into()
}

pub fn uuid(rng: &mut StdRng) -> Uuid {
    Uuid::from_bytes(rng.gen())
}

/// Up to `max` elements made by `f` (often none, often one).
pub fn vec<T>(rng: &mut StdRng, max: usize, mut f: impl FnMut(&mut StdRng) -> T) -> Vec<T> {
    let len = rng.gen_range(0..=max);
    (0..len).map(|_| f(rng)).collect()
}

/// Unknown tagged fields for a flexible version (none otherwise). Tags start high so they never
/// collide with a tag the message defines.
pub fn tags(rng: &mut StdRng, flexible: bool) -> BTreeMap<i32, Bytes> {
    let mut tags = BTreeMap::new();
    if flexible && rng.gen_bool(0.4) {
        for _ in 0..rng.gen_range(1..4) {
            let len = rng.gen_range(0..6);
            let value: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            tags.insert(rng.gen_range(100..100_000), Bytes::from(value));
        }
    }
    tags
}

/// Flexible-encoding pieces, for tests that write a version past the crate's by hand.
pub fn put_uvarint(b: &mut bytes::BytesMut, mut v: u64) {
    while v >= 0x80 {
        bytes::BufMut::put_u8(b, (v as u8) | 0x80);
        v >>= 7;
    }
    bytes::BufMut::put_u8(b, v as u8);
}

/// A compact (nullable) string.
pub fn put_compact_string(b: &mut bytes::BytesMut, s: Option<&str>) {
    match s {
        None => put_uvarint(b, 0),
        Some(s) => {
            put_uvarint(b, s.len() as u64 + 1);
            bytes::BufMut::put_slice(b, s.as_bytes());
        }
    }
}

/// Unknown tagged fields, as the crate writes them.
pub fn put_tags(b: &mut bytes::BytesMut, tags: &BTreeMap<i32, Bytes>) {
    put_uvarint(b, tags.len() as u64);
    for (k, v) in tags {
        put_uvarint(b, *k as u64);
        put_uvarint(b, v.len() as u64);
        bytes::BufMut::put_slice(b, v);
    }
}

/// Encodes `request` with the crate at `version`.
pub fn encode<T: Encodable>(request: &T, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    request
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("crate refused to encode v{version}: {e}"));
    buf.freeze()
}

/// The oracle: `request` encoded by the crate decodes with ours to what the crate's own
/// decoder reads back, using every byte. Returns the encoding.
pub fn oracle<T>(request: &T, version: i16) -> Bytes
where
    T: TryDecode + Encodable + Decodable + PartialEq + Debug,
{
    let encoded = encode(request, version);
    let expected = T::decode(&mut encoded.clone(), version).expect("crate decodes its own");
    let mut buf = encoded.clone();
    let ours = T::try_decode(&mut buf, version)
        .unwrap_or_else(|e| panic!("v{version}: {e} decoding {request:?}"));
    assert!(buf.is_empty(), "v{version}: {} bytes left", buf.len());
    assert_eq!(ours, expected, "v{version}");
    encoded
}

/// Every strict prefix of a valid encoding is refused, without a panic.
pub fn truncations<T: TryDecode + Debug>(encoded: &Bytes, version: i16) {
    for end in 0..encoded.len() {
        let mut buf = encoded.slice(..end);
        let result = T::try_decode(&mut buf, version);
        assert!(result.is_err(), "v{version} cut at {end}: {result:?}");
    }
}

/// Wire patterns of hostile counts and lengths, and whether the pattern alone, as a whole body,
/// must be refused: i32::MAX and i16::MAX always are; u32::MAX as a varint and -2 can read as a
/// null array followed by a boolean in some versions, which is a valid body.
const HOSTILE: &[(&[u8], bool)] = &[
    (&[0x7f, 0xff, 0xff, 0xff], true),
    (&[0x7f, 0xff], true),
    (&[0xff, 0xff, 0xff, 0xff, 0x0f], false),
    (&[0xff, 0xff, 0xff, 0xfe], false),
];

/// Largest allocation a hostile input may cause: a few reserved elements, never its count.
const HOSTILE_ALLOCATION_BYTES_MAX: usize = 1 << 20;

/// Hostile bodies on their own, and spliced over every position of a valid encoding: each
/// decodes (or fails) fast, never panics, and never allocates anything large.
pub fn hostile<T: TryDecode + Debug>(encoded: &Bytes, version: i16) {
    for &(pattern, refused) in HOSTILE {
        let mut buf = Bytes::from_static(pattern);
        let (result, largest) = largest_allocation(|| T::try_decode(&mut buf, version));
        // A version whose body is empty reads nothing; the pattern is then trailing bytes,
        // which are ignored as Kafka ignores them.
        let read_nothing = buf.len() == pattern.len();
        assert!(
            !refused || result.is_err() || read_nothing,
            "v{version} body {pattern:02x?}: {result:?}"
        );
        assert!(
            largest <= 1024,
            "v{version} body {pattern:02x?}: {largest} bytes"
        );
        for at in 0..encoded.len() {
            let mut body = encoded.to_vec();
            let end = (at + pattern.len()).min(body.len());
            body.splice(at..end, pattern.iter().copied());
            let mut buf = Bytes::from(body);
            let started = Instant::now();
            let (_, largest) = largest_allocation(|| T::try_decode(&mut buf, version));
            assert!(
                largest <= HOSTILE_ALLOCATION_BYTES_MAX,
                "v{version} {pattern:02x?} at {at}: {largest} bytes"
            );
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }
}

/// Random requests per version in `versions`: oracle for each, and truncation and hostile
/// splicing for a few. Versions either side of the range are refused.
pub fn check_versions<T>(
    versions: VersionRange,
    rounds: usize,
    generate: impl FnMut(&mut StdRng, i16) -> T,
) where
    T: TryDecode + Encodable + Decodable + PartialEq + Debug,
{
    check_versions_up_to(versions, versions.max, rounds, generate);
}

/// As [`check_versions`] for a decoder that serves versions past the crate's (`crate_max`):
/// only the crate's versions are checked against it; the decoder's own range is the one whose
/// neighbours must be refused. The versions past the crate's need tests of their own.
pub fn check_versions_up_to<T>(
    versions: VersionRange,
    crate_max: i16,
    rounds: usize,
    mut generate: impl FnMut(&mut StdRng, i16) -> T,
) where
    T: TryDecode + Encodable + Decodable + PartialEq + Debug,
{
    let mut rng = rng(u64::from(versions.min.unsigned_abs()) * 1000 + 7);
    for version in versions.min..=versions.max.min(crate_max) {
        for round in 0..rounds {
            let request = generate(&mut rng, version);
            let encoded = oracle(&request, version);
            if round < 3 {
                truncations::<T>(&encoded, version);
                hostile::<T>(&encoded, version);
            }
        }
    }
    for version in [versions.min - 1, versions.max + 1, -1, i16::MAX] {
        if (versions.min..=versions.max).contains(&version) {
            continue;
        }
        let result = T::try_decode(&mut Bytes::new(), version);
        assert!(
            matches!(result, Err(super::DecodeError::UnsupportedVersion { .. })),
            "v{version}: {result:?}"
        );
    }
}
