//! Resource limits hit on purpose against the real binary: the behaviour at the limit, never
//! a timing.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use harness::kafka::{batch, create_topic, decode_records, fetch, produce, Conn};
use harness::Broker;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, FetchRequest, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

#[test]
fn inflight_request_budget_backpressures_and_loses_nothing() {
    // The budget is raised to one maximum frame (64 KiB); 48 pipelined ~20 KB produces on two
    // connections need ten times that in flight.
    let b = Broker::start(
        "budget",
        &[
            "--cores",
            "1",
            "--request-max-bytes",
            "65536",
            "--inflight-request-bytes",
            "1",
        ],
    );
    create_topic(&mut Conn::connect(b.shard_addr(0)), "t", 1);
    let value = vec![b'v'; 20_000];
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[&value], Compression::None)))])]);
    let mut conns = [
        Conn::connect(b.shard_addr(0)),
        Conn::connect(b.shard_addr(0)),
    ];
    let mut sent = Vec::new();
    for i in 0..48 {
        let c = i % 2;
        sent.push((c, conns[c].send(&req, 9)));
    }
    let mut offsets = Vec::new();
    for (c, id) in sent {
        let r = conns[c].recv::<ProduceRequest>(id, 9);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "{p:?}");
        offsets.push(p.base_offset);
    }
    offsets.sort_unstable();
    assert_eq!(
        offsets,
        (0..48).collect::<Vec<i64>>(),
        "every request answered, none lost"
    );
    let waits = b.metric_sum("sluice_request_budget_waits_total", &[]);
    assert!(
        waits > 0.0,
        "the budget was reached: frames waited before being read"
    );
    assert!(b.panics().is_empty());
}

#[test]
fn fetch_buffer_budget_answers_with_less_waits_for_stalled_readers_and_loses_nothing() {
    // A budget of one byte: each fetch may hold one partition's read at a time.
    let b = Broker::start(
        "fetchbudget",
        &["--cores", "1", "--fetch-buffer-bytes", "1"],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "f", 4);
    for p in 0..4 {
        let values: Vec<Vec<u8>> = (0..3).map(|i| format!("p{p}-m{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        produce(&mut c, "f", p, &refs);
    }

    // One fetch of four partitions with data: the first is read, the rest answer with their
    // offsets only (the budget is spent) — no error, nothing skipped.
    let all: Vec<(i32, i64)> = (0..4).map(|p| (p, 0)).collect();
    let r = c.call(&fetch("f", &all, 10 << 20, 100), 11);
    let parts = &r.responses[0].partitions;
    assert_eq!(parts.len(), 4);
    let with_data: Vec<i32> = parts
        .iter()
        .filter(|p| !decode_records(p.records.clone()).is_empty())
        .map(|p| p.partition_index)
        .collect();
    assert_eq!(
        with_data,
        vec![0],
        "only the first partition fits the budget"
    );
    for p in parts {
        assert_eq!(p.error_code, 0, "{p:?}");
        assert_eq!(
            p.high_watermark, 3,
            "offsets answer even without data: {p:?}"
        );
    }
    assert!(b.metric_sum("sluice_fetch_budget_waits_total", &[]) > 0.0);

    // A consumer that fetches what it is missing gets every record, in order.
    let mut next = [0i64; 4];
    for _ in 0..20 {
        if next.iter().all(|&n| n == 3) {
            break;
        }
        let want: Vec<(i32, i64)> = (0..4).map(|p| (p, next[p as usize])).collect();
        let r = c.call(&fetch("f", &want, 10 << 20, 100), 11);
        for p in &r.responses[0].partitions {
            for (offset, _, value) in decode_records(p.records.clone()) {
                let i = p.partition_index as usize;
                assert_eq!(offset, next[i], "partition {i} in order");
                let expected = format!("p{i}-m{offset}");
                assert_eq!(value.as_deref(), Some(expected.as_bytes()));
                next[i] += 1;
            }
        }
    }
    assert_eq!(next, [3; 4], "every record came back");

    // A reader that stalls holds its response's budget; meanwhile another fetch waits for
    // budget until its deadline and answers with offsets only; once the stalled reader reads,
    // the other fetch gets its data.
    create_topic(&mut c, "big", 1);
    let value = vec![b'x'; 900_000];
    for _ in 0..24 {
        produce(&mut c, "big", 0, &[&value]);
    }
    let mut stalled = Conn::connect(b.shard_addr(0));
    let stalled_id = stalled.send(&fetch("big", &[(0, 0)], 32 << 20, 100), 11);
    let mut held = 0.0;
    for _ in 0..200 {
        held = b.metric_sum("sluice_fetch_buffer_used_bytes", &[]);
        if held > 16e6 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(held > 16e6, "the stalled response holds its bytes: {held}");
    let r = c.call(&fetch("f", &[(1, 0)], 10 << 20, 300), 11);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    assert_eq!(p.high_watermark, 3);
    assert!(
        decode_records(p.records.clone()).is_empty(),
        "no budget: offsets only"
    );
    let big = stalled.recv::<FetchRequest>(stalled_id, 11);
    let got = decode_records(big.responses[0].partitions[0].records.clone());
    assert_eq!(got.len(), 24, "the stalled reader gets its whole response");
    let r = c.call(&fetch("f", &[(1, 0)], 10 << 20, 300), 11);
    assert_eq!(
        decode_records(r.responses[0].partitions[0].records.clone()).len(),
        3
    );
    // Every response is written: the budget is whole again (the gauge is published each second).
    let mut held = f64::MAX;
    for _ in 0..200 {
        held = b.metric_sum("sluice_fetch_buffer_used_bytes", &[]);
        if held == 0.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(held, 0.0, "no fetch bytes held once all are written");
    assert!(b.panics().is_empty());
}

#[test]
fn partitions_beyond_the_open_file_limit_are_refused_before_they_are_created() {
    // Learn the broker's open-file limit, then leave room for exactly ten partitions by
    // giving the rest to connections.
    let probe = Broker::start("nofile-probe", &["--cores", "1"]);
    let log = probe.stderr_text();
    let nofile: u64 = log
        .split("nofile=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no nofile= in the start-up log:\n{log}"));
    drop(probe);
    let connections =
        (nofile - sluice::limits::fds_reserved(1) - sluice::limits::PARTITION_FDS * 10).to_string();
    let b = Broker::start(
        "nofile",
        &["--cores", "1", "--max-connections", connections.as_str()],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "eight", 8);
    let r = c.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("three")))
                .with_num_partitions(3)
                .with_replication_factor(1)]),
        5,
    );
    let t = &r.topics[0];
    assert_eq!(t.error_code, 37, "INVALID_PARTITIONS: {t:?}");
    let message = t
        .error_message
        .as_deref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(message.contains("RLIMIT_NOFILE"), "{message}");
    let grow = |count: i32, c: &mut Conn| {
        let r = c.call(
            &CreatePartitionsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("eight")))
                    .with_count(count)
                    .with_assignments(None)]),
            3,
        );
        r.results[0].error_code
    };
    assert_eq!(grow(11, &mut c), 37, "11 partitions do not fit");
    let fds_before = b.open_fds();
    assert_eq!(grow(10, &mut c), 0, "10 fit");
    assert_eq!(
        b.open_fds() - fds_before,
        2 * sluice::limits::PARTITION_FDS as usize,
        "each new partition holds PARTITION_FDS descriptors"
    );
    // Every partition that exists works: a produce to the last one lands.
    produce(&mut c, "eight", 9, &[b"last"]);
    let r = c.call(&fetch("eight", &[(9, 0)], 1 << 20, 100), 11);
    assert_eq!(
        decode_records(r.responses[0].partitions[0].records.clone()).len(),
        1
    );
    assert!(b.panics().is_empty());
}

#[test]
fn a_batch_larger_than_the_partition_limit_is_returned_when_earlier_partitions_are_empty() {
    // KIP-74: partition 0 is empty, partition 1's only batch is ten times partition_max_bytes;
    // the fetch must still return that batch (it is read in the same wave as partition 0, so
    // this checks the re-read for one whole batch), or the consumer would be stuck forever.
    let b = Broker::start("kip74", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "k", 2);
    let value = vec![b'z'; 100_000];
    produce(&mut c, "k", 1, &[&value]);
    let mut req = fetch("k", &[(0, 0), (1, 0)], 1 << 20, 100);
    for p in &mut req.topics[0].partitions {
        p.partition_max_bytes = 10_000;
    }
    let r = c.call(&req, 11);
    let parts = &r.responses[0].partitions;
    assert!(decode_records(parts[0].records.clone()).is_empty());
    let got = decode_records(parts[1].records.clone());
    assert_eq!(
        got.len(),
        1,
        "the oversized batch comes back whole: {:?}",
        parts[1]
    );
    assert_eq!(got[0].2.as_deref(), Some(&value[..]));
}

/// Open `n` connections to `b`'s shard 0 and check each answers ApiVersions.
fn open_working(b: &Broker, n: usize) -> Vec<Conn> {
    (0..n)
        .map(|_| {
            let mut c = Conn::connect(b.shard_addr(0));
            let r = c.call(&ApiVersionsRequest::default(), 0);
            assert_eq!(r.error_code, 0);
            c
        })
        .collect()
}

/// Wait until the shard counts `open` connections (closing is asynchronous on its side).
fn wait_open(b: &Broker, open: f64) {
    for _ in 0..200 {
        if b.metric_sum("sluice_connections_open", &[]) == open {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("connections open never reached {open}");
}

#[test]
fn connections_past_the_flag_or_the_memory_share_are_closed_at_accept() {
    // --max-connections 2 on one shard: the third is closed at once, a freed slot is reused.
    let b = Broker::start("maxconn", &["--cores", "1", "--max-connections", "2"]);
    let mut held = open_working(&b, 2);
    let mut third = Conn::connect(b.shard_addr(0));
    assert!(third.is_closed_by_peer(), "past --max-connections");
    assert!(b.metric_sum("sluice_connections_rejected_total", &[]) >= 1.0);
    held.pop();
    wait_open(&b, 1.0);
    held.extend(open_working(&b, 1));
    drop(held);
    drop(b);

    // A 1 MiB --memory on one shard leaves 1/8 of it, two 64 KiB read buffers, for connections.
    let b = Broker::start("memconn", &["--cores", "1", "--memory", "1048576"]);
    let held = open_working(&b, 2);
    let mut third = Conn::connect(b.shard_addr(0));
    assert!(
        third.is_closed_by_peer(),
        "past the memory share's connections"
    );
    assert!(b.metric_sum("sluice_connections_rejected_total", &[]) >= 1.0);
    drop(held);
    assert!(b.panics().is_empty());
}

#[test]
fn write_buffers_stay_within_their_budget_and_every_batch_lands() {
    // One produce of 16 partitions × ~1 MB: the 16 logs' writers want 16 MB of O_DIRECT
    // buffers at once; the budget (asked for 1 byte, raised to one largest write, 4 MiB) makes
    // them take turns. Every batch lands, in full.
    const PARTITIONS: i32 = 16;
    let b = Broker::start(
        "writebudget",
        &["--cores", "1", "--write-buffer-bytes", "1"],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "w", PARTITIONS);
    let value = |p: i32, i: usize| vec![b'a' + (p as u8 % 26) + (i as u8 % 3); 100_000];
    let data: Vec<PartitionProduceData> = (0..PARTITIONS)
        .map(|p| {
            let values: Vec<Vec<u8>> = (0..10).map(|i| value(p, i)).collect();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(batch(&refs, Compression::None)))
        })
        .collect();
    let r = c.call(
        &ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("w")))
                .with_partition_data(data)]),
        9,
    );
    for p in &r.responses[0].partition_responses {
        assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    }
    for p in 0..PARTITIONS {
        let r = c.call(&fetch("w", &[(p, 0)], 4 << 20, 100), 11);
        let got = decode_records(r.responses[0].partitions[0].records.clone());
        assert_eq!(got.len(), 10, "partition {p}");
        for (i, (offset, _, v)) in got.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert_eq!(v.as_deref(), Some(&value(p, i)[..]), "p{p} record {i}");
        }
    }
    // The shard publishes its gauges once a second.
    let budget = 4.0 * 1024.0 * 1024.0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let peak = loop {
        let peak = b.metric_sum("sluice_write_buffer_peak_bytes", &[]);
        if peak > 0.0 || std::time::Instant::now() > deadline {
            break peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        b.metric_sum("sluice_write_buffer_budget_bytes", &[]),
        budget,
        "raised to one largest write"
    );
    assert!(
        peak >= 1_000_000.0 && peak <= budget,
        "writes held at most the budget: {peak}"
    );
    assert_eq!(b.metric_sum("sluice_write_buffer_used_bytes", &[]), 0.0);
    assert!(b.panics().is_empty());
}
