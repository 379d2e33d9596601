//! Server-side assignors of KIP-848 consumer groups (`group.consumer.assignors`): `uniform`
//! (balanced and sticky: a partition stays with its owner while that keeps the balance) and
//! `range` (per topic, contiguous ranges to the members subscribed to it, in member-id order).
//!
//! Pure functions: no I/O, no clock. Run on the group's coordinator shard.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A server-side assignor Sluice implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    Uniform,
    Range,
}

impl Assignor {
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    pub fn from_name(name: &str) -> Option<Assignor> {
        match name {
            "uniform" => Some(Assignor::Uniform),
            "range" => Some(Assignor::Range),
            _ => None,
        }
    }
}

/// One member as an assignor sees it: its subscribed topic ids and its previous target.
pub struct AssignorMember<'a> {
    pub id: &'a str,
    pub topics: BTreeSet<Uuid>,
    pub previous: Option<&'a Assignment>,
}

/// The new target assignment of every member (members in id order; `partitions`: each
/// subscribed topic's partition count).
pub fn assign(
    assignor: Assignor,
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        Assignor::Uniform => uniform(members, partitions),
        Assignor::Range => range(members, partitions),
    }
}

fn range(
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (topic, count) in partitions {
        let subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.id)
            .collect();
        let n = subscribers.len() as i32;
        if n == 0 || *count <= 0 {
            continue;
        }
        let (each, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, id) in subscribers.iter().enumerate() {
            let take = each + i32::from((i as i32) < extra);
            if take > 0 {
                if let Some(a) = out.get_mut(*id) {
                    a.entry(*topic).or_default().extend(next..next + take);
                }
            }
            next += take;
        }
    }
    out
}

fn uniform(
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let all: Vec<(Uuid, i32)> = partitions
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (*t, p)))
        .filter(|(t, _)| members.iter().any(|m| m.topics.contains(t)))
        .collect();
    let mut counts: Vec<usize> = vec![0; members.len()];
    let mut owner: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    // The most any member should hold when all may take anything: past it, stickiness yields.
    let ceiling = all.len().div_ceil(members.len().max(1));
    // 1. Sticky: keep previous partitions still subscribed, up to the ceiling.
    for (i, m) in members.iter().enumerate() {
        for (t, ps) in m.previous.into_iter().flatten() {
            if !m.topics.contains(t) {
                continue;
            }
            for p in ps {
                if counts[i] < ceiling
                    && partitions.get(t).is_some_and(|n| *p < *n)
                    && !owner.contains_key(&(*t, *p))
                {
                    owner.insert((*t, *p), i);
                    counts[i] += 1;
                }
            }
        }
    }
    // 2. The rest to the least-loaded eligible member (lowest index on ties).
    for tp in &all {
        if owner.contains_key(tp) {
            continue;
        }
        let best = (0..members.len())
            .filter(|i| members[*i].topics.contains(&tp.0))
            .min_by_key(|i| (counts[*i], *i));
        if let Some(i) = best {
            owner.insert(*tp, i);
            counts[i] += 1;
        }
    }
    // 3. Balance: move a partition from a member holding two more than an eligible other.
    for _ in 0..all.len() {
        let mut moved = false;
        for tp in &all {
            let Some(&from) = owner.get(tp) else { continue };
            let to = (0..members.len())
                .filter(|i| members[*i].topics.contains(&tp.0))
                .min_by_key(|i| (counts[*i], *i));
            if let Some(to) = to {
                if counts[from] > counts[to] + 1 {
                    owner.insert(*tp, to);
                    counts[from] -= 1;
                    counts[to] += 1;
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for ((t, p), i) in owner {
        if let Some(a) = out.get_mut(members[i].id) {
            a.entry(t).or_default().insert(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let parts = BTreeMap::from([(t(1), 6)]);
        let topics = BTreeSet::from([t(1)]);
        let two = [
            AssignorMember {
                id: "a",
                topics: topics.clone(),
                previous: None,
            },
            AssignorMember {
                id: "b",
                topics: topics.clone(),
                previous: None,
            },
        ];
        let first = assign(Assignor::Uniform, &two, &parts);
        assert_eq!(count(&first["a"]), 3);
        assert_eq!(count(&first["b"]), 3);
        let three = [
            AssignorMember {
                id: "a",
                topics: topics.clone(),
                previous: Some(&first["a"]),
            },
            AssignorMember {
                id: "b",
                topics: topics.clone(),
                previous: Some(&first["b"]),
            },
            AssignorMember {
                id: "c",
                topics: topics.clone(),
                previous: None,
            },
        ];
        let second = assign(Assignor::Uniform, &three, &parts);
        for m in ["a", "b", "c"] {
            assert_eq!(count(&second[m]), 2, "{m}");
        }
        // Each old member kept two of its own three.
        for m in ["a", "b"] {
            let kept = second[m][&t(1)].intersection(&first[m][&t(1)]).count();
            assert_eq!(kept, 2, "{m}");
        }
        // Every partition exactly once.
        let mut all: Vec<i32> = second.values().flat_map(|a| a[&t(1)].clone()).collect();
        all.sort();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_respects_subscriptions() {
        let parts = BTreeMap::from([(t(1), 4), (t(2), 2)]);
        let members = [
            AssignorMember {
                id: "a",
                topics: BTreeSet::from([t(1)]),
                previous: None,
            },
            AssignorMember {
                id: "b",
                topics: BTreeSet::from([t(1), t(2)]),
                previous: None,
            },
        ];
        let out = assign(Assignor::Uniform, &members, &parts);
        assert!(!out["a"].contains_key(&t(2)));
        assert_eq!(count(&out["a"]) + count(&out["b"]), 6);
        assert_eq!(count(&out["a"]), 3);
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let parts = BTreeMap::from([(t(1), 5)]);
        let topics = BTreeSet::from([t(1)]);
        let members = [
            AssignorMember {
                id: "a",
                topics: topics.clone(),
                previous: None,
            },
            AssignorMember {
                id: "b",
                topics,
                previous: None,
            },
        ];
        let out = assign(Assignor::Range, &members, &parts);
        assert_eq!(out["a"][&t(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&t(1)], BTreeSet::from([3, 4]));
    }
}
