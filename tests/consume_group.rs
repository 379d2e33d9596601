//! `sluice consume --group` as a real group member (JoinGroup, SyncGroup with the leader's
//! assignment, heartbeats, rebalances, LeaveGroup): two consumers in one group split a topic's
//! partitions and together see every record exactly once, before and after a rebalance; and
//! `sluice consume --share-group` as share-group (KIP-932) workers with `group reset-offsets`
//! of a share group.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{sluice_bin, Broker};
use serde_json::Value;

/// How long a consumer may run before the test calls it hung (its own --timeout-ms ends it).
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the group may take to show the expected members: the first rebalance waits
/// `group.initial.rebalance.delay.ms` (3 s), a later one up to a heartbeat interval (3 s) for
/// the old members to notice, on a loaded machine.
const GROUP_TIMEOUT: Duration = Duration::from_secs(40);

fn sluice(b: &Broker, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(sluice_bin())
        .args(args)
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("feed stdin");
    finish(child, &format!("{args:?}"))
}

/// Wait (bounded) for `child` and return its exit code, stdout and stderr.
fn finish(mut child: Child, what: &str) -> (i32, String, String) {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CONSUMER_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sluice {what} did not finish within {CONSUMER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        out.join().expect("stdout"),
        err.join().expect("stderr"),
    )
}

/// A group consumer printing `partition offset value` lines until `timeout_ms` without records.
fn spawn_consumer(b: &Broker, topic: &str, group: &str, timeout_ms: u64) -> Child {
    Command::new(sluice_bin())
        .args([
            "consume",
            topic,
            "--group",
            group,
            "--from-beginning",
            "--timeout-ms",
            &timeout_ms.to_string(),
            "--template",
            "%p %o %v",
        ])
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice consume")
}

/// Produce `per_partition` records to each of `partitions` partitions, values `tag-p-i`.
fn produce(b: &Broker, topic: &str, partitions: i32, per_partition: usize, tag: &str) {
    for p in 0..partitions {
        let lines: String = (0..per_partition)
            .map(|i| format!("{tag}-{p}-{i}\n"))
            .collect();
        let (code, _, err) = sluice(
            b,
            &["produce", topic, "--partition", &p.to_string()],
            lines.as_bytes(),
        );
        assert_eq!(code, 0, "produce: {err}");
    }
}

/// Members of `group` and the partitions each is assigned, once the group is Stable with
/// `members` members that all have an assignment.
fn wait_for_members(b: &Broker, group: &str, members: usize) -> Vec<BTreeSet<i64>> {
    let deadline = Instant::now() + GROUP_TIMEOUT;
    loop {
        let (code, out, err) = sluice(b, &["group", "describe", group, "--format", "json"], b"");
        if code == 0 {
            let d: Value = serde_json::from_str(&out).expect("describe JSON");
            let got: Vec<BTreeSet<i64>> = d["members"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .map(|m| {
                            m["assignment"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .flat_map(|a| {
                                    a["partitions"].as_array().cloned().unwrap_or_default()
                                })
                                .filter_map(|p| p.as_i64())
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            if d["state"] == "Stable" && got.len() == members && got.iter().all(|a| !a.is_empty()) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "group {group} never had {members} assigned members: {d}"
            );
        } else {
            assert!(Instant::now() < deadline, "describe failed: {err}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Wait until `group`'s committed offsets add up to `total`.
fn wait_for_committed(b: &Broker, group: &str, total: i64) {
    let deadline = Instant::now() + GROUP_TIMEOUT;
    loop {
        let (_, out, _) = sluice(b, &["group", "describe", group, "--format", "json"], b"");
        let d: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        let sum: i64 = d["offsets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["committed_offset"].as_i64())
            .sum();
        if sum == total {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} never committed {total}: {d}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Parse `partition offset value` lines.
fn records(out: &str) -> Vec<(i64, i64, String)> {
    out.lines()
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            let p = it.next().and_then(|p| p.parse().ok()).expect("partition");
            let o = it.next().and_then(|o| o.parse().ok()).expect("offset");
            (p, o, it.next().unwrap_or("").to_string())
        })
        .collect()
}

#[track_caller]
fn assert_exactly_once(all: &[(i64, i64, String)], expected: usize) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, v) in all {
        *seen.entry(v).or_default() += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "records seen twice: {dups:?}");
    assert_eq!(seen.len(), expected, "records seen: {seen:?}");
}

#[test]
fn two_group_consumers_split_the_partitions_and_see_each_record_once() {
    let b = Broker::start("group-split", &["--cores", "2"]);
    let (code, _, err) = sluice(&b, &["topic", "create", "split", "-p", "4"], b"");
    assert_eq!(code, 0, "{err}");
    produce(&b, "split", 4, 10, "r");

    // Both start within the group's initial rebalance delay, so the first generation has both.
    let a = spawn_consumer(&b, "split", "splitters", 8_000);
    let c = spawn_consumer(&b, "split", "splitters", 8_000);
    let assigned = wait_for_members(&b, "splitters", 2);
    assert!(
        assigned[0].is_disjoint(&assigned[1]),
        "overlapping assignments {assigned:?}"
    );
    let union: BTreeSet<i64> = assigned.iter().flatten().copied().collect();
    assert_eq!(union, (0..4).collect(), "{assigned:?}");

    let (code_a, out_a, err_a) = finish(a, "consumer a");
    let (code_c, out_c, err_c) = finish(c, "consumer c");
    assert_eq!(code_a, 0, "consumer a: {err_a}");
    assert_eq!(code_c, 0, "consumer c: {err_c}");
    let (ra, rc) = (records(&out_a), records(&out_c));
    let pa: BTreeSet<i64> = ra.iter().map(|r| r.0).collect();
    let pc: BTreeSet<i64> = rc.iter().map(|r| r.0).collect();
    assert!(
        !pa.is_empty() && !pc.is_empty(),
        "a read {pa:?}, c read {pc:?}"
    );
    assert!(pa.is_disjoint(&pc), "a read {pa:?}, c read {pc:?}");
    let all: Vec<_> = ra.into_iter().chain(rc).collect();
    assert_exactly_once(&all, 40);

    // Both left: the group is empty, and its committed offsets are the log ends.
    let (_, out, _) = sluice(
        &b,
        &["group", "describe", "splitters", "--format", "json"],
        b"",
    );
    let d: Value = serde_json::from_str(&out).expect("describe JSON");
    assert_eq!(d["state"], "Empty", "{d}");
    let lag: i64 = d["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|o| o["lag"].as_i64().expect("lag"))
        .sum();
    assert_eq!(lag, 0, "{d}");
}

#[test]
fn a_member_joining_later_takes_over_half_the_partitions_without_duplicates() {
    let b = Broker::start("group-rebalance", &["--cores", "2"]);
    let (code, _, err) = sluice(&b, &["topic", "create", "grow", "-p", "4"], b"");
    assert_eq!(code, 0, "{err}");
    let a = spawn_consumer(&b, "grow", "growers", 15_000);
    let alone = wait_for_members(&b, "growers", 1);
    assert_eq!(alone[0], (0..4).collect(), "{alone:?}");
    produce(&b, "grow", 4, 3, "before");
    wait_for_committed(&b, "growers", 12);

    // The newcomer forces a rebalance: the first member hears of it on a heartbeat, commits
    // what it printed and rejoins; the leader splits the partitions.
    let c = spawn_consumer(&b, "grow", "growers", 15_000);
    let split = wait_for_members(&b, "growers", 2);
    assert!(split.iter().all(|s| s.len() == 2), "{split:?}");
    produce(&b, "grow", 4, 3, "after");

    let (code_a, out_a, err_a) = finish(a, "consumer a");
    let (code_c, out_c, err_c) = finish(c, "consumer c");
    assert_eq!(code_a, 0, "consumer a: {err_a}");
    assert_eq!(code_c, 0, "consumer c: {err_c}");
    let (ra, rc) = (records(&out_a), records(&out_c));
    assert!(
        ra.iter().filter(|r| r.2.starts_with("before")).count() == 12,
        "the first member read everything produced before the rebalance: {out_a}"
    );
    assert!(
        rc.iter().any(|r| r.2.starts_with("after")),
        "the newcomer read its share after the rebalance: {out_c}"
    );
    assert!(
        rc.iter().all(|r| r.2.starts_with("after")),
        "the newcomer re-read committed records: {out_c}"
    );
    let all: Vec<_> = ra.into_iter().chain(rc).collect();
    assert_exactly_once(&all, 24);
}

/// `sluice group reset-offsets` of a share group, JSON plan (topic, partition) → new offset.
fn share_reset(b: &Broker, group: &str, to: &[&str], execute: bool) -> (i32, String, String) {
    let mut args = vec!["group", "reset-offsets", group, "--share", "--topic", "q"];
    args.extend_from_slice(to);
    args.extend_from_slice(&["--format", "json"]);
    if execute {
        args.push("--execute");
    }
    sluice(b, &args, b"")
}

fn planned(out: &str) -> Vec<(i64, i64)> {
    let d: Value = serde_json::from_str(out).expect("reset JSON");
    assert_eq!(d["group_type"], "share", "{d}");
    d["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().unwrap(),
                o["new_offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `consume --share-group` as queue workers (printed records accepted, the rest released,
/// `--ack release|reject`), and `group reset-offsets` of a share group (AlterShareGroupOffsets:
/// refused while a worker is active, then every record delivered again).
#[test]
fn share_group_workers_consume_a_queue_and_reset_offsets_moves_its_start() {
    let b = Broker::start(
        "share-cli",
        &[
            "--cores",
            "2",
            "--group-share-record-lock-duration-ms",
            "2000",
            "--group-share-heartbeat-interval-ms",
            "500",
        ],
    );
    let (code, _, err) = sluice(&b, &["topic", "create", "q", "-p", "2"], b"");
    assert_eq!(code, 0, "{err}");
    produce(&b, "q", 2, 10, "r");
    let worker = |extra: &[&str]| {
        let mut args = vec![
            "consume",
            "q",
            "--share-group",
            "gq",
            "--template",
            "%p %o %v",
        ];
        args.extend_from_slice(extra);
        sluice(&b, &args, b"")
    };

    // A group nobody uses yet starts at the log end (share.auto.offset.reset=latest): move it
    // to the start first. The plan without --execute changes nothing.
    let (code, out, err) = share_reset(&b, "gq", &["--to-latest"], false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned(&out), vec![(0, 10), (1, 10)]);
    let (code, out, err) = share_reset(&b, "gq", &["--by-duration", "PT1H"], false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned(&out), vec![(0, 0), (1, 0)], "every record is newer");
    let (code, out, err) = share_reset(&b, "gq", &["--to-datetime", "2999-01-01T00:00:00"], false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        planned(&out),
        vec![(0, 10), (1, 10)],
        "no record that late: the end"
    );
    let (code, out, err) = share_reset(&b, "gq", &["--to-earliest"], true);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned(&out), vec![(0, 0), (1, 0)]);

    // Two workers one after the other take the queue between them: the first prints 12 (and
    // releases what else it took), the second the other 8; nothing is left.
    let (code, first, err) = worker(&["-n", "12", "--timeout-ms", "30000"]);
    assert_eq!(code, 0, "{err}");
    let (code, second, err) = worker(&["-n", "8", "--timeout-ms", "30000"]);
    assert_eq!(code, 0, "{err}");
    let all: Vec<_> = records(&first)
        .into_iter()
        .chain(records(&second))
        .collect();
    assert_exactly_once(&all, 20);
    // Longer than the lock: an unacknowledged record would be back by then.
    let (code, rest, err) = worker(&["--timeout-ms", "3000"]);
    assert_eq!((code, rest.as_str()), (0, ""), "{err}");

    // --ack release gives records back (printed again), --ack reject archives them.
    produce(&b, "q", 1, 2, "x");
    let (code, out, err) = worker(&["-n", "2", "--ack", "release", "--timeout-ms", "30000"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out).len(), 2, "{out}");
    let (code, again, err) = worker(&["-n", "2", "--ack", "reject", "--timeout-ms", "30000"]);
    assert_eq!(code, 0, "{err}");
    let values = |s: &str| -> BTreeSet<String> { records(s).into_iter().map(|r| r.2).collect() };
    assert_eq!(values(&out), values(&again), "released records come back");
    let (code, rest, err) = worker(&["--timeout-ms", "3000"]);
    assert_eq!(
        (code, rest.as_str()),
        (0, ""),
        "rejected records are archived: {err}"
    );

    // While a worker is in the group its offsets can't move (kafka-share-groups.sh's rule).
    let busy = Command::new(sluice_bin())
        .args([
            "consume",
            "q",
            "--share-group",
            "gq",
            "--timeout-ms",
            "8000",
        ])
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice consume");
    let deadline = Instant::now() + GROUP_TIMEOUT;
    loop {
        let (_, out, _) = sluice(&b, &["group", "describe", "gq", "--format", "json"], b"");
        let d: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if d["members"].as_array().is_some_and(|m| m.len() == 1) {
            assert_eq!(d["protocol_type"], "share", "{d}");
            break;
        }
        assert!(Instant::now() < deadline, "the worker never joined: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, _, err) = share_reset(&b, "gq", &["--to-earliest"], true);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("sluice: NON_EMPTY_GROUP"), "{err}");
    let (code, _, err) = finish(busy, "busy worker");
    assert_eq!(code, 0, "{err}");

    // Empty again: back to the start, and all 22 records are delivered once more.
    let (code, _, err) = share_reset(&b, "gq", &["--to-earliest"], true);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = worker(&["-n", "22", "--timeout-ms", "30000"]);
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&records(&out), 22);
}
