//! Kafka's `connections.max.idle.ms` (`--connections-max-idle-ms`) for one connection: what
//! counts as activity, when the connection is closed, and the watchdog that closes it.
//!
//! The rule. With `T` the idle time, the broker closes a connection when either
//! - **idle**: no request is being handled, no reply write is waiting for room, and for `T`
//!   nothing was read from the socket, nothing written to it, and no request finished being
//!   handled; or
//! - **write stalled**: a reply write has been waiting for room in the socket for `T` without
//!   the socket taking a byte (the client does not read) — whatever else the connection does;
//!   or
//! - **frame incomplete**: a request frame's length arrived `F` ago and its body still has not,
//!   however many bytes trickle in and whether or not the reader waits for request budget
//!   meanwhile. `F` = min(`T`, `REQUEST_BODY_READ_TIMEOUT_MS`). This bounds how long a client
//!   that announces a frame and stalls (or dribbles it a byte at a time) holds what its frame
//!   took of the shard's request budget (`net::connection`).
//!
//! "Being handled" runs from a whole frame read until its handler returned the reply, and
//! covers the reader waiting for the shard's request budget (the broker, not the client, is
//! slow then). So a long-poll Fetch, a produce waiting for its fdatasync or a parked JoinGroup
//! is never cut however long it takes, and the idle clock restarts when it finishes, so its
//! reply is never cut either; a client that sends part of a frame and stops is cut at the
//! frame's deadline, `F` ≤ `T`. Kafka measures socket activity alone; the exception for
//! requests being handled is Sluice's, so that `max_wait_ms` above `T` can't close a long
//! poll.
//!
//! Cost: a clock read per socket read or write that moves bytes and per request handled, and
//! one watchdog task per connection whose timer fires about once per `F` while it is active
//! (it must look again within `F` of any moment a frame could start).
//!
//! Closing: the watchdog marks the connection closed and shuts its socket down both ways,
//! which wakes the reader (EOF) and a waiting write (EPIPE); the connection's tasks end the
//! usual way and drop everything they hold: request permits, the fetch budget reserved for an
//! unwritten reply. A stalled connection's socket is also set to linger 0, so closing it resets
//! it and the kernel drops the send queue the client never read instead of keeping it for an
//! orphaned socket's retries.
//!
//! Lives on the connection's shard; `Rc`, never sent.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Why the broker closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing read, written or handled for the idle time.
    Idle,
    /// A reply write made no progress for the idle time.
    WriteStalled,
    /// A request frame's body was not complete within the frame time of its length.
    FrameIncomplete,
}

/// What the watchdog should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not idle; look again at `recheck_at` (nothing can make it idle sooner).
    Open {
        recheck_at: Instant,
    },
    Close(Reason),
}

/// One connection's activity, written by its reader, writer and handler tasks.
pub struct Activity {
    idle: Duration,
    /// `F`: how long a frame's body may take once its length arrived (≤ `idle`).
    frame: Duration,
    /// When the frame being read must be complete; None between frames.
    frame_deadline: Cell<Option<Instant>>,
    /// The last read that returned bytes, write that sent some, or request handled.
    last: Cell<Instant>,
    /// Requests being handled (and the reader waiting for request budget).
    busy: Cell<u32>,
    /// When the current reply write started waiting for room; None while no write waits.
    write_waiting_since: Cell<Option<Instant>>,
    closed: Cell<Option<Reason>>,
}

impl Activity {
    /// `idle` is `T`; a frame's body gets `frame_max` at most, and never more than `T`.
    pub fn new(idle: Duration, frame_max: Duration) -> Rc<Activity> {
        Rc::new(Activity::at(idle, frame_max, Instant::now()))
    }

    fn at(idle: Duration, frame_max: Duration, now: Instant) -> Activity {
        assert!(
            !idle.is_zero(),
            "an idle time of 0 would close every connection"
        );
        assert!(
            !frame_max.is_zero(),
            "a frame time of 0 would close every connection that sends a frame"
        );
        Activity {
            idle,
            frame: frame_max.min(idle),
            frame_deadline: Cell::new(None),
            last: Cell::new(now),
            busy: Cell::new(0),
            write_waiting_since: Cell::new(None),
            closed: Cell::new(None),
        }
    }

    /// A read from the socket returned bytes.
    pub fn read(&self) {
        self.last.set(Instant::now());
    }

    /// A write to the socket sent bytes: any wait for room is over.
    pub fn wrote(&self) {
        self.wrote_at(Instant::now());
    }

    fn wrote_at(&self, now: Instant) {
        self.last.set(now);
        self.write_waiting_since.set(None);
    }

    /// A reply write found the socket full and waits for room. Its stall counts from the first
    /// wait after the last byte it sent.
    pub fn write_waits(&self) {
        self.write_waits_at(Instant::now());
    }

    fn write_waits_at(&self, now: Instant) {
        if self.write_waiting_since.get().is_none() {
            self.write_waiting_since.set(Some(now));
        }
    }

    /// The connection is busy (a request being handled) until the guard is dropped.
    pub fn busy(self: &Rc<Self>) -> Busy {
        self.busy.set(self.busy.get() + 1);
        Busy(self.clone())
    }

    /// A frame's length arrived and its body has not: it must be complete within `F` from now,
    /// or the watchdog closes the connection. Dropping the guard (the frame is whole, or its
    /// read was abandoned) lifts the deadline.
    pub fn frame_incomplete(self: &Rc<Self>) -> Incomplete {
        self.frame_incomplete_at(Instant::now())
    }

    fn frame_incomplete_at(self: &Rc<Self>, now: Instant) -> Incomplete {
        assert!(
            self.frame_deadline.get().is_none(),
            "one frame is read at a time"
        );
        self.frame_deadline.set(Some(now + self.frame));
        Incomplete(self.clone())
    }

    /// When the frame being read must be complete, if one is.
    pub fn frame_deadline(&self) -> Option<Instant> {
        self.frame_deadline.get()
    }

    /// Why the watchdog closed the connection, once it has.
    pub fn closed(&self) -> Option<Reason> {
        self.closed.get()
    }

    pub fn idle_time(&self) -> Duration {
        self.idle
    }

    /// `F`: how long a frame's body may take once its length arrived.
    pub fn frame_time(&self) -> Duration {
        self.frame
    }

    /// The rule of the module docs, at `now`.
    pub fn verdict(&self, now: Instant) -> Verdict {
        if let Some(deadline) = self.frame_deadline.get() {
            if now >= deadline {
                return Verdict::Close(Reason::FrameIncomplete);
            }
        }
        match self.verdict_between_frames(now) {
            // A frame may start any moment after `now` and must be checked within `F` of its
            // start: never sleep past `now + F` (nor past a frame's own deadline).
            Verdict::Open { recheck_at } => Verdict::Open {
                recheck_at: recheck_at
                    .min(now + self.frame)
                    .min(self.frame_deadline.get().unwrap_or(recheck_at)),
            },
            close => close,
        }
    }

    fn verdict_between_frames(&self, now: Instant) -> Verdict {
        match self.write_waiting_since.get() {
            Some(since) => {
                let at = since + self.idle;
                if now >= at {
                    return Verdict::Close(Reason::WriteStalled);
                }
                Verdict::Open { recheck_at: at }
            }
            None if self.busy.get() == 0 => {
                let at = self.last.get() + self.idle;
                if now >= at {
                    return Verdict::Close(Reason::Idle);
                }
                Verdict::Open { recheck_at: at }
            }
            // Handling ends with a fresh `last`, and a write that stalls meanwhile starts later:
            // neither can close the connection before one more idle time from now.
            None => Verdict::Open {
                recheck_at: now + self.idle,
            },
        }
    }
}

/// A request being handled on the connection: dropping it ends the busy stretch and restarts
/// the idle clock (so the reply about to be written is never cut).
pub struct Busy(Rc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        assert!(a.busy.get() > 0, "busy count underflow");
        a.busy.set(a.busy.get() - 1);
        a.last.set(Instant::now());
    }
}

/// A frame being read (see [`Activity::frame_incomplete`]).
pub struct Incomplete(Rc<Activity>);

impl Drop for Incomplete {
    fn drop(&mut self) {
        self.0.frame_deadline.set(None);
    }
}

/// Close the connection on socket `fd` once `activity` says so; returns why.
///
/// Contract: `fd` is the connection's socket and stays open while this future is alive (the
/// connection cancels the task running it before it drops the stream).
pub async fn watch(activity: Rc<Activity>, fd: RawFd) -> Reason {
    loop {
        let now = Instant::now();
        match activity.verdict(now) {
            Verdict::Open { recheck_at } => {
                glommio::timer::sleep(recheck_at.saturating_duration_since(now)).await;
            }
            Verdict::Close(reason) => {
                activity.closed.set(Some(reason));
                if reason == Reason::WriteStalled {
                    let linger = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: `fd` is an open socket (contract above); `linger` is a valid
                    // `struct linger` of the size passed.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            std::ptr::from_ref(&linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        );
                    }
                }
                // SAFETY: as above. Shutting down (not closing) leaves the fd to its owner; a
                // peer that already left makes it fail harmlessly (ENOTCONN).
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                return reason;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(300);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quiet_connection_closes_after_the_idle_time_and_not_before() {
        let t0 = Instant::now();
        let a = Activity::at(T, T, t0);
        assert_eq!(
            a.verdict(t0 + ms(299)),
            Verdict::Open { recheck_at: t0 + T }
        );
        assert_eq!(a.verdict(t0 + T), Verdict::Close(Reason::Idle));
        // Bytes read or written push the deadline out.
        a.last.set(t0 + ms(200));
        assert!(matches!(a.verdict(t0 + ms(450)), Verdict::Open { .. }));
        a.wrote_at(t0 + ms(400));
        assert_eq!(
            a.verdict(t0 + ms(650)),
            Verdict::Open {
                recheck_at: t0 + ms(700)
            }
        );
        assert_eq!(a.verdict(t0 + ms(700)), Verdict::Close(Reason::Idle));
    }

    #[test]
    fn a_request_being_handled_is_never_idle_and_restarts_the_clock_when_done() {
        let t0 = Instant::now();
        let a = Rc::new(Activity::at(T, T, t0));
        let busy = a.busy();
        // A long poll: ten idle times with nothing on the socket.
        let late = t0 + T * 10;
        assert_eq!(
            a.verdict(late),
            Verdict::Open {
                recheck_at: late + T
            }
        );
        drop(busy);
        let done = a.last.get();
        assert!(done >= t0, "the clock restarted when handling ended");
        assert!(matches!(a.verdict(done + ms(299)), Verdict::Open { .. }));
        assert_eq!(a.verdict(done + T), Verdict::Close(Reason::Idle));
    }

    #[test]
    fn a_stalled_write_closes_even_while_busy_or_reading_and_progress_resets_it() {
        let t0 = Instant::now();
        let a = Rc::new(Activity::at(T, T, t0));
        let _busy = a.busy();
        a.write_waits_at(t0 + ms(10));
        // A later wait of the same write doesn't move its start.
        a.write_waits_at(t0 + ms(200));
        // Reads don't help a write that makes no progress.
        a.last.set(t0 + ms(300));
        assert_eq!(
            a.verdict(t0 + ms(309)),
            Verdict::Open {
                recheck_at: t0 + ms(310)
            }
        );
        assert_eq!(
            a.verdict(t0 + ms(310)),
            Verdict::Close(Reason::WriteStalled)
        );
        // The socket took some bytes: the stall is over, a new one counts from its own start.
        a.wrote_at(t0 + ms(305));
        a.write_waits_at(t0 + ms(306));
        assert!(matches!(a.verdict(t0 + ms(500)), Verdict::Open { .. }));
        assert_eq!(
            a.verdict(t0 + ms(606)),
            Verdict::Close(Reason::WriteStalled)
        );
    }

    #[test]
    fn an_incomplete_frame_closes_after_the_frame_time_however_busy_or_dribbling() {
        let t0 = Instant::now();
        let f = ms(100);
        let a = Rc::new(Activity::at(T, f, t0));
        // Between frames the watchdog still looks again within F (a frame may start).
        assert_eq!(a.verdict(t0), Verdict::Open { recheck_at: t0 + f });
        let frame = a.frame_incomplete_at(t0 + ms(10));
        assert_eq!(a.frame_deadline(), Some(t0 + ms(110)));
        // Bytes dribbling in and a wait for budget (busy) change nothing.
        a.last.set(t0 + ms(100));
        let busy = a.busy();
        assert_eq!(
            a.verdict(t0 + ms(50)),
            Verdict::Open {
                recheck_at: t0 + ms(110)
            }
        );
        assert_eq!(
            a.verdict(t0 + ms(110)),
            Verdict::Close(Reason::FrameIncomplete)
        );
        // A frame that completes in time lifts its deadline.
        drop(busy);
        drop(frame);
        assert!(matches!(a.verdict(t0 + ms(150)), Verdict::Open { .. }));
        let _next = a.frame_incomplete_at(t0 + ms(150));
        assert_eq!(a.frame_deadline(), Some(t0 + ms(250)));
    }

    #[test]
    fn the_frame_time_never_exceeds_the_idle_time() {
        let t0 = Instant::now();
        let a = Rc::new(Activity::at(T, T * 10, t0));
        let _frame = a.frame_incomplete_at(t0);
        assert_eq!(a.verdict(t0 + T), Verdict::Close(Reason::FrameIncomplete));
    }

    #[test]
    fn a_waiting_write_is_reported_as_stalled_not_idle() {
        let t0 = Instant::now();
        let a = Activity::at(T, T, t0);
        a.write_waits_at(t0 + ms(1));
        assert!(matches!(a.verdict(t0 + T), Verdict::Open { .. }));
        assert_eq!(
            a.verdict(t0 + ms(301)),
            Verdict::Close(Reason::WriteStalled)
        );
    }
}
