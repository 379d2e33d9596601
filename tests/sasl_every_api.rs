//! After SaslHandshake, a request of any API but SaslAuthenticate is answered with that API's
//! own error response (ILLEGAL_SASL_STATE) and the connection is then closed, as Kafka's
//! `SaslServerAuthenticator` does (issue 14): swept over every API and version Sluice serves,
//! with the request generator's plainest request of each (`harness/request_gen/`) and its
//! reply checked by the fuzz checks' decoder (`harness/request_check.rs`). The codes and
//! messages of Metadata, Produce, Fetch and the group APIs are checked in tests/sasl.rs.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
#[path = "harness/request_check.rs"]
mod request_check;
#[path = "harness/request_gen/mod.rs"]
mod request_gen;

use std::io::Write;

use bytes::Buf;
use harness::kafka::Conn;
use harness::Broker;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, SaslHandshakeRequest};
use kafka_protocol::protocol::{Decodable, StrBytes};
use request_gen::{Choices, Context, Stats};

const ILLEGAL_SASL_STATE: i16 = 34;
const CORRELATION_ID: i32 = 7;

#[test]
fn every_served_api_after_the_handshake_gets_its_error_response_then_the_close() {
    let b = Broker::start(
        "sasl-every-api",
        &[
            "--cores",
            "1",
            "--listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        ],
    );
    let addr = b.listener("SASL_PLAINTEXT").bootstrap_addr();
    let served = sluice::handlers::SERVED;
    let mut answered = 0;
    for (i, versions) in served.iter().enumerate() {
        if matches!(
            versions.key,
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        ) {
            continue;
        }
        for version in versions.min..=versions.max {
            // The first choice picks the API, the second its version; the rest (none) takes
            // every common path: no byte mutation, an in-range header.
            let choices = [
                u8::try_from(i).unwrap(),
                u8::try_from(version - versions.min).unwrap(),
            ];
            let g = request_gen::request(
                &mut Choices::new(&choices),
                &Context::default(),
                CORRELATION_ID,
                &mut Stats::default(),
            );
            assert_eq!(
                (g.key, g.version, g.mutated),
                (versions.key, version, false)
            );
            let what = format!("{:?} v{version}", g.key);
            let mut c = Conn::connect(addr);
            let r = c.call(
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
                1,
            );
            assert_eq!(r.error_code, 0);
            c.stream_mut().write_all(&g.frame).unwrap();
            let Some(mut reply) = c.recv_frame() else {
                // Only a Produce with acks=0 goes unanswered (Kafka has no response for it).
                assert_eq!(g.key, ApiKey::Produce, "{what}: closed without an answer");
                continue;
            };
            assert_eq!(reply.get_i32(), CORRELATION_ID, "{what}");
            if g.key == ApiKey::ApiVersions {
                let r = ApiVersionsResponse::decode(&mut reply, version).unwrap();
                assert_eq!(r.error_code, ILLEGAL_SASL_STATE, "{what}");
            } else {
                request_check::check_reply(&g, reply, &mut Context::default())
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            assert!(c.is_closed_by_peer(), "{what}: closed after the answer");
            answered += 1;
        }
    }
    assert!(answered > 150, "{answered} requests answered");
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(40));
}
