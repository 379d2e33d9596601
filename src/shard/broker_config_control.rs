//! Dynamic broker configs on the controller (shard 0): AlterConfigs / IncrementalAlterConfigs
//! of the cluster default BROKER resource or of one broker id (a shard), validated, written durably to
//! `meta/broker-configs.json`, then published to every shard in the snapshot before the
//! answer. Each shard applies the new topic defaults to the partitions it owns when it adopts
//! the snapshot (`Shard::open_owned_partitions`), and `max.connections` at its next accept.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::control::ControlError;
use super::topic_configs::{not_a_list, ConfigOp};
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
        let name = op.name();
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
                return Err(not_a_list(name));
            }
        }
    }
    Ok(next)
}

impl Shard {
    /// Change the broker configs of the cluster default (`broker` None) or of one broker id:
    /// `ops` applied to that level's current ones (`replace`: to none, as the legacy
    /// AlterConfigs does). On the controller with its lock held, reached through
    /// `Shard::alter_configs`.
    pub(super) async fn alter_broker_configs_on_controller(
        &self,
        broker: Option<u32>,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
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
        self.storage
            .blocking
            .replace_durably(broker_configs::path(&self.config.data_dir), next.image())
            .await
            .map_err(|e| ControlError::not_persisted("broker configs", &e))?;
        tracing::info!(broker = ?broker, configs = ?next.level(broker), "dynamic broker configs changed");
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
    use kafka_protocol::error::ResponseError;

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
