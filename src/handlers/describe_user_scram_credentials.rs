//! DescribeUserScramCredentials (key 50), v0: each user's SCRAM mechanisms and iteration counts
//! (never a salt or a key), from the broker's shared credentials (`security::scram_admin`).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    RequestHeader,
};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::{Authz, Denied};
use crate::security::scram_admin;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeUserScramCredentials,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request =
        DescribeUserScramCredentialsRequest::try_decode(body, header.request_api_version)?;
    if !Authz::new(shard, session).cluster(AclOperation::Describe) {
        let error = Denied::Cluster;
        let response = DescribeUserScramCredentialsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(super::str_bytes(error.message())));
        return Ok(encode(&shard.metrics, header, &response));
    }
    let credentials = shard.config.credentials.current();
    let response = DescribeUserScramCredentialsResponse::default().with_results(
        scram_admin::describe(&credentials, request.users.as_deref()),
    );
    Ok(encode(&shard.metrics, header, &response))
}
