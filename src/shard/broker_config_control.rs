//! Dynamic broker configs on the controller (shard 0): AlterConfigs / IncrementalAlterConfigs
//! of the cluster default BROKER resource or of one broker id (a shard), validated, written durably to
//! `meta/broker-configs.json`, then published to every shard in the snapshot before the
//! answer. Each shard applies the new topic defaults to the partitions it owns when it adopts
//! the snapshot (`Shard::open_owned_partitions`), and `max.connections` at its next accept.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::control::ControlError;
use super::topic_configs::ConfigOp;
use super::Shard;
use crate::metadata::broker_configs::{self, BrokerConfigs};

/// One level's configs (`resource`: `""` or a broker id) after `ops` (on `base`), or why they
/// are refused. APPEND and SUBTRACT apply to list configs only, and none of the dynamic ones
/// here is a list.
pub fn apply_broker_ops(
    resource: &str,
    base: &BTreeMap<String, String>,
    ops: &[ConfigOp],
) -> Result<BTreeMap<String, String>, ControlError> {
    let mut next = base.clone();
    let refused = |e: broker_configs::BrokerConfigError| ControlError {
        code: e.code,
        message: e.message,
    };
    for op in ops {
        let name = match op {
            ConfigOp::Set(n, _)
            | ConfigOp::Delete(n)
            | ConfigOp::Append(n, _)
            | ConfigOp::Subtract(n, _) => n,
        };
        if broker_configs::dynamic(name).is_none() {
            return Err(refused(broker_configs::refusal_for(resource, name)));
        }
        match op {
            ConfigOp::Set(name, value) => {
                broker_configs::validate(name, value).map_err(refused)?;
                next.insert(name.clone(), value.trim().to_string());
            }
            ConfigOp::Delete(name) => {
                next.remove(name);
            }
            ConfigOp::Append(name, _) | ConfigOp::Subtract(name, _) => {
                return Err(ControlError {
                    code: ResponseError::InvalidConfig.code(),
                    message: format!(
                        "Config {name} is not a list: APPEND and SUBTRACT don't apply to it."
                    ),
                });
            }
        }
    }
    Ok(next)
}

impl Shard {
    /// Change the broker configs of the cluster default (`broker` None) or of one broker id:
    /// `ops` applied to that level's current ones (`replace`: to none, as the legacy
    /// AlterConfigs does). Runs on the controller.
    pub async fn alter_broker_configs(
        &self,
        broker: Option<u32>,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let r = self
            .on_shard(0, move |shard| async move {
                shard
                    .alter_broker_configs_on_controller(broker, ops, replace, validate_only)
                    .await
            })
            .await;
        r.unwrap_or_else(|| {
            Err(ControlError {
                code: ResponseError::NotController.code(),
                message: "controller unavailable".into(),
            })
        })
    }

    async fn alter_broker_configs_on_controller(
        self: Rc<Self>,
        broker: Option<u32>,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let current = controller.store.borrow().broker_configs().clone();
        let base = if replace {
            BTreeMap::new()
        } else {
            current.level(broker)
        };
        let resource = broker.map_or_else(String::new, |b| b.to_string());
        let next: BrokerConfigs =
            current.with_level(broker, apply_broker_ops(&resource, &base, &ops)?);
        if validate_only || next == *current {
            return Ok(());
        }
        let path = broker_configs::path(&self.config.data_dir);
        let written = match next.image() {
            Ok(image) => {
                self.storage
                    .blocking
                    .run(move || crate::metadata::file::replace_durably(&path, &image))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::error!("could not persist the dynamic broker configs: {e}");
            return Err(ControlError {
                code: ResponseError::KafkaStorageError.code(),
                message: format!("persisting the broker configs: {e}"),
            });
        }
        tracing::info!(broker = ?broker, configs = ?next.level(broker), "dynamic broker configs changed");
        controller
            .store
            .borrow_mut()
            .broker_configs_committed(Arc::new(next));
        self.publish().await;
        Ok(())
    }

    /// Change group `group`'s GROUP configs (`metadata::group_configs`): `ops` applied to its
    /// current ones (`replace`: to none, as the legacy AlterConfigs does). Runs on the
    /// controller; written with the broker configs and published before the answer.
    pub async fn alter_group_configs(
        &self,
        group: String,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let r = self
            .on_shard(0, move |shard| async move {
                shard
                    .alter_group_configs_on_controller(group, ops, replace, validate_only)
                    .await
            })
            .await;
        r.unwrap_or_else(|| {
            Err(ControlError {
                code: ResponseError::NotController.code(),
                message: "controller unavailable".into(),
            })
        })
    }

    async fn alter_group_configs_on_controller(
        self: Rc<Self>,
        group: String,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        use crate::metadata::group_configs;
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let current = controller.store.borrow().broker_configs().clone();
        let mut next_group = if replace {
            BTreeMap::new()
        } else {
            current.per_group.get(&group).cloned().unwrap_or_default()
        };
        for op in &ops {
            let (name, value) = match op {
                ConfigOp::Set(n, v) => (n, Some(v.as_str())),
                ConfigOp::Delete(n) => (n, None),
                ConfigOp::Append(n, _) | ConfigOp::Subtract(n, _) => {
                    return Err(ControlError {
                        code: ResponseError::InvalidConfig.code(),
                        message: format!(
                            "Config {n} is not a list: APPEND and SUBTRACT don't apply to it."
                        ),
                    })
                }
            };
            group_configs::validate(&group, name, value)
                .map_err(|(code, message)| ControlError { code, message })?;
            match value {
                Some(v) => next_group.insert(name.clone(), v.trim().to_string()),
                None => next_group.remove(name),
            };
        }
        let next = current.with_group(&group, next_group);
        if validate_only || next == *current {
            return Ok(());
        }
        let now = next.per_group.get(&group).cloned();
        self.commit_broker_configs(next).await?;
        tracing::info!(group, configs = ?now, "group configs changed");
        Ok(())
    }

    /// Write `next` durably, adopt it on the controller and publish it. On the controller,
    /// under its lock.
    async fn commit_broker_configs(&self, next: BrokerConfigs) -> Result<(), ControlError> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let path = broker_configs::path(&self.config.data_dir);
        let written = match next.image() {
            Ok(image) => {
                self.storage
                    .blocking
                    .run(move || crate::metadata::file::replace_durably(&path, &image))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::error!("could not persist the dynamic configs: {e}");
            return Err(ControlError {
                code: ResponseError::KafkaStorageError.code(),
                message: format!("persisting the configs: {e}"),
            });
        }
        controller
            .store
            .borrow_mut()
            .broker_configs_committed(Arc::new(next));
        self.publish().await;
        Ok(())
    }

    /// Connections this shard keeps open at most: `max.connections` set dynamically (the
    /// node's, shared out like `--max-connections`), else the flag's share; never past what
    /// the shard's memory has read buffers for.
    pub fn connections_max(&self) -> usize {
        let shards = self.config.shards.max(1) as usize;
        match self
            .snapshot()
            .broker_configs
            .get_i64(self.id, "max.connections")
            .and_then(|v| usize::try_from(v).ok())
        {
            Some(node) => node
                .div_ceil(shards)
                .clamp(1, self.config.shard_connections_budget_max),
            None => self.config.shard_connections_max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_on_the_cluster_default() {
        let base = BTreeMap::from([("log.retention.ms".to_string(), "1000".to_string())]);
        let next = apply_broker_ops(
            "",
            &base,
            &[
                ConfigOp::Set("log.segment.bytes".into(), "4096".into()),
                ConfigOp::Delete("log.retention.ms".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            next,
            BTreeMap::from([("log.segment.bytes".to_string(), "4096".to_string())])
        );
        let e = apply_broker_ops(
            "",
            &base,
            &[ConfigOp::Set("num.partitions".into(), "3".into())],
        )
        .unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidRequest.code());
        let e = apply_broker_ops(
            "1",
            &base,
            &[ConfigOp::Append("log.roll.ms".into(), "1".into())],
        )
        .unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig.code());
    }
}
