//! Per-group config overrides on the controller (shard 0): IncrementalAlterConfigs of a GROUP
//! resource (`ConfigResource::Group` through `Shard::alter_configs`, which holds the
//! controller's lock), validated (Kafka's `GroupConfig` rules, the `consumer.*` ones within
//! the broker's bounds), written durably to `meta/group-configs.json`, then published to every
//! shard in the snapshot before the answer. Coordinators read them from their snapshot at each
//! heartbeat.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::control::ControlError;
use super::topic_configs::ConfigOp;
use super::Shard;
use crate::metadata::group_configs::{self, ConsumerBounds, GroupConfigs};

fn invalid_config(message: String) -> ControlError {
    ControlError {
        code: ResponseError::InvalidConfig.code(),
        message,
    }
}

impl Shard {
    /// The broker settings group overrides are checked against.
    pub fn consumer_bounds(&self) -> ConsumerBounds {
        let c = &self.groups.config;
        ConsumerBounds {
            session_timeout_ms: c.consumer_session_timeout_ms,
            session_timeout_ms_min: c.consumer_session_timeout_ms_min,
            session_timeout_ms_max: c.consumer_session_timeout_ms_max,
            heartbeat_interval_ms: c.consumer_heartbeat_interval_ms,
            heartbeat_interval_ms_min: c.consumer_heartbeat_interval_ms_min,
            heartbeat_interval_ms_max: c.consumer_heartbeat_interval_ms_max,
        }
    }

    /// Change group `group`'s config overrides by `ops` (`replace`: applied to none). On the
    /// controller with its lock held, reached through `Shard::alter_configs`.
    pub(super) async fn alter_group_configs_on_controller(
        &self,
        group: String,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let current = controller.store.borrow().group_configs().clone();
        let mut configs = if replace {
            Default::default()
        } else {
            current.of(&group)
        };
        for op in ops {
            match op {
                ConfigOp::Set(name, value) => {
                    group_configs::validate(&name, &value).map_err(invalid_config)?;
                    configs.insert(name, value.trim().to_string());
                }
                ConfigOp::Delete(name) => {
                    if !group_configs::is_known(&name) {
                        return Err(invalid_config(format!("Unknown group config name: {name}")));
                    }
                    configs.remove(&name);
                }
                ConfigOp::Append(name, _) | ConfigOp::Subtract(name, _) => {
                    return Err(invalid_config(format!(
                        "Config {name} is not a list: APPEND and SUBTRACT don't apply to it."
                    )))
                }
            }
        }
        group_configs::check_consumer(&configs, &self.consumer_bounds()).map_err(invalid_config)?;
        let next: GroupConfigs = current.with_group(&group, configs);
        if validate_only || next == *current {
            return Ok(());
        }
        self.storage
            .blocking
            .replace_durably(group_configs::path(&self.config.data_dir), next.image())
            .await
            .map_err(|e| ControlError::not_persisted("group configs", &e))?;
        tracing::info!(group = %group, configs = ?next.of(&group), "group configs changed");
        controller
            .store
            .borrow_mut()
            .group_configs_committed(Arc::new(next));
        self.publish().await;
        Ok(())
    }
}
