//! A connection's authorization decisions, so a check on the data path (every Produce and
//! Fetch asks READ or WRITE on its topics) is one hash lookup instead of a walk over the ACLs.
//!
//! Keyed by (resource type, name), with one bit per operation for "decided" and one for
//! "allowed"; a hit allocates nothing. Valid for one ACL generation and one principal: the
//! cache empties itself when the published `AclSet`'s generation changes, and `Session`
//! empties it when the principal changes (re-authentication). Bounded by
//! [`ACL_DECISION_CACHE_ENTRIES_MAX`] resources: at the bound it starts over, so a client
//! touching endless resource names costs checks, not memory.
//!
//! Lives on: the accepting shard, inside the connection's `Session` (`!Send`, `RefCell`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

pub use crate::limits::ACL_DECISION_CACHE_ENTRIES_MAX;
use crate::security::authz::{AclOperation, ResourceType};

/// Decided and allowed operations of one resource, one bit per `AclOperation` code.
#[derive(Debug, Clone, Copy, Default)]
struct Decisions {
    decided: u16,
    allowed: u16,
}

/// One connection's cached decisions.
#[derive(Debug, Default)]
pub struct DecisionCache {
    /// The ACL generation the entries were decided under (0: none yet).
    generation: Cell<u64>,
    /// Per resource type code, name → decisions.
    entries: RefCell<[HashMap<Box<str>, Decisions>; 8]>,
    len: Cell<usize>,
}

impl DecisionCache {
    /// The cached decision for `operation` on `(resource_type, name)` under ACL generation
    /// `generation`, or `decide()`'s, remembered.
    pub fn get_or_decide(
        &self,
        generation: u64,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        if self.generation.get() != generation {
            self.clear();
            self.generation.set(generation);
        }
        let bit = 1u16 << (operation as u8 & 15);
        let slot = resource_type as usize & 7;
        if let Some(d) = self.entries.borrow().get(slot).and_then(|m| m.get(name)) {
            if d.decided & bit != 0 {
                return d.allowed & bit != 0;
            }
        }
        let allowed = decide();
        let mut entries = self.entries.borrow_mut();
        let Some(map) = entries.get_mut(slot) else {
            return allowed;
        };
        let d = match map.get_mut(name) {
            Some(d) => d,
            None => {
                if self.len.get() >= ACL_DECISION_CACHE_ENTRIES_MAX {
                    drop(entries);
                    self.clear();
                    entries = self.entries.borrow_mut();
                }
                self.len.set(self.len.get() + 1);
                let Some(map) = entries.get_mut(slot) else {
                    return allowed;
                };
                map.entry(name.into()).or_default()
            }
        };
        d.decided |= bit;
        if allowed {
            d.allowed |= bit;
        }
        allowed
    }

    /// Forget every decision (the principal changed).
    pub fn clear(&self) {
        for m in self.entries.borrow_mut().iter_mut() {
            m.clear();
        }
        self.len.set(0);
    }

    /// Resources with cached decisions.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_remembered_per_operation_and_generation() {
        let c = DecisionCache::default();
        let calls = Cell::new(0);
        let decide = |answer: bool| {
            let calls = &calls;
            move || {
                calls.set(calls.get() + 1);
                answer
            }
        };
        let t = ResourceType::Topic;
        assert!(c.get_or_decide(1, AclOperation::Read, t, "a", decide(true)));
        assert!(c.get_or_decide(1, AclOperation::Read, t, "a", decide(false)));
        assert_eq!(calls.get(), 1, "the second answer came from the cache");
        assert!(!c.get_or_decide(1, AclOperation::Write, t, "a", decide(false)));
        assert!(!c.get_or_decide(1, AclOperation::Write, t, "a", decide(true)));
        assert_eq!(calls.get(), 2);
        // Another resource type with the same name is another resource.
        assert!(!c.get_or_decide(
            1,
            AclOperation::Read,
            ResourceType::Group,
            "a",
            decide(false)
        ));
        assert_eq!(calls.get(), 3);
        assert_eq!(c.len(), 2);
        // A new ACL generation decides again.
        assert!(!c.get_or_decide(2, AclOperation::Read, t, "a", decide(false)));
        assert_eq!(calls.get(), 4);
        assert_eq!(c.len(), 1);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = DecisionCache::default();
        for i in 0..ACL_DECISION_CACHE_ENTRIES_MAX + 10 {
            c.get_or_decide(
                1,
                AclOperation::Read,
                ResourceType::Topic,
                &format!("t{i}"),
                || true,
            );
            assert!(c.len() <= ACL_DECISION_CACHE_ENTRIES_MAX);
        }
        assert_eq!(c.len(), 10, "started over at the bound");
    }
}
