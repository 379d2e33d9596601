//! The persisted log start offset (moved by DeleteRecords or retention past a segment's base).
//!
//! File `log-start-offset` in the partition directory, 20 bytes, big-endian:
//!
//! | offset | size | field    | notes                                 |
//! |-------:|-----:|----------|---------------------------------------|
//! |      0 |    4 | magic    | `SLSO`; never 0                       |
//! |      4 |    2 | version  | 1                                     |
//! |      6 |    2 | reserved | 0                                     |
//! |      8 |    8 | offset   | the log start offset                  |
//! |     16 |    4 | crc      | CRC32C of bytes 0..16                 |
//!
//! Lives on the partition's owner shard.

use crate::shard::blocking::BlockingPool;
use std::path::{Path, PathBuf};

use super::file_ops;

pub const FILE_NAME: &str = "log-start-offset";
pub const MAGIC: [u8; 4] = *b"SLSO";
pub const VERSION: u16 = 1;
pub const FILE_BYTES: usize = 20;

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

pub fn encode(offset: i64) -> [u8; FILE_BYTES] {
    let mut b = [0u8; FILE_BYTES];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..6].copy_from_slice(&VERSION.to_be_bytes());
    b[8..16].copy_from_slice(&offset.to_be_bytes());
    let crc = crc32c::crc32c(&b[0..16]);
    b[16..20].copy_from_slice(&crc.to_be_bytes());
    b
}

/// The offset, if `b` is a valid file.
pub fn decode(b: &[u8]) -> Option<i64> {
    if b.len() != FILE_BYTES || b[0..4] != MAGIC || b[4..6] != VERSION.to_be_bytes() {
        return None;
    }
    let crc = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    if crc32c::crc32c(&b[0..16]) != crc {
        return None;
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[8..16]);
    Some(i64::from_be_bytes(o))
}

/// Write-then-rename with fsyncs, off the shard thread (rare: DeleteRecords and retention
/// only). Once it returns Ok the new offset survives a power loss.
pub async fn store(pool: &BlockingPool, dir: &Path, offset: i64) -> std::io::Result<()> {
    file_ops::replace_file(pool, dir, FILE_NAME, encode(offset).to_vec()).await
}

/// The stored offset, if the file is there and valid.
pub async fn load(pool: &BlockingPool, dir: &Path) -> Option<i64> {
    decode(&file_ops::read_small_file(pool, &path(dir)).await.ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_damage() {
        let b = encode(0x0102_0304_0506_0708);
        assert_eq!(&b[0..4], b"SLSO");
        assert_eq!(&b[4..8], &[0, 1, 0, 0]);
        assert_eq!(&b[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(decode(&b), Some(0x0102_0304_0506_0708));
        for i in 0..FILE_BYTES {
            let mut d = b;
            d[i] ^= 0x40;
            assert_eq!(decode(&d), None, "flipped byte {i}");
        }
        assert_eq!(decode(&[0u8; FILE_BYTES]), None);
        assert_eq!(decode(&b[..19]), None);
    }
}
