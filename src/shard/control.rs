//! Control-plane operations. They may be called on any shard; they run on shard 0 (the
//! controller), one at a time, and return only after every shard has adopted the new snapshot
//! — so a client that created a topic can produce to it on any shard at once.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::Shard;
use crate::limits::TOPIC_PARTITIONS_MAX;
use crate::metadata::{configs, validate_topic_name, TopicMeta};

/// A topic to create, as CreateTopics or auto-creation asks for it.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker default.
    pub partitions: i32,
    /// -1: the broker default (1).
    pub replication_factor: i16,
    pub configs: Vec<(String, Option<String>)>,
    pub internal: bool,
}

/// A refused control operation: Kafka error code and message.
#[derive(Debug, Clone)]
pub struct ControlError {
    pub code: i16,
    pub message: String,
}

impl ControlError {
    fn new(e: ResponseError, message: impl Into<String>) -> ControlError {
        ControlError {
            code: e.code(),
            message: message.into(),
        }
    }

    /// A `<data-dir>/meta` file (`what`: "group configs", ...) could not be written: logged,
    /// and answered KAFKA_STORAGE_ERROR (nothing was changed or published).
    pub fn not_persisted(what: &str, e: &std::io::Error) -> ControlError {
        tracing::error!("could not persist the {what}: {e}");
        ControlError::new(
            ResponseError::KafkaStorageError,
            format!("persisting the {what}: {e}"),
        )
    }
}

pub type CreateResult = Result<Arc<TopicMeta>, ControlError>;

/// Partitions to add to a topic, as CreatePartitions asks for them.
#[derive(Debug, Clone)]
pub struct NewPartitions {
    pub topic: String,
    /// The new total number of partitions.
    pub count: i32,
    /// The broker (= shard) of each new partition, one list per new partition; None: balanced.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl Shard {
    /// Create topics (validate only: check, change nothing).
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<CreateResult> {
        let n = topics.len();
        let r = self
            .on_shard(0, move |shard| async move {
                shard
                    .create_topics_on_controller(topics, validate_only)
                    .await
            })
            .await;
        r.unwrap_or_else(|| {
            (0..n)
                .map(|_| {
                    Err(ControlError::new(
                        ResponseError::NotController,
                        "controller unavailable",
                    ))
                })
                .collect()
        })
    }

    /// Delete topics by name; each result is the deleted topic's id.
    pub async fn delete_topics(&self, names: Vec<String>) -> Vec<Result<Uuid, ControlError>> {
        let n = names.len();
        let r = self
            .on_shard(0, move |shard| async move {
                shard.delete_topics_on_controller(names).await
            })
            .await;
        r.unwrap_or_else(|| {
            (0..n)
                .map(|_| {
                    Err(ControlError::new(
                        ResponseError::NotController,
                        "controller unavailable",
                    ))
                })
                .collect()
        })
    }

    /// Grow topics (validate only: check, change nothing).
    pub async fn create_partitions(
        &self,
        requests: Vec<NewPartitions>,
        validate_only: bool,
    ) -> Vec<Result<(), ControlError>> {
        let n = requests.len();
        let r = self
            .on_shard(0, move |shard| async move {
                shard
                    .create_partitions_on_controller(requests, validate_only)
                    .await
            })
            .await;
        r.unwrap_or_else(|| {
            (0..n)
                .map(|_| {
                    Err(ControlError::new(
                        ResponseError::NotController,
                        "controller unavailable",
                    ))
                })
                .collect()
        })
    }

    /// The owners of the new partitions (None: balanced), or why the request is refused.
    fn check_new_partitions(&self, r: &NewPartitions) -> Result<Option<Vec<u32>>, ControlError> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let store = controller.store.borrow();
        let Some(topic) = store.topic(&r.topic) else {
            return Err(ControlError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{}' does not exist.", r.topic),
            ));
        };
        if topic.internal {
            return Err(ControlError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Cannot add partitions to internal topic '{}': group placement depends on its partition count.",
                    r.topic
                ),
            ));
        }
        let current = topic.partitions.len();
        let count = usize::try_from(r.count).unwrap_or(0);
        if count < current {
            return Err(ControlError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "Topic currently has {current} partitions, which is higher than the requested {}.",
                    r.count
                ),
            ));
        }
        if count == current {
            return Err(ControlError::new(
                ResponseError::InvalidPartitions,
                format!("Topic already has {current} partitions."),
            ));
        }
        if count > TOPIC_PARTITIONS_MAX {
            return Err(ControlError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "Number of partitions must be at most {TOPIC_PARTITIONS_MAX}, got {}.",
                    r.count
                ),
            ));
        }
        self.check_room_for(store.partition_count(), count - current)?;
        let Some(assignments) = &r.assignments else {
            return Ok(None);
        };
        if assignments.len() != count - current {
            return Err(ControlError::new(
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Increasing the number of partitions by {} but {} assignments provided.",
                    count - current,
                    assignments.len()
                ),
            ));
        }
        let shards = self.config.shards;
        assignments
            .iter()
            .map(|brokers| match brokers.as_slice() {
                [b] if *b >= 0 && (*b as u32) < shards => Ok(*b as u32),
                [b] => Err(ControlError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!("Unknown broker id {b} in the assignment (brokers are 0..{shards})."),
                )),
                _ => Err(ControlError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Each new partition needs exactly one replica (Sluice is a single node), got {}.",
                        brokers.len()
                    ),
                )),
            })
            .collect::<Result<Vec<u32>, _>>()
            .map(Some)
    }

    async fn create_partitions_on_controller(
        self: Rc<Self>,
        requests: Vec<NewPartitions>,
        validate_only: bool,
    ) -> Vec<Result<(), ControlError>> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let mut counts = std::collections::HashMap::new();
        for r in &requests {
            *counts.entry(r.topic.clone()).or_insert(0) += 1;
        }
        let mut results = Vec::with_capacity(requests.len());
        let mut changed = false;
        for r in requests {
            if counts[&r.topic] > 1 {
                results.push(Err(ControlError::new(
                    ResponseError::InvalidRequest,
                    "Duplicate topic in request.",
                )));
                continue;
            }
            let result = match self.check_new_partitions(&r) {
                Err(e) => Err(e),
                Ok(_) if validate_only => Ok(()),
                Ok(owners) => {
                    let staged = controller.store.borrow_mut().add_partitions(
                        &r.topic,
                        r.count as u32,
                        owners.as_deref(),
                    );
                    let grown = match staged {
                        Ok(staged) => controller.commit(&self.storage.blocking, staged).await,
                        Err(e) => Err(e),
                    };
                    match grown {
                        Ok(meta) => {
                            changed = true;
                            tracing::info!(topic = %r.topic, partitions = meta.partitions.len(), "partitions added");
                            Ok(())
                        }
                        Err(e) => Err(ControlError::new(
                            ResponseError::KafkaStorageError,
                            format!("persisting metadata: {e}"),
                        )),
                    }
                }
            };
            results.push(result);
        }
        if changed {
            self.publish().await;
        }
        results
    }

    /// Refuse partitions whose files would not fit in the open-file limit: a partition that
    /// cannot open its log is unusable, so it is never created.
    fn check_room_for(&self, existing: usize, new: usize) -> Result<(), ControlError> {
        let max = self.config.partitions_max;
        if existing.saturating_add(new) <= max {
            return Ok(());
        }
        Err(ControlError::new(
            ResponseError::InvalidPartitions,
            format!(
                "{new} more partitions would make {} but the open-file limit leaves room for {max} ({} descriptors each next to --max-connections): raise RLIMIT_NOFILE (ulimit -n) or lower --max-connections.",
                existing + new,
                crate::limits::PARTITION_FDS
            ),
        ))
    }

    fn check_new_topic(
        &self,
        t: &NewTopic,
    ) -> Result<(u32, BTreeMap<String, String>), ControlError> {
        validate_topic_name(&t.name)
            .map_err(|m| ControlError::new(ResponseError::InvalidTopicException, m))?;
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        if controller.store.borrow().contains(&t.name) {
            return Err(ControlError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{}' already exists.", t.name),
            ));
        }
        let partitions = match t.partitions {
            -1 => self.config.default_partitions,
            p if p >= 1 && (p as usize) <= TOPIC_PARTITIONS_MAX => p as u32,
            p => {
                return Err(ControlError::new(
                    ResponseError::InvalidPartitions,
                    format!(
                    "Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}, got {p}."
                ),
                ))
            }
        };
        if t.replication_factor != -1 && t.replication_factor != 1 {
            return Err(ControlError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Replication factor {} is not possible: Sluice is a single node (its \
                     brokers are the shards of one process on one disk), so a second replica \
                     would not be an independent copy. Use replication factor 1, or -1 for \
                     the broker default (1).",
                    t.replication_factor
                ),
            ));
        }
        self.check_room_for(
            controller.store.borrow().partition_count(),
            partitions as usize,
        )?;
        let mut cfg = BTreeMap::new();
        for (k, v) in &t.configs {
            configs::validate(k, v.as_deref())
                .map_err(|m| ControlError::new(ResponseError::InvalidConfig, m))?;
            if let Some(v) = v {
                cfg.insert(k.clone(), v.clone());
            }
        }
        Ok((partitions, cfg))
    }

    async fn create_topics_on_controller(
        self: Rc<Self>,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<CreateResult> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let mut results = Vec::with_capacity(topics.len());
        let mut created = false;
        let mut seen = std::collections::HashSet::new();
        for t in topics {
            if !seen.insert(t.name.clone()) {
                results.push(Err(ControlError::new(
                    ResponseError::InvalidRequest,
                    "Duplicate topic name in request.",
                )));
                continue;
            }
            let checked = self.check_new_topic(&t);
            let result = match checked {
                Err(e) => Err(e),
                Ok((partitions, cfg)) if validate_only => Ok(Arc::new(TopicMeta {
                    name: t.name.clone(),
                    id: Uuid::nil(),
                    partitions: (0..partitions)
                        .map(|i| crate::metadata::PartitionMeta {
                            owner: i % self.config.shards,
                            leader_epoch: 0,
                        })
                        .collect(),
                    configs: cfg,
                    internal: t.internal,
                })),
                Ok((partitions, cfg)) => {
                    let staged = controller
                        .store
                        .borrow_mut()
                        .create_topic(&t.name, partitions, cfg, t.internal);
                    let r = match staged {
                        Ok(staged) => controller.commit(&self.storage.blocking, staged).await,
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(meta) => {
                            created = true;
                            tracing::info!(topic = %t.name, partitions, "topic created");
                            Ok(meta)
                        }
                        Err(e) => Err(ControlError::new(
                            ResponseError::KafkaStorageError,
                            format!("persisting metadata: {e}"),
                        )),
                    }
                }
            };
            results.push(result);
        }
        if created {
            self.publish().await;
        }
        results
    }

    async fn delete_topics_on_controller(
        self: Rc<Self>,
        names: Vec<String>,
    ) -> Vec<Result<Uuid, ControlError>> {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let _permit = controller.lock.acquire_permit(1).await;
        let mut results = Vec::with_capacity(names.len());
        let mut deleted = false;
        for name in names {
            if controller
                .store
                .borrow()
                .topic(&name)
                .is_some_and(|t| t.internal)
            {
                results.push(Err(ControlError::new(
                    ResponseError::InvalidRequest,
                    "Internal topics cannot be deleted.",
                )));
                continue;
            }
            let staged = controller.store.borrow_mut().delete_topic(&name);
            let r = match staged {
                Ok(Some(staged)) => controller
                    .commit(&self.storage.blocking, staged)
                    .await
                    .map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            results.push(match r {
                Ok(Some(meta)) => {
                    deleted = true;
                    tracing::info!(topic = %name, "topic deleted");
                    Ok(meta.id)
                }
                Ok(None) => Err(ControlError::new(
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.",
                )),
                Err(e) => Err(ControlError::new(
                    ResponseError::KafkaStorageError,
                    format!("persisting metadata: {e}"),
                )),
            });
        }
        if deleted {
            self.publish().await;
        }
        results
    }

    /// Send the controller's current snapshot to every shard and wait until all adopted it.
    pub(super) async fn publish(&self) {
        let controller = self
            .controller
            .as_ref()
            .expect("controller ops run on shard 0");
        let snapshot = Arc::new(controller.store.borrow().snapshot(&self.snapshot().brokers));
        let acks = (0..self.config.shards).map(|s| {
            let snapshot = snapshot.clone();
            // Run anyway: a shard that was wedged must still adopt the snapshot when it
            // recovers (a later one queues behind it on the same channel, in order).
            self.on_shard_run_anyway(s, move |shard| async move {
                shard.apply_snapshot(snapshot).await
            })
        });
        let acks = futures::future::join_all(acks).await;
        for (s, ack) in acks.iter().enumerate() {
            if ack.is_none() {
                tracing::warn!(
                    shard = s,
                    version = snapshot.version,
                    "published without shard {s}'s adoption: it is gone or wedged"
                );
            }
        }
    }
}
