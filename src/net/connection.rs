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
//! Frames are cut off the socket by `net::frame`: the length checked before anything is
//! allocated, the body read into one buffer of its size, and each frame's bytes reserved from
//! the shard's request budget (`--inflight-request-bytes`) as they arrive, given back once its
//! reply is written.

use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::FutureExt;
use glommio::channels::local_channel;
use glommio::net::TcpStream;

use super::frame::{self, FrameSource, ReadAhead, ReadOutcome, RequestBytes};
use super::idle::{self, Activity};
use super::send;
use super::tls::{self, TlsServer};
use crate::handlers::{self, Reply};
use crate::limits::{CONNECTION_INFLIGHT_REQUESTS_MAX, REQUEST_BODY_READ_TIMEOUT_MS};
use crate::security::listener::{ListenerInfo, SecurityProtocol};
use crate::security::session::Session;
use crate::shard::Shard;

pub use super::frame::READ_CHUNK_BYTES;

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

/// The connection's read side: the socket (and its fd, for reads straight into a frame's
/// buffer), or TLS over it.
enum FrameReader {
    Plain(ReadHalf<TcpStream>, RawFd),
    Tls(tls::stream::TlsReader<ReadHalf<TcpStream>>),
}

impl FrameSource for FrameReader {
    fn try_read_uninit(
        &mut self,
        dst: &mut [std::mem::MaybeUninit<u8>],
    ) -> Option<std::io::Result<usize>> {
        match self {
            // The fd is the socket under the read half, open while the reader is.
            FrameReader::Plain(_, fd) => Some(frame::recv_uninit(*fd, dst)),
            // rustls hands out plaintext by copy: read through `AsyncRead`.
            FrameReader::Tls(_) => None,
        }
    }
}

impl futures::io::AsyncRead for FrameReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            FrameReader::Plain(r, _) => std::pin::Pin::new(r).poll_read(cx, buf),
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
        Transport::Plain => (FrameReader::Plain(reader, fd), ReplyWriter::Plain(writer)),
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

    let mut ahead = ReadAhead::new();
    let limits = frame::Limits {
        request_max_bytes: shard.config.request_max_bytes,
        budget: &shard.request_budget,
        budget_waits: &shard.metrics.request_budget_waits,
    };
    // One wait on the shutdown latch for the connection's life, not one (a oneshot and a
    // waiter registration) per frame read.
    let shutdown = shard.shutdown.wait().fuse();
    futures::pin_mut!(shutdown);
    loop {
        let outcome = futures::select_biased! {
            r = frame::read_frame(&mut reader, &mut ahead, &limits, activity).fuse() => r,
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
