//! CreateAcls / DeleteAcls on the controller: called on any shard, run on shard 0 under the
//! controller lock, the new ACL set persisted (`metadata::acls`, on the blocking pool) and
//! published to every shard before the answer — so a client that created an ACL is judged by
//! it on its next request, on any shard.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::control::ControlError;
use super::Shard;
use crate::limits::ACL_BINDINGS_MAX;
use crate::metadata::acls::AclStore;
use crate::security::acl::{AclBinding, AclFilter};

/// A binding to create, or why it was refused before reaching the controller.
pub type Creation = Result<AclBinding, ControlError>;
/// A filter of bindings to delete, or why it was refused.
pub type Deletion = Result<AclFilter, ControlError>;

fn error(e: ResponseError, message: impl Into<String>) -> ControlError {
    ControlError {
        code: e.code(),
        message: message.into(),
    }
}

fn unavailable(n: usize) -> Vec<ControlError> {
    (0..n)
        .map(|_| error(ResponseError::NotController, "controller unavailable"))
        .collect()
}

impl Shard {
    /// Create ACL bindings; one result per creation, in order. An existing binding is
    /// success (Kafka's rule); past [`ACL_BINDINGS_MAX`] a creation fails with
    /// POLICY_VIOLATION.
    pub async fn create_acls(&self, creations: Vec<Creation>) -> Vec<Result<(), ControlError>> {
        let n = creations.len();
        self.on_shard(0, move |shard| async move {
            shard.create_acls_on_controller(creations).await
        })
        .await
        .unwrap_or_else(|| unavailable(n).into_iter().map(Err).collect())
    }

    /// Delete the bindings each filter matches; one result per filter: the bindings it
    /// matched (a binding matched by two filters is in both results, deleted once).
    pub async fn delete_acls(
        &self,
        filters: Vec<Deletion>,
    ) -> Vec<Result<Vec<AclBinding>, ControlError>> {
        let n = filters.len();
        self.on_shard(0, move |shard| async move {
            shard.delete_acls_on_controller(filters).await
        })
        .await
        .unwrap_or_else(|| unavailable(n).into_iter().map(Err).collect())
    }

    async fn create_acls_on_controller(
        self: Rc<Self>,
        creations: Vec<Creation>,
    ) -> Vec<Result<(), ControlError>> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let current = controller.store.borrow().acls().current();
        let mut next: BTreeSet<AclBinding> = current.bindings().iter().cloned().collect();
        let mut results = Vec::with_capacity(creations.len());
        let mut added = Vec::new();
        for (i, c) in creations.into_iter().enumerate() {
            results.push(match c {
                Err(e) => Err(e),
                Ok(b) if next.contains(&b) => Ok(()),
                Ok(_) if next.len() >= ACL_BINDINGS_MAX => Err(error(
                    ResponseError::PolicyViolation,
                    format!(
                        "The cluster already holds {ACL_BINDINGS_MAX} ACL bindings, the most Sluice keeps: delete some first."
                    ),
                )),
                Ok(b) => {
                    next.insert(b);
                    added.push(i);
                    Ok(())
                }
            });
        }
        if added.is_empty() {
            return results;
        }
        if let Err(e) = self.persist_and_publish_acls(next).await {
            for i in added {
                if let Some(r) = results.get_mut(i) {
                    *r = Err(error(
                        ResponseError::KafkaStorageError,
                        format!("persisting ACLs: {e}"),
                    ));
                }
            }
        } else {
            tracing::info!(created = added.len(), "ACL bindings created");
        }
        results
    }

    async fn delete_acls_on_controller(
        self: Rc<Self>,
        filters: Vec<Deletion>,
    ) -> Vec<Result<Vec<AclBinding>, ControlError>> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let current = controller.store.borrow().acls().current();
        let mut doomed = BTreeSet::new();
        let mut results: Vec<Result<Vec<AclBinding>, ControlError>> = filters
            .into_iter()
            .map(|f| {
                f.map(|filter| {
                    let matched: Vec<AclBinding> = current.matching(&filter).cloned().collect();
                    doomed.extend(matched.iter().cloned());
                    matched
                })
            })
            .collect();
        if doomed.is_empty() {
            return results;
        }
        let next: BTreeSet<AclBinding> = current
            .bindings()
            .iter()
            .filter(|b| !doomed.contains(*b))
            .cloned()
            .collect();
        if let Err(e) = self.persist_and_publish_acls(next).await {
            for r in &mut results {
                if r.as_ref().is_ok_and(|m| !m.is_empty()) {
                    *r = Err(error(
                        ResponseError::KafkaStorageError,
                        format!("persisting ACLs: {e}"),
                    ));
                }
            }
        } else {
            tracing::info!(deleted = doomed.len(), "ACL bindings deleted");
        }
        results
    }

    /// Make `bindings` the next ACL generation: write its file on the blocking pool, install
    /// it once durable, publish to every shard. The caller holds the controller lock.
    async fn persist_and_publish_acls(
        &self,
        bindings: BTreeSet<AclBinding>,
    ) -> std::io::Result<()> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        debug_assert_eq!(
            controller.lock.available(),
            0,
            "ACL change without the lock"
        );
        let (next, path) = {
            let store = controller.store.borrow();
            (
                Arc::new(store.acls().next(bindings)),
                store.acls().path().to_path_buf(),
            )
        };
        assert!(next.len() <= ACL_BINDINGS_MAX);
        self.storage
            .blocking
            .replace_durably(path, AclStore::image(&next))
            .await?;
        controller.store.borrow_mut().install_acls(next);
        self.publish().await;
        Ok(())
    }
}
