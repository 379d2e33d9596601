//! SaslHandshake (key 17), v0–1: choose the SASL mechanism (`security::sasl` has the state
//! machine). v0 means the tokens that follow are raw frames; v1 wraps them in SaslAuthenticate.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::SaslHandshake,
    min: 0,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = SaslHandshakeRequest::try_decode(body, header.request_api_version)?;
    let Some(sasl) = &session.sasl else {
        // Not a SASL listener: Kafka's KafkaApis answers ILLEGAL_SASL_STATE, connection kept.
        let response = SaslHandshakeResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code());
        return Ok(encode(&shard.metrics, header, &response));
    };
    let mechanisms = sasl
        .config
        .mechanism_names()
        .iter()
        .map(|m| str_bytes(m))
        .collect();
    let code = match sasl.handshake(&request.mechanism, header.request_api_version) {
        Ok(true) => 0,
        Ok(false) => ResponseError::IllegalSaslState.code(),
        Err(code) => {
            shard.client_errors.note(format_args!(
                "closing connection from {}: SaslHandshake for mechanism {:?} refused (error {code})",
                session.peer_string(),
                request.mechanism.as_str()
            ));
            session.close_after_reply();
            code
        }
    };
    // Kafka lists the enabled mechanisms with success and UNSUPPORTED_SASL_MECHANISM; its
    // ILLEGAL_SASL_STATE answer is the bare error response.
    let mechanisms = if code == ResponseError::IllegalSaslState.code() {
        Vec::new()
    } else {
        mechanisms
    };
    let response = SaslHandshakeResponse::default()
        .with_error_code(code)
        .with_mechanisms(mechanisms);
    Ok(encode(&shard.metrics, header, &response))
}
