//! SASL on a SASL_PLAINTEXT listener, raw protocol (issue 14): Kafka's state machine —
//! handshake then authenticate (PLAIN and SCRAM), raw tokens after SaslHandshake v0, a request
//! before authentication, wrong password and unknown user alike, re-authentication (KIP-368)
//! and session expiry. Real clients are in tests/clients/test_sasl.py.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use base64::Engine;
use bytes::Bytes;
use harness::kafka::Conn;
use harness::Broker;
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice::security::credentials::ScramMechanism;

const AUTH_FAILED: i16 = 58;
const ILLEGAL_SASL_STATE: i16 = 34;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// A broker with PLAINTEXT and SASL_PLAINTEXT listeners and user alice / alice-secret.
fn broker(name: &str, extra: &[&str]) -> Broker {
    let mut args = vec![
        "--cores",
        "2",
        "--listeners",
        "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut b = Broker::start(name, &args);
    b.stop();
    let mut child = Command::new(harness::sluice_bin())
        .args(["user", "--data-dir"])
        .arg(&b.data_dir)
        .args(["create", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sluice user create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"alice-secret\n")
        .expect("password");
    assert!(child.wait().expect("wait").success());
    b.restart();
    b
}

fn sasl_conn(b: &Broker) -> Conn {
    Conn::connect(b.listener("SASL_PLAINTEXT").bootstrap_addr())
}

fn handshake(c: &mut Conn, mechanism: &'static str, version: i16) -> i16 {
    let r = c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        version,
    );
    r.error_code
}

fn authenticate(
    c: &mut Conn,
    token: &[u8],
    version: i16,
) -> kafka_protocol::messages::SaslAuthenticateResponse {
    c.call(
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
        version,
    )
}

fn metadata_ok(c: &mut Conn) {
    let md = c.call(&MetadataRequest::default().with_topics(None), 12);
    assert_eq!(md.brokers.len(), 2);
}

#[test]
fn plain_handshake_then_authenticate() {
    let b = broker("sasl-plain", &[]);
    // Before authentication only ApiVersions and SaslHandshake are admitted.
    let mut c = sasl_conn(&b);
    let v = c.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(v.error_code, 0);
    assert!(v
        .api_keys
        .iter()
        .any(|k| k.api_key == 36 && k.max_version == 2));
    assert_eq!(handshake(&mut c, "PLAIN", 1), 0);
    let r = authenticate(&mut c, b"\0alice\0alice-secret", 2);
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.session_lifetime_ms, 0, "no reauth by default");
    metadata_ok(&mut c);
    // After authentication: another SaslAuthenticate is ILLEGAL_SASL_STATE, connection kept.
    assert_eq!(authenticate(&mut c, b"x", 1).error_code, ILLEGAL_SASL_STATE);
    metadata_ok(&mut c);

    // The same credentials over the PLAINTEXT listener: SaslHandshake is refused, kept open.
    let mut p = Conn::connect(b.listener("PLAINTEXT").bootstrap_addr());
    assert_eq!(handshake(&mut p, "PLAIN", 1), ILLEGAL_SASL_STATE);
    metadata_ok(&mut p);
}

#[test]
fn unauthenticated_requests_and_bad_mechanisms_close_the_connection() {
    let b = broker(
        "sasl-refused",
        &["--sasl-enabled-mechanisms", "SCRAM-SHA-512"],
    );
    // A request other than ApiVersions / SaslHandshake: closed, no answer (Kafka's
    // IllegalSaslStateException).
    let mut c = sasl_conn(&b);
    c.send(&MetadataRequest::default().with_topics(None), 12);
    assert!(c.recv_frame().is_none(), "no answer before authentication");
    // After the handshake, anything but SaslAuthenticate: its own error response
    // (ILLEGAL_SASL_STATE), then closed.
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512", 1), 0);
    let md = c.call(&MetadataRequest::default().with_topics(None), 12);
    assert_eq!(md.topics.len(), 0);
    assert!(c.is_closed_by_peer());
    // A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then closed.
    let mut c = sasl_conn(&b);
    let r = c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        1,
    );
    assert_eq!(r.error_code, UNSUPPORTED_SASL_MECHANISM);
    assert_eq!(
        r.mechanisms,
        vec![StrBytes::from_static_str("SCRAM-SHA-512")]
    );
    assert!(c.is_closed_by_peer());
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let b = broker("sasl-wrong", &[]);
    let mut messages = Vec::new();
    for token in [&b"\0alice\0wrong"[..], b"\0nobody\0alice-secret"] {
        let mut c = sasl_conn(&b);
        assert_eq!(handshake(&mut c, "PLAIN", 1), 0);
        let r = authenticate(&mut c, token, 2);
        assert_eq!(r.error_code, AUTH_FAILED);
        messages.push(r.error_message.map(|m| m.to_string()));
        assert!(
            c.is_closed_by_peer(),
            "closed after a failed authentication"
        );
    }
    assert_eq!(messages[0], messages[1]);
    assert_eq!(
        messages[0].as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    // SCRAM: an unknown user gets a server-first like a real one and fails at the end alike.
    let mut messages = Vec::new();
    for (user, password) in [("alice", "wrong"), ("nobody", "alice-secret")] {
        let mut c = sasl_conn(&b);
        assert_eq!(handshake(&mut c, "SCRAM-SHA-256", 1), 0);
        let r = scram(&mut c, user, password);
        assert_eq!(r.error_code, AUTH_FAILED);
        messages.push(r.error_message.map(|m| m.to_string()));
        assert!(c.is_closed_by_peer());
    }
    assert_eq!(messages[0], messages[1]);
    let m = b.metric_sum(
        "sluice_request_errors_total",
        &[("error", "SASL_AUTHENTICATION_FAILED")],
    );
    assert!(m >= 4.0, "failed authentications are counted: {m}");
}

#[test]
fn scram_sha_256_with_the_password_authenticates() {
    let b = broker("sasl-scram", &["--connections-max-reauth-ms", "60000"]);
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-256", 1), 0);
    let r = scram(&mut c, "alice", "alice-secret");
    assert_eq!(r.error_code, 0, "{r:?}");
    assert!(r.auth_bytes.starts_with(b"v="));
    assert_eq!(r.session_lifetime_ms, 60_000);
    metadata_ok(&mut c);
    // KIP-368 re-authentication on the same connection, same mechanism.
    assert_eq!(handshake(&mut c, "SCRAM-SHA-256", 1), 0);
    assert_eq!(scram(&mut c, "alice", "alice-secret").error_code, 0);
    metadata_ok(&mut c);
    // Re-authenticating with another mechanism is refused and closes.
    assert_eq!(handshake(&mut c, "PLAIN", 1), ILLEGAL_SASL_STATE);
    assert!(c.is_closed_by_peer());
}

#[test]
fn an_expired_session_is_closed_at_its_next_request() {
    let b = broker("sasl-expiry", &["--connections-max-reauth-ms", "300"]);
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "PLAIN", 1), 0);
    let r = authenticate(&mut c, b"\0alice\0alice-secret", 1);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 300));
    metadata_ok(&mut c);
    std::thread::sleep(std::time::Duration::from_millis(400));
    c.send(&MetadataRequest::default().with_topics(None), 12);
    assert!(c.recv_frame().is_none(), "closed: the session expired");
}

#[test]
fn raw_tokens_after_handshake_v0() {
    let b = broker("sasl-raw", &[]);
    // kafka-python <= 2.0: SaslHandshake v0, then the PLAIN token as a bare frame, answered
    // by a bare (empty) frame.
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "PLAIN", 0), 0);
    raw_send(&mut c, b"\0alice\0alice-secret");
    assert_eq!(raw_recv(&mut c), Some(Vec::new()));
    metadata_ok(&mut c);
    // A wrong password on that path: no answer, the connection is closed.
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "PLAIN", 0), 0);
    raw_send(&mut c, b"\0alice\0wrong");
    assert_eq!(raw_recv(&mut c), None);
    // SCRAM over raw tokens.
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512", 0), 0);
    let first = "n=alice,r=rawnonce";
    raw_send(&mut c, format!("n,,{first}").as_bytes());
    let server_first = String::from_utf8(raw_recv(&mut c).expect("server-first")).unwrap();
    let fin = client_final(ScramMechanism::Sha512, "alice-secret", first, &server_first);
    raw_send(&mut c, fin.as_bytes());
    let last = raw_recv(&mut c).expect("server-final");
    assert!(last.starts_with(b"v="));
    metadata_ok(&mut c);
}

fn raw_send(c: &mut Conn, token: &[u8]) {
    let mut f = (token.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(token);
    c.stream.write_all(&f).expect("send token");
}

fn raw_recv(c: &mut Conn) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    c.stream.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    c.stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// A whole SCRAM-SHA-256 exchange over SaslAuthenticate v2; returns the last response.
fn scram(
    c: &mut Conn,
    user: &str,
    password: &str,
) -> kafka_protocol::messages::SaslAuthenticateResponse {
    let first = format!("n={user},r=fyko+d2lbbFgONRv9qkxdawL");
    let r = authenticate(c, format!("n,,{first}").as_bytes(), 2);
    assert_eq!(r.error_code, 0, "server-first for any user: {r:?}");
    let server_first = String::from_utf8(r.auth_bytes.to_vec()).unwrap();
    assert!(server_first.contains(",s=") && server_first.ends_with(",i=4096"));
    let fin = client_final(ScramMechanism::Sha256, password, &first, &server_first);
    authenticate(c, fin.as_bytes(), 2)
}

/// The client's final message (RFC 5802), from the primitives the broker uses (RustCrypto's
/// sha2 / hmac / pbkdf2, checked against RFC 7677's test vector in its unit tests).
fn client_final(
    m: ScramMechanism,
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut nonce = "";
    let mut salt = Vec::new();
    let mut iterations = 0;
    for a in server_first.split(',') {
        match a.split_once('=').unwrap() {
            ("r", v) => nonce = v,
            ("s", v) => salt = b64.decode(v).unwrap(),
            ("i", v) => iterations = v.parse().unwrap(),
            _ => {}
        }
    }
    let salted = m.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = m.hmac(&salted, b"Client Key");
    let stored_key = m.hash(&client_key);
    let without = format!("c=biws,r={nonce}");
    let auth = format!("{client_first_bare},{server_first},{without}");
    let sig = m.hmac(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
    format!("{without},p={}", b64.encode(proof))
}

const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

fn describe_users(
    c: &mut Conn,
    users: Option<&[&str]>,
) -> Vec<kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult>{
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    use kafka_protocol::messages::DescribeUserScramCredentialsRequest;
    let users = users.map(|u| {
        u.iter()
            .map(|n| UserName::default().with_name(StrBytes::from_string(n.to_string())))
            .collect()
    });
    let r = c.call(
        &DescribeUserScramCredentialsRequest::default().with_users(users),
        0,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    r.results
}

/// One describe result: user, [(mechanism, iterations)], error code.
type Described = (String, Vec<(i8, i32)>, i16);

fn described(c: &mut Conn, users: Option<&[&str]>) -> Vec<Described> {
    describe_users(c, users)
        .into_iter()
        .map(|r| {
            let infos = r
                .credential_infos
                .iter()
                .map(|i| (i.mechanism, i.iterations))
                .collect();
            (r.user.to_string(), infos, r.error_code)
        })
        .collect()
}

/// An upsertion the way a Kafka client builds it (KIP-554): the client derives SaltedPassword.
fn upsertion(
    user: &str,
    mechanism: i8,
    password: &str,
    iterations: i32,
) -> kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion {
    let salt = b"a-salt-of-the-clients-choosing".to_vec();
    let salted = ScramMechanism::from_type(mechanism)
        .map(|m| m.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32))
        .unwrap_or_else(|| b"whatever".to_vec());
    kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_string()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted))
}

fn deletion(
    user: &str,
    mechanism: i8,
) -> kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion {
    kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion::default()
        .with_name(StrBytes::from_string(user.to_string()))
        .with_mechanism(mechanism)
}

fn alter(
    c: &mut Conn,
    deletions: Vec<
        kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion,
    >,
    upsertions: Vec<
        kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion,
    >,
) -> Vec<(String, i16)> {
    let r = c.call(
        &kafka_protocol::messages::AlterUserScramCredentialsRequest::default()
            .with_deletions(deletions)
            .with_upsertions(upsertions),
        0,
    );
    r.results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

fn scram_login(b: &Broker, user: &str, password: &str) -> i16 {
    let mut c = sasl_conn(b);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-256", 1), 0);
    scram(&mut c, user, password).error_code
}

#[test]
fn scram_credentials_are_described_and_altered_online() {
    let mut b = broker("sasl-scram-admin", &[]);
    let mut c = Conn::connect(b.listener("PLAINTEXT").bootstrap_addr());
    let both = vec![(1, 4096), (2, 4096)];
    // Null and empty both mean every user; mechanisms and iterations only.
    assert_eq!(
        described(&mut c, None),
        vec![("alice".to_string(), both.clone(), 0)]
    );
    assert_eq!(described(&mut c, Some(&[])).len(), 1);
    assert_eq!(
        described(&mut c, Some(&["nobody", "alice", "alice"])),
        vec![
            ("nobody".to_string(), vec![], RESOURCE_NOT_FOUND),
            ("alice".to_string(), vec![], DUPLICATE_RESOURCE),
        ]
    );

    // Each user's alteration stands or fails on its own.
    let results = alter(
        &mut c,
        vec![deletion("ghost", 1), deletion("alice", 1)],
        vec![
            upsertion("bob", 1, "bob-secret", 4096),
            upsertion("few", 1, "x", 4095),
            upsertion("many", 1, "x", 16_385),
            upsertion("mech", 7, "x", 4096),
            upsertion("alice", 2, "new", 4096),
        ],
    );
    assert_eq!(
        results,
        vec![
            ("ghost".to_string(), RESOURCE_NOT_FOUND),
            ("alice".to_string(), DUPLICATE_RESOURCE),
            ("bob".to_string(), 0),
            ("few".to_string(), UNACCEPTABLE_CREDENTIAL),
            ("many".to_string(), UNACCEPTABLE_CREDENTIAL),
            ("mech".to_string(), UNSUPPORTED_SASL_MECHANISM),
        ]
    );
    assert_eq!(
        described(&mut c, None),
        vec![
            ("alice".to_string(), both.clone(), 0),
            ("bob".to_string(), vec![(1, 4096)], 0),
        ]
    );
    // The new user authenticates on any shard's new connections; alice is untouched.
    for _ in 0..4 {
        assert_eq!(scram_login(&b, "bob", "bob-secret"), 0);
    }
    assert_eq!(scram_login(&b, "bob", "wrong"), AUTH_FAILED);
    assert_eq!(scram_login(&b, "alice", "alice-secret"), 0);

    // Persisted: still there after a restart.
    b.restart();
    let mut c = Conn::connect(b.listener("PLAINTEXT").bootstrap_addr());
    assert_eq!(
        described(&mut c, Some(&["bob"])),
        vec![("bob".to_string(), vec![(1, 4096)], 0)]
    );
    assert_eq!(scram_login(&b, "bob", "bob-secret"), 0);

    // Deleted: can't authenticate any more, and describing it is RESOURCE_NOT_FOUND.
    assert_eq!(
        alter(&mut c, vec![deletion("bob", 1)], vec![]),
        vec![("bob".to_string(), 0)]
    );
    assert_eq!(scram_login(&b, "bob", "bob-secret"), AUTH_FAILED);
    assert_eq!(
        described(&mut c, Some(&["bob"])),
        vec![("bob".to_string(), vec![], RESOURCE_NOT_FOUND)]
    );
    assert_eq!(
        alter(&mut c, vec![deletion("bob", 1)], vec![]),
        vec![("bob".to_string(), RESOURCE_NOT_FOUND)]
    );
}

#[test]
fn illegal_sasl_state_is_answered_then_closed_as_kafka_does() {
    let b = broker("sasl-illegal-state", &[]);
    // After the handshake only SaslAuthenticate may come: a second SaslHandshake is answered
    // ILLEGAL_SASL_STATE (no mechanisms), then the connection is closed (Kafka's
    // SaslServerAuthenticator: the request's error response, then IllegalSaslStateException).
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512", 1), 0);
    let r = c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        1,
    );
    assert_eq!(r.error_code, ILLEGAL_SASL_STATE);
    assert!(r.mechanisms.is_empty(), "{r:?}");
    assert!(c.is_closed_by_peer());
    // ApiVersions there: its error response, then closed.
    let mut c = sasl_conn(&b);
    assert_eq!(handshake(&mut c, "PLAIN", 1), 0);
    let v = c.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(v.error_code, ILLEGAL_SASL_STATE);
    assert!(c.is_closed_by_peer());
    // SaslAuthenticate with no handshake before it: Kafka closes without an answer (an
    // InvalidRequestException during the handshake stage), and so does Sluice.
    let mut c = sasl_conn(&b);
    c.send(
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0alice\0x")),
        2,
    );
    assert!(c.recv_frame().is_none(), "no answer before a handshake");
    // None of these is a failed authentication.
    let failures = b.metric_sum("sluice_sasl_authentication_failures_total", &[]);
    assert_eq!(failures, 0.0);
}

/// A connection that completed SaslHandshake (PLAIN, v1) and nothing more.
fn after_handshake(b: &Broker) -> Conn {
    let mut c = sasl_conn(b);
    assert_eq!(handshake(&mut c, "PLAIN", 1), 0);
    c
}

/// Kafka's `SaslServerAuthenticator`: after the handshake, a request other than
/// SaslAuthenticate is parsed and answered with its own error response, ILLEGAL_SASL_STATE on
/// every topic and partition it named (or at the top level where the response has one), with
/// Kafka's message where the response carries one; then the connection is closed. A Produce
/// with acks=0 gets no answer, only the close.
#[test]
fn every_request_after_the_handshake_gets_its_own_illegal_sasl_state_answer() {
    use harness::kafka::fetch;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        DescribeGroupsRequest, GroupId, ListGroupsRequest, ProduceRequest, TopicName,
    };
    let b = broker("sasl-illegal-every-api", &[]);
    let topic = |n: &str| TopicName(StrBytes::from_string(n.to_string()));

    let mut c = after_handshake(&b);
    let md = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic("a"))),
            MetadataRequestTopic::default().with_name(Some(topic("b"))),
        ])),
        12,
    );
    let got: Vec<(String, i16)> = md
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.error_code))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), ILLEGAL_SASL_STATE),
            ("b".into(), ILLEGAL_SASL_STATE)
        ]
    );
    assert!(md.brokers.is_empty() && md.topics.iter().all(|t| t.partitions.is_empty()));
    assert!(c.is_closed_by_peer());

    let produce = |acks: i16| {
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic("a"))
                .with_partition_data(
                    (0..2)
                        .map(|p| {
                            PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(Bytes::new()))
                        })
                        .collect(),
                )])
    };
    let mut c = after_handshake(&b);
    let r = c.call(&produce(1), 9);
    let t = &r.responses[0];
    assert_eq!(t.name.as_str(), "a");
    assert_eq!(t.partition_responses.len(), 2);
    for p in &t.partition_responses {
        assert_eq!(
            (p.error_code, p.base_offset, p.log_start_offset),
            (ILLEGAL_SASL_STATE, -1, -1)
        );
        assert_eq!(
            p.error_message.as_deref(),
            Some("Unexpected Kafka request of type PRODUCE during SASL authentication.")
        );
    }
    assert!(c.is_closed_by_peer());
    let mut c = after_handshake(&b);
    c.send(&produce(0), 9);
    assert!(c.recv_frame().is_none(), "acks=0: no answer, closed");

    // Fetch before v13: every partition carries the error, with empty records.
    let mut c = after_handshake(&b);
    let r = c.call(&fetch("a", &[(0, 0), (1, 5)], 1 << 20, 0), 11);
    assert_eq!(r.error_code, ILLEGAL_SASL_STATE);
    let parts = &r.responses[0].partitions;
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.error_code == ILLEGAL_SASL_STATE
        && p.high_watermark == -1
        && p.records.as_ref().is_some_and(|r| r.is_empty())));
    assert!(c.is_closed_by_peer());
    // From v13 the top-level code alone.
    let mut c = after_handshake(&b);
    let r = c.call(&fetch("a", &[(0, 0)], 1 << 20, 0), 13);
    assert_eq!((r.error_code, r.responses.len()), (ILLEGAL_SASL_STATE, 0));
    assert!(c.is_closed_by_peer());

    // A group API: per group; a top-level one: the code.
    let mut c = after_handshake(&b);
    let r = c.call(
        &DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_static_str("g"))]),
        5,
    );
    assert_eq!(r.groups.len(), 1);
    assert_eq!(
        (r.groups[0].group_id.as_str(), r.groups[0].error_code),
        ("g", ILLEGAL_SASL_STATE)
    );
    assert!(c.is_closed_by_peer());
    let mut c = after_handshake(&b);
    let r = c.call(&ListGroupsRequest::default(), 4);
    assert_eq!(r.error_code, ILLEGAL_SASL_STATE);
    assert!(c.is_closed_by_peer());
    let failures = b.metric_sum("sluice_sasl_authentication_failures_total", &[]);
    assert_eq!(failures, 0.0, "none of these is a failed authentication");
}

#[test]
fn users_past_scram_users_max_are_refused() {
    let b = broker("sasl-users-max", &[]);
    let mut c = Conn::connect(b.listener("PLAINTEXT").bootstrap_addr());
    // alice exists; fill up to the limit in one request (the broker derives the keys from the
    // salted password with two HMACs, so any bytes do), then one more.
    let max = sluice::limits::SCRAM_USERS_MAX;
    let fake = |name: String| {
        kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(name))
            .with_mechanism(1)
            .with_iterations(4096)
            .with_salt(Bytes::from_static(b"salt"))
            .with_salted_password(Bytes::from_static(b"salted-password-bytes"))
    };
    let upsertions: Vec<_> = (1..=max).map(|i| fake(format!("user-{i}"))).collect();
    let r = alter(&mut c, vec![], upsertions);
    assert_eq!(r.len(), max);
    let refused: Vec<&(String, i16)> = r.iter().filter(|(_, code)| *code != 0).collect();
    assert_eq!(
        refused,
        vec![&(format!("user-{max}"), UNACCEPTABLE_CREDENTIAL)],
        "alice plus {} new users fill it",
        max - 1
    );
    let r = c.call(
        &kafka_protocol::messages::AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![fake("late".into()), fake("alice".into())]),
        0,
    );
    assert_eq!(r.results[0].error_code, UNACCEPTABLE_CREDENTIAL);
    let message = r.results[0].error_message.as_deref().unwrap_or_default();
    assert!(message.contains(&format!("at most {max}")), "{message}");
    assert_eq!(r.results[1].error_code, 0, "an existing user still changes");
    assert_eq!(described(&mut c, None).len(), max);
}
