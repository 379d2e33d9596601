//! One TLS connection's handshake, reads and writes, on the shard that accepted it.
//!
//! rustls' buffered `ServerConnection` is driven by hand rather than through an async wrapper,
//! so that the reply path stays as close to the plaintext one as user-space TLS allows:
//! - **Writes** ([`TlsWriter::write_chunks`]): the reply's chunks (framing and the stored
//!   batches, `Bytes` from the tail cache) are encrypted straight from where they are into
//!   rustls' send buffer, up to `TLS_SEND_BUFFER_BYTES` at a time (one allocation per TLS record
//!   of up to 16 KiB, never one per Kafka record, and no contiguous copy of the reply); the
//!   records are then sent with one `sendmsg` of up to 64 iovecs on the raw fd (as the plaintext
//!   path does in `net::send`). When the socket is full, up to `TLS_SEND_SPILL_BYTES` of
//!   ciphertext are handed to glommio's own write, which waits for room.
//! - **Reads** ([`TlsReader`], an `AsyncRead`): ciphertext is read into a buffer of
//!   `TLS_READ_BUFFER_BYTES` and fed to rustls only while no plaintext is waiting (rustls refuses
//!   more once 16 KiB of plaintext is unread), so a large read never fails half-fed.
//! - **Handshake** ([`accept`]): before the connection's tasks start. It is bounded by the
//!   connection's watchdog (`net::idle`): it counts as a frame being read, so a client that
//!   never finishes it is closed at the frame time, like one that never finishes a request.
//!
//! The reader and writer tasks share the `ServerConnection` through `Rc<RefCell<..>>`; neither
//! holds the borrow across an await. `!Send`: lives on its connection's shard.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rustls::ServerConnection;

use super::principal;
use super::TlsServer;
use crate::limits::{TLS_READ_BUFFER_BYTES, TLS_SEND_BUFFER_BYTES, TLS_SEND_SPILL_BYTES};
use crate::net::idle::Activity;
use crate::net::send;

use crate::limits::TLS_WRITE_IOVECS_MAX;
use crate::security::session::KafkaPrincipal;

/// The rustls state of one connection, shared by its reader and writer tasks.
pub type Shared = Rc<RefCell<ServerConnection>>;

/// What a finished handshake hands the connection.
pub struct Accepted {
    pub conn: Shared,
    /// "User:<subject>" of a verified client certificate; None without one.
    pub principal: Option<KafkaPrincipal>,
    /// Ciphertext read with the handshake's last flight that rustls has not taken yet.
    pub leftover: Vec<u8>,
}

/// Run the server side of the handshake on `stream`. Err says why it failed (the client gets
/// rustls' alert first, where there is one to send).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    server: &Arc<TlsServer>,
    stream: &mut S,
    activity: &Activity,
) -> Result<Accepted, String> {
    let mut conn = ServerConnection::new(server.config.clone()).map_err(|e| e.to_string())?;
    conn.set_buffer_limit(Some(TLS_SEND_BUFFER_BYTES));
    let mut buf = vec![0u8; TLS_READ_BUFFER_BYTES];
    let mut leftover = Vec::new();
    while conn.is_handshaking() {
        send_handshake(&mut conn, stream, activity).await?;
        if !conn.is_handshaking() {
            break;
        }
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the client closed the connection during the TLS handshake".into());
        }
        activity.read();
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            if !conn.is_handshaking() {
                // Application data that came with the client's last flight: the reader's.
                leftover.extend_from_slice(rest);
                break;
            }
            if let Err(e) = conn.read_tls(&mut rest) {
                return Err(format!("TLS handshake: {e}"));
            }
            if let Err(e) = conn.process_new_packets() {
                // Send rustls' alert (e.g. to a plaintext client), then give up.
                let _ = send_handshake(&mut conn, stream, activity).await;
                return Err(format!("TLS handshake failed: {e}"));
            }
        }
    }
    // The server's last flight (TLS 1.3 tickets, or the TLS 1.2 Finished).
    send_handshake(&mut conn, stream, activity).await?;
    let principal = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| principal::of_certificate(cert));
    Ok(Accepted {
        conn: Rc::new(RefCell::new(conn)),
        principal,
        leftover,
    })
}

/// Write what rustls has to send during the handshake (small: one copy is fine here).
async fn send_handshake<S: AsyncWrite + Unpin>(
    conn: &mut ServerConnection,
    stream: &mut S,
    activity: &Activity,
) -> Result<(), String> {
    while conn.wants_write() {
        let mut out = Vec::new();
        conn.write_tls(&mut out).map_err(|e| e.to_string())?;
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        activity.wrote();
    }
    Ok(())
}

/// The plaintext side of a TLS connection's read half.
pub struct TlsReader<R> {
    conn: Shared,
    raw: R,
    cipher: Box<[u8]>,
    /// `cipher[start..end]` is read from the socket but not yet taken by rustls.
    start: usize,
    end: usize,
}

impl<R> TlsReader<R> {
    pub fn new(conn: Shared, raw: R, leftover: Vec<u8>) -> TlsReader<R> {
        let mut cipher = vec![0u8; TLS_READ_BUFFER_BYTES.max(leftover.len())].into_boxed_slice();
        cipher[..leftover.len()].copy_from_slice(&leftover);
        TlsReader {
            conn,
            raw,
            cipher,
            start: 0,
            end: leftover.len(),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for TlsReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            {
                let mut conn = this.conn.borrow_mut();
                match conn.reader().read(buf) {
                    Ok(n) => return Poll::Ready(Ok(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed without close_notify: an EOF to the frame reader.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Poll::Ready(Ok(0))
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
                if this.start < this.end {
                    let mut rest = &this.cipher[this.start..this.end];
                    let before = rest.len();
                    conn.read_tls(&mut rest)?;
                    this.start += before - rest.len();
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
            }
            let n = match Pin::new(&mut this.raw).poll_read(cx, &mut this.cipher) {
                Poll::Ready(r) => r?,
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Ok(0));
            }
            this.start = 0;
            this.end = n;
        }
    }
}

/// The encrypting side of a TLS connection's write half.
pub struct TlsWriter<W> {
    conn: Shared,
    fd: RawFd,
    raw: W,
    spill: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> TlsWriter<W> {
    /// Contract: `fd` is the socket under `raw`, open while this writer is, and nothing else
    /// writes to it.
    pub fn new(conn: Shared, fd: RawFd, raw: W) -> TlsWriter<W> {
        TlsWriter {
            conn,
            fd,
            raw,
            spill: Vec::new(),
        }
    }

    /// Encrypt and send all of `chunks`, in order.
    pub async fn write_chunks<C: Deref<Target = [u8]>>(
        &mut self,
        chunks: &[C],
        activity: &Activity,
    ) -> io::Result<()> {
        let (mut at, mut skip) = (0usize, 0usize);
        loop {
            {
                let mut conn = self.conn.borrow_mut();
                loop {
                    while at < chunks.len() && chunks[at].len() == skip {
                        at += 1;
                        skip = 0;
                    }
                    if at == chunks.len() {
                        break;
                    }
                    // Many chunks per call: rustls fills whole records across them (a Fetch
                    // reply's small framing chunks don't become records of their own).
                    let mut iov = [io::IoSlice::new(&[]); TLS_WRITE_IOVECS_MAX];
                    let mut n = 0;
                    for (i, chunk) in chunks[at..].iter().take(TLS_WRITE_IOVECS_MAX).enumerate() {
                        let part = if i == 0 { &chunk[skip..] } else { &chunk[..] };
                        if !part.is_empty() {
                            iov[n] = io::IoSlice::new(part);
                            n += 1;
                        }
                    }
                    if n == 0 {
                        // Unreachable (the window starts at a non-empty chunk); never spin.
                        break;
                    }
                    let mut took = conn.writer().write_vectored(&iov[..n])?;
                    if took == 0 {
                        break; // the send buffer is full: send it first
                    }
                    // Advance past what rustls took.
                    while took > 0 {
                        let here = chunks[at].len() - skip;
                        if took >= here {
                            took -= here;
                            at += 1;
                            skip = 0;
                        } else {
                            skip += took;
                            took = 0;
                        }
                    }
                }
            }
            self.flush_tls(activity).await?;
            if at == chunks.len() {
                return Ok(());
            }
        }
    }

    /// Send everything rustls holds for the socket.
    async fn flush_tls(&mut self, activity: &Activity) -> io::Result<()> {
        loop {
            let sent = {
                let mut conn = self.conn.borrow_mut();
                if !conn.wants_write() {
                    return Ok(());
                }
                conn.write_tls(&mut FdWriter(self.fd))
            };
            match sent {
                Ok(n) => {
                    if n > 0 {
                        activity.wrote();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Full: let glommio wait for room, with a piece of the ciphertext.
                    activity.write_waits();
                    self.spill.clear();
                    self.conn
                        .borrow_mut()
                        .write_tls(&mut Spill(&mut self.spill))?;
                    let mut done = 0;
                    while done < self.spill.len() {
                        let n = self.raw.write(&self.spill[done..]).await?;
                        if n == 0 {
                            return Err(io::ErrorKind::WriteZero.into());
                        }
                        done += n;
                        activity.wrote();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Send close_notify (best effort) and close the socket's write side.
    pub async fn close(&mut self, activity: &Activity) {
        self.conn.borrow_mut().send_close_notify();
        let _ = self.flush_tls(activity).await;
        let _ = self.raw.close().await;
    }
}

/// `io::Write` over the socket's fd: non-blocking `sendmsg`, vectored (rustls hands it up to 64
/// records at once).
struct FdWriter(RawFd);

impl Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send::sendmsg_nonblocking(self.0, &[buf], 0)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        send::sendmsg_nonblocking(self.0, bufs, 0)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `io::Write` into a buffer that takes at most `TLS_SEND_SPILL_BYTES`.
struct Spill<'a>(&'a mut Vec<u8>);

impl Write for Spill<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = TLS_SEND_SPILL_BYTES.saturating_sub(self.0.len());
        let n = room.min(buf.len());
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            let took = self.write(b)?;
            n += took;
            if took < b.len() {
                break;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
