//! The partitions one shard owns and has open, found by a borrowed topic name and an index.
//!
//! Lives on its shard (inside `Shard`, `!Send`). Every Produce and Fetch looks its partitions
//! up here, a Fetch's long poll once per partition per pass: the lookup must not allocate.
//! A `(String, i32)` key needed an owned `String` per lookup (and SipHash over it); here the
//! map is keyed by the topic name alone (looked up as `&str`, hashed with foldhash, seeded per
//! process) and each topic's partitions sit in a vector indexed by partition number.

use std::collections::HashMap;
use std::rc::Rc;

use crate::partition::Partition;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The open partitions of one shard. Lives on that shard.
#[derive(Default)]
pub struct PartitionTable {
    /// Topic name → its partitions here, by index (None: not owned or not open here).
    topics: FastMap<Box<str>, Vec<Option<Rc<Partition>>>>,
    len: usize,
}

impl PartitionTable {
    pub fn get(&self, topic: &str, index: i32) -> Option<&Rc<Partition>> {
        let slot = usize::try_from(index).ok()?;
        self.topics.get(topic)?.get(slot)?.as_ref()
    }

    /// Put `p` in place of the partition with its topic and index; the one it replaced, if any.
    pub fn insert(&mut self, p: Rc<Partition>) -> Option<Rc<Partition>> {
        // A partition's index comes from the snapshot (0..partitions), never negative.
        debug_assert!(p.index >= 0, "partition index {} is negative", p.index);
        let Ok(slot) = usize::try_from(p.index) else {
            return None;
        };
        if !self.topics.contains_key(p.topic.as_str()) {
            self.topics.insert(p.topic.as_str().into(), Vec::new());
        }
        let slots = self.topics.get_mut(p.topic.as_str())?;
        if slots.len() <= slot {
            slots.resize(slot + 1, None);
        }
        let old = slots.get_mut(slot).and_then(|s| s.replace(p));
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, topic: &str, index: i32) -> Option<Rc<Partition>> {
        let slot = usize::try_from(index).ok()?;
        let slots = self.topics.get_mut(topic)?;
        let old = slots.get_mut(slot)?.take();
        if old.is_some() {
            self.len -= 1;
            while slots.last().is_some_and(Option::is_none) {
                slots.pop();
            }
            if slots.is_empty() {
                self.topics.remove(topic);
            }
        }
        old
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<Partition>> {
        self.topics.values().flatten().flatten()
    }

    /// Every partition, taken out.
    pub fn drain(&mut self) -> Vec<Rc<Partition>> {
        self.len = 0;
        self.topics.drain().flat_map(|(_, v)| v).flatten().collect()
    }
}
