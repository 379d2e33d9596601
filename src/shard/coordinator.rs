//! Running a coordinator's work where its log is: on the shard that owns the coordinator's
//! partition of an internal topic (`__consumer_offsets` for groups, `__transaction_state` for
//! transactions), once that shard has replayed the partition. The groups and transaction
//! coordinators find the owner and say how to load; this is the hop they share.
//!
//! Called on any shard; the work runs on the owner.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::Shard;

/// Run `f` on shard `owner` after `load` (the coordinator's replay of its partition there)
/// succeeded, and return what `f` returned. A hop to another shard is counted as a forward.
/// `load`'s error if it failed; `unavailable` if the owner could not be reached (gone or
/// wedged, see [`Shard::on_shard`]).
pub async fn on_owner_loaded<R, E, L, LFut, F, Fut>(
    shard: &Rc<Shard>,
    owner: u32,
    load: L,
    f: F,
    unavailable: E,
) -> Result<R, E>
where
    R: Send + 'static,
    E: Send + 'static,
    L: FnOnce(Rc<Shard>) -> LFut + Send + 'static,
    LFut: Future<Output = Result<(), E>> + 'static,
    F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    if owner != shard.id {
        shard.metrics.forwarded.fetch_add(1, Ordering::Relaxed);
    }
    shard
        .on_shard(owner, move |s| async move {
            load(s.clone()).await?;
            Ok(f(s).await)
        })
        .await
        .unwrap_or(Err(unavailable))
}
