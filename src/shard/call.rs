//! Cross-shard calls with a deadline: run a closure on another shard and wait for its result,
//! but never for a shard that has stopped running.
//!
//! The rule, with `T` = [`SHARD_CALL_TIMEOUT_MS`](crate::limits::SHARD_CALL_TIMEOUT_MS):
//! - **Sending**: the task must find room in the target's bounded channel within `T`. A channel
//!   that stays full that long is one the target no longer drains.
//! - **Waiting**: while the task runs, the target beats (a timer of the target's executor, every
//!   `T / BEATS_PER_TIMEOUT`). The caller gives up once it has seen no beat and no reply for `T`
//!   (so at most `T + T / BEATS_PER_TIMEOUT` after the target's last sign of life).
//!
//! So the deadline is on the target's liveness, not on the call's length: a forwarded long-poll
//! Fetch, a parked JoinGroup (minutes, the client's rebalance timeout) or a snapshot publication
//! that opens thousands of logs all run to the end while their shard keeps running, but a shard
//! whose thread is stuck (a blocking syscall, a loop that never yields) or gone answers `None`
//! within about `T`, and each caller maps that to a retriable error.
//!
//! A task the caller gave up on before the target started it is not run later (unless sent
//! with [`Abandoned::RunAnyway`]): the caller already answered "not done" (e.g.
//! NOT_LEADER_OR_FOLLOWER to a forwarded produce), and a late append would make that a lie. A
//! task already running when the caller gave up runs to its end; its result is dropped.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{select, Either};
use glommio::channels::shared_channel::ConnectedSender;

/// Work sent to another shard: a closure run there with that shard's context `C`.
pub type Task<C> = Box<dyn FnOnce(Rc<C>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Beats per timeout: the target's beat period and the caller's check period are `T / this`.
pub const BEATS_PER_TIMEOUT: u32 = 4;

/// What the target does with a task whose caller has already given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Drop it unrun (the caller answered "not done").
    Skip,
    /// Run it anyway: its effect is needed whoever waits (adopting a snapshot).
    RunAnyway,
}

/// Run `f` on the shard behind `sender` and return its result; None if the channel had no room
/// for `timeout`, the target went away, or it showed no sign of life for `timeout` (module
/// docs).
pub async fn call<C, R, F, Fut>(
    sender: &ConnectedSender<Task<C>>,
    timeout: Duration,
    abandoned: Abandoned,
    f: F,
) -> Option<R>
where
    C: 'static,
    R: Send + 'static,
    F: FnOnce(Rc<C>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    assert!(!timeout.is_zero(), "a zero deadline fails every call");
    let period = timeout / BEATS_PER_TIMEOUT;
    let (tx, mut rx) = oneshot::channel();
    let beats = Arc::new(AtomicU64::new(0));
    let target_beats = beats.clone();
    let task: Task<C> = Box::new(move |ctx| {
        Box::pin(async move {
            if tx.is_canceled() && abandoned == Abandoned::Skip {
                return;
            }
            target_beats.fetch_add(1, Ordering::Relaxed);
            let work = std::pin::pin!(f(ctx));
            let beat = std::pin::pin!(async {
                loop {
                    glommio::timer::sleep(period).await;
                    target_beats.fetch_add(1, Ordering::Relaxed);
                }
            });
            if let Either::Left((result, _)) = select(work, beat).await {
                let _ = tx.send(result);
            }
        })
    });
    let send = std::pin::pin!(sender.send(task));
    let no_room = std::pin::pin!(glommio::timer::sleep(timeout));
    let sent = matches!(select(send, no_room).await, Either::Left((Ok(()), _)));
    if !sent {
        // The target's receiver is gone (its shard ended), or no room for `timeout`.
        return None;
    }
    let mut seen = 0;
    let mut last_sign = Instant::now();
    loop {
        let tick = std::pin::pin!(glommio::timer::sleep(period));
        match select(&mut rx, tick).await {
            // Canceled: the target dropped the task unrun (its shard is shutting down).
            Either::Left((reply, _)) => return reply.ok(),
            Either::Right(_) => {
                let now = beats.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    last_sign = Instant::now();
                } else if last_sign.elapsed() >= timeout {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::channels::shared_channel;
    use std::sync::atomic::AtomicBool;

    const T: Duration = Duration::from_millis(200);

    /// The target side: connects, blocks its thread for `wedged` (a stuck shard), then runs
    /// every task it receives, as a shard's receiver loop does.
    fn target(
        receiver: shared_channel::SharedReceiver<Task<()>>,
        wedged: Duration,
    ) -> glommio::ExecutorJoinHandle<()> {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let r = receiver.connect().await;
                std::thread::sleep(wedged);
                while let Some(task) = r.recv().await {
                    glommio::spawn_local(task(Rc::new(()))).detach();
                }
            })
            .expect("target executor")
    }

    fn caller<T: Send + 'static>(
        sender: shared_channel::SharedSender<Task<()>>,
        body: impl FnOnce(ConnectedSender<Task<()>>) -> Pin<Box<dyn Future<Output = T>>>
            + Send
            + 'static,
    ) -> T {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move { body(sender.connect().await).await })
            .expect("caller executor")
            .join()
            .expect("caller thread")
    }

    #[test]
    fn a_wedged_target_gives_none_within_the_deadline_and_skips_the_abandoned_task() {
        let (s, r) = shared_channel::new_bounded(8);
        let target = target(r, T * 6);
        let ran = Arc::new(AtomicBool::new(false));
        let ran_there = ran.clone();
        let took = caller(s, move |sender| {
            Box::pin(async move {
                let start = Instant::now();
                let r = call(&sender, T, Abandoned::Skip, move |_| async move {
                    ran_there.store(true, Ordering::Relaxed);
                    1
                })
                .await;
                assert_eq!(r, None, "a wedged target gives up");
                let took = start.elapsed();
                // The target wakes up: the abandoned task must not run.
                glommio::timer::sleep(T * 7).await;
                drop(sender);
                took
            })
        });
        assert!(took >= T, "not before the deadline: {took:?}");
        assert!(took < T * 2, "within T + T/4 plus scheduling: {took:?}");
        target.join().expect("target thread");
        assert!(
            !ran.load(Ordering::Relaxed),
            "an abandoned task is not run late"
        );
    }

    #[test]
    fn a_live_target_is_waited_for_however_long_its_work_takes() {
        let (s, r) = shared_channel::new_bounded(8);
        let target = target(r, Duration::ZERO);
        let got = caller(s, |sender| {
            Box::pin(async move {
                call(&sender, T, Abandoned::Skip, |_| async {
                    // A long poll: ten deadlines of legitimate waiting.
                    glommio::timer::sleep(T * 10).await;
                    42
                })
                .await
            })
        });
        assert_eq!(got, Some(42));
        target.join().expect("target thread");
    }

    #[test]
    fn a_full_channel_that_is_never_drained_fails_the_send_within_the_deadline() {
        let (s, r) = shared_channel::new_bounded(1);
        let target = target(r, T * 8);
        let took = caller(s, |sender| {
            Box::pin(async move {
                let sender = Rc::new(sender);
                // The first task fills the one slot and waits on the wedged target; the second
                // finds no room.
                let first = sender.clone();
                let first = glommio::spawn_local(async move {
                    call(&first, T * 100, Abandoned::RunAnyway, |_| async {}).await
                });
                glommio::timer::sleep(Duration::from_millis(20)).await;
                let start = Instant::now();
                let r = call(&sender, T, Abandoned::Skip, |_| async { 1 }).await;
                assert_eq!(r, None);
                let took = start.elapsed();
                assert_eq!(
                    first.await,
                    Some(()),
                    "run anyway: answered once the target woke"
                );
                took
            })
        });
        assert!(took >= T && took < T * 2, "{took:?}");
        target.join().expect("target thread");
    }
}
