//! Bounded decompression of a record batch's records, for Kafka's four codecs.
//!
//! A compressed batch is a few bytes that may claim gigabytes (a "zip bomb"): whoever
//! decompresses bytes it did not write — a client reading a broker's batches, the broker
//! reading a producer's stored batches for a timestamp lookup — must stop at a bound rather
//! than allocate whatever the bytes say. Every decoder here stops once `max_bytes` would be
//! exceeded and reports [`CodecError::TooLarge`]; hostile or damaged bytes give
//! [`CodecError::Corrupt`], never a panic.
//!
//! Formats, as Kafka writes them: gzip (RFC 1952, members may be concatenated), snappy in
//! xerial-snappy framing (16-byte magic header, then blocks of a 4-byte big-endian length and a
//! raw snappy block; raw snappy without the header is accepted, as Kafka's Java client does),
//! LZ4 frame format, zstd frames.
//!
//! Pure functions: used on any thread (client threads; a broker shard).

use std::io::Read;

/// Kafka's codec ids (the low three bits of a batch's attributes).
pub const CODEC_NONE: i16 = 0;
pub const CODEC_GZIP: i16 = 1;
pub const CODEC_SNAPPY: i16 = 2;
pub const CODEC_LZ4: i16 = 3;
pub const CODEC_ZSTD: i16 = 4;

/// xerial-snappy's stream header (magic, version 1, compatible version 1).
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The records would decompress to more than the bound.
    TooLarge { max_bytes: usize },
    /// Not valid data for the codec (or an unknown codec id).
    Corrupt(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::TooLarge { max_bytes } => {
                write!(f, "records decompress to more than {max_bytes} bytes")
            }
            CodecError::Corrupt(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for CodecError {}

/// The records of a batch compressed with `codec`, decompressed, at most `max_bytes` of them.
/// `CODEC_NONE` returns the bytes as they are (still bounded).
pub fn decompress(codec: i16, compressed: &[u8], max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    match codec {
        CODEC_NONE if compressed.len() <= max_bytes => Ok(compressed.to_vec()),
        CODEC_NONE => Err(CodecError::TooLarge { max_bytes }),
        CODEC_GZIP => read_bounded(
            flate2::read::MultiGzDecoder::new(compressed),
            max_bytes,
            "gzip",
        ),
        CODEC_SNAPPY => snappy(compressed, max_bytes),
        CODEC_LZ4 => {
            let decoder = lz4::Decoder::new(compressed)
                .map_err(|e| CodecError::Corrupt(format!("lz4: {e}")))?;
            read_bounded(decoder, max_bytes, "lz4")
        }
        CODEC_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(compressed)
                .map_err(|e| CodecError::Corrupt(format!("zstd: {e}")))?;
            read_bounded(decoder, max_bytes, "zstd")
        }
        other => Err(CodecError::Corrupt(format!(
            "unknown compression codec {other}"
        ))),
    }
}

/// Everything `r` yields, failing once it passes `max_bytes` (one byte past is read to tell).
fn read_bounded(r: impl Read, max_bytes: usize, codec: &str) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Corrupt(format!("{codec}: {e}")))?;
    if out.len() > max_bytes {
        return Err(CodecError::TooLarge { max_bytes });
    }
    Ok(out)
}

/// xerial-framed snappy (or raw snappy without the header). Each block's uncompressed length
/// is read from its preamble and checked against the bound before it is decompressed.
fn snappy(compressed: &[u8], max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    let corrupt = |e: snap::Error| CodecError::Corrupt(format!("snappy: {e}"));
    let mut out = Vec::new();
    let append = |block: &[u8], out: &mut Vec<u8>| -> Result<(), CodecError> {
        let len = snap::raw::decompress_len(block).map_err(corrupt)?;
        if out.len().saturating_add(len) > max_bytes {
            return Err(CodecError::TooLarge { max_bytes });
        }
        let at = out.len();
        out.resize(at + len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(block, &mut out[at..])
            .map_err(corrupt)?;
        out.truncate(at + n);
        Ok(())
    };
    let Some(mut rest) = compressed.strip_prefix(XERIAL_MAGIC.as_slice()) else {
        append(compressed, &mut out)?;
        return Ok(out);
    };
    while !rest.is_empty() {
        let (len, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| CodecError::Corrupt("snappy: a block length cut short".into()))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = after.get(..len).ok_or_else(|| {
            CodecError::Corrupt(format!("snappy: a block of {len} bytes overruns the batch"))
        })?;
        append(block, &mut out)?;
        rest = &after[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

    fn compressed_with(codec: i16, plain: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        let put = |b: &mut BytesMut| {
            b.extend_from_slice(plain);
            Ok(())
        };
        match codec {
            CODEC_GZIP => Gzip::compress(&mut out, put),
            CODEC_SNAPPY => Snappy::compress(&mut out, put),
            CODEC_LZ4 => Lz4::compress(&mut out, put),
            CODEC_ZSTD => Zstd::compress(&mut out, put),
            _ => unreachable!("a codec"),
        }
        .unwrap();
        out.to_vec()
    }

    /// Every codec round-trips with the crate's compressor (Kafka's formats), a bomb stops at
    /// the bound, and damaged bytes are an error.
    #[test]
    fn codecs_round_trip_stop_at_the_bound_and_refuse_damage() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
        for codec in [CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD] {
            let c = compressed_with(codec, &plain);
            assert!(c.len() < plain.len() / 4, "codec {codec} compresses");
            assert_eq!(
                decompress(codec, &c, plain.len()).unwrap(),
                plain,
                "codec {codec}"
            );
            assert_eq!(
                decompress(codec, &c, plain.len() - 1),
                Err(CodecError::TooLarge {
                    max_bytes: plain.len() - 1
                }),
                "codec {codec}: one byte over the bound"
            );
            let mut damaged = c.clone();
            damaged.truncate(c.len() / 2);
            // Cut in half: an error, or (lz4's frame reader stops quietly at the end of its
            // input) less than the whole; a batch's CRC and record walk catch the rest.
            assert!(
                decompress(codec, &damaged, 1 << 20).map_or(true, |d| d.len() < plain.len()),
                "codec {codec}: cut in half"
            );
            assert!(
                decompress(codec, &[0xff; 40], 1 << 20).is_err(),
                "codec {codec}: garbage"
            );
        }
        assert!(matches!(
            decompress(5, b"x", 10),
            Err(CodecError::Corrupt(_))
        ));
        assert_eq!(decompress(CODEC_NONE, b"abc", 3).unwrap(), b"abc");
        assert!(decompress(CODEC_NONE, b"abcd", 3).is_err());
    }

    /// Raw snappy without xerial's header is accepted (Kafka's Java client reads it too).
    #[test]
    fn raw_snappy_is_accepted() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .unwrap();
        assert_eq!(
            decompress(CODEC_SNAPPY, &raw, 100).unwrap(),
            b"hello hello hello"
        );
        assert!(decompress(CODEC_SNAPPY, &raw, 5).is_err());
    }
}
