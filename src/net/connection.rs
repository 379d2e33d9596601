//! One client connection, on the shard that accepted it.
//!
//! A reader task cuts frames off the socket and starts a handler task per request; a writer
//! writes the replies strictly in request order. At most `CONNECTION_INFLIGHT_REQUESTS_MAX`
//! requests are in flight: past that the reader stops reading, so a fast pipelining client gets
//! TCP backpressure instead of growing our queues.
//!
//! A watchdog task closes the connection once it is idle or a reply write stalls for
//! `--connections-max-idle-ms`, or a frame's body is late (the rules are in `net::idle`): the
//! reader's socket reads and the writer's socket writes report their progress to the
//! connection's `idle::Activity`, and each request is "busy" from its frame read until its
//! handler returned.
//!
//! Request budget (`--inflight-request-bytes`, per shard). A frame's bytes are reserved before
//! they are buffered and given back once its reply is written. A frame that arrived whole with
//! earlier reads reserves its length at once (waiting, busy, while the budget is spent: the
//! broker holds it up, not the client). A frame still arriving reserves as it arrives: before
//! each read, at most twice what it has received so far (at least `READ_CHUNK_BYTES`), never
//! past its length. So a client that announces a 100 MB frame and stalls holds 64 KiB, not
//! 100 MB, and one that dribbles holds at most about twice what it sent, for at most the frame
//! time `F` (after which the watchdog closes the connection and its reservation is freed): a
//! few such clients can no longer spend the budget and stall everyone else on the shard. The
//! frame time also breaks the one deadlock growing reservations allow (frames still arriving
//! hold the whole budget and each waits for more): the oldest is closed at its deadline, and its
//! bytes let the others go on.

use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::FutureExt;
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::sync::Semaphore;

use super::idle::{self, Activity};
use super::send;
use super::tls::{self, TlsServer};
use crate::handlers::{self, Reply};
use crate::limits::{
    CONNECTION_INFLIGHT_REQUESTS_MAX, REQUEST_BODY_READ_TIMEOUT_MS, REQUEST_HEADER_BYTES_MIN,
};
use crate::security::listener::{ListenerInfo, SecurityProtocol};
use crate::security::session::Session;
use crate::shard::Shard;

pub use crate::limits::CONNECTION_READ_BUFFER_BYTES_MIN as READ_CHUNK_BYTES;

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

enum ReadOutcome {
    /// A frame and its share of the shard's in-flight request budget (exactly its length).
    Frame(Bytes, RequestBytes),
    /// Clean EOF between frames, or shutdown.
    Closed,
    /// A frame that breaks the protocol's framing rules: close without answering.
    Bad(String),
}

/// Serve one connection, accepted on `listener`, until the client closes it, it breaks the
/// protocol, or shutdown. On an SSL or SASL_SSL listener (`tls` is its server side) the
/// connection is a TLS server first: a handshake that fails or does not finish within the frame
/// time closes it, counted. On SSL, a verified client certificate's subject is the principal.
pub async fn serve(
    shard: Rc<Shard>,
    stream: TcpStream,
    listener: Arc<ListenerInfo>,
    tls: Option<Arc<TlsServer>>,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    assert_eq!(
        listener.protocol.is_tls(),
        tls.is_some(),
        "TLS exactly on SSL and SASL_SSL listeners"
    );
    let session = Rc::new(Session::new(listener, peer));
    // For vectored writes (send.rs); valid while `writer` below is, which outlives its uses.
    let fd = stream.as_raw_fd();
    shard
        .metrics
        .connections_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shard
        .metrics
        .connections_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let activity = Activity::new(
        Duration::from_millis(shard.config.connections_max_idle_ms),
        Duration::from_millis(REQUEST_BODY_READ_TIMEOUT_MS),
    );
    // Cancelled (dropped) below before the stream's halves are, as `idle::watch` requires.
    let watchdog = glommio::spawn_local(idle::watch(activity.clone(), fd));
    let mut stream = stream;
    let transport = match &tls {
        None => Some(Transport::Plain),
        Some(server) => tls_handshake(&shard, server, &mut stream, &activity, peer).await,
    };
    if let Some(Transport::Tls(accepted)) = &transport {
        // Kafka: on SASL_SSL the principal is SASL's, whatever certificate the client showed.
        if session.protocol() == SecurityProtocol::Ssl {
            if let Some(principal) = &accepted.principal {
                session.set_principal(principal.clone());
            }
        }
        tracing::debug!(
            shard = shard.id,
            peer = %session.peer_string(),
            listener = %session.listener.name,
            principal = %session.principal(),
            "TLS connection established"
        );
    }
    let handshake_failed = transport.is_none();
    match transport {
        Some(transport) => {
            serve_requests(&shard, &session, stream, fd, transport, &activity, watchdog).await
        }
        None => drop(watchdog),
    }
    // Share sessions this connection last used end with it (their records are released).
    crate::share::owner::end_connection(&shard, session.connection_id);
    if let (Some(reason), false) = (activity.closed(), handshake_failed) {
        note_idle_close(
            &shard,
            reason,
            peer,
            activity.idle_time(),
            activity.frame_time(),
        );
    }
    shard
        .metrics
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// How a connection's bytes travel once it is established.
enum Transport {
    Plain,
    Tls(tls::stream::Accepted),
}

/// The TLS handshake, bounded by the watchdog's frame time (it counts as a frame being read)
/// and by shutdown. None (counted, logged at the client-error rate) if it fails.
async fn tls_handshake(
    shard: &Shard,
    server: &Arc<TlsServer>,
    stream: &mut TcpStream,
    activity: &Rc<Activity>,
    peer: Option<std::net::SocketAddr>,
) -> Option<Transport> {
    let incomplete = activity.frame_incomplete();
    let outcome = futures::select_biased! {
        r = tls::stream::accept(server, stream, activity).fuse() => r,
        _ = shard.shutdown.wait().fuse() => return None,
    };
    drop(incomplete);
    let why = match (outcome, activity.closed()) {
        (Ok(accepted), None) => return Some(Transport::Tls(accepted)),
        (_, Some(_)) => format!(
            "TLS handshake not complete within {} ms (the frame time)",
            activity.frame_time().as_millis()
        ),
        (Err(why), None) => why,
    };
    shard
        .metrics
        .tls_handshake_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shard.client_errors.note(format_args!(
        "closing connection from {}: {why}",
        peer.map_or_else(|| "an unknown peer".to_string(), |p| p.to_string())
    ));
    None
}

/// The connection's read side: the socket, or TLS over it.
enum FrameReader {
    Plain(ReadHalf<TcpStream>),
    Tls(tls::stream::TlsReader<ReadHalf<TcpStream>>),
}

impl futures::io::AsyncRead for FrameReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            FrameReader::Plain(r) => std::pin::Pin::new(r).poll_read(cx, buf),
            FrameReader::Tls(r) => std::pin::Pin::new(r).poll_read(cx, buf),
        }
    }
}

/// The connection's write side: `sendmsg` of the reply's chunks, or TLS records of them.
enum ReplyWriter {
    Plain(WriteHalf<TcpStream>),
    Tls(tls::stream::TlsWriter<WriteHalf<TcpStream>>),
}

impl ReplyWriter {
    async fn write_chunks<C: std::ops::Deref<Target = [u8]>>(
        &mut self,
        fd: RawFd,
        chunks: &[C],
        activity: &Activity,
    ) -> std::io::Result<()> {
        match self {
            ReplyWriter::Plain(w) => send::write_chunks(fd, w, chunks, activity).await,
            ReplyWriter::Tls(w) => w.write_chunks(chunks, activity).await,
        }
    }

    async fn close(&mut self, activity: &Activity) {
        match self {
            ReplyWriter::Plain(w) => {
                let _ = w.close().await;
            }
            ReplyWriter::Tls(w) => w.close(activity).await,
        }
    }
}

/// Read frames and write replies until the connection ends.
async fn serve_requests(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    stream: TcpStream,
    fd: RawFd,
    transport: Transport,
    activity: &Rc<Activity>,
    watchdog: glommio::Task<idle::Reason>,
) {
    let peer = session.peer;
    let (reader, writer) = stream.split();
    let (mut reader, mut writer) = match transport {
        Transport::Plain => (FrameReader::Plain(reader), ReplyWriter::Plain(writer)),
        Transport::Tls(accepted) => (
            FrameReader::Tls(tls::stream::TlsReader::new(
                accepted.conn.clone(),
                reader,
                accepted.leftover,
            )),
            ReplyWriter::Tls(tls::stream::TlsWriter::new(accepted.conn, fd, writer)),
        ),
    };
    let (tx, rx) = local_channel::new_bounded::<(
        glommio::task::JoinHandle<Reply>,
        Option<RequestBytes>,
    )>(CONNECTION_INFLIGHT_REQUESTS_MAX);

    let writer_shard = shard.clone();
    let writer_activity = activity.clone();
    let writer_session = session.clone();
    let writer_task = glommio::spawn_local(async move {
        while let Some((handle, permit)) = rx.recv().await {
            let reply = handle.await.unwrap_or(Reply::Close);
            // The request's bytes are free once it is answered (or needs no answer).
            let _permit = permit;
            // A quota throttle earned by this request starts once its reply is written
            // (KIP-219: answer at once, then mute): the guard fires at the end of this turn.
            let _throttle = scopeguard_reply_written(&writer_session);
            match reply {
                Reply::Send(bytes) => {
                    writer_shard
                        .metrics
                        .bytes_out
                        .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    let one = std::slice::from_ref(&bytes);
                    if writer
                        .write_chunks(fd, one, &writer_activity)
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Reply::Chunks(chunks, reservation) => {
                    let bytes: usize = chunks.iter().map(|c| c.len()).sum();
                    writer_shard
                        .metrics
                        .bytes_out
                        .fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
                    let written = writer.write_chunks(fd, &chunks, &writer_activity).await;
                    // The response's bytes are freed here, and with them its budget.
                    drop(chunks);
                    drop(reservation);
                    if written.is_err() {
                        break;
                    }
                }
                Reply::None => {}
                Reply::Close => break,
            }
        }
        writer.close(&writer_activity).await;
    });

    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    // One wait on the shutdown latch for the connection's life, not one (a oneshot and a
    // waiter registration) per frame read.
    let shutdown = shard.shutdown.wait().fuse();
    futures::pin_mut!(shutdown);
    loop {
        let outcome = futures::select_biased! {
            r = read_frame(&mut reader, &mut buf, shard.config.request_max_bytes, shard, activity).fuse() => r,
            _ = shutdown => ReadOutcome::Closed,
        };
        if activity.closed().is_some() {
            // The watchdog shut the socket: an EOF or a cut frame is its doing, not the
            // client's, and bytes still buffered are not served.
            break;
        }
        match outcome {
            ReadOutcome::Frame(frame, permit) => {
                shard
                    .metrics
                    .bytes_in
                    .fetch_add(frame.len() as u64 + 4, std::sync::atomic::Ordering::Relaxed);
                if !wait_out_mute(shard, session, activity).await {
                    break;
                }
                let api_key = frame.get(..2).map(|k| i16::from_be_bytes([k[0], k[1]]));
                if session.serial(api_key) {
                    // Authentication changes the session: handled here, one request at a time,
                    // before the next frame is read (`security::sasl`).
                    let busy = activity.busy();
                    let reply = serial_reply(shard, session, frame).await;
                    drop(busy);
                    let ready = glommio::spawn_local(async move { reply }).detach();
                    if tx.send((ready, Some(permit))).await.is_err() {
                        break;
                    }
                    if session.closing() {
                        let close = glommio::spawn_local(async { Reply::Close }).detach();
                        let _ = tx.send((close, None)).await;
                        break;
                    }
                    continue;
                }
                let busy = activity.busy();
                let charged_on_arrival = quota_charged_on_arrival(shard, api_key);
                let task = glommio::spawn_local(
                    handlers::handle(shard.clone(), session.clone(), frame).map(move |reply| {
                        drop(busy);
                        reply
                    }),
                )
                .detach();
                if tx.send((task, Some(permit))).await.is_err() {
                    break;
                }
                if charged_on_arrival {
                    // The handler charges the request to its quota in its first poll; let
                    // that run before the next frame's mute check, or a client's pipelined
                    // requests all get in ahead of the throttle the first one earned.
                    futures_lite::future::yield_now().await;
                }
            }
            ReadOutcome::Closed => break,
            ReadOutcome::Bad(why) => {
                shard
                    .metrics
                    .connections_closed_bad_input
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                shard.client_errors.note(format_args!(
                    "closing connection from {}: {why}",
                    peer.map_or_else(|| "an unknown peer".to_string(), |p| p.to_string())
                ));
                let close = glommio::spawn_local(async { Reply::Close }).detach();
                let _ = tx.send((close, None)).await;
                break;
            }
        }
    }
    drop(tx);
    writer_task.await;
    // Before the socket closes (with `reader`, its last half): the watchdog must never shut
    // down a descriptor number the kernel has handed to another socket.
    drop(watchdog);
    drop(reader);
}

/// Whether a request with this key is charged to a byte-rate quota when it arrives (Produce),
/// with quotas configured at all: the connection then lets its handler start before reading on.
fn quota_charged_on_arrival(shard: &Shard, api_key: Option<i16>) -> bool {
    api_key == Some(kafka_protocol::messages::ApiKey::Produce as i16)
        && !shard.snapshot().quotas.is_empty()
}

/// Marks a reply written for the connection's quota throttle when dropped (after the write,
/// whichever way the writer's loop body ends).
struct ReplyWritten<'a>(&'a Session);

impl Drop for ReplyWritten<'_> {
    fn drop(&mut self) {
        self.0.throttle().reply_written();
    }
}

fn scopeguard_reply_written(session: &Session) -> ReplyWritten<'_> {
    ReplyWritten(session)
}

/// A client over its quota is muted (KIP-219): the frame it sent meanwhile waits, unhandled,
/// until the mute ends — as if it had stayed in the socket, which Kafka leaves unread. Only
/// this connection waits; the shard serves every other one meanwhile. The wait is broker
/// work, not client idleness (the watchdog does not count it). False on shutdown.
async fn wait_out_mute(shard: &Shard, session: &Session, activity: &Rc<Activity>) -> bool {
    let Some(left) = session.throttle().muted_for() else {
        return true;
    };
    let _busy = activity.busy();
    futures::select_biased! {
        _ = glommio::timer::sleep(left).fuse() => true,
        _ = shard.shutdown.wait().fuse() => false,
    }
}

/// The reply to a frame handled in order (see `Session::serial`): a Kafka request, or after
/// SaslHandshake v0 a raw SASL token, answered with a raw token (a 4-byte length and the bytes;
/// on failure nothing: the connection is closed, as Kafka does on that path).
async fn serial_reply(shard: &Rc<Shard>, session: &Rc<Session>, frame: Bytes) -> Reply {
    let raw = session.sasl.as_ref().is_some_and(|s| s.expects_raw_token());
    if !raw {
        return handlers::handle(shard.clone(), session.clone(), frame).await;
    }
    let outcome = std::panic::AssertUnwindSafe(handlers::sasl_authenticate::authenticate(
        shard, session, &frame,
    ))
    .catch_unwind()
    .await;
    match outcome {
        Ok(Ok((bytes, _lifetime))) => {
            let mut out = Vec::with_capacity(4 + bytes.len());
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
            Reply::Send(Bytes::from(out))
        }
        Ok(Err(_)) => {
            shard.metrics.count_error_code(
                kafka_protocol::messages::ApiKey::SaslAuthenticate as i16,
                kafka_protocol::error::ResponseError::SaslAuthenticationFailed.code(),
            );
            Reply::Close
        }
        Err(panic) => {
            handlers::note_panic(shard, "a raw SASL token", &panic);
            Reply::Close
        }
    }
}

/// Count and log a connection the watchdog closed. A stalled write is the client's doing (it
/// does not read), so it goes to the rate-limited client-error log; plain idleness is routine
/// (Kafka logs it at debug).
fn note_idle_close(
    shard: &Shard,
    reason: idle::Reason,
    peer: Option<std::net::SocketAddr>,
    idle_time: Duration,
    frame_time: Duration,
) {
    let peer = peer.map_or_else(|| "an unknown peer".to_string(), |p| p.to_string());
    let ms = idle_time.as_millis();
    match reason {
        idle::Reason::Idle => {
            shard
                .metrics
                .connections_closed_idle
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(
                shard = shard.id,
                %peer,
                "closed connection idle for {ms} ms (--connections-max-idle-ms)"
            );
        }
        idle::Reason::WriteStalled => {
            shard
                .metrics
                .connections_closed_write_stalled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            shard.client_errors.note(format_args!(
                "closed connection from {peer}: a reply write made no progress for {ms} ms \
                 (--connections-max-idle-ms); the client does not read its socket"
            ));
        }
        idle::Reason::FrameIncomplete => {
            // A frame that never completes is a malformed one, as far as counting goes.
            shard
                .metrics
                .connections_closed_bad_input
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            shard.client_errors.note(format_args!(
                "closed connection from {peer}: a request frame's body was still incomplete \
                 {frame_ms} ms after its length (REQUEST_BODY_READ_TIMEOUT_MS, at most \
                 --connections-max-idle-ms)",
                frame_ms = frame_time.as_millis()
            ));
        }
    }
}

/// Read one length-prefixed frame. The length is checked before any byte of the body is
/// buffered for it: a negative, too small, or over-limit length ends the connection. The
/// frame's bytes are reserved from the shard's request budget as the module docs say.
async fn read_frame<R: futures::io::AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    request_max_bytes: usize,
    shard: &Shard,
    activity: &Rc<Activity>,
) -> ReadOutcome {
    if let Err(outcome) = fill(reader, buf, 4, true, activity).await {
        return outcome;
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 {
        return ReadOutcome::Bad(format!("negative frame length {len}"));
    }
    let len = len as usize;
    if len < REQUEST_HEADER_BYTES_MIN {
        return ReadOutcome::Bad(format!(
            "frame of {len} bytes is shorter than a request header"
        ));
    }
    if len > request_max_bytes {
        return ReadOutcome::Bad(format!(
            "frame of {len} bytes exceeds --request-max-bytes {request_max_bytes}"
        ));
    }
    let mut held = RequestBytes::new(shard.request_budget.clone());
    let mut waited = false;
    if buf.len() >= 4 + len {
        // Whole already (it came with earlier reads, within the connection's read buffer).
        if grow(&mut held, len, None, &mut waited, shard, activity)
            .await
            .is_err()
        {
            return ReadOutcome::Closed;
        }
    } else {
        let incomplete = activity.frame_incomplete();
        let deadline = activity.frame_deadline();
        while buf.len() < 4 + len {
            let have = buf.len() - 4;
            if held.bytes() <= have {
                let next = len.min((2 * have).max(READ_CHUNK_BYTES));
                if grow(&mut held, next, deadline, &mut waited, shard, activity)
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
            if let Err(outcome) = fill(reader, buf, 4 + held.bytes(), false, activity).await {
                return outcome;
            }
        }
        drop(incomplete);
    }
    assert_eq!(held.bytes(), len, "a whole frame holds exactly its length");
    let mut frame = buf.split_to(4 + len);
    frame.advance(4);
    ReadOutcome::Frame(frame.freeze(), held)
}

/// Grow `held` to `bytes` of the shard's request budget. Waiting keeps the connection busy (the
/// broker holds it up, not the client), but never past `deadline` when one is given (a frame
/// still arriving). Err if the budget was closed or the deadline passed.
async fn grow(
    held: &mut RequestBytes,
    bytes: usize,
    deadline: Option<Instant>,
    waited: &mut bool,
    shard: &Shard,
    activity: &Rc<Activity>,
) -> Result<(), ()> {
    if held.try_grow_to(bytes) {
        return Ok(());
    }
    let _busy = activity.busy();
    if !std::mem::replace(waited, true) {
        shard
            .metrics
            .request_budget_waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

/// Read until `buf` holds at least `need` bytes (`at_boundary`: a frame's length, reading ahead;
/// else exactly up to `need`); every read that returns some is activity.
///
/// The room read into is zeroed once per call, not once per read: a TLS connection returns at
/// most a record (16 KiB) per read, and re-zeroing the rest of a large frame on every read
/// cost the broker a fifth of its CPU (a `memset` quadratic in the frame size).
async fn fill<R: futures::io::AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    need: usize,
    at_boundary: bool,
    activity: &Activity,
) -> Result<(), ReadOutcome> {
    let start = buf.len();
    if start >= need {
        return Ok(());
    }
    // Between frames read ahead (a chunk may hold several small frames); inside a frame read
    // no further than what the frame has reserved.
    let end = if at_boundary {
        need.max(start + READ_CHUNK_BYTES)
    } else {
        need
    };
    buf.resize(end, 0);
    let mut filled = start;
    while filled < need {
        let n = match reader.read(&mut buf[filled..]).await {
            Ok(n) => n,
            Err(_) => {
                buf.truncate(filled);
                return Err(ReadOutcome::Closed);
            }
        };
        if n == 0 {
            buf.truncate(filled);
            return Err(if at_boundary && filled == 0 {
                ReadOutcome::Closed
            } else {
                ReadOutcome::Bad("connection closed mid-frame".into())
            });
        }
        filled += n;
        activity.read();
    }
    buf.truncate(filled);
    Ok(())
}
