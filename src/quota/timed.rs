//! A future wrapper that sums the time spent inside its `poll`: a request handler's own work
//! on its shard, without the time it waited (for a disk, another shard, a long poll). That is
//! what `request_percentage` quotas measure (Kafka measures its handler threads' time).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Runs `inner`, adding the time of each of its polls to `spent`.
pub struct Timed<F> {
    inner: F,
    spent: Rc<std::cell::Cell<Duration>>,
}

impl<F> Timed<F> {
    pub fn new(inner: F, spent: Rc<std::cell::Cell<Duration>>) -> Timed<F> {
        Timed { inner, spent }
    }
}

impl<F: Future + Unpin> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let r = Pin::new(&mut self.inner).poll(cx);
        self.spent.set(self.spent.get() + started.elapsed());
        r
    }
}
