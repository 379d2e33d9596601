//! Unit tests of the pure group state machine: every path a client can take, with a fake clock.

use super::*;
use crate::groups::consumer_protocol::encode_subscription;

const DELAY: u64 = 100;
const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn cfg() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: DELAY,
        ..GroupConfig::default()
    }
}

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall_ms: 1_000_000 + ms as i64,
    }
}

fn range(topics: &[&str]) -> Protocol {
    Protocol {
        name: "range".into(),
        metadata: Bytes::from(encode_subscription(topics)),
    }
}

fn params(member_id: &str, fresh: &str) -> JoinParams {
    JoinParams {
        member_id: member_id.into(),
        instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: vec![range(&["t"])],
        require_known_member_id: false,
        supports_skip_assignment: false,
        fresh_member_id: fresh.into(),
    }
}

fn joins(events: &[Event]) -> Vec<(String, JoinResult)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Join(m, r) => Some((m.clone(), r.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(events: &[Event]) -> Vec<(String, SyncResult)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sync(m, r) => Some((m.clone(), r.clone())),
            _ => None,
        })
        .collect()
}

fn waiting(o: JoinOutcome) -> String {
    match o {
        JoinOutcome::Waiting { member_id } => member_id,
        other => panic!("expected a parked join, got {other:?}"),
    }
}

fn done(o: JoinOutcome) -> JoinResult {
    match o {
        JoinOutcome::Done(r) => r,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// Tick at the join deadline until the (possibly extended) initial delay is over.
fn finish_join(g: &mut Group) -> u64 {
    let mut t = 0;
    for _ in 0..100 {
        match g.join_deadline {
            Some(d) if g.state() == GroupState::PreparingRebalance => {
                t = d;
                g.tick(at(d));
            }
            _ => return t,
        }
    }
    panic!("join never completed");
}

/// A Stable group with members "a" (leader) and "b", generation 1, assignments "A" and "B".
fn stable_ab() -> Group {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    waiting(g.join(params("", "b"), at(1)));
    finish_join(&mut g);
    let j = joins(&g.drain_events());
    assert_eq!(j.len(), 2);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(
        g.sync("b", None, 1, None, None, vec![], at(5)),
        SyncOutcome::Waiting
    );
    let out = g.sync(
        "a",
        None,
        1,
        None,
        None,
        vec![
            ("a".into(), Bytes::from("A")),
            ("b".into(), Bytes::from("B")),
        ],
        at(6),
    );
    let SyncOutcome::Persist {
        generation,
        assignments,
    } = out
    else {
        panic!("leader sync must ask to persist: {out:?}");
    };
    g.complete_sync(generation, assignments, Ok(()), at(7));
    let s = syncs(&g.drain_events());
    assert_eq!(s.len(), 2);
    assert_eq!(g.state(), GroupState::Stable);
    g
}

#[test]
fn member_id_required_only_when_asked() {
    let mut g = Group::new("g", cfg(), at(0));
    let mut p = params("", "m-1");
    p.require_known_member_id = true;
    let r = done(g.join(p.clone(), at(0)));
    assert_eq!(r.error, Some(GroupError::MemberIdRequired));
    assert_eq!(r.member_id, "m-1");
    assert!(g.is_pending("m-1"));
    assert_eq!(g.state(), GroupState::Empty);
    // The rejoin with the id is accepted.
    p.member_id = "m-1".into();
    p.fresh_member_id = "unused".into();
    assert_eq!(waiting(g.join(p, at(1))), "m-1");
    assert!(!g.is_pending("m-1"));
    // JoinGroup v0–3: an id at once.
    let mut g = Group::new("g2", cfg(), at(0));
    assert_eq!(waiting(g.join(params("", "m-2"), at(0))), "m-2");
}

#[test]
fn pending_member_expires_after_session_timeout() {
    let mut g = Group::new("g", cfg(), at(0));
    let mut p = params("", "m-1");
    p.require_known_member_id = true;
    done(g.join(p, at(0)));
    assert_eq!(g.next_deadline(), Some(SESSION as u64));
    g.tick(at(SESSION as u64));
    assert!(!g.is_pending("m-1"));
    assert!(g.is_disposable());
}

#[test]
fn initial_delay_then_generation_one() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // Everyone joined, but the initial delay is not over.
    assert!(g.drain_events().is_empty());
    assert_eq!(g.next_deadline(), Some(DELAY));
    g.tick(at(DELAY - 1));
    assert!(g.drain_events().is_empty());
    g.tick(at(DELAY));
    let j = joins(&g.drain_events());
    assert_eq!(j.len(), 1);
    let (m, r) = &j[0];
    assert_eq!(m, "a");
    assert_eq!(r.error, None);
    assert_eq!(r.generation, 1);
    assert_eq!(r.leader, "a");
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn initial_delay_extends_while_members_arrive() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    waiting(g.join(params("", "b"), at(50)));
    g.tick(at(DELAY));
    assert!(
        g.drain_events().is_empty(),
        "a new member extends the delay"
    );
    assert_eq!(g.next_deadline(), Some(2 * DELAY));
    g.tick(at(2 * DELAY));
    assert_eq!(joins(&g.drain_events()).len(), 2);
}

#[test]
fn leader_gets_members_followers_do_not() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    waiting(g.join(params("", "b"), at(1)));
    finish_join(&mut g);
    let j = joins(&g.drain_events());
    let a = &j.iter().find(|(m, _)| m == "a").unwrap().1;
    let b = &j.iter().find(|(m, _)| m == "b").unwrap().1;
    assert_eq!(a.members.len(), 2);
    assert!(b.members.is_empty());
    assert_eq!(a.leader, "a");
    assert_eq!(b.leader, "a");
    assert_eq!(a.generation, b.generation);
}

#[test]
fn sync_hands_out_assignments() {
    let g = stable_ab();
    assert_eq!(g.member("a").unwrap().assignment, Bytes::from("A"));
    assert_eq!(g.member("b").unwrap().assignment, Bytes::from("B"));
    assert_eq!(g.generation(), 1);
}

#[test]
fn sync_in_stable_returns_assignment_again() {
    let mut g = stable_ab();
    let out = g.sync(
        "b",
        None,
        1,
        Some("consumer"),
        Some("range"),
        vec![],
        at(10),
    );
    let SyncOutcome::Done(r) = out else {
        panic!("{out:?}")
    };
    assert_eq!(r.error, None);
    assert_eq!(r.assignment, Bytes::from("B"));
}

#[test]
fn sync_errors() {
    let mut g = stable_ab();
    let err = |o: SyncOutcome| match o {
        SyncOutcome::Done(r) => r.error,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(g.sync("zz", None, 1, None, None, vec![], at(10))),
        Some(GroupError::UnknownMemberId)
    );
    assert_eq!(
        err(g.sync("a", None, 7, None, None, vec![], at(10))),
        Some(GroupError::IllegalGeneration)
    );
    assert_eq!(
        err(g.sync("a", None, 1, Some("connect"), None, vec![], at(10))),
        Some(GroupError::InconsistentGroupProtocol)
    );
    waiting(g.join(params("", "c"), at(20)));
    assert_eq!(
        err(g.sync("a", None, 1, None, None, vec![], at(21))),
        Some(GroupError::RebalanceInProgress)
    );
}

#[test]
fn failed_persist_answers_error_and_rebalances() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    finish_join(&mut g);
    g.drain_events();
    let SyncOutcome::Persist {
        generation,
        assignments,
    } = g.sync("a", None, 1, None, None, vec![], at(DELAY + 1))
    else {
        panic!()
    };
    g.complete_sync(
        generation,
        assignments,
        Err(GroupError::NotCoordinator),
        at(DELAY + 2),
    );
    let s = syncs(&g.drain_events());
    assert_eq!(s[0].1.error, Some(GroupError::NotCoordinator));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn new_member_triggers_rebalance_and_all_rejoin() {
    let mut g = stable_ab();
    waiting(g.join(params("", "c"), at(100)));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat("a", None, 1, at(101)),
        Err(GroupError::RebalanceInProgress)
    );
    waiting(g.join(params("a", "x"), at(102)));
    assert!(g.drain_events().is_empty(), "b has not rejoined yet");
    waiting(g.join(params("b", "x"), at(103)));
    // Not from Empty: no initial delay; completes as soon as all rejoined.
    let j = joins(&g.drain_events());
    assert_eq!(j.len(), 3);
    assert!(j
        .iter()
        .all(|(_, r)| r.generation == 2 && r.error.is_none()));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    // Old generation is now illegal.
    assert_eq!(
        g.heartbeat("a", None, 1, at(104)),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(g.heartbeat("a", None, 2, at(104)), Ok(()));
}

#[test]
fn rebalance_starting_answers_parked_syncs() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    waiting(g.join(params("", "b"), at(0)));
    finish_join(&mut g);
    g.drain_events();
    assert_eq!(
        g.sync("b", None, 1, None, None, vec![], at(DELAY)),
        SyncOutcome::Waiting
    );
    waiting(g.join(params("", "c"), at(DELAY + 1)));
    let s = syncs(&g.drain_events());
    assert_eq!(
        s,
        vec![(
            "b".to_string(),
            SyncResult::error(GroupError::RebalanceInProgress)
        )]
    );
}

#[test]
fn members_that_do_not_rejoin_are_dropped_at_rebalance_timeout() {
    let mut g = stable_ab();
    waiting(g.join(params("a", "x"), at(1_000)));
    // b heartbeats (getting REBALANCE_IN_PROGRESS) but never rejoins.
    for t in (1_000..1_000 + REBALANCE as u64).step_by(5_000) {
        assert_eq!(
            g.heartbeat("b", None, 1, at(t)),
            Err(GroupError::RebalanceInProgress)
        );
        g.tick(at(t));
    }
    assert!(g.drain_events().is_empty());
    g.tick(at(1_000 + REBALANCE as u64));
    let j = joins(&g.drain_events());
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].1.generation, 2);
    assert!(!g.has_member("b"));
}

#[test]
fn session_timeout_removes_silent_member() {
    let mut g = stable_ab();
    // a keeps heartbeating, b goes silent.
    for t in (1_000..SESSION as u64 + 1_100).step_by(1_000) {
        let _ = g.heartbeat("a", None, g.generation(), at(t));
        g.tick(at(t));
    }
    assert!(!g.has_member("b"), "b expired");
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat("a", None, 1, at(SESSION as u64 + 2_000)),
        Err(GroupError::RebalanceInProgress)
    );
    waiting(g.join(params("a", "x"), at(SESSION as u64 + 3_000)));
    let j = joins(&g.drain_events());
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].1.members.len(), 1);
}

#[test]
fn member_waiting_on_rebalance_is_not_expired() {
    let mut g = stable_ab();
    waiting(g.join(params("a", "x"), at(1_000)));
    // a waits (parked join) past its session timeout: still a member.
    let _ = g.heartbeat("b", None, 1, at(1_000));
    g.tick(at(1_000 + SESSION as u64 + 1));
    assert!(g.has_member("a"));
}

#[test]
fn leave_triggers_rebalance_and_last_leave_empties() {
    let mut g = stable_ab();
    let r = g.leave(&[("b".into(), None)], at(100)).unwrap();
    assert_eq!(r, vec![Ok(())]);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let r = g.leave(&[("nobody".into(), None)], at(101)).unwrap();
    assert_eq!(r, vec![Err(GroupError::UnknownMemberId)]);
    waiting(g.join(params("a", "x"), at(102)));
    assert_eq!(joins(&g.drain_events()).len(), 1);
    let r = g.leave(&[("a".into(), None)], at(103)).unwrap();
    assert_eq!(r, vec![Ok(())]);
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation(), 3);
    assert!(g.drain_events().contains(&Event::PersistGroup));
}

#[test]
fn leave_answers_a_parked_join() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    g.leave(&[("a".into(), None)], at(1)).unwrap();
    let j = joins(&g.drain_events());
    assert_eq!(j[0].1.error, Some(GroupError::UnknownMemberId));
}

#[test]
fn heartbeat_errors() {
    let mut g = stable_ab();
    assert_eq!(
        g.heartbeat("zz", None, 1, at(10)),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        g.heartbeat("a", None, 0, at(10)),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(g.heartbeat("a", None, 1, at(10)), Ok(()));
    let mut e = Group::new("e", cfg(), at(0));
    assert_eq!(
        e.heartbeat("a", None, 0, at(0)),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn protocol_selection_and_inconsistency() {
    let mut g = Group::new("g", cfg(), at(0));
    let rr = Protocol {
        name: "roundrobin".into(),
        metadata: Bytes::new(),
    };
    let mut a = params("", "a");
    a.protocols = vec![range(&["t"]), rr.clone()];
    let mut b = params("", "b");
    b.protocols = vec![rr.clone()];
    waiting(g.join(a, at(0)));
    waiting(g.join(b, at(0)));
    let mut c = params("", "c");
    c.protocols = vec![range(&["t"])];
    assert_eq!(
        done(g.join(c, at(0))).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let mut d = params("", "d");
    d.protocol_type = "connect".into();
    d.protocols = vec![rr];
    assert_eq!(
        done(g.join(d, at(0))).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    finish_join(&mut g);
    assert_eq!(g.protocol(), Some("roundrobin"));
    // An empty protocol list can't start a group.
    let mut e = Group::new("e", cfg(), at(0));
    let mut p = params("", "x");
    p.protocols.clear();
    assert_eq!(
        done(e.join(p, at(0))).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
}

#[test]
fn session_timeout_bounds() {
    let mut g = Group::new("g", cfg(), at(0));
    let mut p = params("", "a");
    p.session_timeout_ms = 10;
    assert_eq!(
        done(g.join(p.clone(), at(0))).error,
        Some(GroupError::InvalidSessionTimeout)
    );
    p.session_timeout_ms = i32::MAX;
    assert_eq!(
        done(g.join(p, at(0))).error,
        Some(GroupError::InvalidSessionTimeout)
    );
}

#[test]
fn group_max_size() {
    let mut g = Group::new(
        "g",
        GroupConfig {
            members_max: 1,
            ..cfg()
        },
        at(0),
    );
    waiting(g.join(params("", "a"), at(0)));
    let r = done(g.join(params("", "b"), at(0)));
    assert_eq!(r.error, Some(GroupError::GroupMaxSizeReached));
    finish_join(&mut g);
    assert_eq!(joins(&g.drain_events()).len(), 1);
    let r = done(g.join(params("", "c"), at(DELAY + 1)));
    assert_eq!(r.error, Some(GroupError::GroupMaxSizeReached));
    assert_eq!(g.member_ids(), vec!["a".to_string()]);
}

#[test]
fn known_member_rejoin_in_stable_without_change_is_answered_at_once() {
    let mut g = stable_ab();
    let r = done(g.join(params("b", "x"), at(10)));
    assert_eq!(r.error, None);
    assert_eq!(r.generation, 1);
    assert_eq!(g.state(), GroupState::Stable);
    // The leader rejoining, or a changed subscription, rebalances.
    let mut p = params("b", "x");
    p.protocols = vec![range(&["t", "u"])];
    waiting(g.join(p, at(11)));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        done(g.join(params("unknown", "x"), at(12))).error,
        Some(GroupError::UnknownMemberId)
    );
}

fn static_params(member_id: &str, fresh: &str, instance: &str) -> JoinParams {
    JoinParams {
        instance_id: Some(instance.into()),
        ..params(member_id, fresh)
    }
}

#[test]
fn static_member_restart_keeps_assignment_without_rebalance() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(static_params("", "a1", "ia"), at(0)));
    waiting(g.join(static_params("", "b1", "ib"), at(0)));
    finish_join(&mut g);
    g.drain_events();
    assert_eq!(
        g.sync("b1", Some("ib"), 1, None, None, vec![], at(DELAY)),
        SyncOutcome::Waiting
    );
    let SyncOutcome::Persist {
        generation,
        assignments,
    } = g.sync(
        "a1",
        Some("ia"),
        1,
        None,
        None,
        vec![
            ("a1".into(), Bytes::from("A")),
            ("b1".into(), Bytes::from("B")),
        ],
        at(DELAY),
    )
    else {
        panic!()
    };
    g.complete_sync(generation, assignments, Ok(()), at(DELAY));
    g.drain_events();
    // b restarts: a new JoinGroup with its instance id and no member id.
    let r = done(g.join(static_params("", "b2", "ib"), at(2_000)));
    assert_eq!(r.error, None);
    assert_eq!(r.member_id, "b2");
    assert_eq!(r.generation, 1, "no new generation");
    assert_eq!(g.state(), GroupState::Stable);
    assert!(g.drain_events().contains(&Event::PersistGroup));
    let SyncOutcome::Done(s) = g.sync("b2", Some("ib"), 1, None, None, vec![], at(2_001)) else {
        panic!()
    };
    assert_eq!(s.assignment, Bytes::from("B"));
    // The old incarnation is fenced.
    assert_eq!(
        g.heartbeat("b1", Some("ib"), 1, at(2_002)),
        Err(GroupError::FencedInstanceId)
    );
    assert_eq!(
        g.heartbeat("b1", None, 1, at(2_002)),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(g.heartbeat("b2", Some("ib"), 1, at(2_002)), Ok(()));
}

#[test]
fn static_leader_restart_skips_assignment_on_v9() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(static_params("", "a1", "ia"), at(0)));
    finish_join(&mut g);
    g.drain_events();
    let SyncOutcome::Persist {
        generation,
        assignments,
    } = g.sync("a1", None, 1, None, None, vec![], at(DELAY))
    else {
        panic!()
    };
    g.complete_sync(generation, assignments, Ok(()), at(DELAY));
    let mut p = static_params("", "a2", "ia");
    p.supports_skip_assignment = true;
    let r = done(g.join(p, at(1_000)));
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 1);
    assert_eq!(
        r.leader, "a1",
        "Kafka answers with the leader id before the replacement"
    );
    assert_eq!(g.leader(), Some("a2"));
}

#[test]
fn static_member_parked_join_is_fenced_by_its_restart() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(static_params("", "a1", "ia"), at(0)));
    waiting(g.join(static_params("", "a2", "ia"), at(10)));
    let j = joins(&g.drain_events());
    assert_eq!(j[0].0, "a1");
    assert_eq!(j[0].1.error, Some(GroupError::FencedInstanceId));
    finish_join(&mut g);
    let j = joins(&g.drain_events());
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].0, "a2");
}

#[test]
fn static_member_removed_by_instance_id() {
    let mut g = stable_ab();
    let r = g
        .leave(&[(String::new(), Some("nope".into()))], at(10))
        .unwrap();
    assert_eq!(r, vec![Err(GroupError::UnknownMemberId)]);
}

#[test]
fn commit_validation() {
    // Standalone consumer on an empty group.
    let mut e = Group::new("e", cfg(), at(0));
    assert_eq!(e.validate_commit("", None, -1, at(0)), Ok(()));
    let mut g = stable_ab();
    assert_eq!(
        g.validate_commit("", None, -1, at(0)),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(g.validate_commit("a", None, 1, at(0)), Ok(()));
    assert_eq!(
        g.validate_commit("a", None, 0, at(0)),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_commit("zz", None, 1, at(0)),
        Err(GroupError::UnknownMemberId)
    );
    // During PreparingRebalance the current generation may still commit (eager revocation).
    waiting(g.join(params("", "c"), at(1)));
    assert_eq!(g.validate_commit("a", None, 1, at(2)), Ok(()));
    waiting(g.join(params("a", "x"), at(3)));
    waiting(g.join(params("b", "x"), at(3)));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(
        g.validate_commit("a", None, 2, at(4)),
        Err(GroupError::RebalanceInProgress)
    );
}

fn offset(commit_ts: i64) -> CommittedOffset {
    CommittedOffset {
        offset: 5,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: commit_ts,
        expire_timestamp_ms: None,
    }
}

#[test]
fn retention_standalone_by_commit_time() {
    let mut g = Group::new("g", cfg(), at(0));
    g.commit("t".into(), 0, offset(1_000));
    g.commit("t".into(), 1, offset(5_000));
    let now = Now {
        mono_ms: 0,
        wall_ms: 4_000,
    };
    assert_eq!(g.expire_offsets(now, 3_000), vec![("t".to_string(), 0)]);
    assert_eq!(g.offsets.len(), 1);
}

#[test]
fn retention_empty_consumer_group_from_when_it_emptied() {
    let mut g = stable_ab();
    g.commit("t".into(), 0, offset(0));
    let now = Now {
        mono_ms: 0,
        wall_ms: i64::MAX / 2,
    };
    assert!(
        g.expire_offsets(now, 1_000).is_empty(),
        "stable and subscribed"
    );
    g.commit("other".into(), 0, offset(0));
    assert_eq!(g.expire_offsets(now, 1_000), vec![("other".to_string(), 0)]);
    g.leave(&[("a".into(), None), ("b".into(), None)], at(50))
        .unwrap();
    assert_eq!(g.state(), GroupState::Empty);
    let emptied = g.snapshot(None).state_timestamp_ms;
    let soon = Now {
        mono_ms: 0,
        wall_ms: emptied + 999,
    };
    assert!(g.expire_offsets(soon, 1_000).is_empty());
    let later = Now {
        mono_ms: 0,
        wall_ms: emptied + 1_000,
    };
    assert_eq!(g.expire_offsets(later, 1_000).len(), 1);
    assert!(g.is_disposable());
}

#[test]
fn retention_explicit_expire_timestamp() {
    let mut g = Group::new("g", cfg(), at(0));
    let mut o = offset(0);
    o.expire_timestamp_ms = Some(10);
    g.commit("t".into(), 0, o);
    let now = Now {
        mono_ms: 0,
        wall_ms: 10,
    };
    assert_eq!(g.expire_offsets(now, u64::MAX).len(), 1);
}

#[test]
fn snapshot_round_trip_loads_stable() {
    let g = stable_ab();
    let s = g.snapshot(None);
    assert_eq!(s.members.len(), 2);
    let mut loaded = Group::from_snapshot("g", cfg(), s.clone(), at(50_000));
    assert_eq!(loaded.state(), GroupState::Stable);
    assert_eq!(loaded.generation(), 1);
    assert_eq!(loaded.leader(), Some("a"));
    assert_eq!(loaded.snapshot(None).members, s.members);
    // Members carry on with their generation after a restart...
    assert_eq!(loaded.heartbeat("a", None, 1, at(50_001)), Ok(()));
    // ...and a silent one expires a session timeout after the load.
    loaded.tick(at(50_000 + SESSION as u64));
    assert!(!loaded.has_member("b"));
    let empty = Group::from_snapshot(
        "e",
        cfg(),
        GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: None,
            leader: None,
            state_timestamp_ms: 7,
            members: vec![],
        },
        at(0),
    );
    assert_eq!(empty.state(), GroupState::Empty);
    assert_eq!(empty.generation(), 4);
}

#[test]
fn subscribed_topics_from_members() {
    let g = stable_ab();
    let t = g.subscribed_topics().unwrap();
    assert!(t.contains("t") && t.len() == 1);
}

#[test]
fn mark_dead_answers_everything() {
    let mut g = Group::new("g", cfg(), at(0));
    waiting(g.join(params("", "a"), at(0)));
    g.mark_dead(at(1));
    assert_eq!(g.state(), GroupState::Dead);
    assert_eq!(joins(&g.drain_events()).len(), 1);
    assert_eq!(
        done(g.join(params("", "b"), at(2))).error,
        Some(GroupError::CoordinatorNotAvailable)
    );
    assert_eq!(
        g.validate_commit("", None, -1, at(2)),
        Err(GroupError::CoordinatorNotAvailable)
    );
}

#[test]
fn txn_commit_validation_follows_kafkas_transactional_rules() {
    // No member fields (TxnOffsetCommit v0-2, or a producer outside the group): accepted even
    // by a group with members, unlike a plain commit.
    let mut g = stable_ab();
    assert_eq!(g.validate_txn_commit("", None, -1, at(0)), Ok(()));
    assert_eq!(g.validate_txn_commit("a", None, 1, at(0)), Ok(()));
    assert_eq!(
        g.validate_txn_commit("a", None, 0, at(0)),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_txn_commit("zz", None, 1, at(0)),
        Err(GroupError::UnknownMemberId)
    );
    // A rebalance in progress does not refuse a transactional commit of the generation.
    waiting(g.join(params("a", "x"), at(3)));
    waiting(g.join(params("b", "x"), at(3)));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(g.validate_txn_commit("a", None, 2, at(4)), Ok(()));
    // A static member replaced by a newer instance is fenced.
    let mut s = Group::new("s", cfg(), at(0));
    waiting(s.join(static_params("", "a1", "ia"), at(0)));
    finish_join(&mut s);
    s.drain_events();
    assert_eq!(s.validate_txn_commit("a1", Some("ia"), 1, at(1)), Ok(()));
    assert_eq!(
        s.validate_txn_commit("old", Some("ia"), 1, at(1)),
        Err(GroupError::FencedInstanceId)
    );
    // An empty group takes a generation below 0 whatever the member fields say.
    let mut e = Group::new("e", cfg(), at(0));
    assert_eq!(e.validate_txn_commit("m", None, -1, at(0)), Ok(()));
}
