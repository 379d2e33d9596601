//! The control plane: topics, their partitions' owner shards and leader epochs, topic configs.
//!
//! [`MetadataStore`] lives on shard 0 only (it is the controller) and persists to
//! `<data-dir>/meta/topics.json`. Every shard reads an immutable [`Snapshot`] that shard 0
//! publishes after each change (an `Arc` swap per shard), so the data path never locks.
//!
//! A change is made in two steps so that no file write runs on shard 0's thread: the store
//! applies it in memory and hands back a [`Staged`] change carrying the file's new image; the
//! controller writes that image on the blocking pool and only then marks the change committed
//! (or undoes it if the write failed) and publishes it. Between the two steps the in-memory
//! state runs ahead of the disk, so only the controller's operation lock holder reads it.

pub mod acls;
pub mod broker_configs;
pub mod config_synonyms;
pub mod configs;
pub mod file;
pub mod group_configs;
pub mod quotas;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::TOPIC_NAME_BYTES_MAX;

/// One partition's placement. `owner` is the shard (= advertised broker id) that leads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionMeta {
    pub owner: u32,
    pub leader_epoch: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionMeta>,
    /// Only the configs set explicitly; the rest take Kafka's defaults.
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub internal: bool,
}

impl TopicMeta {
    /// The topic's own value of `name`, if set (and numeric). Unset means the broker's
    /// default (`BrokerConfig::topic_config_default`), which Kafka's static default must not
    /// shadow here: a broker flag such as `--log-retention-bytes` applies to every topic that
    /// doesn't set its own.
    pub fn config_i64(&self, name: &str) -> Option<i64> {
        self.configs.get(name).and_then(|v| v.trim().parse().ok())
    }
}

/// An advertised broker: one per shard.
#[derive(Debug, Clone)]
pub struct BrokerAddr {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// An immutable view of the control plane, shared by every shard.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: u64,
    pub cluster_id: String,
    pub topics: BTreeMap<String, Arc<TopicMeta>>,
    pub brokers: Vec<BrokerAddr>,
    /// Client quotas (`quotas`), persisted in their own file beside `topics.json`.
    pub quotas: Arc<quotas::ClientQuotas>,
    /// The cluster's ACL bindings (`acls`), one generation.
    pub acls: Arc<crate::security::acl::AclSet>,
    /// The dynamic broker configs (`broker_configs`), in their own file.
    pub broker_configs: Arc<broker_configs::BrokerConfigs>,
    /// Topic id → name, for `topic_by_id` (Fetch v13+ and Metadata name topics by id): built
    /// with `topics` (`MetadataStore::snapshot`).
    pub topic_ids: BTreeMap<Uuid, String>,
    /// Per-group config overrides (`group_configs`), in their own file.
    pub group_configs: Arc<group_configs::GroupConfigs>,
}

impl Snapshot {
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMeta>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicMeta>> {
        match self.topic_ids.get(&id) {
            Some(name) => self.topics.get(name).filter(|t| t.id == id),
            // A snapshot whose index wasn't built with its topics (assembled by hand): scan.
            None if self.topic_ids.len() != self.topics.len() => {
                self.topics.values().find(|t| t.id == id)
            }
            None => None,
        }
    }

    /// Owner shard and leader epoch of `topic-partition`, if it exists.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMeta> {
        let t = self.topics.get(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p))
    }
}

/// Kafka's topic name rules (`Topic.validate`): 1..=249 chars of [a-zA-Z0-9._-], not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_BYTES_MAX} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct Persisted {
    cluster_id: String,
    /// Shard count the assignment was made for; a change reassigns and bumps epochs.
    shards: u32,
    topics: Vec<TopicMeta>,
}

/// The controller's copy of the metadata. Lives on shard 0; written through to disk before any
/// change is published.
pub struct MetadataStore {
    path: PathBuf,
    state: Persisted,
    version: u64,
    /// A change is applied in memory but neither committed nor undone yet. At most one at a
    /// time: a second change staged on top could be undone out of order.
    staged: bool,
    /// Client quotas, changed by `shard::quota_control` under the controller lock.
    quotas: Arc<quotas::ClientQuotas>,
    /// The ACL bindings (`meta/acls.json`), changed by `shard::acl_control`.
    acls: acls::AclStore,
    /// Dynamic broker configs (`meta/broker-configs.json`), changed by
    /// `shard::broker_config_control` under the controller lock.
    broker_configs: Arc<broker_configs::BrokerConfigs>,
    /// Per-group config overrides (`meta/group-configs.json`), changed by
    /// `shard::group_config_control` under the controller lock.
    group_configs: Arc<group_configs::GroupConfigs>,
}

/// A change applied to the store's memory, not yet on disk. Commit it with
/// [`MetadataStore::committed`] once [`Staged::take_image`] is durable, or roll it back with
/// [`MetadataStore::undo`]; a snapshot must not be published in between.
#[must_use = "a staged metadata change must be committed or undone"]
pub struct Staged<T> {
    value: T,
    /// The whole `topics.json` as it must be on disk before the change is published.
    image: Vec<u8>,
    undo: Box<dyn FnOnce(&mut MetadataStore)>,
}

impl<T> Staged<T> {
    /// The file's new content (taken once: it moves to the blocking pool).
    pub fn take_image(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.image)
    }
}

impl MetadataStore {
    /// Load (or initialise) the metadata in `data_dir/meta`. If the shard count changed since it
    /// was written, partitions are reassigned deterministically and their leader epoch bumped,
    /// so clients refresh their metadata.
    pub fn open(data_dir: &Path, shards: u32) -> std::io::Result<MetadataStore> {
        assert!(shards >= 1);
        let dir = data_dir.join("meta");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("topics.json");
        let mut state: Persisted = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Persisted {
                cluster_id: new_cluster_id(),
                shards,
                topics: Vec::new(),
            },
            Err(e) => return Err(e),
        };
        let mut changed = !path.exists();
        if state.shards != shards {
            for t in &mut state.topics {
                for (i, p) in t.partitions.iter_mut().enumerate() {
                    let owner = p.owner % shards;
                    let owner = if p.owner < shards {
                        owner
                    } else {
                        (i as u32) % shards
                    };
                    if owner != p.owner {
                        p.owner = owner;
                        // Saturating: the epoch was read back from the metadata file.
                        p.leader_epoch = p.leader_epoch.saturating_add(1);
                    }
                }
            }
            state.shards = shards;
            changed = true;
        }
        let store = MetadataStore {
            path,
            state,
            version: 1,
            staged: false,
            quotas: Arc::new(quotas::ClientQuotas::load(&quotas::path(data_dir))?),
            acls: acls::AclStore::open(&dir)?,
            broker_configs: Arc::new(broker_configs::BrokerConfigs::load(&broker_configs::path(
                data_dir,
            ))?),
            group_configs: Arc::new(group_configs::GroupConfigs::load(&group_configs::path(
                data_dir,
            ))?),
        };
        if changed {
            // Start-up, on the main thread before any shard serves: blocking is fine here.
            file::replace_durably(&store.path, &store.image()?)?;
        }
        Ok(store)
    }

    /// Where the store persists (`<data-dir>/meta/topics.json`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn shards(&self) -> u32 {
        self.state.shards
    }

    pub fn snapshot(&self, brokers: &[BrokerAddr]) -> Snapshot {
        Snapshot {
            version: self.version,
            cluster_id: self.state.cluster_id.clone(),
            topics: self
                .state
                .topics
                .iter()
                .map(|t| (t.name.clone(), Arc::new(t.clone())))
                .collect(),
            brokers: brokers.to_vec(),
            quotas: self.quotas.clone(),
            acls: self.acls.current(),
            broker_configs: self.broker_configs.clone(),
            topic_ids: self
                .state
                .topics
                .iter()
                .map(|t| (t.id, t.name.clone()))
                .collect(),
            group_configs: self.group_configs.clone(),
        }
    }

    /// The per-group config overrides as last committed.
    pub fn group_configs(&self) -> &Arc<group_configs::GroupConfigs> {
        &self.group_configs
    }

    /// New per-group config overrides, already durable in their file: a new version to publish.
    pub fn group_configs_committed(&mut self, configs: Arc<group_configs::GroupConfigs>) {
        self.assert_nothing_staged();
        self.group_configs = configs;
        self.version += 1;
    }

    /// The dynamic broker configs as last committed.
    pub fn broker_configs(&self) -> &Arc<broker_configs::BrokerConfigs> {
        &self.broker_configs
    }

    /// New dynamic broker configs, already durable in their file: a new version to publish.
    pub fn broker_configs_committed(&mut self, configs: Arc<broker_configs::BrokerConfigs>) {
        self.assert_nothing_staged();
        self.broker_configs = configs;
        self.version += 1;
    }

    /// The client quotas as last committed.
    pub fn quotas(&self) -> &Arc<quotas::ClientQuotas> {
        &self.quotas
    }

    /// New client quotas, already durable in their file: a new version to publish.
    pub fn quotas_committed(&mut self, quotas: Arc<quotas::ClientQuotas>) {
        self.assert_nothing_staged();
        self.quotas = quotas;
        self.version += 1;
    }

    pub fn acls(&self) -> &acls::AclStore {
        &self.acls
    }

    /// A new ACL set, durable on disk, is in force: a new version to publish.
    pub fn install_acls(&mut self, set: Arc<crate::security::acl::AclSet>) {
        self.assert_nothing_staged();
        self.acls.install(set);
        self.version += 1;
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.state.topics.iter().find(|t| t.name == name)
    }

    /// Partitions of all topics (internal ones included).
    pub fn partition_count(&self) -> usize {
        self.state.topics.iter().map(|t| t.partitions.len()).sum()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.state.topics.iter().any(|t| t.name == name)
    }

    /// Replace a topic's configs. None if there is no such topic (nothing staged).
    pub fn set_topic_configs(
        &mut self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> std::io::Result<Option<Staged<Arc<TopicMeta>>>> {
        let Some(i) = self.state.topics.iter().position(|t| t.name == name) else {
            return Ok(None);
        };
        self.assert_nothing_staged();
        let old = std::mem::replace(&mut self.state.topics[i].configs, configs);
        let meta = Arc::new(self.state.topics[i].clone());
        self.stage(meta, move |s| s.state.topics[i].configs = old)
            .map(Some)
    }

    /// Add a topic with `partitions` partitions spread over the shards, starting at the least
    /// loaded one so many small topics still balance.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: u32,
        configs: BTreeMap<String, String>,
        internal: bool,
    ) -> std::io::Result<Staged<Arc<TopicMeta>>> {
        assert!(!self.contains(name), "create_topic on an existing topic");
        self.assert_nothing_staged();
        assert!(partitions >= 1);
        let shards = self.state.shards;
        let mut load = vec![0u64; shards as usize];
        for t in &self.state.topics {
            for p in &t.partitions {
                load[p.owner as usize] += 1;
            }
        }
        let start = (0..shards)
            .min_by_key(|s| (load[*s as usize], *s))
            .unwrap_or(0);
        let topic = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions: (0..partitions)
                .map(|i| PartitionMeta {
                    owner: (start + i) % shards,
                    leader_epoch: 0,
                })
                .collect(),
            configs,
            internal,
        };
        self.state.topics.push(topic.clone());
        let name = name.to_string();
        self.stage(Arc::new(topic), move |s| {
            s.state.topics.retain(|t| t.name != name)
        })
    }

    /// Grow topic `name` to `total` partitions. The new partitions go to `owners` if given (one
    /// shard each), else each to the least-loaded shard at that point (ties: lowest id), so
    /// repeated growth keeps the shards balanced. Existing partitions are untouched.
    pub fn add_partitions(
        &mut self,
        name: &str,
        total: u32,
        owners: Option<&[u32]>,
    ) -> std::io::Result<Staged<Arc<TopicMeta>>> {
        self.assert_nothing_staged();
        let shards = self.state.shards;
        let mut load = vec![0u64; shards as usize];
        for t in &self.state.topics {
            for p in &t.partitions {
                load[p.owner as usize] += 1;
            }
        }
        let i = self
            .state
            .topics
            .iter()
            .position(|t| t.name == name)
            .expect("add_partitions on an existing topic");
        let before = self.state.topics[i].partitions.len();
        assert!(
            total as usize > before,
            "add_partitions must grow the topic"
        );
        let added = total as usize - before;
        if let Some(o) = owners {
            assert_eq!(o.len(), added);
            assert!(o.iter().all(|s| *s < shards));
        }
        for k in 0..added {
            let owner = match owners {
                Some(o) => o[k],
                None => (0..shards)
                    .min_by_key(|s| (load[*s as usize], *s))
                    .unwrap_or(0),
            };
            load[owner as usize] += 1;
            self.state.topics[i].partitions.push(PartitionMeta {
                owner,
                leader_epoch: 0,
            });
        }
        let meta = Arc::new(self.state.topics[i].clone());
        self.stage(meta, move |s| s.state.topics[i].partitions.truncate(before))
    }

    /// Remove topic `name`. None if there is no such topic (nothing staged).
    pub fn delete_topic(&mut self, name: &str) -> std::io::Result<Option<Staged<TopicMeta>>> {
        let Some(i) = self.state.topics.iter().position(|t| t.name == name) else {
            return Ok(None);
        };
        self.assert_nothing_staged();
        let removed = self.state.topics.remove(i);
        let back = removed.clone();
        self.stage(removed, move |s| s.state.topics.insert(i, back))
            .map(Some)
    }

    /// The change just applied in memory, with the file image that makes it durable; undone at
    /// once if it can't even be encoded.
    fn stage<T>(
        &mut self,
        value: T,
        undo: impl FnOnce(&mut Self) + 'static,
    ) -> std::io::Result<Staged<T>> {
        match self.image() {
            Ok(image) => {
                self.staged = true;
                Ok(Staged {
                    value,
                    image,
                    undo: Box::new(undo),
                })
            }
            Err(e) => {
                undo(self);
                Err(e)
            }
        }
    }

    /// `staged`'s image is on disk: the change is part of the store (a new version) and may be
    /// published.
    pub fn committed<T>(&mut self, staged: Staged<T>) -> T {
        assert!(self.staged, "committing a change that was not staged");
        self.staged = false;
        self.version += 1;
        staged.value
    }

    /// `staged`'s image could not be written: put the store back as it was before it.
    pub fn undo<T>(&mut self, staged: Staged<T>) {
        assert!(self.staged, "undoing a change that was not staged");
        self.staged = false;
        (staged.undo)(self);
    }

    /// Write `staged`'s image here and now, then commit or undo it. Blocks the calling thread:
    /// for tests and tools, never on a shard (the controller writes on the blocking pool).
    pub fn commit_blocking<T>(&mut self, mut staged: Staged<T>) -> std::io::Result<T> {
        match file::replace_durably(&self.path, &staged.take_image()) {
            Ok(()) => Ok(self.committed(staged)),
            Err(e) => {
                self.undo(staged);
                Err(e)
            }
        }
    }

    fn assert_nothing_staged(&self) {
        assert!(
            !self.staged,
            "a metadata change was staged while another is neither committed nor undone"
        );
    }

    /// The whole file's content for the current in-memory state.
    fn image(&self) -> std::io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(&self.state).map_err(std::io::Error::other)
    }
}

fn new_cluster_id() -> String {
    // Kafka cluster ids are 16 random bytes in URL-safe base64 (22 chars); a UUID's simple
    // form is close enough for clients, which treat it as opaque.
    Uuid::new_v4().simple().to_string()[..22].to_string()
}

/// Directory of a partition's log: `<data-dir>/<topic>-<partition>`.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(m: &mut MetadataStore, name: &str, partitions: u32) -> Arc<TopicMeta> {
        let staged = m
            .create_topic(name, partitions, BTreeMap::new(), false)
            .unwrap();
        m.commit_blocking(staged).unwrap()
    }

    #[test]
    fn an_undone_change_leaves_memory_and_disk_as_before_and_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MetadataStore::open(dir.path(), 2).unwrap();
        create(&mut m, "a", 1);
        let version = m.snapshot(&[]).version;
        let on_disk = std::fs::read(m.path()).unwrap();
        let mut staged = m.delete_topic("a").unwrap().unwrap();
        assert!(!m.contains("a"), "applied in memory at once");
        let _image = staged.take_image();
        m.undo(staged);
        assert!(m.contains("a"));
        assert_eq!(m.snapshot(&[]).version, version, "no new version");
        assert_eq!(std::fs::read(m.path()).unwrap(), on_disk);
        let staged = m.create_topic("b", 2, BTreeMap::new(), false).unwrap();
        assert_eq!(m.snapshot(&[]).version, version, "staged is not published");
        m.commit_blocking(staged).unwrap();
        assert_eq!(m.snapshot(&[]).version, version + 1);
        drop(m);
        let m = MetadataStore::open(dir.path(), 2).unwrap();
        assert!(m.contains("a") && m.contains("b"));
    }

    #[test]
    #[should_panic(expected = "staged while another")]
    fn a_second_change_cannot_be_staged_over_an_open_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MetadataStore::open(dir.path(), 1).unwrap();
        let _first = m.create_topic("a", 1, BTreeMap::new(), false).unwrap();
        let _second = m.create_topic("b", 1, BTreeMap::new(), false);
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn added_partitions_go_to_the_least_loaded_shards_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MetadataStore::open(dir.path(), 3).unwrap();
        create(&mut m, "a", 1);
        create(&mut m, "b", 2);
        // Load now: shard 0 has a-0, shard 1 b-0, shard 2 b-1.
        let staged = m.add_partitions("a", 5, None).unwrap();
        let a = m.commit_blocking(staged).unwrap();
        let owners: Vec<u32> = a.partitions.iter().map(|p| p.owner).collect();
        assert_eq!(owners, vec![0, 0, 1, 2, 0]);
        let staged = m.add_partitions("b", 3, Some(&[2])).unwrap();
        let b = m.commit_blocking(staged).unwrap();
        assert_eq!(b.partitions[2].owner, 2);
        drop(m);
        let m = MetadataStore::open(dir.path(), 3).unwrap();
        assert_eq!(m.topic("a").unwrap().partitions.len(), 5);
        assert_eq!(m.topic("b").unwrap().partitions[2].owner, 2);
    }

    #[test]
    fn assignment_balances_and_survives_reopen_and_reshard() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MetadataStore::open(dir.path(), 2).unwrap();
        let t = create(&mut m, "a", 3);
        let owners: Vec<u32> = t.partitions.iter().map(|p| p.owner).collect();
        assert_eq!(owners, vec![0, 1, 0]);
        let t2 = create(&mut m, "b", 1);
        assert_eq!(t2.partitions[0].owner, 1, "least-loaded shard first");
        drop(m);
        let m = MetadataStore::open(dir.path(), 2).unwrap();
        let snap = m.snapshot(&[]);
        assert_eq!(snap.topic("a").unwrap().partitions[1].owner, 1);
        assert_eq!(snap.topic("a").unwrap().partitions[1].leader_epoch, 0);
        drop(m);
        let m = MetadataStore::open(dir.path(), 1).unwrap();
        let snap = m.snapshot(&[]);
        let a = snap.topic("a").unwrap();
        assert!(a.partitions.iter().all(|p| p.owner == 0));
        assert_eq!(
            a.partitions[1].leader_epoch, 1,
            "moved partition bumps its epoch"
        );
        assert_eq!(
            a.partitions[0].leader_epoch, 0,
            "unmoved partition keeps its epoch"
        );
    }
}
