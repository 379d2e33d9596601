//! A timer that wakes the shard's executor every [`EXECUTOR_NUDGE_INTERVAL_MS`], a workaround
//! for a lost wake-up in glommio 0.9's executor loop.
//!
//! `LocalExecutor::run` polls the rings, then runs the active task queues, and parks when that
//! ran nothing. But running the queues stops before the first task when `need_preempt()` is
//! already true — a completion is waiting in the latency ring (an expired preemption timer, the
//! executor's eventfd, a socket) — and reports "nothing ran" exactly as if no task were
//! runnable. The loop then consumes that completion, which wakes no task, and parks in
//! `io_uring_enter`: the tasks of the active queues, already marked scheduled (so further
//! wakes of them are ignored), wait until something else wakes the executor. Traced in
//! `log::power_loss`: a task woken by its I/O completion, its queue activated, the executor
//! unparked and parked again 10 µs later without running it, for 120 s (the test's only timer).
//!
//! Any timer bounds that wait: when it fires the executor runs its queues again. This one
//! fires often enough that a stranded task waits at most about this long (the heartbeat, every
//! `SHARD_HEARTBEAT_INTERVAL_MS`, already bounded it at 100 ms). It cannot strand itself for
//! good: a stranded nudge leaves the executor's other timers (the heartbeat) to wake it.
//!
//! [`EXECUTOR_NUDGE_INTERVAL_MS`]: crate::limits::EXECUTOR_NUDGE_INTERVAL_MS

use std::time::Duration;

/// Wake the executor every [`crate::limits::EXECUTOR_NUDGE_INTERVAL_MS`], forever (spawn it
/// detached on each executor; it ends with the executor).
pub async fn run() {
    let interval = Duration::from_millis(crate::limits::EXECUTOR_NUDGE_INTERVAL_MS);
    loop {
        glommio::timer::sleep(interval).await;
    }
}

/// Run `f` on a fresh glommio executor with the nudge running, as a shard runs (tests: one
/// helper instead of a copy per module; without the nudge a test's executor can strand a task
/// until its next timer, which in a test may be none).
#[cfg(test)]
pub fn on_executor<T, F>(f: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            glommio::spawn_local(run()).detach();
            f().await
        })
        .expect("executor")
        .join()
        .expect("executor thread")
}
