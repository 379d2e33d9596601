//! SaslAuthenticate (key 36), v0–2: one SASL token each way. v1+ tells the client how long its
//! session lasts (KIP-368). A failure is answered SASL_AUTHENTICATION_FAILED after
//! `--connection-failed-authentication-delay-ms`, then the connection is closed, as in Kafka.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::sasl::TokenOutcome;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::SaslAuthenticate,
    min: 0,
    max: 2,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = SaslAuthenticateRequest::try_decode(body, header.request_api_version)?;
    if session
        .sasl
        .as_ref()
        .filter(|s| !s.is_authenticated())
        .is_none()
    {
        // Not a SASL listener, or already authenticated: Kafka's KafkaApis answers
        // ILLEGAL_SASL_STATE and keeps the connection.
        let response = SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(str_bytes(
                "SaslAuthenticate request received after successful authentication",
            )));
        return Ok(encode(&shard.metrics, header, &response));
    }
    let response = match authenticate(shard, session, &request.auth_bytes).await {
        Ok((bytes, lifetime_ms)) => SaslAuthenticateResponse::default()
            .with_auth_bytes(Bytes::from(bytes))
            .with_session_lifetime_ms(lifetime_ms),
        Err(message) => SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(str_bytes(&message))),
    };
    Ok(encode(&shard.metrics, header, &response))
}

/// Run one token through the session's SASL state: Ok(reply bytes, session lifetime) or, after
/// the failure delay (and with the connection marked to close), Err(Kafka's message).
pub async fn authenticate(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    token: &[u8],
) -> Result<(Vec<u8>, i64), String> {
    let Some(sasl) = &session.sasl else {
        return Err(crate::security::sasl::failure_message(None));
    };
    let mechanism = sasl.mechanism();
    match sasl.token(session, &shard.storage.blocking, token).await {
        TokenOutcome::Continue(bytes) => Ok((bytes, 0)),
        TokenOutcome::Done(bytes, lifetime_ms) => {
            tracing::debug!(
                shard = shard.id,
                peer = %session.peer_string(),
                principal = %session.principal(),
                "authenticated"
            );
            Ok((bytes, lifetime_ms))
        }
        TokenOutcome::Failed(why) => {
            if let Some(m) = mechanism {
                shard.metrics.count_sasl_failure(m.name());
            }
            shard.client_errors.note(format_args!(
                "failed authentication from {} on listener {}: {why}",
                session.peer_string(),
                session.listener.name
            ));
            session.close_after_reply();
            glommio::timer::sleep(std::time::Duration::from_millis(
                sasl.config.failed_delay_ms,
            ))
            .await;
            Err(crate::security::sasl::failure_message(mechanism))
        }
    }
}
