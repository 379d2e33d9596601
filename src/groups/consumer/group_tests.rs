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
    let t = topics(&[("orders", 1, 6)]);
    let view = TopicsView {
        version: 1,
        topics: &t,
    };
    let s = settings();
    let mut g = ConsumerGroup::new();
    let a = g.heartbeat(join("a", "orders"), &view, &s, 0).unwrap();
    assert_eq!(a.epoch, 1);
    assert_eq!(n(a.assignment.as_ref().unwrap()), 6);
    let b = g.heartbeat(join("b", "orders"), &view, &s, 0).unwrap();
    assert_eq!(b.epoch, 2);
    // b's partitions are still a's: it gets none yet.
    assert_eq!(n(b.assignment.as_ref().unwrap()), 0);
    assert_eq!(g.state_name(), "Reconciling");
    // a must revoke three; it keeps epoch 1 until it reports them gone.
    let a_owned = a.assignment.unwrap();
    let a2 = g.heartbeat(beat("a", 1, &a_owned), &view, &s, 10).unwrap();
    assert_eq!(a2.epoch, 1);
    let kept = a2.assignment.unwrap();
    assert_eq!(n(&kept), 3);
    assert_exclusive(&g);
    // b still waits: a has not released.
    let b2 = g
        .heartbeat(beat("b", 2, &Assignment::new()), &view, &s, 20)
        .unwrap();
    assert!(b2.assignment.is_none_or(|a| a.is_empty()));
    // a releases; it reaches epoch 2.
    let a3 = g.heartbeat(beat("a", 1, &kept), &view, &s, 30).unwrap();
    assert_eq!(a3.epoch, 2);
    // Now b gets its three.
    let b3 = g
        .heartbeat(beat("b", 2, &Assignment::new()), &view, &s, 40)
        .unwrap();
    assert_eq!(n(b3.assignment.as_ref().unwrap()), 3);
    assert_exclusive(&g);
    assert_eq!(g.state_name(), "Stable");
    assert_eq!(g.assigned_count(), 6);
}

#[test]
fn epochs_are_fenced_and_unknown_members_refused() {
    let t = topics(&[("orders", 1, 2)]);
    let view = TopicsView {
        version: 1,
        topics: &t,
    };
    let s = settings();
    let mut g = ConsumerGroup::new();
    let a = g.heartbeat(join("a", "orders"), &view, &s, 0).unwrap();
    let owned = a.assignment.unwrap();
    assert_eq!(
        g.heartbeat(beat("a", 7, &owned), &view, &s, 1),
        Err(GroupError::FencedMemberEpoch)
    );
    assert_eq!(
        g.heartbeat(beat("zz", 1, &owned), &view, &s, 1),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(g.validate_commit("a", 1, 9), Ok(()));
    assert_eq!(
        g.validate_commit("a", 0, 9),
        Err(GroupError::StaleMemberEpoch)
    );
    assert_eq!(
        g.validate_commit("x", 1, 9),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        g.validate_commit("", -1, 9),
        Err(GroupError::UnknownMemberId)
    );
    // A consumer-protocol member below OffsetCommit v9 (checked before its epoch).
    assert_eq!(
        g.validate_commit("a", 1, 8),
        Err(GroupError::UnsupportedVersion)
    );
    assert_eq!(
        g.validate_commit("a", 0, 8),
        Err(GroupError::UnsupportedVersion)
    );
}

#[test]
fn static_member_leaves_with_minus_two_and_its_instance_takes_the_assignment_back() {
    let t = topics(&[("orders", 1, 4)]);
    let view = TopicsView {
        version: 1,
        topics: &t,
    };
    let s = settings();
    let mut g = ConsumerGroup::new();
    let mut p = join("a", "orders");
    p.instance_id = Some("i1".into());
    let a = g.heartbeat(p.clone(), &view, &s, 0).unwrap();
    let owned = a.assignment.unwrap();
    // Another member claiming the instance while it is active.
    let mut other = p.clone();
    other.member_id = "a2".into();
    assert_eq!(
        g.heartbeat(other.clone(), &view, &s, 1),
        Err(GroupError::UnreleasedInstanceId)
    );
    let mut leave = beat("a", LEAVE_STATIC_EPOCH, &owned);
    leave.instance_id = Some("i1".into());
    assert_eq!(g.heartbeat(leave, &view, &s, 2).unwrap().epoch, -2);
    let epoch = g.group_epoch;
    let back = g.heartbeat(other, &view, &s, 3).unwrap();
    assert_eq!(back.member_id, "a2");
    assert_eq!(back.assignment.unwrap(), owned);
    assert_eq!(g.group_epoch, epoch, "a static rejoin does not rebalance");
    // A left static member that never comes back goes at its session's end.
    let mut leave = beat("a2", LEAVE_STATIC_EPOCH, &owned);
    leave.instance_id = Some("i1".into());
    g.heartbeat(leave, &view, &s, 4).unwrap();
    assert!(g.tick(4 + SESSION_MS));
    assert!(g.is_empty());
}

#[test]
fn leaving_and_session_expiry_bump_the_epoch_and_free_partitions() {
    let t = topics(&[("orders", 1, 4)]);
    let view = TopicsView {
        version: 1,
        topics: &t,
    };
    let s = settings();
    let mut g = ConsumerGroup::new();
    g.heartbeat(join("a", "orders"), &view, &s, 0).unwrap();
    g.heartbeat(join("b", "orders"), &view, &s, 0).unwrap();
    let e = g.group_epoch;
    let r = g
        .heartbeat(beat("b", LEAVE_EPOCH, &Assignment::new()), &view, &s, 1)
        .unwrap();
    assert_eq!(r.epoch, -1);
    assert_eq!(g.group_epoch, e + 1);
    assert!(g.tick(SESSION_MS + 1));
    assert!(g.is_empty());
    assert_eq!(g.state_name(), "Empty");
}

#[test]
fn regex_subscription_picks_up_a_topic_created_later() {
    let s = settings();
    let mut g = ConsumerGroup::new();
    let t1 = topics(&[
        ("topic-a", 1, 2),
        ("other", 2, 2),
        ("__consumer_offsets", 3, 50),
    ]);
    let mut p = join("a", "x");
    p.topic_names = None;
    p.topic_regex = Some("^topic-.*".into());
    let r = g
        .heartbeat(
            p,
            &TopicsView {
                version: 1,
                topics: &t1,
            },
            &s,
            0,
        )
        .unwrap();
    let owned = r.assignment.unwrap();
    assert_eq!(owned.keys().collect::<Vec<_>>(), vec![&Uuid::from_u128(1)]);
    let t2 = topics(&[("topic-a", 1, 2), ("topic-b", 4, 3), ("other", 2, 2)]);
    let r = g
        .heartbeat(
            beat("a", r.epoch, &owned),
            &TopicsView {
                version: 2,
                topics: &t2,
            },
            &s,
            1,
        )
        .unwrap();
    assert_eq!(n(r.assignment.as_ref().unwrap()), 5);
}

#[test]
fn bad_requests_are_refused() {
    let t = topics(&[("orders", 1, 2)]);
    let view = TopicsView {
        version: 1,
        topics: &t,
    };
    let s = settings();
    let mut g = ConsumerGroup::new();
    let mut p = join("a", "orders");
    p.topic_regex = Some("(".into());
    assert_eq!(
        g.heartbeat(p, &view, &s, 0),
        Err(GroupError::InvalidRegularExpression)
    );
    let mut p = join("a", "orders");
    p.assignor = Some("sticky".into());
    assert_eq!(
        g.heartbeat(p, &view, &s, 0),
        Err(GroupError::UnsupportedAssignor)
    );
    let mut p = join("a", "orders");
    p.rebalance_timeout_ms = -1;
    assert_eq!(
        g.heartbeat(p, &view, &s, 0),
        Err(GroupError::InvalidRequest)
    );
    let mut p = join("a", "orders");
    p.topic_regex = Some("a".repeat(limits::CONSUMER_GROUP_REGEX_BYTES_MAX + 1));
    assert_eq!(
        g.heartbeat(p, &view, &s, 0),
        Err(GroupError::InvalidRegularExpression)
    );
    let small = Settings {
        members_max: 1,
        ..s
    };
    g.heartbeat(join("a", "orders"), &view, &small, 0).unwrap();
    assert_eq!(
        g.heartbeat(join("b", "orders"), &view, &small, 0),
        Err(GroupError::GroupMaxSizeReached)
    );
}
