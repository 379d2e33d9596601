//! Cutting request frames off a connection's byte stream: the 4-byte length, checked against
//! the frame limits before anything is allocated for the body, then the body read into one
//! buffer allocated once at its size and never zero-filled.
//!
//! Two buffers per frame path:
//! - the connection's **read-ahead** (`ReadAhead`, `READ_CHUNK_BYTES`, allocated once per
//!   connection): between frames the reader asks the socket for a whole chunk, so one read
//!   can bring a frame's length, several small frames, or the start of a big one. A frame that
//!   arrived whole in it is copied out (at most a chunk: a `memcpy`, not a page fault).
//! - the frame's **body** (`Vec::with_capacity(len)`): what the read-ahead held of it is copied
//!   in, and the rest is read straight into its spare capacity (`recv(2)` on the socket,
//!   non-blocking, `FrameSource::try_read_uninit`). When the socket has nothing yet, glommio's
//!   read waits for it into the (empty) read-ahead, no further than the frame's reservation,
//!   and that is copied in. TLS has no direct read (rustls hands out plaintext by copy anyway):
//!   it always goes through the read-ahead. One framing code serves both.
//!
//! Why: the old reader grew one `BytesMut` with `resize` per read (a realloc when the tail
//! cache still held earlier frames of the same allocation, plus a zero-fill of the whole room
//! before every read). At 100 MB/s of produce that was ~50,000 page faults a second, 99 % of
//! the broker's (docs/bench/frame-reader.md).
//!
//! Request budget (`--inflight-request-bytes`, per shard): a frame's bytes are reserved before
//! they are buffered and given back once its reply is written (`RequestBytes`). A frame that
//! arrived whole with earlier reads reserves its length at once (waiting, busy, while the
//! budget is spent). A frame still arriving reserves as it arrives: before each read, at most
//! twice what it has received so far (at least `READ_CHUNK_BYTES`), never past its length; its
//! body's capacity follows the reservation once the frame is larger than
//! `FRAME_BODY_PREALLOCATE_BYTES_MAX` (below that it is allocated whole at once: the pages are
//! only touched as bytes arrive). So a client that announces a 100 MB frame and stalls holds
//! 64 KiB of budget, not 100 MB, until the frame time closes it (`net::idle`).
//!
//! Runs on the connection's shard, in its reader task; nothing here is shared.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use futures::io::AsyncReadExt;
use glommio::sync::Semaphore;

use super::idle::Activity;
use crate::limits::{FRAME_BODY_PREALLOCATE_BYTES_MAX, REQUEST_HEADER_BYTES_MIN};

pub use crate::limits::CONNECTION_READ_BUFFER_BYTES_MIN as READ_CHUNK_BYTES;

const _: () = assert!(READ_CHUNK_BYTES <= FRAME_BODY_PREALLOCATE_BYTES_MAX);

/// A frame's share of its shard's request budget (`Shard::request_budget`), grown as the frame
/// arrives and given back when dropped: once its reply is written, or its connection closed.
pub struct RequestBytes {
    budget: Rc<Semaphore>,
    bytes: usize,
}

impl RequestBytes {
    fn new(budget: Rc<Semaphore>) -> RequestBytes {
        RequestBytes { budget, bytes: 0 }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Grow to `bytes` if the budget has the difference now (and nobody waits before us).
    fn try_grow_to(&mut self, bytes: usize) -> bool {
        assert!(bytes >= self.bytes, "a reservation only grows");
        let extra = (bytes - self.bytes) as u64;
        if extra == 0 || matches!(self.budget.try_acquire(extra), Ok(true)) {
            self.bytes = bytes;
            return true;
        }
        false
    }

    /// Grow to `bytes`, waiting in line for the difference; Err if the budget was closed.
    async fn grow_to(&mut self, bytes: usize) -> Result<(), ()> {
        assert!(bytes >= self.bytes, "a reservation only grows");
        let extra = (bytes - self.bytes) as u64;
        self.budget.acquire(extra).await.map_err(|_| ())?;
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for RequestBytes {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.signal(self.bytes as u64);
        }
    }
}

pub enum ReadOutcome {
    /// A frame and its share of the shard's in-flight request budget (exactly its length).
    Frame(Bytes, RequestBytes),
    /// Clean EOF between frames, or shutdown.
    Closed,
    /// A frame that breaks the protocol's framing rules: close without answering.
    Bad(String),
}

/// Where frames are read from: an async byte stream that may also read without waiting into
/// memory that is not initialised yet.
pub trait FrameSource: futures::io::AsyncRead + Unpin {
    /// Read what is there now into `dst`, without waiting: Some(Ok(0)) at EOF, Some(Err) with
    /// `WouldBlock` when nothing is there; None if this source can't read directly (the caller
    /// then reads through `AsyncRead`). On Some(Ok(n)) the first `n` bytes of `dst` are
    /// initialised.
    fn try_read_uninit(&mut self, dst: &mut [MaybeUninit<u8>]) -> Option<io::Result<usize>>;
}

/// One non-blocking `recv(2)` on socket `fd` into `dst`. On Ok(n) the first `n` bytes of `dst`
/// are initialised.
///
/// Contract: `fd` is an open socket for the duration of the call.
pub fn recv_uninit(fd: RawFd, dst: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `dst` is valid for writes of `dst.len()` bytes (uninitialised memory may be
    // written through a raw pointer); the kernel writes at most that many and returns how
    // many it wrote; `fd` is an open socket (contract).
    let r = unsafe {
        libc::recv(
            fd,
            dst.as_mut_ptr().cast::<libc::c_void>(),
            dst.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// The connection's read-ahead: `buf[start..end]` is read from the socket, not yet taken by a
/// frame. Initialised once (zeroed) when the connection starts, reused for its life.
pub struct ReadAhead {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ReadAhead {
    pub fn new() -> ReadAhead {
        ReadAhead {
            buf: vec![0u8; READ_CHUNK_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    fn consume(&mut self, n: usize) {
        assert!(n <= self.end - self.start, "consumes only what was read");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Move the unread bytes to the front, so the rest of the buffer is room to read into.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

impl Default for ReadAhead {
    fn default() -> ReadAhead {
        ReadAhead::new()
    }
}

/// What a frame read needs from its shard: the frame size limit and the request budget.
pub struct Limits<'a> {
    pub request_max_bytes: usize,
    pub budget: &'a Rc<Semaphore>,
    /// Counts frames that waited for the budget (`sluice_request_budget_waits_total`).
    pub budget_waits: &'a AtomicU64,
}

/// Read one length-prefixed frame. The length is checked before any byte of the body is
/// buffered for it: a negative, too small, or over-limit length ends the connection. The
/// frame's bytes are reserved from the shard's request budget as the module docs say.
pub async fn read_frame<S: FrameSource>(
    source: &mut S,
    ahead: &mut ReadAhead,
    limits: &Limits<'_>,
    activity: &Rc<Activity>,
) -> ReadOutcome {
    // The length: from what was read ahead, or read now (a chunk, reading ahead).
    while ahead.unread().len() < 4 {
        ahead.compact();
        let had = ahead.end;
        let n = match source
            .read(ahead.buf.get_mut(had..).unwrap_or(&mut []))
            .await
        {
            Ok(n) => n,
            Err(_) => return ReadOutcome::Closed,
        };
        if n == 0 {
            return if had == 0 {
                ReadOutcome::Closed
            } else {
                ReadOutcome::Bad("connection closed mid-frame".into())
            };
        }
        ahead.end += n;
        activity.read();
    }
    let len = match ahead.unread() {
        [a, b, c, d, ..] => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => return ReadOutcome::Bad("frame length missing".into()),
    };
    if len < 0 {
        return ReadOutcome::Bad(format!("negative frame length {len}"));
    }
    let len = len as usize;
    if len < REQUEST_HEADER_BYTES_MIN {
        return ReadOutcome::Bad(format!(
            "frame of {len} bytes is shorter than a request header"
        ));
    }
    if len > limits.request_max_bytes {
        return ReadOutcome::Bad(format!(
            "frame of {len} bytes exceeds --request-max-bytes {}",
            limits.request_max_bytes
        ));
    }
    ahead.consume(4);
    let mut held = RequestBytes::new(limits.budget.clone());
    let mut waited = false;
    if let Some(whole) = ahead.unread().get(..len) {
        // Whole already (it came with earlier reads, within the read-ahead): reserved, then
        // copied out, so the read-ahead is reused for the next read.
        if grow(&mut held, len, None, &mut waited, limits, activity)
            .await
            .is_err()
        {
            return ReadOutcome::Closed;
        }
        let frame = Bytes::copy_from_slice(whole);
        ahead.consume(len);
        assert_eq!(held.bytes(), len, "a whole frame holds exactly its length");
        return ReadOutcome::Frame(frame, held);
    }
    let incomplete = activity.frame_incomplete();
    let deadline = activity.frame_deadline();
    // Virtual memory: pages are touched only as bytes arrive, and the budget counts those.
    let mut body: Vec<u8> = Vec::with_capacity(len.min(FRAME_BODY_PREALLOCATE_BYTES_MAX));
    // Everything read ahead belongs to this frame (it is longer than what was read).
    let early = ahead.unread().len();
    body.extend_from_slice(ahead.unread());
    ahead.consume(early);
    while body.len() < len {
        let have = body.len();
        if held.bytes() <= have {
            let next = len.min((2 * have).max(READ_CHUNK_BYTES));
            if grow(&mut held, next, deadline, &mut waited, limits, activity)
                .await
                .is_err()
            {
                // Closed (shutdown), or the frame time passed while waiting for budget:
                // the watchdog closes the connection at that same deadline.
                return ReadOutcome::Bad(format!(
                    "frame of {len} bytes still incomplete ({have} received) after {} ms",
                    activity.frame_time().as_millis()
                ));
            }
        }
        // Never past what is reserved: no unreserved frame bytes are buffered.
        let room = held.bytes() - have;
        if body.capacity() < held.bytes() {
            body.reserve_exact(held.bytes() - have);
        }
        match read_body(source, ahead, &mut body, room, activity).await {
            Ok(()) => {}
            Err(outcome) => return outcome,
        }
    }
    drop(incomplete);
    assert_eq!(body.len(), len, "a frame's body is exactly its length");
    assert_eq!(held.bytes(), len, "a whole frame holds exactly its length");
    ReadOutcome::Frame(Bytes::from(body), held)
}

/// Read up to `room` more bytes of a frame into `body` (which has the capacity): straight into
/// its spare capacity when the source can and has them now, else through the read-ahead
/// (empty while a body is read), waiting for them.
async fn read_body<S: FrameSource>(
    source: &mut S,
    ahead: &mut ReadAhead,
    body: &mut Vec<u8>,
    room: usize,
    activity: &Activity,
) -> Result<(), ReadOutcome> {
    assert!(room > 0, "a body read has reserved room");
    let have = body.len();
    let spare = body.spare_capacity_mut();
    let take = room.min(spare.len());
    let dst = &mut spare[..take];
    let dst_len = dst.len();
    let direct = loop {
        match source.try_read_uninit(dst) {
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let n = match direct {
        Some(Ok(0)) => return Err(ReadOutcome::Bad("connection closed mid-frame".into())),
        Some(Ok(n)) => {
            assert!(n <= dst_len, "a read returns at most what it was given");
            // SAFETY: the read initialised the first `n` bytes of the spare capacity, which
            // starts at `have` and is at least `n` long (asserted above).
            unsafe { body.set_len(have + n) };
            n
        }
        Some(Err(e)) if e.kind() != io::ErrorKind::WouldBlock => return Err(ReadOutcome::Closed),
        // Nothing there yet (or no direct read): glommio waits for bytes.
        Some(Err(_)) | None => {
            assert!(
                ahead.unread().is_empty(),
                "no bytes read ahead inside a frame"
            );
            let want = room.min(ahead.buf.len());
            let into = ahead.buf.get_mut(..want).unwrap_or(&mut []);
            let n = match source.read(into).await {
                Ok(n) => n,
                Err(_) => return Err(ReadOutcome::Closed),
            };
            if n == 0 {
                return Err(ReadOutcome::Bad("connection closed mid-frame".into()));
            }
            body.extend_from_slice(into.get(..n).unwrap_or(&[]));
            n
        }
    };
    if n > 0 {
        activity.read();
    }
    Ok(())
}

/// Grow `held` to `bytes` of the shard's request budget. Waiting keeps the connection busy (the
/// broker holds it up, not the client), but never past `deadline` when one is given (a frame
/// still arriving). Err if the budget was closed or the deadline passed.
async fn grow(
    held: &mut RequestBytes,
    bytes: usize,
    deadline: Option<Instant>,
    waited: &mut bool,
    limits: &Limits<'_>,
    activity: &Rc<Activity>,
) -> Result<(), ()> {
    if held.try_grow_to(bytes) {
        return Ok(());
    }
    let _busy = activity.busy();
    if !std::mem::replace(waited, true) {
        limits.budget_waits.fetch_add(1, Ordering::Relaxed);
    }
    let Some(deadline) = deadline else {
        return held.grow_to(bytes).await;
    };
    let wait = std::pin::pin!(held.grow_to(bytes));
    let late = std::pin::pin!(glommio::timer::sleep(
        deadline.saturating_duration_since(Instant::now())
    ));
    match futures::future::select(wait, late).await {
        futures::future::Either::Left((r, _)) => r,
        futures::future::Either::Right(_) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::AsyncWriteExt;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    /// A socket read as the connection reads a plain one (`direct`: reads straight into the
    /// body), or as it reads TLS (always through `AsyncRead`).
    struct Socket {
        stream: glommio::net::TcpStream,
        direct: bool,
    }

    impl futures::io::AsyncRead for Socket {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::pin::Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
        }
    }

    impl FrameSource for Socket {
        fn try_read_uninit(&mut self, dst: &mut [MaybeUninit<u8>]) -> Option<io::Result<usize>> {
            self.direct
                .then(|| recv_uninit(self.stream.as_raw_fd(), dst))
        }
    }

    fn body(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
    }

    /// Frame sizes around every boundary of the reader: tiny, a read-ahead chunk, the
    /// preallocation limit (`FRAME_BODY_PREALLOCATE_BYTES_MAX`, past which the body grows with
    /// its reservation), several MiB.
    fn sizes() -> Vec<usize> {
        let chunk = READ_CHUNK_BYTES;
        let pre = FRAME_BODY_PREALLOCATE_BYTES_MAX;
        vec![
            REQUEST_HEADER_BYTES_MIN,
            100,
            chunk - 4,
            chunk - 3,
            chunk,
            chunk + 1,
            3 * chunk + 17,
            pre - 1,
            pre,
            pre + 1,
            3 * pre + 12_345,
            50,
            20_000,
        ]
    }

    /// Frames written in odd pieces with pauses (so reads find the socket empty, partly filled,
    /// or holding several frames) arrive whole, in order, each holding exactly its length of
    /// the budget, which is whole again once they are dropped.
    fn frames_arrive_whole(direct: bool) {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let sizes = sizes();
                let mut wire = Vec::new();
                for (i, &len) in sizes.iter().enumerate() {
                    wire.extend_from_slice(&(len as i32).to_be_bytes());
                    wire.extend_from_slice(&body(i, len));
                }
                let writer = glommio::spawn_local(async move {
                    let mut s = glommio::net::TcpStream::connect(addr)
                        .await
                        .expect("connect");
                    let mut at = 0;
                    let mut piece = 1usize;
                    while at < wire.len() {
                        let end = (at + piece).min(wire.len());
                        s.write_all(&wire[at..end]).await.expect("write");
                        at = end;
                        piece = (piece * 7 + 3) % 300_000 + 1;
                        if piece.is_multiple_of(3) {
                            glommio::timer::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    s.close().await.expect("close");
                });
                let stream = listener.accept().await.expect("accept");
                let mut socket = Socket { stream, direct };
                let budget_bytes = 64 << 20;
                let budget = Rc::new(Semaphore::new(budget_bytes));
                let waits = AtomicU64::new(0);
                let limits = Limits {
                    request_max_bytes: 16 << 20,
                    budget: &budget,
                    budget_waits: &waits,
                };
                let activity = Activity::new(Duration::from_secs(60), Duration::from_secs(60));
                let mut ahead = ReadAhead::new();
                let mut held = Vec::new();
                for (i, &len) in sizes.iter().enumerate() {
                    match read_frame(&mut socket, &mut ahead, &limits, &activity).await {
                        ReadOutcome::Frame(frame, bytes) => {
                            assert_eq!(frame.len(), len, "frame {i}");
                            assert!(frame[..] == body(i, len)[..], "frame {i}'s bytes differ");
                            assert_eq!(bytes.bytes(), len);
                            held.push(bytes);
                        }
                        ReadOutcome::Closed => panic!("closed before frame {i}"),
                        ReadOutcome::Bad(why) => panic!("frame {i}: {why}"),
                    }
                }
                let total: usize = sizes.iter().sum();
                assert_eq!(budget.available(), budget_bytes - total as u64);
                drop(held);
                assert_eq!(budget.available(), budget_bytes);
                assert!(matches!(
                    read_frame(&mut socket, &mut ahead, &limits, &activity).await,
                    ReadOutcome::Closed
                ));
                writer.await;
            })
            .expect("executor")
            .join()
            .expect("joined");
    }

    #[test]
    fn frames_arrive_whole_reading_straight_into_their_buffers() {
        frames_arrive_whole(true);
    }

    #[test]
    fn frames_arrive_whole_through_the_read_ahead_only() {
        frames_arrive_whole(false);
    }

    /// A length over the limit, negative, or shorter than a header ends the connection before
    /// anything is allocated or reserved for the body.
    #[test]
    fn bad_lengths_are_refused_before_any_allocation() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                for (len, want) in [
                    (i32::MAX, "exceeds --request-max-bytes"),
                    (-1, "negative frame length"),
                    (3, "shorter than a request header"),
                ] {
                    let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                    let addr = listener.local_addr().expect("addr");
                    let writer = glommio::spawn_local(async move {
                        let mut s = glommio::net::TcpStream::connect(addr)
                            .await
                            .expect("connect");
                        s.write_all(&len.to_be_bytes()).await.expect("write");
                        s
                    });
                    let stream = listener.accept().await.expect("accept");
                    let mut socket = Socket {
                        stream,
                        direct: true,
                    };
                    let budget = Rc::new(Semaphore::new(1 << 20));
                    let waits = AtomicU64::new(0);
                    let limits = Limits {
                        request_max_bytes: 1 << 20,
                        budget: &budget,
                        budget_waits: &waits,
                    };
                    let activity = Activity::new(Duration::from_secs(60), Duration::from_secs(60));
                    let mut ahead = ReadAhead::new();
                    match read_frame(&mut socket, &mut ahead, &limits, &activity).await {
                        ReadOutcome::Bad(why) => assert!(why.contains(want), "{why}"),
                        _ => panic!("length {len} was not refused"),
                    }
                    assert_eq!(budget.available(), 1 << 20, "nothing reserved");
                    drop(writer.await);
                }
            })
            .expect("executor")
            .join()
            .expect("joined");
    }
}
