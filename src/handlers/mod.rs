//! One handler per Kafka API key. Each declares the versions it serves (`VERSIONS`); the table
//! below lists them all, dispatch uses it, and ApiVersions is built from it — so Sluice never
//! advertises a version it does not serve.

// The request path: what a client sends must never panic a shard (a panic would end its
// thread). Invariant checks use assert! with a message; these catch the accidental kinds.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::todo,
    clippy::unimplemented
)]

use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use futures::FutureExt;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::metrics::ShardMetrics;
use crate::protocol::decode::{try_decode_header, DecodeError};
use crate::protocol::response_errors::ResponseErrors;
use crate::security::session::Session;
use crate::shard::Shard;

/// The versions of one API that Sluice serves.
#[derive(Debug, Clone, Copy)]
pub struct Versions {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub fn contains(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// What the connection writes for one request.
pub enum Reply {
    /// A complete response frame, length prefix included.
    Send(Bytes),
    /// A response frame as chunks to write in order (a Fetch: framing and stored batches,
    /// uncopied), holding the shard's fetch budget for those bytes until they are written.
    Chunks(Vec<crate::log::Chunk>, Option<crate::memory::Reservation>),
    /// Nothing (Produce with acks=0).
    None,
    /// Close the connection (undecodable or unsupported request), after earlier replies.
    Close,
}

// The modules are declared here, outside the macro, so `cargo fmt` reaches their files.
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_share_group_offsets;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_share_group_offsets;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_share_group_offsets;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod end_txn;
pub mod error_response;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod sync_group;
pub mod txn_offset_commit;

/// `handlers!(a, b; c, d)`: the handlers before the `;` take (shard, header, body); those
/// after it also need the connection's session (its listener's addresses; its principal, which
/// every API but ApiVersions and the SASL ones authorizes with `security::authz_helpers`).
macro_rules! handlers {
    ($($m:ident),* $(,)?; $($s:ident),* $(,)?) => {

        /// Every API Sluice serves, with its version range.
        pub const SERVED: &[Versions] = &[$($m::VERSIONS,)* $($s::VERSIONS),*];

        async fn dispatch(
            shard: &Rc<Shard>,
            session: &Rc<Session>,
            header: &RequestHeader,
            body: &mut Bytes,
        ) -> Result<Reply, DecodeError> {
            $(
                if header.request_api_key == $m::VERSIONS.key as i16 {
                    return $m::handle(shard, header, body).await;
                }
            )*
            $(
                if header.request_api_key == $s::VERSIONS.key as i16 {
                    return $s::handle(shard, session, header, body).await;
                }
            )*
            Ok(Reply::Close)
        }
    };
}

handlers!(
    api_versions;
    produce,
    fetch,
    list_offsets,
    create_topics,
    delete_topics,
    init_producer_id,
    offset_for_leader_epoch,
    describe_configs,
    join_group,
    sync_group,
    heartbeat,
    leave_group,
    offset_commit,
    offset_fetch,
    list_groups,
    describe_groups,
    delete_groups,
    offset_delete,
    incremental_alter_configs,
    alter_configs,
    delete_records,
    create_partitions,
    describe_log_dirs,
    describe_producers,
    describe_user_scram_credentials,
    alter_user_scram_credentials,
    describe_client_quotas,
    alter_client_quotas,
    metadata,
    find_coordinator,
    describe_cluster,
    describe_topic_partitions,
    sasl_handshake,
    sasl_authenticate,
    describe_acls,
    create_acls,
    delete_acls,
    add_partitions_to_txn,
    add_offsets_to_txn,
    end_txn,
    txn_offset_commit,
    describe_transactions,
    list_transactions,
    consumer_group_heartbeat,
    consumer_group_describe,
    share_group_heartbeat,
    share_group_describe,
    share_fetch,
    share_acknowledge,
    describe_share_group_offsets,
    alter_share_group_offsets,
    delete_share_group_offsets,
);

/// The versions served for `key`, if any.
pub fn served(key: i16) -> Option<&'static Versions> {
    SERVED.iter().find(|v| v.key as i16 == key)
}

/// Decode, route and answer one request frame (length prefix already removed), which came on
/// `session`'s connection.
pub async fn handle(shard: Rc<Shard>, session: Rc<Session>, frame: Bytes) -> Reply {
    let mut body = frame.clone();
    let header = match try_decode_header(&mut body) {
        Ok(h) => h,
        Err(e) => {
            shard.metrics.count_refused();
            shard
                .client_errors
                .note(format_args!("undecodable request header: {e}"));
            // ApiVersions with a version we can't parse the header of still deserves an answer.
            return Reply::Close;
        }
    };
    shard.metrics.count_request(header.request_api_key);
    if let Some(sasl) = &session.sasl {
        // Admission runs outside the handler's isolation below: a panic here must end this
        // connection, not the shard.
        let admitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sasl.admit(header.request_api_key)
        }));
        let admitted = match admitted {
            Ok(a) => a,
            Err(panic) => {
                note_panic(&shard, "SASL admission", &panic);
                session.close_after_reply();
                return Reply::Close;
            }
        };
        match admitted {
            crate::security::sasl::Admit::Yes => {}
            crate::security::sasl::Admit::Close(why) => {
                shard.metrics.count_refused();
                shard.client_errors.note(format_args!(
                    "closing connection from {} on listener {}: {why}",
                    session.peer_string(),
                    session.listener.name
                ));
                session.close_after_reply();
                return Reply::Close;
            }
            crate::security::sasl::Admit::IllegalState(why) => {
                shard.client_errors.note(format_args!(
                    "closing connection from {} on listener {}: {why}",
                    session.peer_string(),
                    session.listener.name
                ));
                session.close_after_reply();
                return illegal_sasl_state_reply(&shard, &header, &mut body);
            }
        }
    }
    let supported =
        served(header.request_api_key).is_some_and(|v| v.contains(header.request_api_version));
    if !supported {
        if header.request_api_key == ApiKey::ApiVersions as i16 {
            // Kafka answers an unknown ApiVersions version with a v0 response carrying
            // UNSUPPORTED_VERSION and the ranges it does serve, so the client can retry.
            return api_versions::unsupported_version_reply(&shard, &header);
        }
        shard.metrics.count_refused();
        shard.client_errors.note(format_args!(
            "unsupported request: api key {} version {}",
            header.request_api_key, header.request_api_version
        ));
        return Reply::Close;
    }
    let started = std::time::Instant::now();
    // Per-request isolation: a panic in a handler ends this request (its connection is
    // closed), never the shard — glommio would let it unwind out of the executor and end the
    // thread, taking every partition the shard owns with it.
    // The time spent polling the handler is what a `request_percentage` quota measures.
    let spent = Rc::new(std::cell::Cell::new(std::time::Duration::ZERO));
    let handler = std::pin::pin!(dispatch(&shard, &session, &header, &mut body));
    let reply =
        std::panic::AssertUnwindSafe(crate::quota::timed::Timed::new(handler, spent.clone()))
            .catch_unwind()
            .await;
    shard
        .metrics
        .observe_latency(header.request_api_key, started.elapsed());
    let request_throttle_ms = if quota_exempt(header.request_api_key) {
        0
    } else {
        let percent_seconds = spent.get().as_secs_f64() * 100.0;
        shard.quota_record(
            &session,
            header.client_id.as_deref(),
            crate::metadata::quotas::QuotaKind::Request,
            percent_seconds,
        )
    };
    let reply = match reply {
        Ok(reply) => reply,
        Err(panic) => {
            let what = format!(
                "request api key {} version {}",
                header.request_api_key, header.request_api_version
            );
            note_panic(&shard, &what, &panic);
            return Reply::Close;
        }
    };
    match reply {
        Ok(reply) if request_throttle_ms > 0 => {
            with_request_throttle(reply, &header, request_throttle_ms)
        }
        Ok(reply) => reply,
        Err(e) => {
            shard.metrics.count_refused();
            let prefix: String = frame.iter().take(32).map(|b| format!("{b:02x}")).collect();
            shard.client_errors.note(format_args!(
                "undecodable request: api key {} version {}: {e} (frame starts {prefix})",
                header.request_api_key, header.request_api_version
            ));
            Reply::Close
        }
    }
}

/// ILLEGAL_SASL_STATE as the error response of the request `header` heads, its body in `body`
/// (a request other than SaslAuthenticate after the SASL handshake, see
/// `security::sasl::Admit::IllegalState`), with Kafka's message; the connection is closed
/// after it. A version Sluice does not serve, a body that does not decode, or an API without
/// an error response here: closed without one.
fn illegal_sasl_state_reply(shard: &Shard, header: &RequestHeader, body: &mut Bytes) -> Reply {
    let served =
        served(header.request_api_key).is_some_and(|v| v.contains(header.request_api_version));
    let Ok(key) = ApiKey::try_from(header.request_api_key) else {
        return Reply::Close;
    };
    if !served {
        return Reply::Close;
    }
    let message = format!(
        "Unexpected Kafka request of type {} during SASL authentication.",
        error_response::kafka_api_name(key)
    );
    let code = kafka_protocol::error::ResponseError::IllegalSaslState.code();
    match error_response::error_response(&shard.metrics, header, body, code, &message) {
        Ok(Some(reply)) => reply,
        Ok(None) | Err(_) => Reply::Close,
    }
}

/// `reply` with the `request_percentage` throttle in its `ThrottleTimeMs` where the field can be
/// written in place (`protocol::throttle`); the connection is muted either way.
fn with_request_throttle(reply: Reply, header: &RequestHeader, ms: u64) -> Reply {
    let (Reply::Send(bytes), Ok(key)) = (&reply, ApiKey::try_from(header.request_api_key)) else {
        return reply;
    };
    let ms = i32::try_from(ms).unwrap_or(i32::MAX);
    let mut frame = bytes.to_vec();
    if crate::protocol::throttle::raise_throttle(&mut frame, key, header.request_api_version, ms) {
        Reply::Send(Bytes::from(frame))
    } else {
        reply
    }
}

/// Requests no `request_percentage` quota counts or throttles (Kafka exempts those a client
/// needs to connect and authenticate).
fn quota_exempt(api_key: i16) -> bool {
    api_key == ApiKey::ApiVersions as i16
        || api_key == ApiKey::SaslHandshake as i16
        || api_key == ApiKey::SaslAuthenticate as i16
}

/// Log and count a panic caught at a request boundary (`what` names the request).
pub fn note_panic(shard: &Shard, what: &str, panic: &Box<dyn std::any::Any + Send>) {
    shard
        .metrics
        .handler_panics
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(
        shard = shard.id,
        "a handler panicked on {what}: {message}; its connection was closed, the shard carries on"
    );
}

/// The hidden `serve --test-panic-topic NAME` (tests only; unset in production): a Metadata
/// request naming topic NAME panics inside its handler; one naming `NAME-shard` panics a task
/// outside any request, which ends the shard's thread; one naming `NAME-stall` blocks the
/// shard's thread (a wedged executor) until one naming `NAME-release` reaches another shard,
/// or for [`TEST_STALL_MS_MAX`] at the most. Set once at start-up.
pub static TEST_PANIC_TOPIC: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// See [`TEST_PANIC_TOPIC`].
#[expect(
    clippy::panic,
    reason = "panicking on purpose is what the test switch is for"
)]
pub(crate) fn test_panic(topic: &str) {
    let Some(name) = TEST_PANIC_TOPIC.get() else {
        return;
    };
    if topic == name {
        panic!("test panic in a handler (--test-panic-topic {name})");
    }
    match topic.strip_prefix(name.as_str()) {
        Some("-shard") => {
            // glommio polls a new task once inside spawn_local (so within this request's
            // isolation): panic on its second poll, from the executor's queue.
            glommio::spawn_local(async {
                glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
                panic!("test panic outside any request (--test-panic-topic)");
            })
            .detach();
        }
        Some("-stall") => {
            // Released by the test when it has seen all it looks for, however slow the machine
            // (a fixed stall left a window that a loaded test could miss).
            TEST_STALL_RELEASED.store(false, std::sync::atomic::Ordering::SeqCst);
            let until =
                std::time::Instant::now() + std::time::Duration::from_millis(TEST_STALL_MS_MAX);
            while !TEST_STALL_RELEASED.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < until
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        Some("-release") => TEST_STALL_RELEASED.store(true, std::sync::atomic::Ordering::SeqCst),
        _ => {}
    }
}

/// Ends a `--test-panic-topic NAME-stall` (set by a request naming `NAME-release`).
static TEST_STALL_RELEASED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The longest a `--test-panic-topic NAME-stall` blocks a shard unreleased: far longer than
/// [`crate::limits::SHARD_HEARTBEAT_STALE_MS`], so health reports the shard down meanwhile, and
/// bounded, so a test that fails before releasing it does not wedge the shard for good.
pub const TEST_STALL_MS_MAX: u64 = 15 * crate::limits::SHARD_HEARTBEAT_STALE_MS;

/// Encode `response` as the answer to `header`: length prefix, response header, body. Counts
/// the response's error codes in this shard's metrics.
pub fn encode<R: Encodable + ResponseErrors>(
    metrics: &ShardMetrics,
    header: &RequestHeader,
    response: &R,
) -> Reply {
    encode_with_version(metrics, header, response, header.request_api_version)
}

/// As [`encode`], but with an explicit body version (ApiVersions falls back to v0).
pub fn encode_with_version<R: Encodable + ResponseErrors>(
    metrics: &ShardMetrics,
    header: &RequestHeader,
    response: &R,
    version: i16,
) -> Reply {
    count_errors(metrics, header, response);
    let Ok(key) = ApiKey::try_from(header.request_api_key) else {
        return Reply::Close;
    };
    let header_version = key.response_header_version(version);
    let response_header = ResponseHeader::default().with_correlation_id(header.correlation_id);
    let size = match (
        response_header.compute_size(header_version),
        response.compute_size(version),
    ) {
        (Ok(h), Ok(b)) => h + b,
        _ => return encode_failed(key, version),
    };
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    if response_header.encode(&mut buf, header_version).is_err()
        || response.encode(&mut buf, version).is_err()
    {
        return encode_failed(key, version);
    }
    debug_assert_eq!(buf.len(), 4 + size);
    Reply::Send(buf.freeze())
}

/// Count the error codes of `response` (to `header`) in this shard's metrics. Done by
/// [`encode`]; a handler that answers without encoding (Produce acks=0) calls it itself.
pub fn count_errors<R: ResponseErrors>(
    metrics: &ShardMetrics,
    header: &RequestHeader,
    response: &R,
) {
    crate::protocol::response_errors::count(metrics, header.request_api_key, response);
}

fn encode_failed(key: ApiKey, version: i16) -> Reply {
    // Only a bug in building the response can get here (a field this version can't carry).
    tracing::error!(
        ?key,
        version,
        "failed to encode a response; closing the connection"
    );
    Reply::Close
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The first step of the share-group offset admin APIs (AlterShareGroupOffsets,
/// DeleteShareGroupOffsets): `share::offsets::admit`; on refusal, the whole answer, built by
/// `refused(error code, message)`.
pub(crate) async fn admit_share_offsets<R: Encodable + ResponseErrors>(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    authz: &crate::security::authz_helpers::Authz<'_>,
    group: &str,
    (operation, create, verb): (crate::security::authz::AclOperation, bool, &str),
    refused: impl FnOnce(i16, StrBytes) -> R,
) -> Result<(), Reply> {
    crate::share::offsets::admit(shard, authz, group, operation, create, verb)
        .await
        .map_err(|(code, message)| {
            encode(&shard.metrics, header, &refused(code, str_bytes(&message)))
        })
}
