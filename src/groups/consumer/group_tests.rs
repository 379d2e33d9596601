//! The consumer group state machine on its own: joins, epochs, revocation before
//! reassignment, static members, fencing, timeouts.

use super::*;

const SESSION_MS: u64 = 45_000;

fn settings() -> Settings {
    Settings {
        session_timeout_ms: SESSION_MS,
        heartbeat_interval_ms: 5_000,
        assignors: Assignors::default(),
        members_max: 10,
    }
}

fn topics(list: &[(&str, u128, i32)]) -> BTreeMap<String, TopicInfo> {
    list.iter()
        .map(|(n, id, p)| {
            (
                n.to_string(),
                TopicInfo {
                    id: Uuid::from_u128(*id),
                    partitions: *p,
                    internal: n.starts_with("__"),
                },
            )
        })
        .collect()
}

/// One group under test with its topics and settings: the setup every test shares.
struct Fixture {
    topics: BTreeMap<String, TopicInfo>,
    /// Metadata version of `topics` (bump it when they change).
    version: u64,
    s: Settings,
    g: ConsumerGroup,
}

impl Fixture {
    fn new(list: &[(&str, u128, i32)]) -> Fixture {
        Fixture {
            topics: topics(list),
            version: 1,
            s: settings(),
            g: ConsumerGroup::new(),
        }
    }

    fn view(&self) -> TopicsView<'_> {
        TopicsView {
            version: self.version,
            topics: &self.topics,
        }
    }

    fn hb(&mut self, p: HeartbeatParams, now_ms: u64) -> Result<HeartbeatReply, GroupError> {
        let view = TopicsView {
            version: self.version,
            topics: &self.topics,
        };
        self.g.heartbeat(p, &view, &self.s, now_ms)
    }

    /// New topics, seen as a new metadata version.
    fn set_topics(&mut self, list: &[(&str, u128, i32)]) {
        self.topics = topics(list);
        self.version += 1;
    }
}

fn join(member: &str, topic: &str) -> HeartbeatParams {
    HeartbeatParams {
        version: 1,
        member_id: member.into(),
        epoch: 0,
        rebalance_timeout_ms: 30_000,
        topic_names: Some(vec![topic.into()]),
        owned: Some(Assignment::new()),
        ..Default::default()
    }
}

fn beat(member: &str, epoch: i32, owned: &Assignment) -> HeartbeatParams {
    HeartbeatParams {
        version: 1,
        member_id: member.into(),
        epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.clone()),
        ..Default::default()
    }
}

fn n(a: &Assignment) -> usize {
    count(a)
}

/// Every partition of the group is held by at most one member, counting revoking ones.
fn assert_exclusive(g: &ConsumerGroup) {
    let mut seen = BTreeSet::new();
    for m in g.members.values() {
        for (t, ps) in m.assigned.iter().chain(m.revoking.iter()) {
            for p in ps {
                assert!(seen.insert((*t, *p)), "{t}-{p} held twice");
            }
        }
    }
}

#[test]
fn two_members_split_six_partitions_and_a_third_gets_them_only_after_release() {
    let mut f = Fixture::new(&[("orders", 1, 6)]);
    let a = f.hb(join("a", "orders"), 0).unwrap();
    assert_eq!(a.epoch, 1);
    assert_eq!(n(a.assignment.as_ref().unwrap()), 6);
    let b = f.hb(join("b", "orders"), 0).unwrap();
    assert_eq!(b.epoch, 2);
    // b's partitions are still a's: it gets none yet.
    assert_eq!(n(b.assignment.as_ref().unwrap()), 0);
    assert_eq!(f.g.state_name(), "Reconciling");
    // a must revoke three; it keeps epoch 1 until it reports them gone.
    let a_owned = a.assignment.unwrap();
    let a2 = f.hb(beat("a", 1, &a_owned), 10).unwrap();
    assert_eq!(a2.epoch, 1);
    let kept = a2.assignment.unwrap();
    assert_eq!(n(&kept), 3);
    assert_exclusive(&f.g);
    // b still waits: a has not released.
    let b2 = f.hb(beat("b", 2, &Assignment::new()), 20).unwrap();
    assert!(b2.assignment.is_none_or(|a| a.is_empty()));
    // a releases; it reaches epoch 2.
    let a3 = f.hb(beat("a", 1, &kept), 30).unwrap();
    assert_eq!(a3.epoch, 2);
    // Now b gets its three.
    let b3 = f.hb(beat("b", 2, &Assignment::new()), 40).unwrap();
    assert_eq!(n(b3.assignment.as_ref().unwrap()), 3);
    assert_exclusive(&f.g);
    assert_eq!(f.g.state_name(), "Stable");
    assert_eq!(f.g.assigned_count(), 6);
}

#[test]
fn epochs_are_fenced_and_unknown_members_refused() {
    let mut f = Fixture::new(&[("orders", 1, 2)]);
    let a = f.hb(join("a", "orders"), 0).unwrap();
    let owned = a.assignment.unwrap();
    assert_eq!(
        f.hb(beat("a", 7, &owned), 1),
        Err(GroupError::FencedMemberEpoch)
    );
    assert_eq!(
        f.hb(beat("zz", 1, &owned), 1),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(f.g.validate_commit("a", 1, 9), Ok(()));
    assert_eq!(
        f.g.validate_commit("a", 0, 9),
        Err(GroupError::StaleMemberEpoch)
    );
    assert_eq!(
        f.g.validate_commit("x", 1, 9),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        f.g.validate_commit("", -1, 9),
        Err(GroupError::UnknownMemberId)
    );
    // A consumer-protocol member below OffsetCommit v9 (checked before its epoch).
    assert_eq!(
        f.g.validate_commit("a", 1, 8),
        Err(GroupError::UnsupportedVersion)
    );
    assert_eq!(
        f.g.validate_commit("a", 0, 8),
        Err(GroupError::UnsupportedVersion)
    );
}

#[test]
fn static_member_leaves_with_minus_two_and_its_instance_takes_the_assignment_back() {
    let mut f = Fixture::new(&[("orders", 1, 4)]);
    let mut p = join("a", "orders");
    p.instance_id = Some("i1".into());
    let a = f.hb(p.clone(), 0).unwrap();
    let owned = a.assignment.unwrap();
    // Another member claiming the instance while it is active.
    let mut other = p.clone();
    other.member_id = "a2".into();
    assert_eq!(
        f.hb(other.clone(), 1),
        Err(GroupError::UnreleasedInstanceId)
    );
    let mut leave = beat("a", LEAVE_STATIC_EPOCH, &owned);
    leave.instance_id = Some("i1".into());
    assert_eq!(f.hb(leave, 2).unwrap().epoch, -2);
    let epoch = f.g.group_epoch;
    let back = f.hb(other, 3).unwrap();
    assert_eq!(back.member_id, "a2");
    assert_eq!(back.assignment.unwrap(), owned);
    assert_eq!(f.g.group_epoch, epoch, "a static rejoin does not rebalance");
    // A left static member that never comes back goes at its session's end.
    let mut leave = beat("a2", LEAVE_STATIC_EPOCH, &owned);
    leave.instance_id = Some("i1".into());
    f.hb(leave, 4).unwrap();
    assert!(f.g.tick(4 + SESSION_MS));
    assert!(f.g.is_empty());
}

#[test]
fn leaving_and_session_expiry_bump_the_epoch_and_free_partitions() {
    let mut f = Fixture::new(&[("orders", 1, 4)]);
    f.hb(join("a", "orders"), 0).unwrap();
    f.hb(join("b", "orders"), 0).unwrap();
    let e = f.g.group_epoch;
    let r = f.hb(beat("b", LEAVE_EPOCH, &Assignment::new()), 1).unwrap();
    assert_eq!(r.epoch, -1);
    assert_eq!(f.g.group_epoch, e + 1);
    assert!(f.g.tick(SESSION_MS + 1));
    assert!(f.g.is_empty());
    assert_eq!(f.g.state_name(), "Empty");
}

/// Finding R3 (FUZZING.md): a group epoch of i32::MAX, as a replayed record may carry it, is
/// bumped by a join (`settle`) and by a member's leaving: saturated, not overflowed (a panic
/// with overflow checks, a negative epoch in release).
#[test]
fn a_group_epoch_at_i32_max_saturates_on_join_and_leave() {
    let mut f = Fixture::new(&[("orders", 1, 4)]);
    f.g.group_epoch = i32::MAX - 1;
    f.g.target_epoch = i32::MAX - 1;
    let r = f.hb(join("a", "orders"), 0).unwrap();
    assert_eq!(f.g.group_epoch, i32::MAX, "the join bumped the epoch");
    assert_eq!(r.epoch, i32::MAX);
    assert_eq!(r.assignment.as_ref().map(n), Some(4));
    let r = f.hb(join("b", "orders"), 1).unwrap();
    assert_eq!(f.g.group_epoch, i32::MAX);
    assert!(r.epoch >= 0, "{r:?}");
    let r = f.hb(beat("b", LEAVE_EPOCH, &Assignment::new()), 2).unwrap();
    assert_eq!(r.epoch, -1);
    assert_eq!(f.g.group_epoch, i32::MAX);
    assert!(f.g.tick(2 + SESSION_MS));
    assert!(f.g.is_empty());
    assert_eq!(f.g.group_epoch, i32::MAX);
}

#[test]
fn regex_subscription_picks_up_a_topic_created_later() {
    let mut f = Fixture::new(&[
        ("topic-a", 1, 2),
        ("other", 2, 2),
        ("__consumer_offsets", 3, 50),
    ]);
    let mut p = join("a", "x");
    p.topic_names = None;
    p.topic_regex = Some("^topic-.*".into());
    let r = f.hb(p, 0).unwrap();
    let owned = r.assignment.unwrap();
    assert_eq!(owned.keys().collect::<Vec<_>>(), vec![&Uuid::from_u128(1)]);
    f.set_topics(&[("topic-a", 1, 2), ("topic-b", 4, 3), ("other", 2, 2)]);
    let r = f.hb(beat("a", r.epoch, &owned), 1).unwrap();
    assert_eq!(n(r.assignment.as_ref().unwrap()), 5);
}

#[test]
fn bad_requests_are_refused() {
    type Edit = fn(&mut HeartbeatParams);
    let cases: [(&str, Edit, GroupError); 4] = [
        (
            "regex that does not compile",
            |p| p.topic_regex = Some("(".into()),
            GroupError::InvalidRegularExpression,
        ),
        (
            "assignor the broker lacks",
            |p| p.assignor = Some("sticky".into()),
            GroupError::UnsupportedAssignor,
        ),
        (
            "first join without a rebalance timeout",
            |p| p.rebalance_timeout_ms = -1,
            GroupError::InvalidRequest,
        ),
        (
            "regex past CONSUMER_GROUP_REGEX_BYTES_MAX",
            |p| p.topic_regex = Some("a".repeat(limits::CONSUMER_GROUP_REGEX_BYTES_MAX + 1)),
            GroupError::InvalidRegularExpression,
        ),
    ];
    for (what, edit, want) in cases {
        let mut f = Fixture::new(&[("orders", 1, 2)]);
        let mut p = join("a", "orders");
        edit(&mut p);
        assert_eq!(f.hb(p, 0), Err(want), "{what}");
        assert!(f.g.is_empty(), "{what}: nobody joined");
    }
    let mut f = Fixture::new(&[("orders", 1, 2)]);
    f.s.members_max = 1;
    f.hb(join("a", "orders"), 0).unwrap();
    assert_eq!(
        f.hb(join("b", "orders"), 0),
        Err(GroupError::GroupMaxSizeReached)
    );
}

// --- classic-protocol members (online migration) -------------------------------------------

use crate::groups::consumer_protocol::{assigned_partitions, encode_assignment};
use crate::groups::state::{ClassicSeed, Protocol};
use bytes::Bytes;

/// A JoinGroup subscription to `topics` (ConsumerProtocolSubscription v1) owning `owned`.
fn subscription(topics: &[&str], owned: &[(&str, &[i32])]) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&1i16.to_be_bytes());
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    // v1's owned partitions have the assignment's layout after its version.
    let named: Vec<(String, Vec<i32>)> = owned
        .iter()
        .map(|(t, ps)| (t.to_string(), ps.to_vec()))
        .collect();
    let a = encode_assignment(&named);
    b.extend_from_slice(&a[2..a.len() - 4]);
    Bytes::from(b)
}

fn classic(member: &str, owned: &[(&str, &[i32])]) -> ClassicJoin {
    ClassicJoin {
        member_id: member.into(),
        first_join: false,
        instance_id: None,
        client_id: "c".into(),
        client_host: "h".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: subscription(&["orders"], owned),
        }],
    }
}

impl Fixture {
    fn classic_join(&mut self, j: ClassicJoin, now_ms: u64) -> Result<i32, GroupError> {
        let view = TopicsView {
            version: self.version,
            topics: &self.topics,
        };
        self.g
            .classic_join(j, &view, &self.s, now_ms)
            .map(|(_, epoch, _)| epoch)
    }

    fn sync(&mut self, member: &str, generation: i32) -> Result<Vec<i32>, GroupError> {
        let (a, name) =
            self.g
                .classic_sync(member, None, generation, Some("consumer"), Some("range"), 0)?;
        assert_eq!(name, "range");
        Ok(a.values().flatten().copied().collect())
    }
}

#[test]
fn a_classic_member_reconciles_through_heartbeat_rejoin_and_sync() {
    let mut f = Fixture::new(&[("orders", 1, 4)]);
    assert_eq!(f.classic_join(classic("c1", &[]), 0), Ok(1));
    assert_eq!(f.sync("c1", 1), Ok(vec![0, 1, 2, 3]));
    assert_eq!(f.g.classic_heartbeat("c1", None, 1, 1), Ok(()));
    // A consumer-protocol member joins: c1 is behind the group epoch and must rejoin.
    let m = f.hb(join("m", "orders"), 2).unwrap();
    assert_eq!((m.epoch, n(m.assignment.as_ref().unwrap())), (2, 0));
    assert_eq!(
        f.g.classic_heartbeat("c1", None, 1, 3),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(f.sync("c1", 1), Err(GroupError::RebalanceInProgress));
    // Its rejoin (still owning all four) is one step: revoke two, keep its epoch.
    let all: &[i32] = &[0, 1, 2, 3];
    assert_eq!(f.classic_join(classic("c1", &[("orders", all)]), 4), Ok(1));
    let kept = f.sync("c1", 1).unwrap();
    assert_eq!(kept.len(), 2);
    assert_exclusive(&f.g);
    assert_eq!(
        f.g.classic_heartbeat("c1", None, 1, 5),
        Err(GroupError::RebalanceInProgress)
    );
    // Rejoining without the revoked two releases them: epoch 2, and m gets them.
    assert_eq!(
        f.classic_join(classic("c1", &[("orders", kept.as_slice())]), 6),
        Ok(2)
    );
    assert_eq!(f.sync("c1", 2), Ok(kept.clone()));
    assert_eq!(f.g.classic_heartbeat("c1", None, 2, 7), Ok(()));
    let m = f.hb(beat("m", 2, &Assignment::new()), 8).unwrap();
    assert_eq!(n(m.assignment.as_ref().unwrap()), 2);
    assert_exclusive(&f.g);
    assert_eq!(f.g.state_name(), "Stable");
    // Commits: a classic member's generation is its epoch, at any version.
    assert_eq!(f.g.validate_commit("c1", 2, 2), Ok(()));
    assert_eq!(
        f.g.validate_commit("c1", 1, 8),
        Err(GroupError::IllegalGeneration)
    );
    // Errors the classic calls answer.
    assert_eq!(
        f.g.classic_heartbeat("c1", None, 1, 9),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        f.g.classic_heartbeat("m", None, 2, 9),
        Err(GroupError::UnknownMemberId),
        "a consumer-protocol member is no classic member"
    );
    assert_eq!(
        f.g.classic_sync("c1", None, 2, Some("consumer"), Some("roundrobin"), 9),
        Err(GroupError::InconsistentGroupProtocol)
    );
    let mut other = classic("c2", &[]);
    other.protocols[0].name = "roundrobin".into();
    assert_eq!(
        f.classic_join(other, 10),
        Err(GroupError::InconsistentGroupProtocol),
        "no protocol every classic member supports"
    );
}

#[test]
fn a_classic_member_told_to_rejoin_is_removed_after_its_rebalance_timeout() {
    let mut f = Fixture::new(&[("orders", 1, 2)]);
    let mut c1 = classic("c1", &[]);
    c1.session_timeout_ms = 60_000;
    let e = f.classic_join(c1, 0).unwrap();
    f.sync("c1", e).unwrap();
    f.hb(join("m", "orders"), 0).unwrap();
    assert_eq!(
        f.g.classic_heartbeat("c1", None, 1, 100),
        Err(GroupError::RebalanceInProgress)
    );
    assert!(!f.g.tick(100 + 19_999));
    assert!(f.g.tick(100 + 20_000));
    assert_eq!(f.g.members.len(), 1);
    assert!(!f.g.all_classic());
}

#[test]
fn a_classic_member_that_does_not_sync_is_removed_after_its_rebalance_timeout() {
    let mut f = Fixture::new(&[("orders", 1, 2)]);
    f.hb(join("m", "orders"), 0).unwrap();
    let mut c1 = classic("c1", &[]);
    c1.session_timeout_ms = 60_000;
    let mut c2 = classic("c2", &[]);
    c2.session_timeout_ms = 60_000;
    // c2 syncs in time (its deadline ends); c1, joining later, never does.
    let e2 = f.classic_join(c2, 0).unwrap();
    f.sync("c2", e2).unwrap();
    f.classic_join(c1, 10).unwrap();
    assert_eq!(f.g.next_deadline(), Some(20_010));
    assert!(!f.g.tick(20_009));
    assert!(f.g.tick(20_010));
    assert!(!f.g.members.contains_key("c1"));
    assert!(f.g.members.contains_key("c2"));
}

#[test]
fn a_classic_subscription_that_does_not_parse_is_an_unknown_server_error() {
    let mut f = Fixture::new(&[("orders", 1, 2)]);
    f.hb(join("m", "orders"), 0).unwrap();
    let mut c1 = classic("c1", &[]);
    c1.protocols[0].metadata = Bytes::from_static(&[0, 9, 1]);
    assert_eq!(f.classic_join(c1, 0), Err(GroupError::UnknownServerError));
}

fn seed(id: &str, partitions: &[i32]) -> ClassicSeed {
    ClassicSeed {
        id: id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "h".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: subscription(&["orders"], &[]),
        }],
        subscription: subscription(&["orders"], &[]),
        assignment: Bytes::from(encode_assignment(&[("orders".into(), partitions.to_vec())])),
    }
}

#[test]
fn upgrade_keeps_classic_assignments_and_downgrade_hands_out_the_targets() {
    let mut f = Fixture::new(&[("orders", 1, 4)]);
    let view = f.view();
    let g =
        ConsumerGroup::from_classic(5, vec![seed("c1", &[0, 1]), seed("c2", &[2, 3])], &view, 0)
            .unwrap();
    f.g = g;
    assert_eq!((f.g.group_epoch, f.g.target_epoch), (5, 5));
    assert_eq!(f.sync("c1", 5), Ok(vec![0, 1]));
    assert!(f.g.all_classic());
    // The consumer-protocol member that triggered the upgrade joins: a rebalance.
    let m = f.hb(join("m", "orders"), 1).unwrap();
    assert_eq!(m.epoch, 6);
    assert!(!f.g.all_classic());
    assert_eq!(
        f.g.classic_heartbeat("c1", None, 5, 2),
        Err(GroupError::RebalanceInProgress)
    );
    // It leaves again: only classic members are left, the group can go back.
    f.hb(beat("m", 6, &Assignment::new()), 3).unwrap();
    f.hb(beat("m", LEAVE_EPOCH, &Assignment::new()), 4).unwrap();
    assert!(f.g.all_classic());
    let names: BTreeMap<Uuid, String> = [(Uuid::from_u128(1), "orders".to_string())].into();
    let snap = f.g.downgrade_snapshot(&names, 77).unwrap();
    assert_eq!(snap.generation, f.g.group_epoch);
    assert_eq!(snap.protocol.as_deref(), Some("range"));
    assert_eq!(snap.protocol_type, "consumer");
    let mut all: Vec<i32> = snap
        .members
        .iter()
        .flat_map(|m| assigned_partitions(&m.assignment).unwrap())
        .flat_map(|(_, ps)| ps)
        .collect();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3]);
    // LeaveGroup of a classic member; unknown ones are named.
    let r =
        f.g.classic_leave(&[("c2".into(), None), ("zz".into(), None)], &f.s.clone());
    assert_eq!(r, vec![Ok(()), Err(GroupError::UnknownMemberId)]);
    assert_eq!(f.g.members.len(), 1);
    // A subscription that does not parse stops an upgrade (Kafka: GROUP_ID_NOT_FOUND).
    let mut bad = seed("c3", &[]);
    bad.subscription = Bytes::from_static(&[0xff]);
    assert_eq!(
        ConsumerGroup::from_classic(1, vec![bad], &f.view(), 0).err(),
        Some(GroupError::GroupIdNotFound)
    );
}
