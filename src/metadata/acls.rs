//! The cluster's ACL bindings as metadata: `<data-dir>/meta/acls.json`, loaded at start-up,
//! replaced whole (write, fsync, rename, fsync the directory: `metadata::file`) by the
//! controller before a change is published in the snapshot.
//!
//! The file is JSON, Kafka's names for every code:
//!
//! ```json
//! {"format": 1, "acls": [{"resource_type": "TOPIC", "pattern_type": "LITERAL",
//!   "name": "orders", "principal": "User:alice", "host": "*", "operation": "READ",
//!   "permission": "ALLOW"}]}
//! ```
//!
//! A change never touches the published set: the controller builds the next [`AclSet`]
//! (generation + 1), writes its image on the blocking pool, and only once that is durable
//! installs it ([`AclStore::install`]) and publishes. A failed write leaves nothing to undo.
//!
//! Lives on: shard 0 (inside `MetadataStore`); the sets it hands out are shared by every shard.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::security::acl::binding::StoredBinding;
use crate::security::acl::{AclBinding, AclSet};

/// The file format's version (never 0).
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    format: u32,
    acls: Vec<StoredBinding>,
}

/// The controller's copy of the ACLs. Lives on shard 0.
pub struct AclStore {
    path: PathBuf,
    current: Arc<AclSet>,
}

impl AclStore {
    /// Load `meta_dir/acls.json` (none yet: no ACLs) as generation 1.
    pub fn open(meta_dir: &Path) -> std::io::Result<AclStore> {
        let path = meta_dir.join("acls.json");
        let invalid = |what: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let bindings = match std::fs::read(&path) {
            Ok(bytes) => {
                let p: Persisted =
                    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
                if p.format != FORMAT {
                    return Err(invalid(format!("unknown format {}", p.format)));
                }
                p.acls
                    .iter()
                    .map(AclBinding::try_from)
                    .collect::<Result<BTreeSet<_>, _>>()
                    .map_err(invalid)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        Ok(AclStore {
            path,
            current: Arc::new(AclSet::new(1, bindings)),
        })
    }

    /// Where the store persists (`<data-dir>/meta/acls.json`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The set in force (published or about to be).
    pub fn current(&self) -> Arc<AclSet> {
        self.current.clone()
    }

    /// The next generation's set: `bindings` as `current`'s successor.
    pub fn next(&self, bindings: BTreeSet<AclBinding>) -> AclSet {
        AclSet::new(self.current.generation + 1, bindings)
    }

    /// The file's content for `set`.
    pub fn image(set: &AclSet) -> std::io::Result<Vec<u8>> {
        let p = Persisted {
            format: FORMAT,
            acls: set.bindings().iter().map(StoredBinding::from).collect(),
        };
        serde_json::to_vec_pretty(&p).map_err(std::io::Error::other)
    }

    /// `set`'s image is durable: it is now the set in force.
    pub fn install(&mut self, set: Arc<AclSet>) {
        assert!(
            set.generation > self.current.generation,
            "ACL generations only grow"
        );
        self.current = set;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::{PatternType, Permission};
    use crate::security::authz::{AclOperation, ResourceType};

    #[test]
    fn bindings_survive_a_reopen_and_generations_grow() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AclStore::open(dir.path()).unwrap();
        assert!(store.current().is_empty());
        assert_eq!(store.current().generation, 1);
        let b = AclBinding {
            resource_type: ResourceType::Topic,
            pattern_type: PatternType::Prefixed,
            name: "orders".into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: Permission::Allow,
        };
        let next = Arc::new(store.next([b.clone()].into_iter().collect()));
        crate::metadata::file::replace_durably(store.path(), &AclStore::image(&next).unwrap())
            .unwrap();
        store.install(next);
        assert_eq!(store.current().generation, 2);
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(
            text.contains("\"PREFIXED\"") && text.contains("User:alice"),
            "{text}"
        );
        let again = AclStore::open(dir.path()).unwrap();
        assert_eq!(again.current().bindings(), &[b]);
        std::fs::write(again.path(), b"{\"format\":0,\"acls\":[]}").unwrap();
        assert!(
            AclStore::open(dir.path()).is_err(),
            "a bad file refuses to start"
        );
    }
}
