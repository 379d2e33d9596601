//! Changing configs at run time (IncrementalAlterConfigs, AlterConfigs): the one entry point
//! for both resource types ([`Shard::alter_configs`], routed to the controller), the
//! operations they share ([`ConfigOp`]), and a topic's configs: validated, persisted and
//! published by the controller (shard 0) like any control-plane change; each shard applies the
//! new values to the partitions it owns when it adopts the snapshot. Broker configs are
//! `broker_config_control`'s.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use super::control::ControlError;
use super::Shard;
use crate::metadata::configs;

/// One change to one config, as IncrementalAlterConfigs names them (op codes 0-3).
#[derive(Debug, Clone)]
pub enum ConfigOp {
    Set(String, String),
    Delete(String),
    /// Add values to a list config (comma-separated), skipping ones already there.
    Append(String, String),
    /// Remove values from a list config.
    Subtract(String, String),
}

/// Whose configs a change is for.
#[derive(Debug, Clone)]
pub enum ConfigResource {
    Topic(String),
    /// The cluster default (None) or one broker id (a shard).
    Broker(Option<u32>),
    /// One group's overrides (Kafka 4's GROUP resource).
    Group(String),
}

impl ConfigOp {
    /// The config it changes.
    pub fn name(&self) -> &str {
        match self {
            ConfigOp::Set(n, _)
            | ConfigOp::Delete(n)
            | ConfigOp::Append(n, _)
            | ConfigOp::Subtract(n, _) => n,
        }
    }
}

/// Configs whose value is a list, the only ones APPEND / SUBTRACT apply to.
const LIST_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The topic's configs after `ops` (incremental), or why they are refused.
pub fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[ConfigOp],
) -> Result<BTreeMap<String, String>, ControlError> {
    let mut next = current.clone();
    for op in ops {
        let name = op.name();
        if configs::default_of(name).is_none() {
            return Err(ControlError {
                code: ResponseError::InvalidConfig.code(),
                message: format!("Unknown topic config name: {name}"),
            });
        }
        let is_list = LIST_CONFIGS.contains(&name);
        match op {
            ConfigOp::Set(n, v) => {
                next.insert(n.clone(), v.clone());
            }
            ConfigOp::Delete(n) => {
                next.remove(n);
            }
            ConfigOp::Append(n, _) | ConfigOp::Subtract(n, _) if !is_list => {
                return Err(not_a_list(n));
            }
            ConfigOp::Append(n, v) => {
                let base = next
                    .get(n)
                    .cloned()
                    .or_else(|| configs::default_of(n).map(str::to_string))
                    .unwrap_or_default();
                let mut items = split_list(&base);
                for item in split_list(v) {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
                next.insert(n.clone(), items.join(","));
            }
            ConfigOp::Subtract(n, v) => {
                let base = next
                    .get(n)
                    .cloned()
                    .or_else(|| configs::default_of(n).map(str::to_string))
                    .unwrap_or_default();
                let drop = split_list(v);
                let items: Vec<String> = split_list(&base)
                    .into_iter()
                    .filter(|i| !drop.contains(i))
                    .collect();
                next.insert(n.clone(), items.join(","));
            }
        }
    }
    for (k, v) in &next {
        configs::validate(k, Some(v)).map_err(|m| ControlError {
            code: ResponseError::InvalidConfig.code(),
            message: m,
        })?;
    }
    Ok(next)
}

/// The refusal of APPEND / SUBTRACT on config `name`, which is not a list.
pub fn not_a_list(name: &str) -> ControlError {
    ControlError {
        code: ResponseError::InvalidConfig.code(),
        message: format!("Config {name} is not a list: APPEND and SUBTRACT don't apply to it."),
    }
}

impl Shard {
    /// Change `resource`'s configs on the controller: `ops` applied to the current ones
    /// (`replace`: to none, as the legacy AlterConfigs does). `validate_only` checks without
    /// changing anything. NOT_CONTROLLER if the controller can't be reached.
    pub async fn alter_configs(
        &self,
        resource: ConfigResource,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let r = self
            .on_shard(0, move |shard| async move {
                // One control operation at a time (`Controller::lock`).
                let controller = shard
                    .controller
                    .as_ref()
                    .expect("controller ops run on shard 0");
                let _permit = controller.lock.acquire_permit(1).await;
                match resource {
                    ConfigResource::Topic(topic) => {
                        shard
                            .alter_topic_configs_on_controller(topic, ops, replace, validate_only)
                            .await
                    }
                    ConfigResource::Broker(broker) => {
                        shard
                            .alter_broker_configs_on_controller(broker, ops, replace, validate_only)
                            .await
                    }
                    ConfigResource::Group(group) => {
                        shard
                            .alter_group_configs_on_controller(group, ops, replace, validate_only)
                            .await
                    }
                }
            })
            .await;
        r.unwrap_or_else(|| {
            Err(ControlError {
                code: ResponseError::NotController.code(),
                message: "controller unavailable".into(),
            })
        })
    }

    /// Change `topic`'s configs, on the controller with its lock held (`alter_configs`).
    async fn alter_topic_configs_on_controller(
        &self,
        topic: String,
        ops: Vec<ConfigOp>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let current = match controller.store.borrow().topic(&topic) {
            Some(t) => t.configs.clone(),
            None => {
                return Err(ControlError {
                    code: ResponseError::UnknownTopicOrPartition.code(),
                    message: format!("Topic {topic} does not exist."),
                })
            }
        };
        let base = if replace { BTreeMap::new() } else { current };
        let next = apply_ops(&base, &ops)?;
        if validate_only {
            return Ok(());
        }
        let staged = controller
            .store
            .borrow_mut()
            .set_topic_configs(&topic, next);
        let r = match staged {
            Ok(Some(staged)) => controller
                .commit(&self.storage.blocking, staged)
                .await
                .map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match r {
            Ok(Some(_)) => {
                tracing::info!(topic = %topic, "topic configs changed");
                self.publish().await;
                Ok(())
            }
            Ok(None) => Err(ControlError {
                code: ResponseError::UnknownTopicOrPartition.code(),
                message: format!("Topic {topic} does not exist."),
            }),
            Err(e) => Err(ControlError {
                code: ResponseError::KafkaStorageError.code(),
                message: format!("persisting metadata: {e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn incremental_ops() {
        let cur = map(&[("retention.ms", "1000")]);
        let next = apply_ops(
            &cur,
            &[
                ConfigOp::Set("segment.bytes".into(), "8192".into()),
                ConfigOp::Delete("retention.ms".into()),
            ],
        )
        .unwrap();
        assert_eq!(next, map(&[("segment.bytes", "8192")]));
        let next = apply_ops(
            &cur,
            &[ConfigOp::Append("cleanup.policy".into(), "compact".into())],
        )
        .unwrap();
        assert_eq!(
            next.get("cleanup.policy").map(String::as_str),
            Some("delete,compact")
        );
        let next = apply_ops(
            &next,
            &[ConfigOp::Subtract("cleanup.policy".into(), "delete".into())],
        )
        .unwrap();
        assert_eq!(
            next.get("cleanup.policy").map(String::as_str),
            Some("compact")
        );
        let e = apply_ops(&cur, &[ConfigOp::Set("no.such.config".into(), "1".into())]).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig.code());
        let e =
            apply_ops(&cur, &[ConfigOp::Append("retention.ms".into(), "1".into())]).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig.code());
    }
}
