//! Writing a reply that is several chunks (a Fetch response: framing plus the stored batches)
//! without first copying it into one buffer. glommio's `TcpStream` has no vectored write, so
//! this calls `sendmsg(2)` with the chunks as iovecs on the socket's fd, non-blocking; when the
//! socket is full it hands the current chunk's rest to glommio's own write, which waits for
//! room, and then goes on with `sendmsg`.
//!
//! Every write that sends bytes, and every wait for room, is reported to the connection's
//! `idle::Activity`, so a write the client never makes room for is closed after the idle time.
//!
//! Runs on the connection's shard, in its writer task (the only writer of the socket).

use futures::io::{AsyncWrite, AsyncWriteExt};
use std::io;
use std::ops::Deref;
use std::os::fd::RawFd;

use super::idle::Activity;

use crate::limits::SEND_IOVECS_MAX;

/// Write all of `chunks`, in order, to the socket `fd` that `writer` writes to.
///
/// Contract: `fd` is the socket under `writer`, open for as long as this runs, and nothing
/// else writes to it meanwhile.
pub async fn write_chunks<W: AsyncWrite + Unpin, C: Deref<Target = [u8]>>(
    fd: RawFd,
    writer: &mut W,
    chunks: &[C],
    activity: &Activity,
) -> io::Result<()> {
    // The position: chunk `at`, byte `skip` within it.
    let (mut at, mut skip) = (0usize, 0usize);
    while at < chunks.len() {
        if chunks[at].len() == skip {
            at += 1;
            skip = 0;
            continue;
        }
        let sent = match sendmsg_nonblocking(fd, &chunks[at..], skip) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Full: let glommio wait until the socket takes some of this chunk.
                activity.write_waits();
                let n = writer.write(&chunks[at][skip..]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                n
            }
            Err(e) => return Err(e),
        };
        if sent > 0 {
            activity.wrote();
        }
        // Advance past what was sent.
        let mut left = sent;
        while left > 0 && at < chunks.len() {
            let here = chunks[at].len() - skip;
            if left >= here {
                left -= here;
                at += 1;
                skip = 0;
            } else {
                skip += left;
                left = 0;
            }
        }
    }
    Ok(())
}

/// One non-blocking `sendmsg` of up to [`SEND_IOVECS_MAX`] chunks, the first from byte `skip`.
pub(crate) fn sendmsg_nonblocking<C: Deref<Target = [u8]>>(
    fd: RawFd,
    chunks: &[C],
    skip: usize,
) -> io::Result<usize> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; SEND_IOVECS_MAX];
    let mut n = 0;
    for (i, chunk) in chunks.iter().take(SEND_IOVECS_MAX).enumerate() {
        let part = if i == 0 { &chunk[skip..] } else { &chunk[..] };
        if part.is_empty() {
            continue;
        }
        iov[n] = libc::iovec {
            iov_base: part.as_ptr() as *mut libc::c_void,
            iov_len: part.len(),
        };
        n += 1;
    }
    // SAFETY: a zeroed msghdr is valid (no name, no control data); iov points at `n` iovecs
    // that reference live, immutable buffers for the duration of the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = n as _;
    // SAFETY: `fd` is an open socket (contract of `write_chunks`); `msg` is valid (above).
    let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::io::AsyncReadExt;
    use std::os::fd::AsRawFd;

    /// Many chunks of odd sizes, more than fit in the socket buffer at once, arrive whole and
    /// in order while the reader is slow (so both the sendmsg and the waiting path run).
    #[test]
    fn chunks_arrive_whole_and_in_order_through_a_full_socket() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let chunks: Vec<Bytes> = (0..300u32)
                    .map(|i| {
                        let len = (i as usize * 7919) % 40_000 + 1;
                        Bytes::from(vec![(i % 251) as u8; len])
                    })
                    .collect();
                let expected: Vec<u8> = chunks.concat();
                let reader = glommio::spawn_local(async move {
                    let mut s = listener.accept().await.expect("accept");
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = s.read(&mut buf).await.expect("read");
                        if n == 0 {
                            break got;
                        }
                        got.extend_from_slice(&buf[..n]);
                        if got.len() % 7 == 0 {
                            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
                        }
                    }
                });
                let mut stream = glommio::net::TcpStream::connect(addr)
                    .await
                    .expect("connect");
                let fd = stream.as_raw_fd();
                let activity = Activity::new(
                    std::time::Duration::from_secs(60),
                    std::time::Duration::from_secs(60),
                );
                write_chunks(fd, &mut stream, &chunks, &activity)
                    .await
                    .expect("write");
                assert_eq!(activity.closed(), None);
                stream.close().await.expect("close");
                let got = reader.await;
                assert_eq!(got.len(), expected.len());
                assert!(got == expected, "bytes differ");
            })
            .expect("executor")
            .join()
            .expect("joined");
    }
}
