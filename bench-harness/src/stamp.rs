//! The stamp at the start of every value the harness produces: who wrote it, its place in that
//! writer's sequence for the partition, and when it was sent. Consumers check the sequence
//! (loss, duplication, reordering) and take end-to-end latency from the send time.

use anyhow::{ensure, Result};

use crate::limits::VALUE_HEADER_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Which producer lane wrote it (unique per run).
    pub writer: u32,
    /// Position among this writer's messages to this partition, from 0.
    pub sequence: u64,
    /// Intended send time (fixed rate) or creation time (max rate), ns since the run's epoch.
    pub send_ns: u64,
}

impl Stamp {
    /// `[writer u32][sequence u64][send_ns u64][reserved u32]`, little-endian.
    pub fn encode(&self) -> [u8; VALUE_HEADER_BYTES] {
        let mut out = [0u8; VALUE_HEADER_BYTES];
        out[0..4].copy_from_slice(&self.writer.to_le_bytes());
        out[4..12].copy_from_slice(&self.sequence.to_le_bytes());
        out[12..20].copy_from_slice(&self.send_ns.to_le_bytes());
        out
    }

    pub fn try_decode(value: &[u8]) -> Result<Stamp> {
        ensure!(
            value.len() >= VALUE_HEADER_BYTES,
            "value of {} bytes carries no stamp",
            value.len()
        );
        let u32_at =
            |i: usize| u32::from_le_bytes([value[i], value[i + 1], value[i + 2], value[i + 3]]);
        let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
        Ok(Stamp {
            writer: u32_at(0),
            sequence: u64_at(4),
            send_ns: u64_at(12),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_client::records::{decode_batches, BatchEncoder, Compression, ProducerFields};

    /// A value written as two parts (stamp, payload) reads back as one, stamp first.
    #[test]
    fn stamped_values_round_trip_through_a_batch() {
        let tail = vec![7u8; 1000];
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let mut buf = Vec::new();
            let mut encoder = BatchEncoder::new();
            encoder.begin(
                &mut buf,
                1_700_000_000_000,
                compression,
                ProducerFields::NONE,
            );
            for i in 0..50u64 {
                let stamp = Stamp {
                    writer: 3,
                    sequence: i,
                    send_ns: 1000 + i,
                };
                encoder.push(
                    &mut buf,
                    1_700_000_000_000,
                    None,
                    Some(&[&stamp.encode(), &tail]),
                    &[],
                );
            }
            encoder.finish(&mut buf).unwrap();
            let got = decode_batches(bytes::Bytes::from(buf)).unwrap().records;
            assert_eq!(got.len(), 50);
            for (i, r) in got.iter().enumerate() {
                let value = r.value.as_deref().unwrap();
                let stamp = Stamp::try_decode(value).unwrap();
                assert_eq!(
                    stamp,
                    Stamp {
                        writer: 3,
                        sequence: i as u64,
                        send_ns: 1000 + i as u64
                    }
                );
                assert_eq!(&value[VALUE_HEADER_BYTES..], &tail[..]);
            }
        }
        assert!(Stamp::try_decode(&[0; VALUE_HEADER_BYTES - 1]).is_err());
    }
}
