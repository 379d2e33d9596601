//! A piece of stored batches on its way to a client: either shared bytes (a tail-cache entry,
//! or a copy made for another shard) or a slice of the O_DIRECT buffer a disk read filled,
//! sent as it is — no copy between the disk and the socket.
//!
//! A `Direct` chunk holds glommio's read buffer, which belongs to the shard's executor: the
//! type is `!Send`, so the compiler keeps it on the shard that read it. A read answered for
//! another shard is turned into shared bytes first ([`Chunk::into_shared`], one copy).

use std::ops::Deref;

use bytes::Bytes;

#[derive(Debug, Clone)]
pub enum Chunk {
    Shared(Bytes),
    Direct {
        /// The batches' bytes within the read buffer.
        data: glommio::io::ReadResult,
        /// Size of the whole buffer it keeps alive (the read's length).
        buffer_bytes: usize,
    },
}

impl Chunk {
    /// Memory this chunk keeps alive: its bytes, or the whole read buffer they sit in.
    pub fn held_bytes(&self) -> usize {
        match self {
            Chunk::Shared(b) => b.len(),
            Chunk::Direct { buffer_bytes, .. } => *buffer_bytes,
        }
    }

    /// The bytes as `Bytes`, copying a direct chunk out of its read buffer.
    pub fn into_shared(self) -> Bytes {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Direct { data, .. } => Bytes::copy_from_slice(&data),
        }
    }
}

impl Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Direct { data, .. } => data,
        }
    }
}

impl From<Bytes> for Chunk {
    fn from(b: Bytes) -> Chunk {
        Chunk::Shared(b)
    }
}

impl From<&'static [u8]> for Chunk {
    fn from(b: &'static [u8]) -> Chunk {
        Chunk::Shared(Bytes::from_static(b))
    }
}
