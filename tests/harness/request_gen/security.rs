//! SASL, SCRAM credential, client quota and ACL requests.

use bytes::Bytes;

use super::*;

/// The request body of API `key` at version `v` if it is one of this family's (`None`:
/// another family's), as `super::body` builds it.
pub(super) fn body(
    c: &mut Choices,
    _ctx: &Context,
    key: ApiKey,
    v: i16,
    _stats: &mut Stats,
    _joined: &mut Option<String>,
) -> Option<Option<BytesMut>> {
    let body = match key {
        // On a PLAINTEXT listener both are answered ILLEGAL_SASL_STATE; the decoders are what
        // is fuzzed (tests/sasl.rs covers the SASL listener's state machine).
        ApiKey::SaslHandshake => enc(
            SaslHandshakeRequest::default().with_mechanism(match c.below(3) {
                0 => s(c.pick(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"])),
                _ => short_text(c),
            }),
            v,
        ),
        ApiKey::SaslAuthenticate => enc(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from(short_text(c).to_string().into_bytes())),
            v,
        ),
        ApiKey::DescribeUserScramCredentials => enc(
            DescribeUserScramCredentialsRequest::default().with_users(nullable_list(c, |c| {
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(scram_user(c))
            })),
            v,
        ),
        // Upsertions in Kafka's bounds are persisted (an fsync each): few users, so the
        // credentials file stays small however long the run.
        ApiKey::AlterUserScramCredentials => enc(
            AlterUserScramCredentialsRequest::default()
                .with_deletions(few(c, |c| {
                    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                        .with_name(scram_user(c))
                        .with_mechanism(int8(c, 0..=3))
                }))
                .with_upsertions(few(c, |c| {
                    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                        .with_name(s(c.pick(&["fuzz-a", "fuzz-b", "fuzz-c", ""])))
                        .with_mechanism(int8(c, 0..=3))
                        .with_iterations(match c.below(4) {
                            0 => c.pick(&[0, -1, 4095, 16_385, i32::MIN, i32::MAX]),
                            _ => 4096 + c.below(4) as i32,
                        })
                        .with_salt(Bytes::from(short_text(c).to_string().into_bytes()))
                        .with_salted_password(Bytes::from(short_text(c).to_string().into_bytes()))
                })),
            v,
        ),
        // Client quotas: a few entities (each alteration that passes is persisted, an fsync),
        // valid and invalid entity types, keys, match types and values (never a bound the run
        // could reach).
        ApiKey::DescribeClientQuotas => enc(
            DescribeClientQuotasRequest::default()
                .with_components(few(c, |c| {
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(quota_entity_type(c))
                        .with_match_type(int8(c, 0..=3))
                        .with_match(if c.one_in(3) {
                            None
                        } else {
                            Some(quota_name(c))
                        })
                }))
                .with_strict(c.one_in(2)),
            v,
        ),
        ApiKey::AlterClientQuotas => enc(
            AlterClientQuotasRequest::default()
                .with_entries(few(c, |c| {
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(few(c, |c| {
                            alter_client_quotas_request::EntityData::default()
                                .with_entity_type(quota_entity_type(c))
                                .with_entity_name(if c.one_in(3) {
                                    None
                                } else {
                                    Some(quota_name(c))
                                })
                        }))
                        .with_ops(few(c, |c| {
                            alter_client_quotas_request::OpData::default()
                                .with_key(s(c.pick(&[
                                    "producer_byte_rate",
                                    "consumer_byte_rate",
                                    "request_percentage",
                                    "bogus",
                                ])))
                                // Every value that passes is huge: a quota the run's
                                // clients could reach would mute them and fail its checks.
                                .with_value(c.pick(&[
                                    1e12,
                                    0.0,
                                    -1.0,
                                    1e9 + 0.5,
                                    f64::NAN,
                                    f64::INFINITY,
                                ]))
                                .with_remove(c.one_in(3))
                        }))
                }))
                .with_validate_only(c.one_in(3)),
            v,
        ),
        // ACL bindings: few, from small sets of names, so the store stays small (each change
        // is persisted with an fsync); the codes range over valid, filter-only and unknown.
        ApiKey::CreateAcls => enc(
            CreateAclsRequest::default().with_creations(few(c, |c| {
                create_acls_request::AclCreation::default()
                    .with_resource_type(int8(c, 0..=7))
                    .with_resource_name(acl_name(c))
                    .with_resource_pattern_type(int8(c, 0..=4))
                    .with_principal(acl_principal(c))
                    .with_host(s(c.pick(&["*", "127.0.0.1", "::1", ""])))
                    .with_operation(int8(c, 0..=15))
                    .with_permission_type(int8(c, 0..=3))
            })),
            v,
        ),
        ApiKey::DescribeAcls => {
            let name = (!c.one_in(3)).then(|| acl_name(c));
            let principal = c.one_in(3).then(|| acl_principal(c));
            enc(
                DescribeAclsRequest::default()
                    .with_resource_type_filter(int8(c, 0..=7))
                    .with_resource_name_filter(name)
                    .with_pattern_type_filter(int8(c, 0..=4))
                    .with_principal_filter(principal)
                    .with_host_filter(c.one_in(4).then(|| s("*")))
                    .with_operation(int8(c, 0..=15))
                    .with_permission_type(int8(c, 0..=3)),
                v,
            )
        }
        ApiKey::DeleteAcls => enc(
            DeleteAclsRequest::default().with_filters(few(c, |c| {
                let name = (!c.one_in(3)).then(|| acl_name(c));
                let principal = c.one_in(3).then(|| acl_principal(c));
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(int8(c, 0..=7))
                    .with_resource_name_filter(name)
                    .with_pattern_type_filter(int8(c, 0..=4))
                    .with_principal_filter(principal)
                    .with_host_filter(c.one_in(4).then(|| s("*")))
                    .with_operation(int8(c, 0..=15))
                    .with_permission_type(int8(c, 0..=3))
            })),
            v,
        ),
        _ => return None,
    };
    Some(body)
}

fn quota_entity_type(c: &mut Choices) -> StrBytes {
    s(c.pick(&["user", "client-id", "ip", "topic", ""]))
}

fn quota_name(c: &mut Choices) -> StrBytes {
    match c.below(4) {
        0 => short_text(c),
        _ => s(c.pick(&["fuzz-a", "fuzz-b", ""])),
    }
}

fn acl_name(c: &mut Choices) -> StrBytes {
    match c.below(6) {
        0 => s(c.pick(&["*", "", "kafka-cluster", "fz-"])),
        _ => s(&topic_text(c)),
    }
}

fn acl_principal(c: &mut Choices) -> StrBytes {
    s(c.pick(&["User:*", "User:ANONYMOUS", "User:fz", "fz", ":x", ""]))
}

fn scram_user(c: &mut Choices) -> StrBytes {
    match c.below(4) {
        0 => short_text(c),
        _ => s(c.pick(&["fuzz-a", "fuzz-b", "fuzz-c", ""])),
    }
}
