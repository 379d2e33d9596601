//! Listeners (issue 14): every shard serves every listener on its own port, and a client only
//! learns the addresses of the listener it connected to (Metadata, FindCoordinator,
//! DescribeCluster), as in Kafka. Raw protocol here; kcat and confluent-kafka on the second
//! listener are in tests/clients/test_listeners.py.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use harness::kafka::Conn;
use harness::{Broker, ListenerPorts};
use kafka_protocol::messages::{DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;

const TWO_LISTENERS: &[&str] = &[
    "--cores",
    "2",
    "--listeners",
    "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
    "--listener-security-protocol-map",
    "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
];

fn expected(l: &ListenerPorts) -> Vec<(i32, String, i32)> {
    l.shards
        .iter()
        .enumerate()
        .map(|(s, p)| (s as i32, l.host.clone(), i32::from(*p)))
        .collect()
}

#[test]
fn each_listener_answers_with_its_own_addresses() {
    let b = Broker::start("listeners", TWO_LISTENERS);
    let ports = b.ports().clone();
    assert_eq!(ports.listeners.len(), 2, "{ports:?}");
    let (plain, internal) = (b.listener("PLAINTEXT"), b.listener("INTERNAL"));
    // The top level of the ports file is the first listener, as before listeners existed.
    assert_eq!(ports.bootstrap, plain.bootstrap);
    assert_eq!(ports.shards, plain.shards);
    assert_ne!(plain.shards, internal.shards);
    assert_eq!(internal.protocol, "PLAINTEXT");

    for l in [plain, internal] {
        // Bootstrap and every shard port of the listener answer with that listener's brokers.
        let mut addrs = vec![l.bootstrap_addr()];
        addrs.extend((0..l.shards.len()).map(|s| l.shard_addr(s)));
        for addr in addrs {
            let mut c = Conn::connect(addr);
            for version in [0, 1, 9, 12] {
                let md = c.call(&MetadataRequest::default().with_topics(None), version);
                let mut got: Vec<(i32, String, i32)> = md
                    .brokers
                    .iter()
                    .map(|br| (br.node_id.0, br.host.to_string(), br.port))
                    .collect();
                got.sort();
                assert_eq!(
                    got,
                    expected(l),
                    "{} at {addr}, Metadata v{version}",
                    l.name
                );
            }
            let dc = c.call(&DescribeClusterRequest::default(), 0);
            let mut got: Vec<(i32, String, i32)> = dc
                .brokers
                .iter()
                .map(|br| (br.broker_id.0, br.host.to_string(), br.port))
                .collect();
            got.sort();
            assert_eq!(got, expected(l), "{} at {addr}, DescribeCluster", l.name);

            let fc = c.call(
                &FindCoordinatorRequest::default()
                    .with_key(StrBytes::from_static_str("a-group"))
                    .with_key_type(0),
                3,
            );
            assert_eq!(fc.error_code, 0, "{fc:?}");
            assert!(
                expected(l).contains(&(fc.node_id.0, fc.host.to_string(), fc.port)),
                "{} at {addr}: coordinator {fc:?} is not on this listener",
                l.name
            );
            let fc = c.call(
                &FindCoordinatorRequest::default()
                    .with_coordinator_keys(vec![StrBytes::from_static_str("a-group")])
                    .with_key_type(0),
                4,
            );
            let k = &fc.coordinators[0];
            assert_eq!(k.error_code, 0, "{fc:?}");
            assert!(expected(l).contains(&(k.node_id.0, k.host.to_string(), k.port)));
        }
    }
}

#[test]
fn fixed_ports_follow_the_documented_layout() {
    // Listener port P: shard s on P + 1 + s. Find a free block of ports first.
    let base = free_block(8);
    let listeners = format!(
        "PLAINTEXT://127.0.0.1:{},INTERNAL://127.0.0.1:{}",
        base,
        base + 4
    );
    let b = Broker::start(
        "listeners-fixed",
        &[
            "--cores",
            "2",
            "--listeners",
            &listeners,
            "--listener-security-protocol-map",
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            "--advertised-listeners",
            "INTERNAL://localhost:29092",
        ],
    );
    let (plain, internal) = (b.listener("PLAINTEXT"), b.listener("INTERNAL"));
    assert_eq!(
        (plain.bootstrap, plain.shards.clone()),
        (base, vec![base + 1, base + 2])
    );
    assert_eq!(
        (internal.bootstrap, internal.shards.clone()),
        (base + 4, vec![base + 5, base + 6])
    );
    // Advertised: host as given, shard s on the advertised port + 1 + s.
    let md = Conn::connect(internal.bootstrap_addr())
        .call(&MetadataRequest::default().with_topics(None), 12);
    let mut got: Vec<(i32, String, i32)> = md
        .brokers
        .iter()
        .map(|br| (br.node_id.0, br.host.to_string(), br.port))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, "localhost".into(), 29093),
            (1, "localhost".into(), 29094)
        ]
    );
}

#[test]
fn bad_listener_flags_are_refused_at_start() {
    let bin = harness::sluice_bin();
    for (args, says) in [
        (
            vec!["--listeners", "INTERNAL://127.0.0.1:0"],
            "no security protocol",
        ),
        (
            vec!["--listeners", "SSL://127.0.0.1:0"],
            "--ssl-certificate",
        ),
        (
            vec![
                "--listeners",
                "PLAINTEXT://127.0.0.1:0",
                "--advertised-listeners",
                "OTHER://h:1",
            ],
            "not one of --listeners",
        ),
    ] {
        let e = Broker::try_start("listeners-bad", bin.clone(), &args)
            .err()
            .unwrap_or_else(|| panic!("{args:?} started"));
        let text = e.to_string();
        assert!(text.contains(says), "{args:?}: {text}");
    }
}

/// A port p such that p..p+n are free now (bound and released).
fn free_block(n: u16) -> u16 {
    for _ in 0..100 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        drop(l);
        if p > 65535 - n {
            continue;
        }
        let all: Vec<_> = (p..p + n)
            .map(|q| std::net::TcpListener::bind(("127.0.0.1", q)))
            .collect();
        if all.iter().all(|r| r.is_ok()) {
            return p;
        }
    }
    panic!("no block of {n} free ports");
}
