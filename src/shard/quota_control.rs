//! Client quotas on the shards: AlterClientQuotas on the controller (shard 0: validated,
//! written durably to `meta/client-quotas.json`, then published to every shard in the
//! metadata snapshot before it answers), the accounting every request of a quota'd client
//! goes through (`Shard::quota_record`), and the timer that combines the shards' usage
//! node-wide (`Shard::run_quota_sync`, every `QUOTA_SYNC_INTERVAL_MS`).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use kafka_protocol::error::ResponseError;

use super::Shard;
use crate::limits::{QUOTA_ENTITIES_MAX, QUOTA_IDLE_SYNC_INTERVAL_MS, QUOTA_SYNC_INTERVAL_MS};
use crate::metadata::quotas::{self, ClientQuotas, Entity, Op, QuotaError, QuotaKind};
use crate::security::session::Session;

/// One entry of an AlterClientQuotas request: the entity's components and its ops.
#[derive(Debug, Clone)]
pub struct QuotaAlteration {
    pub entity: Vec<(String, Option<String>)>,
    pub ops: Vec<Op>,
}

impl Shard {
    /// AlterClientQuotas: one result per entry, in order. Runs on the controller.
    pub async fn alter_client_quotas(
        &self,
        entries: Vec<QuotaAlteration>,
        validate_only: bool,
    ) -> Vec<Result<(), QuotaError>> {
        let n = entries.len();
        let r = self
            .on_shard(0, move |shard| async move {
                shard
                    .alter_client_quotas_on_controller(entries, validate_only)
                    .await
            })
            .await;
        r.unwrap_or_else(|| {
            (0..n)
                .map(|_| {
                    Err(QuotaError {
                        code: ResponseError::NotController,
                        message: "controller unavailable".into(),
                    })
                })
                .collect()
        })
    }

    async fn alter_client_quotas_on_controller(
        self: Rc<Self>,
        entries: Vec<QuotaAlteration>,
        validate_only: bool,
    ) -> Vec<Result<(), QuotaError>> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let current = controller.store.borrow().quotas().clone();
        let mut next: ClientQuotas = (*current).clone();
        let mut results = Vec::with_capacity(entries.len());
        for e in &entries {
            results.push(check_and_apply(&mut next, e));
        }
        if validate_only || next == *current {
            return results;
        }
        let written = self
            .storage
            .blocking
            .replace_durably(quotas::path(&self.config.data_dir), next.image())
            .await;
        if let Err(e) = written {
            tracing::error!("AlterClientQuotas: could not persist the quotas: {e}");
            return results
                .into_iter()
                .map(|r| {
                    r.and(Err(QuotaError {
                        code: ResponseError::UnknownServerError,
                        message: format!("could not persist the client quotas: {e}"),
                    }))
                })
                .collect();
        }
        controller
            .store
            .borrow_mut()
            .quotas_committed(Arc::new(next));
        self.publish().await;
        results
    }

    /// Record `amount` of `kind` for this connection's quota, if it has one; returns the
    /// throttle time it earned (0: within its quota, or none configured) and hands it to the
    /// connection, which mutes itself for it once the reply is written. `amount` is bytes, or
    /// for the request kind percent-seconds of one shard's time.
    pub fn quota_record(
        &self,
        session: &Session,
        client_id: Option<&str>,
        kind: QuotaKind,
        amount: f64,
    ) -> u64 {
        let snapshot = self.snapshot();
        if snapshot.quotas.is_empty() {
            return 0;
        }
        let principal = session.principal();
        let Some(quota) = snapshot
            .quotas
            .resolve(kind, &principal.name, client_id.unwrap_or(""))
        else {
            return 0;
        };
        let ms = self
            .quotas
            .record(kind, &quota, amount, crate::quota::now_ms());
        if ms > 0 {
            let k = kind as usize;
            if let (Some(total), Some(count)) = (
                self.metrics.quota_throttle_ms.get(k),
                self.metrics.quota_throttled.get(k),
            ) {
                total.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            session.throttle().add(ms);
        }
        ms
    }

    /// Take back usage recorded by [`Shard::quota_record`] (a throttled fetch answered empty).
    pub fn quota_unrecord(
        &self,
        session: &Session,
        client_id: Option<&str>,
        kind: QuotaKind,
        amount: f64,
    ) {
        let snapshot = self.snapshot();
        let principal = session.principal();
        if let Some(quota) = snapshot
            .quotas
            .resolve(kind, &principal.name, client_id.unwrap_or(""))
        {
            self.quotas
                .unrecord(kind, &quota, amount, crate::quota::now_ms());
        }
    }

    /// Every `QUOTA_SYNC_INTERVAL_MS` while any quota is in use on this shard (else every
    /// `QUOTA_IDLE_SYNC_INTERVAL_MS`): publish this shard's quota usage and adopt the others'.
    pub async fn run_quota_sync(self: Rc<Self>) {
        loop {
            let interval = if self.quotas.is_active() {
                QUOTA_SYNC_INTERVAL_MS
            } else {
                QUOTA_IDLE_SYNC_INTERVAL_MS
            };
            let sleep = glommio::timer::sleep(Duration::from_millis(interval)).fuse();
            let stop = self.shutdown.wait().fuse();
            futures::pin_mut!(sleep, stop);
            futures::select! {
                _ = sleep => {},
                _ = stop => return,
            }
            self.quotas.sync(crate::quota::now_ms());
        }
    }
}

/// Validate one alteration and apply it to `next`; nothing of it is applied if any part fails.
fn check_and_apply(next: &mut ClientQuotas, e: &QuotaAlteration) -> Result<(), QuotaError> {
    let entity: Entity = quotas::validate_entity(&e.entity)?;
    for (key, value) in &e.ops {
        quotas::validate_op(key, *value)?;
    }
    next.apply(&entity, &e.ops, QUOTA_ENTITIES_MAX)
}
