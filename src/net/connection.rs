//! One client connection, on the shard that accepted it.
//!
//! A reader task cuts frames off the socket and starts a handler task per request; a writer
//! writes the replies strictly in request order. At most `CONNECTION_INFLIGHT_REQUESTS_MAX`
//! requests are in flight: past that the reader stops reading, so a fast pipelining client gets
//! TCP backpressure instead of growing our queues.

use std::os::fd::AsRawFd;
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::FutureExt;
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::sync::{Semaphore, StaticPermit};

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
    let (mut reader, mut writer) = stream.split();
    let (tx, rx) = local_channel::new_bounded::<(
        glommio::task::JoinHandle<Reply>,
        Option<StaticPermit>,
    )>(CONNECTION_INFLIGHT_REQUESTS_MAX);

    let writer_shard = shard.clone();
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
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Reply::Chunks(chunks, reservation) => {
                    let bytes: usize = chunks.iter().map(|c| c.len()).sum();
                    writer_shard
                        .metrics
                        .bytes_out
                        .fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
                    let written = send::write_chunks(fd, &mut writer, &chunks).await;
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
            r = read_frame(&mut reader, &mut buf, shard.config.request_max_bytes, &shard).fuse() => r,
            _ = shard.shutdown.wait().fuse() => ReadOutcome::Closed,
        };
        match outcome {
            ReadOutcome::Frame(frame, permit) => {
                shard
                    .metrics
                    .bytes_in
                    .fetch_add(frame.len() as u64 + 4, std::sync::atomic::Ordering::Relaxed);
                let task = glommio::spawn_local(handlers::handle(shard.clone(), frame)).detach();
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
    shard
        .metrics
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// Read one length-prefixed frame. The length is checked before any byte of the body is
/// buffered for it: a negative, too small, or over-limit length ends the connection.
async fn read_frame<R: futures::io::AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    request_max_bytes: usize,
    shard: &Shard,
) -> ReadOutcome {
    if let Err(outcome) = fill(reader, buf, 4, true).await {
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
    let permit = match acquire(&shard.request_budget, len, shard).await {
        Some(p) => p,
        None => return ReadOutcome::Closed,
    };
    if let Err(outcome) = fill(reader, buf, 4 + len, false).await {
        return outcome;
    }
    let mut frame = buf.split_to(4 + len);
    frame.advance(4);
    ReadOutcome::Frame(frame.freeze(), permit)
}

/// `len` bytes of the shard's request budget; None if the budget is closed (shutdown).
async fn acquire(budget: &Rc<Semaphore>, len: usize, shard: &Shard) -> Option<StaticPermit> {
    let units = len as u64;
    if let Ok(p) = budget.try_acquire_static_permit(units) {
        return Some(p);
    }
    shard
        .metrics
        .request_budget_waits
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    budget.acquire_static_permit(units).await.ok()
}

/// Read until `buf` holds at least `need` bytes.
async fn fill<R: futures::io::AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    need: usize,
    at_boundary: bool,
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
