//! One client connection, on the shard that accepted it.
//!
//! A reader task cuts frames off the socket and starts a handler task per request; a writer
//! writes the replies strictly in request order. At most `CONNECTION_INFLIGHT_REQUESTS_MAX`
//! requests are in flight: past that the reader stops reading, so a fast pipelining client gets
//! TCP backpressure instead of growing our queues.
//!
//! A watchdog task closes the connection once it is idle or a reply write stalls for
//! `--connections-max-idle-ms` (the rule is in `net::idle`): the reader's socket reads and the
//! writer's socket writes report their progress to the connection's `idle::Activity`, and each
//! request is "busy" from its frame read until its handler returned.

use std::os::fd::AsRawFd;
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::FutureExt;
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::sync::{Semaphore, StaticPermit};

use super::idle::{self, Activity};
use super::send;
use crate::handlers::{self, Reply};
use crate::limits::{CONNECTION_INFLIGHT_REQUESTS_MAX, REQUEST_HEADER_BYTES_MIN};
use crate::shard::Shard;

/// Bytes asked of the socket per read when no bigger frame is pending: each connection's read
/// buffer, which the memory budget counts per connection (`server::memory_budget`).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

enum ReadOutcome {
    /// A frame and its share of the shard's in-flight request budget.
    Frame(Bytes, StaticPermit),
    /// Clean EOF between frames, or shutdown.
    Closed,
    /// A frame that breaks the protocol's framing rules: close without answering.
    Bad(String),
}

/// Serve one connection until the client closes it, it breaks the protocol, or shutdown.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
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
    let activity = Activity::new(std::time::Duration::from_millis(
        shard.config.connections_max_idle_ms,
    ));
    // Cancelled (dropped) below before the stream's halves are, as `idle::watch` requires.
    let watchdog = glommio::spawn_local(idle::watch(activity.clone(), fd));
    let (mut reader, mut writer) = stream.split();
    let (tx, rx) = local_channel::new_bounded::<(
        glommio::task::JoinHandle<Reply>,
        Option<StaticPermit>,
    )>(CONNECTION_INFLIGHT_REQUESTS_MAX);

    let writer_shard = shard.clone();
    let writer_activity = activity.clone();
    let writer_task = glommio::spawn_local(async move {
        while let Some((handle, permit)) = rx.recv().await {
            let reply = handle.await.unwrap_or(Reply::Close);
            // The request's bytes are free once it is answered (or needs no answer).
            let _permit = permit;
            match reply {
                Reply::Send(bytes) => {
                    writer_shard
                        .metrics
                        .bytes_out
                        .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    let one = std::slice::from_ref(&bytes);
                    if send::write_chunks(fd, &mut writer, one, &writer_activity)
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
                    let written =
                        send::write_chunks(fd, &mut writer, &chunks, &writer_activity).await;
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
        let _ = writer.close().await;
    });

    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    loop {
        let outcome = futures::select_biased! {
            r = read_frame(&mut reader, &mut buf, shard.config.request_max_bytes, &shard, &activity).fuse() => r,
            _ = shard.shutdown.wait().fuse() => ReadOutcome::Closed,
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
                let busy = activity.busy();
                let task = glommio::spawn_local(handlers::handle(shard.clone(), frame).map(
                    move |reply| {
                        drop(busy);
                        reply
                    },
                ))
                .detach();
                if tx.send((task, Some(permit))).await.is_err() {
                    break;
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
    drop(watchdog);
    if let Some(reason) = activity.closed() {
        note_idle_close(&shard, reason, peer, activity.idle_time());
    }
    shard
        .metrics
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// Count and log a connection the watchdog closed. A stalled write is the client's doing (it
/// does not read), so it goes to the rate-limited client-error log; plain idleness is routine
/// (Kafka logs it at debug).
fn note_idle_close(
    shard: &Shard,
    reason: idle::Reason,
    peer: Option<std::net::SocketAddr>,
    idle_time: std::time::Duration,
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
    }
}

/// Read one length-prefixed frame. The length is checked before any byte of the body is
/// buffered for it: a negative, too small, or over-limit length ends the connection.
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
    // Reserve the frame's bytes before reading its body: at the budget, this connection (and
    // every other on the shard) stops reading until replies free some.
    let permit = match acquire(&shard.request_budget, len, shard, activity).await {
        Some(p) => p,
        None => return ReadOutcome::Closed,
    };
    if let Err(outcome) = fill(reader, buf, 4 + len, false, activity).await {
        return outcome;
    }
    let mut frame = buf.split_to(4 + len);
    frame.advance(4);
    ReadOutcome::Frame(frame.freeze(), permit)
}

/// `len` bytes of the shard's request budget; None if the budget is closed (shutdown). Waiting
/// for it keeps the connection busy: the broker, not the client, is holding it up.
async fn acquire(
    budget: &Rc<Semaphore>,
    len: usize,
    shard: &Shard,
    activity: &Rc<Activity>,
) -> Option<StaticPermit> {
    let units = len as u64;
    if let Ok(p) = budget.try_acquire_static_permit(units) {
        return Some(p);
    }
    let _busy = activity.busy();
    shard
        .metrics
        .request_budget_waits
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    budget.acquire_static_permit(units).await.ok()
}

/// Read until `buf` holds at least `need` bytes; every read that returns some is activity.
async fn fill<R: futures::io::AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    need: usize,
    at_boundary: bool,
    activity: &Activity,
) -> Result<(), ReadOutcome> {
    while buf.len() < need {
        let start = buf.len();
        let want = (need - start).max(READ_CHUNK_BYTES);
        buf.resize(start + want, 0);
        let n = match reader.read(&mut buf[start..]).await {
            Ok(n) => n,
            Err(_) => {
                buf.truncate(start);
                return Err(ReadOutcome::Closed);
            }
        };
        buf.truncate(start + n);
        if n > 0 {
            activity.read();
        }
        if n == 0 {
            return Err(if at_boundary && start == 0 {
                ReadOutcome::Closed
            } else {
                ReadOutcome::Bad("connection closed mid-frame".into())
            });
        }
    }
    Ok(())
}
