//! Share sessions (KIP-932): a member's ShareFetch / ShareAcknowledge conversation with one
//! shard. Epoch 0 opens a session naming its partitions (replacing an old one), each later
//! request carries the next epoch and adds partitions or forgets some, and -1 closes it. A
//! fetch in a session fetches every partition of the session, not only those it names.
//! Lives on the shard the member sends its requests to.
//!
//! A session also ends when the connection that last used it closes (Kafka 4.1+'s
//! connection-close listener on its share session cache): what the member holds on the
//! session's partitions is released at once, not when each acquisition lock runs out.

use std::collections::HashMap;

use uuid::Uuid;

use super::ShareError;
use crate::limits::{SHARE_SESSIONS_MAX, SHARE_SESSION_PARTITIONS_MAX};

/// A session's partitions, by topic id, in the order they were added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Session {
    /// The epoch the next request must carry.
    pub next_epoch: i32,
    pub partitions: Vec<(Uuid, i32)>,
    /// The connection (`security::session::Session::connection_id`) that last used it.
    pub connection: u64,
}

/// A session ended by its connection closing: whose it was and the partitions it held. Made
/// and consumed on the shard that held the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub group: String,
    pub member: String,
    pub partitions: Vec<(Uuid, i32)>,
}

/// The sessions of one shard, by (group, member).
#[derive(Debug, Default)]
pub struct Sessions {
    map: HashMap<(String, String), Session>,
}

/// What a request did to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Open (epoch 0) or continued: fetch these partitions.
    Fetch(Vec<(Uuid, i32)>),
    /// Closed (epoch -1): acknowledge, release, fetch nothing. The partitions it held.
    Closed(Vec<(Uuid, i32)>),
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Apply a request's epoch, added and forgotten partitions to the member's session.
    pub fn step(
        &mut self,
        group: &str,
        member: &str,
        epoch: i32,
        added: &[(Uuid, i32)],
        forgotten: &[(Uuid, i32)],
    ) -> Result<Step, ShareError> {
        let key = (group.to_string(), member.to_string());
        match epoch {
            0 => {
                if !self.map.contains_key(&key) && self.map.len() >= SHARE_SESSIONS_MAX {
                    return Err(ShareError::ShareSessionLimitReached);
                }
                let mut s = Session {
                    next_epoch: 1,
                    partitions: Vec::new(),
                    connection: 0,
                };
                add(&mut s, added)?;
                let parts = s.partitions.clone();
                self.map.insert(key, s);
                Ok(Step::Fetch(parts))
            }
            -1 => {
                let s = self
                    .map
                    .remove(&key)
                    .ok_or(ShareError::ShareSessionNotFound)?;
                Ok(Step::Closed(s.partitions))
            }
            e if e < -1 => Err(ShareError::InvalidShareSessionEpoch),
            e => {
                let s = self
                    .map
                    .get_mut(&key)
                    .ok_or(ShareError::ShareSessionNotFound)?;
                if e != s.next_epoch {
                    return Err(ShareError::InvalidShareSessionEpoch);
                }
                s.partitions.retain(|p| !forgotten.contains(p));
                add(s, added)?;
                s.next_epoch = if s.next_epoch == i32::MAX {
                    1
                } else {
                    s.next_epoch + 1
                };
                Ok(Step::Fetch(s.partitions.clone()))
            }
        }
    }

    /// Whether the member has an open session here.
    pub fn contains(&self, group: &str, member: &str) -> bool {
        self.map
            .contains_key(&(group.to_string(), member.to_string()))
    }

    /// The member's session (if open) was just used on `connection`: it ends when that
    /// connection closes.
    pub fn bind(&mut self, group: &str, member: &str, connection: u64) {
        if let Some(s) = self.map.get_mut(&(group.to_string(), member.to_string())) {
            s.connection = connection;
        }
    }

    /// Remove the sessions last used on `connection` (it closed). Bounded by
    /// `SHARE_SESSIONS_MAX` entries, and free when the shard has none.
    pub fn end_connection(&mut self, connection: u64) -> Vec<Ended> {
        if self.map.is_empty() {
            return Vec::new();
        }
        let keys: Vec<(String, String)> = self
            .map
            .iter()
            .filter(|(_, s)| s.connection == connection)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let s = self.map.remove(&k)?;
                Some(Ended {
                    group: k.0,
                    member: k.1,
                    partitions: s.partitions,
                })
            })
            .collect()
    }

    /// Acknowledgements outside a fetch (ShareAcknowledge): the epoch must match an open
    /// session (and moves on), or be -1 to close it.
    pub fn acknowledge(
        &mut self,
        group: &str,
        member: &str,
        epoch: i32,
    ) -> Result<Step, ShareError> {
        match epoch {
            0 => Err(ShareError::InvalidShareSessionEpoch),
            _ => self.step(group, member, epoch, &[], &[]),
        }
    }
}

fn add(s: &mut Session, added: &[(Uuid, i32)]) -> Result<(), ShareError> {
    for p in added {
        if !s.partitions.contains(p) {
            if s.partitions.len() >= SHARE_SESSION_PARTITIONS_MAX {
                return Err(ShareError::InvalidRequest);
            }
            s.partitions.push(*p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Uuid = Uuid::from_u128(7);

    #[test]
    fn epochs_follow_kip_932() {
        let mut s = Sessions::default();
        assert_eq!(
            s.step("g", "m", 1, &[], &[]),
            Err(ShareError::ShareSessionNotFound)
        );
        assert_eq!(
            s.step("g", "m", 0, &[(T, 0)], &[]),
            Ok(Step::Fetch(vec![(T, 0)]))
        );
        assert_eq!(
            s.step("g", "m", 2, &[], &[]),
            Err(ShareError::InvalidShareSessionEpoch)
        );
        // Incremental: the session's partitions are fetched even when the request names none.
        assert_eq!(
            s.step("g", "m", 1, &[(T, 1)], &[]),
            Ok(Step::Fetch(vec![(T, 0), (T, 1)]))
        );
        assert_eq!(
            s.step("g", "m", 2, &[], &[(T, 0)]),
            Ok(Step::Fetch(vec![(T, 1)]))
        );
        assert_eq!(
            s.acknowledge("g", "m", 0),
            Err(ShareError::InvalidShareSessionEpoch)
        );
        assert_eq!(s.acknowledge("g", "m", 3), Ok(Step::Fetch(vec![(T, 1)])));
        assert_eq!(
            s.step("g", "m", -1, &[], &[]),
            Ok(Step::Closed(vec![(T, 1)]))
        );
        assert!(s.is_empty());
    }

    #[test]
    fn a_closed_connection_ends_the_sessions_it_last_used() {
        let mut s = Sessions::default();
        s.step("g", "a", 0, &[(T, 0)], &[]).unwrap();
        s.bind("g", "a", 7);
        s.step("g", "b", 0, &[(T, 1)], &[]).unwrap();
        s.bind("g", "b", 7);
        // b moved to another connection: only a ends with 7.
        s.step("g", "b", 1, &[], &[]).unwrap();
        s.bind("g", "b", 8);
        assert!(s.end_connection(9).is_empty());
        assert_eq!(
            s.end_connection(7),
            vec![Ended {
                group: "g".into(),
                member: "a".into(),
                partitions: vec![(T, 0)],
            }]
        );
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.step("g", "a", 1, &[], &[]),
            Err(ShareError::ShareSessionNotFound)
        );
        assert_eq!(s.end_connection(8).len(), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn sessions_per_shard_are_bounded() {
        let mut s = Sessions::default();
        for i in 0..SHARE_SESSIONS_MAX {
            s.step("g", &i.to_string(), 0, &[], &[]).unwrap();
        }
        assert_eq!(
            s.step("g", "one-more", 0, &[], &[]),
            Err(ShareError::ShareSessionLimitReached)
        );
        // An existing member may reopen its own.
        assert!(s.step("g", "0", 0, &[], &[]).is_ok());
    }
}
