//! The `sluice` client commands against the real broker: each command's JSON output and its
//! effects, exit codes, and one-line errors carrying the Kafka error name.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod txn_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{sluice_bin, Broker};
use serde_json::Value;

/// How long one CLI invocation may take before the test calls it hung.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "exit {}; stderr: {}; stdout: {}",
            self.code, self.stderr, self.stdout
        );
        self
    }
}

/// Run `sluice ARGS` against `b` (through SLUICE_BROKERS), feeding `stdin`.
fn sluice(b: &Broker, args: &[&str], stdin: &[u8]) -> Run {
    sluice_at(&b.bootstrap_addr().to_string(), args, stdin)
}

fn sluice_at(brokers: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(sluice_bin())
        .args(args)
        .env("SLUICE_BROKERS", brokers)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let deadline = Instant::now() + CLI_TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sluice {args:?} did not finish within {CLI_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().expect("stdin writer");
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn assert_one_line_error(r: &Run, code: i32, name: &str) {
    assert_eq!(r.code, code, "exit code; stderr: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", r.stderr);
    assert!(
        lines[0].starts_with(&format!("sluice: {name}")),
        "{:?}",
        lines[0]
    );
}

#[test]
fn topic_create_list_describe_delete() {
    let b = Broker::start("cli-topics", &["--cores", "2"]);
    let created = sluice(
        &b,
        &[
            "topic",
            "create",
            "orders",
            "-p",
            "3",
            "-c",
            "retention.ms=1000",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(created["name"], "orders");
    assert_eq!(created["partitions"], 3);
    assert_eq!(created["created"], true);
    let table = sluice(&b, &["topic", "create", "other"], b"").ok();
    assert_eq!(table.stdout, "Created topic other.\n");

    let again = sluice(&b, &["topic", "create", "orders", "-p", "3"], b"");
    assert_one_line_error(&again, 1, "TOPIC_ALREADY_EXISTS");
    let again = sluice(
        &b,
        &[
            "topic",
            "create",
            "orders",
            "--if-not-exists",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(again["created"], false);
    let bad = sluice(
        &b,
        &["topic", "create", "bad", "-c", "no.such.config=1"],
        b"",
    );
    assert_one_line_error(&bad, 1, "INVALID_CONFIG");

    let list = sluice(&b, &["topic", "list", "--format", "json"], b"")
        .ok()
        .json();
    let names: BTreeMap<String, u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["partitions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(names.get("orders"), Some(&3));
    assert_eq!(names.get("other"), Some(&1));
    let table = sluice(&b, &["topic", "list"], b"").ok();
    assert!(table.stdout.starts_with("NAME "), "{}", table.stdout);

    let d = sluice(
        &b,
        &["topic", "describe", "orders", "--format", "json"],
        b"",
    )
    .ok()
    .json();
    assert_eq!(d["name"], "orders");
    assert_eq!(d["configs"]["retention.ms"], "1000");
    let parts = d["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let mut shards = std::collections::BTreeSet::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["partition"], i as u64);
        assert_eq!(p["leader"], p["owner_shard"]);
        shards.insert(p["owner_shard"].as_u64().unwrap());
        assert_eq!(p["log_start_offset"], 0);
        assert_eq!(p["high_watermark"], 0);
    }
    assert_eq!(
        shards.len(),
        2,
        "3 partitions spread over both shards: {parts:?}"
    );

    let deleted = sluice(
        &b,
        &["topic", "delete", "orders", "missing", "--format", "json"],
        b"",
    );
    assert_one_line_error(&deleted, 1, "UNKNOWN_TOPIC_OR_PARTITION");
    let results = deleted.json();
    assert_eq!(results[0]["name"], "orders");
    assert_eq!(results[0]["deleted"], true);
    assert_eq!(results[1]["deleted"], false);
    assert_eq!(results[1]["error"], "UNKNOWN_TOPIC_OR_PARTITION");
    let gone = sluice(&b, &["topic", "describe", "orders"], b"");
    assert_one_line_error(&gone, 1, "UNKNOWN_TOPIC_OR_PARTITION");
    let list = sluice(&b, &["topic", "list", "--format", "json"], b"")
        .ok()
        .json();
    assert!(!list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "orders"));
}

#[test]
fn produce_keyed_lines_and_consume_them_back_from_the_beginning() {
    let b = Broker::start("cli-produce-consume", &["--cores", "2"]);
    sluice(&b, &["topic", "create", "events", "-p", "4"], b"").ok();
    let input: String = (0..100)
        .map(|i| format!("key-{}:value-{i}\n", i % 10))
        .collect();
    let produced = sluice(
        &b,
        &[
            "produce",
            "events",
            "--key-separator",
            ":",
            "-v",
            "--format",
            "json",
        ],
        input.as_bytes(),
    )
    .ok()
    .json_lines();
    assert_eq!(produced.len(), 100);
    // Where each record went, as the producer reported it.
    let mut placed: BTreeMap<(i64, i64), String> = BTreeMap::new();
    for (i, p) in produced.iter().enumerate() {
        let key = format!("key-{}", i % 10);
        assert_eq!(p["key"], key.as_str());
        let expected = sluice_client::partitioner::partition_for_key(key.as_bytes(), 4);
        assert_eq!(
            p["partition"],
            i64::from(expected),
            "murmur2 placement of {key}"
        );
        placed.insert(
            (
                p["partition"].as_i64().unwrap(),
                p["offset"].as_i64().unwrap(),
            ),
            format!("value-{i}"),
        );
    }
    assert_eq!(placed.len(), 100, "no two records share an offset");

    let consumed = sluice(
        &b,
        &[
            "consume",
            "events",
            "--from-beginning",
            "-n",
            "100",
            "--timeout-ms",
            "20000",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json_lines();
    assert_eq!(consumed.len(), 100);
    let mut next: BTreeMap<i64, i64> = BTreeMap::new();
    for c in &consumed {
        let (p, o) = (
            c["partition"].as_i64().unwrap(),
            c["offset"].as_i64().unwrap(),
        );
        assert_eq!(c["topic"], "events");
        assert_eq!(
            Some(&c["value"].as_str().unwrap().to_string()),
            placed.get(&(p, o)),
            "{c}"
        );
        let i: usize = c["value"].as_str().unwrap()["value-".len()..]
            .parse()
            .unwrap();
        assert_eq!(c["key"], format!("key-{}", i % 10).as_str());
        let want = next.entry(p).or_insert(0);
        assert_eq!(o, *want, "offsets of partition {p} in order, without gaps");
        *want += 1;
    }

    let d = sluice(
        &b,
        &["topic", "describe", "events", "--format", "json"],
        b"",
    )
    .ok()
    .json();
    let mut total = 0;
    for p in d["partitions"].as_array().unwrap() {
        let index = p["partition"].as_i64().unwrap();
        let records = next.get(&index).copied().unwrap_or(0);
        assert_eq!(p["high_watermark"].as_i64(), Some(records), "{p}");
        // Sizes come from DescribeLogDirs on each partition's owner shard.
        let size = p["size_bytes"]
            .as_i64()
            .unwrap_or_else(|| panic!("no size: {p}"));
        assert_eq!(size > 0, records > 0, "{p}");
        total += size;
    }
    assert_eq!(d["size_bytes"].as_i64(), Some(total));
}

#[test]
fn consume_offsets_templates_headers_and_timestamps() {
    let b = Broker::start("cli-consume-options", &["--cores", "2"]);
    let input: String = (0..10).map(|i| format!("k{i}=v{i}\n")).collect();
    // Auto-created on first produce, as Kafka's console producer does.
    sluice(
        &b,
        &[
            "produce",
            "t",
            "--key-separator",
            "=",
            "--partition",
            "0",
            "--header",
            "h=x",
            "--compression",
            "lz4",
        ],
        input.as_bytes(),
    )
    .ok();
    let r = sluice(
        &b,
        &[
            "consume",
            "t",
            "--offset",
            "5",
            "-n",
            "3",
            "--template",
            "%k|%v|%p|%o|%h",
            "--timeout-ms",
            "20000",
        ],
        b"",
    )
    .ok();
    assert_eq!(r.stdout, "k5|v5|0|5|h=x\nk6|v6|0|6|h=x\nk7|v7|0|7|h=x\n");
}

#[test]
fn consume_from_a_timestamp() {
    let b = Broker::start("cli-consume-timestamp", &["--cores", "1"]);
    let input: String = (0..10).map(|i| format!("v{i}\n")).collect();
    sluice(&b, &["produce", "t"], input.as_bytes()).ok();
    let ts = sluice(
        &b,
        &[
            "consume",
            "t",
            "--from-beginning",
            "-n",
            "1",
            "--template",
            "%T",
            "--timeout-ms",
            "20000",
        ],
        b"",
    )
    .ok();
    let first: i64 = ts.stdout.trim().parse().unwrap();
    let from_future = sluice(
        &b,
        &[
            "consume",
            "t",
            "--from-timestamp",
            &(first + 3_600_000).to_string(),
            "-n",
            "1",
            "--timeout-ms",
            "500",
        ],
        b"",
    );
    assert_one_line_error(&from_future, 1, "TIMEOUT");
    let from_first = sluice(
        &b,
        &[
            "consume",
            "t",
            "--from-timestamp",
            &first.to_string(),
            "-n",
            "1",
            "--timeout-ms",
            "20000",
        ],
        b"",
    )
    .ok();
    assert_eq!(from_first.stdout, "v0\n");
}

#[test]
fn add_partitions_grows_the_topic_over_both_shards() {
    let b = Broker::start("cli-add-partitions", &["--cores", "2"]);
    sluice(&b, &["topic", "create", "grow", "-p", "1"], b"").ok();
    let r = sluice(
        &b,
        &[
            "topic",
            "add-partitions",
            "grow",
            "-p",
            "4",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(r["partitions"], 4);
    let d = sluice(&b, &["topic", "describe", "grow", "--format", "json"], b"")
        .ok()
        .json();
    let owners: Vec<u64> = d["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["owner_shard"].as_u64().unwrap())
        .collect();
    assert_eq!(owners.len(), 4);
    assert_eq!(
        owners.iter().filter(|o| **o == 0).count(),
        2,
        "balanced: {owners:?}"
    );

    // The new partitions take records at once.
    let input: String = (0..8).map(|i| format!("{i}\n")).collect();
    for p in 0..4 {
        sluice(
            &b,
            &["produce", "grow", "--partition", &p.to_string()],
            input.as_bytes(),
        )
        .ok();
    }
    let got = sluice(
        &b,
        &[
            "consume",
            "grow",
            "--from-beginning",
            "-n",
            "32",
            "--timeout-ms",
            "20000",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json_lines();
    assert_eq!(got.len(), 32);

    let same = sluice(&b, &["topic", "add-partitions", "grow", "-p", "4"], b"");
    assert_one_line_error(&same, 1, "INVALID_PARTITIONS");
    let fewer = sluice(&b, &["topic", "add-partitions", "grow", "-p", "2"], b"");
    assert_one_line_error(&fewer, 1, "INVALID_PARTITIONS");
    let missing = sluice(&b, &["topic", "add-partitions", "nope", "-p", "2"], b"");
    assert_one_line_error(&missing, 1, "UNKNOWN_TOPIC_OR_PARTITION");
}

#[test]
fn alter_config_sets_and_deletes_and_survives_restart() {
    let mut b = Broker::start("cli-alter-config", &["--cores", "1"]);
    sluice(
        &b,
        &["topic", "create", "cfg", "-c", "retention.ms=1000"],
        b"",
    )
    .ok();
    let r = sluice(
        &b,
        &[
            "topic",
            "alter-config",
            "cfg",
            "--set",
            "segment.bytes=1048576",
            "--set",
            "retention.bytes=5000",
            "--delete",
            "retention.ms",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(r["configs"]["segment.bytes"], "1048576");
    assert_eq!(r["configs"]["retention.bytes"], "5000");
    assert!(r["configs"].get("retention.ms").is_none(), "{r}");
    let bad = sluice(
        &b,
        &["topic", "alter-config", "cfg", "--set", "no.such.config=1"],
        b"",
    );
    assert_one_line_error(&bad, 1, "INVALID_CONFIG");
    b.restart();
    let d = sluice(&b, &["topic", "describe", "cfg", "--format", "json"], b"")
        .ok()
        .json();
    assert_eq!(d["configs"]["segment.bytes"], "1048576");
    assert_eq!(d["configs"]["retention.bytes"], "5000");
    assert!(d["configs"].get("retention.ms").is_none(), "{d}");
}

#[test]
fn errors_are_one_line_with_exit_codes_scripts_can_trust() {
    // Nothing listens on a port we just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = sluice_at(&format!("127.0.0.1:{port}"), &["topic", "list"], b"");
    assert_one_line_error(&r, 3, "NETWORK");
    let r = sluice_at("127.0.0.1:1", &["topic", "create"], b"");
    assert_eq!(r.code, 2, "usage error: {}", r.stderr);

    let b = Broker::start("cli-errors", &["--cores", "1"]);
    let r = sluice(
        &b,
        &["consume", "nope", "-n", "1", "--timeout-ms", "100"],
        b"",
    );
    assert_one_line_error(&r, 1, "UNKNOWN_TOPIC_OR_PARTITION");
    let r = sluice(
        &b,
        &["produce", "keyed", "--key-separator", ":"],
        b"no separator here\n",
    );
    assert_one_line_error(&r, 2, "USAGE");
    assert!(r.stderr.contains("line 1"), "{}", r.stderr);
}

#[test]
fn group_commands_list_describe_reset_and_delete() {
    let b = Broker::start("cli-groups", &["--cores", "2"]);
    sluice(&b, &["topic", "create", "g", "-p", "2"], b"").ok();
    let input: String = (0..20).map(|i| format!("k{i}:v{i}\n")).collect();
    sluice(
        &b,
        &["produce", "g", "--key-separator", ":"],
        input.as_bytes(),
    )
    .ok();
    let got = sluice(
        &b,
        &[
            "consume",
            "g",
            "--group",
            "grp",
            "--from-beginning",
            "-n",
            "20",
            "--timeout-ms",
            "20000",
        ],
        b"",
    )
    .ok();
    assert_eq!(got.stdout.lines().count(), 20);

    let list = sluice(&b, &["group", "list", "--format", "json"], b"")
        .ok()
        .json();
    let grp = list
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "grp")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(grp["state"], "Empty", "{grp}");

    let lag = |b: &Broker| -> (i64, Vec<Value>) {
        let d = sluice(b, &["group", "describe", "grp", "--format", "json"], b"")
            .ok()
            .json();
        let offsets = d["offsets"].as_array().unwrap().clone();
        assert_eq!(offsets.len(), 2, "{d}");
        (
            offsets.iter().map(|o| o["lag"].as_i64().unwrap()).sum(),
            offsets,
        )
    };
    let (total, offsets) = lag(&b);
    assert_eq!(total, 0, "{offsets:?}");
    for o in &offsets {
        assert_eq!(o["committed_offset"], o["log_end_offset"], "{o}");
    }
    sluice(&b, &["produce", "g", "--partition", "1"], b"x\ny\nz\n").ok();
    assert_eq!(lag(&b).0, 3);

    // Dry run by default: the plan, no change.
    let plan = sluice(
        &b,
        &[
            "group",
            "reset-offsets",
            "grp",
            "--topic",
            "g",
            "--to-earliest",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(plan["executed"], false);
    assert!(
        plan["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["new_offset"] == 0),
        "{plan}"
    );
    assert_eq!(lag(&b).0, 3);
    let done = sluice(
        &b,
        &[
            "group",
            "reset-offsets",
            "grp",
            "--topic",
            "g:1",
            "--to-offset",
            "1",
            "--execute",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(done["executed"], true);
    let (_, offsets) = lag(&b);
    let p1 = offsets.iter().find(|o| o["partition"] == 1).unwrap();
    assert_eq!(p1["committed_offset"], 1, "{p1}");
    sluice(
        &b,
        &[
            "group",
            "reset-offsets",
            "grp",
            "--topic",
            "g",
            "--to-earliest",
            "--execute",
        ],
        b"",
    )
    .ok();
    assert_eq!(lag(&b).0, 23);
    // The group resumes from the reset offsets.
    let again = sluice(
        &b,
        &[
            "consume",
            "g",
            "--group",
            "grp",
            "-n",
            "23",
            "--timeout-ms",
            "20000",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .json_lines();
    assert_eq!(again.len(), 23);
    assert_eq!(lag(&b).0, 0);

    sluice(&b, &["group", "delete", "grp"], b"").ok();
    let list = sluice(&b, &["group", "list", "--format", "json"], b"")
        .ok()
        .json();
    assert!(
        !list.as_array().unwrap().iter().any(|g| g["group"] == "grp"),
        "{list}"
    );
    let gone = sluice(&b, &["group", "delete", "grp"], b"");
    assert_one_line_error(&gone, 1, "GROUP_ID_NOT_FOUND");
}

#[test]
fn txn_list_and_describe_show_kafka_transactions_columns() {
    let b = Broker::start("cli-txn", &["--cores", "2"]);
    let mut boot = harness::kafka::Conn::connect(b.bootstrap_addr());
    harness::kafka::create_topic(&mut boot, "t", 2);
    let id = "tx-cli";
    let mut c = txn_support::coordinator(&b, id);
    let (e, pid, epoch) = txn_support::init(&mut c, id, 60_000, (-1, -1), 3);
    assert_eq!(e, txn_support::NONE);
    assert_eq!(
        txn_support::add_partitions(&mut c, id, (pid, epoch), &[("t", 1)], 3),
        vec![txn_support::NONE]
    );
    let list = sluice(&b, &["txn", "list"], b"").ok();
    let header: Vec<&str> = list
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "TransactionalId",
            "Coordinator",
            "ProducerId",
            "TransactionState"
        ]
    );
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], pid.to_string());
    assert_eq!(cells[3], "Ongoing");

    let d = sluice(&b, &["txn", "describe", "--transactional-id", id], b"").ok();
    let mut lines = d.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions"
        ]
    );
    let cells: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(cells[1..3], [id, &pid.to_string()]);
    assert_eq!(cells[4..6], ["Ongoing", "60000"]);
    assert_eq!(cells[8], "t-1");
    let json = sluice(
        &b,
        &[
            "txn",
            "describe",
            "--transactional-id",
            id,
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["transaction_state"], "Ongoing");
    assert_eq!(v["topic_partitions"][0], "t-1");

    let missing = sluice(&b, &["txn", "describe", "--transactional-id", "nope"], b"");
    assert_ne!(missing.code, 0);
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);
    assert!(missing.stderr.starts_with("sluice: "), "{}", missing.stderr);
}
