//! The one place a partition request's operations find their owner shard: owner lookup in this
//! shard's snapshot, the operation run here when this shard owns the partition, or forwarded
//! to its owner in one cross-core call per owner for all of a request's partitions there,
//! forwards counted (`sluice_forwarded_requests_total`, one per partition operation), and the
//! Kafka answers for a partition nobody owns (UNKNOWN_TOPIC_OR_PARTITION) or whose owner is
//! gone, wedged, or no longer has it open (NOT_LEADER_OR_FOLLOWER, retriable: the client
//! refreshes its metadata).
//!
//! Produce, ListOffsets, OffsetForLeaderEpoch, DeleteRecords and DescribeProducers route
//! through [`Router`]; Fetch, whose reads on an owner share one byte budget, uses
//! [`owner`] and [`forward`] directly.
//!
//! A `Router` lives on the shard that got the request, for that request only.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Shard;
use crate::metadata::Snapshot;
use crate::partition::Partition;
use crate::protocol::errors::PartitionError;

/// The shard that owns `topic`'s partition `index`, as this shard's snapshot says; None if
/// the snapshot knows no such partition.
pub fn owner(snapshot: &Snapshot, topic: &str, index: i32) -> Option<u32> {
    snapshot.partition(topic, index).map(|m| m.owner)
}

/// How a request's operations run on each shard: all at once (appends, whose writes and syncs
/// coalesce), or one after another in request order (lookups that may read the disk).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Run {
    Concurrently,
    InOrder,
}

/// One partition operation: the partition, and what the handler asks of it.
struct Op<T> {
    topic: Arc<str>,
    index: i32,
    arg: T,
}

/// A request's partition operations, collected by [`Router::route`] and run by
/// [`Router::run`]; the answers come back in the order they were routed.
pub struct Router<T> {
    /// The shard that got the request (where the router lives).
    here: u32,
    routed: usize,
    /// Positions routed to a partition no shard owns.
    unknown: Vec<usize>,
    local: Vec<(usize, Op<T>)>,
    /// Per other owner shard: the positions and operations sent there, in request order.
    remote: Vec<(u32, Vec<usize>, Vec<Op<T>>)>,
}

impl<T: Send + 'static> Router<T> {
    pub fn new(shard: &Shard) -> Router<T> {
        Router {
            here: shard.id,
            routed: 0,
            unknown: Vec::new(),
            local: Vec::new(),
            remote: Vec::new(),
        }
    }

    /// Route one operation on `topic`'s partition `index`, owned by `owner` (from [`owner`];
    /// None answers UNKNOWN_TOPIC_OR_PARTITION). Its answer is the next one `run` returns.
    pub fn route(&mut self, owner: Option<u32>, topic: &Arc<str>, index: i32, arg: T) {
        let at = self.routed;
        self.routed += 1;
        let op = Op {
            topic: topic.clone(),
            index,
            arg,
        };
        match owner {
            None => self.unknown.push(at),
            Some(o) if o == self.here => self.local.push((at, op)),
            Some(o) => match self.remote.iter_mut().find(|(x, _, _)| *x == o) {
                Some((_, ats, ops)) => {
                    ats.push(at);
                    ops.push(op);
                }
                None => self.remote.push((o, vec![at], vec![op])),
            },
        }
    }

    /// Run every routed operation on its owner, `f` given the open partition: this shard's
    /// here, each other shard's in one forwarded call (all owners at once with
    /// `Run::Concurrently`, one after another with `Run::InOrder`). One answer per `route`, in
    /// routing order.
    pub async fn run<R, F, Fut>(
        self,
        shard: &Rc<Shard>,
        how: Run,
        f: F,
    ) -> Vec<Result<R, PartitionError>>
    where
        R: Send + 'static,
        F: Fn(Rc<Partition>, T) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<R, PartitionError>> + 'static,
    {
        let mut answers: Vec<Option<Result<R, PartitionError>>> =
            std::iter::repeat_with(|| None).take(self.routed).collect();
        for at in self.unknown {
            if let Some(a) = answers.get_mut(at) {
                *a = Some(Err(PartitionError::UnknownTopicOrPartition));
            }
        }
        let (local_ats, local_ops): (Vec<usize>, Vec<Op<T>>) = self.local.into_iter().unzip();
        let forwarded = self.remote.into_iter().map(|(owner, ats, ops)| {
            let f = f.clone();
            async move {
                let done = forward(shard, owner, ops, move |s, ops| run_here(s, how, ops, f)).await;
                (ats, done)
            }
        });
        let (done_here, done_there) = match how {
            Run::Concurrently => {
                futures::future::join(
                    run_here(shard.clone(), how, local_ops, f.clone()),
                    futures::future::join_all(forwarded),
                )
                .await
            }
            Run::InOrder => {
                let here = run_here(shard.clone(), how, local_ops, f.clone()).await;
                let mut there = Vec::new();
                for call in forwarded {
                    there.push(call.await);
                }
                (here, there)
            }
        };
        let done = std::iter::once((local_ats, done_here)).chain(done_there);
        for (ats, results) in done {
            for (at, r) in ats.into_iter().zip(results) {
                if let Some(a) = answers.get_mut(at) {
                    *a = Some(r);
                }
            }
        }
        // Every position is answered above (`forward` answers each of its operations); an
        // empty one would be a bug, answered retriably.
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Err(PartitionError::NotLeader)))
            .collect()
    }
}

/// On the owner shard `s`: run `f` on each operation's open partition (NOT_LEADER_OR_FOLLOWER
/// if `s` does not have it open: it moved, or is being reopened).
async fn run_here<T, R, F, Fut>(
    s: Rc<Shard>,
    how: Run,
    ops: Vec<Op<T>>,
    f: F,
) -> Vec<Result<R, PartitionError>>
where
    F: Fn(Rc<Partition>, T) -> Fut,
    Fut: Future<Output = Result<R, PartitionError>>,
{
    let one = |op: Op<T>| {
        let p = s.local_partition(&op.topic, op.index);
        let f = &f;
        async move {
            match p {
                Some(p) => f(p, op.arg).await,
                None => Err(PartitionError::NotLeader),
            }
        }
    };
    match how {
        Run::Concurrently => futures::future::join_all(ops.into_iter().map(one)).await,
        Run::InOrder => {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                out.push(one(op).await);
            }
            out
        }
    }
}

/// Run `f` with `ops` on shard `owner` (not this one) in one cross-core call, counted as
/// `ops.len()` forwards. `f` answers each operation in order; if the call fails (the owner is
/// gone or wedged: `Shard::on_shard`) or answers another count, every operation is answered
/// NOT_LEADER_OR_FOLLOWER (retriable).
pub async fn forward<T, R, F, Fut>(
    shard: &Shard,
    owner: u32,
    ops: Vec<T>,
    f: F,
) -> Vec<Result<R, PartitionError>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: FnOnce(Rc<Shard>, Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<Result<R, PartitionError>>> + 'static,
{
    assert_ne!(
        owner, shard.id,
        "only another shard's partitions are forwarded"
    );
    let count = ops.len();
    shard
        .metrics
        .forwarded
        .fetch_add(count as u64, Ordering::Relaxed);
    let answered = shard
        .on_shard(owner, move |s| f(s, ops))
        .await
        .filter(|r| r.len() == count);
    match answered {
        Some(answers) => answers,
        None => std::iter::repeat_with(|| Err(PartitionError::NotLeader))
            .take(count)
            .collect(),
    }
}
