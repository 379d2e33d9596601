//! AlterUserScramCredentials (key 51), v0: add, replace or delete users' SCRAM credentials
//! (KIP-554: the client sends the salt and SaltedPassword, never the password).
//!
//! A cluster-level write. Any shard may receive it; it is serialised broker-wide by the shared
//! credentials' writer lock (`SharedCredentials::update`), held on the shard's blocking pool
//! while the change is checked against the current credentials, written durably (temp file,
//! fsync, rename) and only then published, so every shard's next authentication sees it.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::{Authz, Denied};
use crate::security::scram_admin;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::AlterUserScramCredentials,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = AlterUserScramCredentialsRequest::try_decode(body, header.request_api_version)?;
    if !Authz::new(shard, session).cluster(AclOperation::Alter) {
        // Kafka: every user named, once each and sorted, with the error.
        let error = Denied::Cluster;
        let users: std::collections::BTreeSet<&str> = request
            .deletions
            .iter()
            .map(|d| d.name.as_str())
            .chain(request.upsertions.iter().map(|u| u.name.as_str()))
            .collect();
        let results = users
            .into_iter()
            .map(|u| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(u))
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(error.message())))
            })
            .collect();
        let response = AlterUserScramCredentialsResponse::default().with_results(results);
        return Ok(encode(&shard.metrics, header, &response));
    }
    let config = shard.config.clone();
    let (deletions, upsertions) = (request.deletions, request.upsertions);
    let users: Vec<String> = deletions
        .iter()
        .map(|d| d.name.to_string())
        .chain(upsertions.iter().map(|u| u.name.to_string()))
        .collect();
    let outcome = shard
        .storage
        .blocking
        .run(move || {
            config.credentials.update(&config.data_dir, |c| {
                scram_admin::alter(c, &deletions, &upsertions)
            })
        })
        .await;
    let results = match outcome {
        Ok(results) => results,
        Err(e) => {
            tracing::error!("AlterUserScramCredentials: could not persist the credentials: {e}");
            let message = format!("could not persist the credentials: {e}");
            let mut seen = std::collections::HashSet::new();
            users
                .into_iter()
                .filter(|u| seen.insert(u.clone()))
                .map(|u| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(str_bytes(&u))
                        .with_error_code(ResponseError::UnknownServerError.code())
                        .with_error_message(Some(str_bytes(&message)))
                })
                .collect()
        }
    };
    let response = AlterUserScramCredentialsResponse::default().with_results(results);
    Ok(encode(&shard.metrics, header, &response))
}
