//! The SCRAM credential admin APIs' semantics (KIP-554), Kafka's way: DescribeUserScramCredentials
//! reads the credentials, AlterUserScramCredentials changes them. Pure functions over
//! [`Credentials`]; the handlers run [`alter`] inside `SharedCredentials::update` (one change at
//! a time, persisted before it is published).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::protocol::StrBytes;

use crate::limits::SCRAM_USERS_MAX;

use super::credentials::{
    Credentials, ScramCredential, ScramMechanism, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN,
};

/// A per-user error: code and message.
type Failure = (ResponseError, String);

fn described(
    user: &str,
    mechanisms: &BTreeMap<ScramMechanism, ScramCredential>,
) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_string()))
        .with_credential_infos(
            mechanisms
                .iter()
                .map(|(m, c)| {
                    CredentialInfo::default()
                        .with_mechanism(*m as i8)
                        .with_iterations(c.iterations as i32)
                })
                .collect(),
        )
}

fn failed(user: &str, (code, message): Failure) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_string()))
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}

/// DescribeUserScramCredentials: every user when `users` is null or empty (Kafka's rule), else
/// each named user once, in the order named: RESOURCE_NOT_FOUND for an unknown one,
/// DUPLICATE_RESOURCE for one named twice. Mechanisms and iterations only, never salts or keys.
pub fn describe(
    credentials: &Credentials,
    users: Option<&[UserName]>,
) -> Vec<DescribeUserScramCredentialsResult> {
    let users = users.unwrap_or_default();
    if users.is_empty() {
        return credentials
            .users
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(user, m)| described(user, m))
            .collect();
    }
    let mut times: HashMap<&str, usize> = HashMap::new();
    for u in users {
        *times.entry(u.name.as_str()).or_default() += 1;
    }
    let mut out = Vec::new();
    for u in users {
        let name = u.name.as_str();
        let Some(n) = times.remove(name) else {
            continue; // already answered
        };
        out.push(if n > 1 {
            failed(
                name,
                (
                    ResponseError::DuplicateResource,
                    format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                    ),
                ),
            )
        } else {
            match credentials.users.get(name).filter(|m| !m.is_empty()) {
                Some(m) => described(name, m),
                None => failed(
                    name,
                    (
                        ResponseError::ResourceNotFound,
                        format!("Attempt to describe a user credential that does not exist: {name}"),
                    ),
                ),
            }
        });
    }
    out
}

fn duplicate() -> Failure {
    (
        ResponseError::DuplicateResource,
        "A user credential cannot be altered twice in the same request".into(),
    )
}

fn mechanism(name: &str, mechanism: i8) -> Result<ScramMechanism, Failure> {
    if name.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty".into(),
        ));
    }
    ScramMechanism::from_type(mechanism).ok_or((
        ResponseError::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism".into(),
    ))
}

fn check_deletion(c: &Credentials, d: &ScramCredentialDeletion) -> Result<ScramMechanism, Failure> {
    let m = mechanism(&d.name, d.mechanism)?;
    if c.get(&d.name, m).is_none() {
        return Err((
            ResponseError::ResourceNotFound,
            "Attempt to delete a user credential that does not exist".into(),
        ));
    }
    Ok(m)
}

fn check_upsertion(u: &ScramCredentialUpsertion) -> Result<(ScramMechanism, u32), Failure> {
    let m = mechanism(&u.name, u.mechanism)?;
    let unacceptable = |why: &str| Err((ResponseError::UnacceptableCredential, why.to_string()));
    if u.iterations < SCRAM_ITERATIONS_MIN as i32 {
        return unacceptable("Too few iterations");
    }
    if u.iterations > SCRAM_ITERATIONS_MAX as i32 {
        return unacceptable("Too many iterations");
    }
    if u.salt.is_empty() {
        return unacceptable("Salt must not be empty");
    }
    if u.salted_password.is_empty() {
        return unacceptable("Salted password must not be empty");
    }
    Ok((m, u.iterations as u32))
}

enum Change {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, ScramCredential),
}

/// AlterUserScramCredentials, applied to `c` (Kafka's `ScramControlManager.alterCredentials`):
/// a user named twice, in either list or both, fails with DUPLICATE_RESOURCE and nothing of it
/// changes; each other alteration is checked on its own (unknown mechanism, iterations outside
/// 4096..=16384, deleting what doesn't exist) and applied if valid. One result per user, in the
/// order first named. A new user past [`SCRAM_USERS_MAX`] is refused UNACCEPTABLE_CREDENTIAL
/// (the error this API has for a credential the broker won't accept; Kafka has no such bound).
pub fn alter(
    c: &mut Credentials,
    deletions: &[ScramCredentialDeletion],
    upsertions: &[ScramCredentialUpsertion],
) -> Vec<AlterUserScramCredentialsResult> {
    let mut order: Vec<&str> = Vec::new();
    let mut errors: HashMap<&str, Failure> = HashMap::new();
    let mut changes: HashMap<&str, Change> = HashMap::new();
    for d in deletions {
        let name = d.name.as_str();
        if !errors.contains_key(name) && !changes.contains_key(name) {
            order.push(name);
        }
        if errors.contains_key(name) {
            continue;
        }
        if changes.remove(name).is_some() {
            errors.insert(name, duplicate());
            continue;
        }
        match check_deletion(c, d) {
            Ok(m) => {
                changes.insert(name, Change::Delete(m));
            }
            Err(e) => {
                errors.insert(name, e);
            }
        }
    }
    for u in upsertions {
        let name = u.name.as_str();
        if !errors.contains_key(name) && !changes.contains_key(name) {
            order.push(name);
        }
        if errors.contains_key(name) {
            continue;
        }
        if changes.remove(name).is_some() {
            errors.insert(name, duplicate());
            continue;
        }
        match check_upsertion(u) {
            Ok((m, iterations)) => {
                let credential = ScramCredential::from_salted_password(
                    m,
                    &u.salted_password,
                    &u.salt,
                    iterations,
                );
                changes.insert(name, Change::Upsert(m, credential));
            }
            Err(e) => {
                errors.insert(name, e);
            }
        }
    }
    let mut results = Vec::with_capacity(order.len());
    for name in order {
        let mut result = AlterUserScramCredentialsResult::default()
            .with_user(StrBytes::from_string(name.into()));
        if let Some((code, message)) = errors.remove(name) {
            result = result
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(message)));
        } else if let Some(change) = changes.remove(name) {
            match change {
                Change::Delete(m) => {
                    if let Some(user) = c.users.get_mut(name) {
                        user.remove(&m);
                        if user.is_empty() {
                            c.users.remove(name);
                        }
                    }
                }
                Change::Upsert(m, credential) => {
                    if !c.users.contains_key(name) && c.users.len() >= SCRAM_USERS_MAX {
                        result = result
                            .with_error_code(ResponseError::UnacceptableCredential.code())
                            .with_error_message(Some(StrBytes::from_string(format!(
                                "The broker stores at most {SCRAM_USERS_MAX} SCRAM users; \
                                 delete one before adding {name}"
                            ))));
                    } else {
                        c.users
                            .entry(name.to_string())
                            .or_default()
                            .insert(m, credential);
                    }
                }
            }
        }
        results.push(result);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_string())
    }

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
        ScramCredentialUpsertion::default()
            .with_name(s(name))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(Bytes::from_static(b"salt"))
            .with_salted_password(Bytes::from_static(b"salted"))
    }

    fn delete(name: &str, mechanism: i8) -> ScramCredentialDeletion {
        ScramCredentialDeletion::default()
            .with_name(s(name))
            .with_mechanism(mechanism)
    }

    fn codes(r: &[AlterUserScramCredentialsResult]) -> Vec<(String, i16)> {
        r.iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect()
    }

    #[test]
    fn alter_checks_each_user_and_applies_the_valid_ones() {
        let mut c = Credentials::default();
        let r = alter(
            &mut c,
            &[delete("ghost", 1)],
            &[
                upsert("alice", 2, 8192),
                upsert("few", 1, 4095),
                upsert("many", 1, 16_385),
                upsert("mech", 3, 4096),
                upsert("twice", 1, 4096),
                upsert("twice", 2, 4096),
                upsert("", 1, 4096),
            ],
        );
        assert_eq!(
            codes(&r),
            vec![
                ("ghost".into(), ResponseError::ResourceNotFound.code()),
                ("alice".into(), 0),
                ("few".into(), ResponseError::UnacceptableCredential.code()),
                ("many".into(), ResponseError::UnacceptableCredential.code()),
                (
                    "mech".into(),
                    ResponseError::UnsupportedSaslMechanism.code()
                ),
                ("twice".into(), ResponseError::DuplicateResource.code()),
                ("".into(), ResponseError::UnacceptableCredential.code()),
            ]
        );
        assert_eq!(c.users.keys().collect::<Vec<_>>(), vec!["alice"]);
        let stored = c.get("alice", ScramMechanism::Sha512).unwrap();
        assert_eq!(stored.iterations, 8192);
        assert_eq!(stored.salt, b"salt");

        let d = describe(&c, None);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].credential_infos[0].mechanism, 2);
        assert_eq!(d[0].credential_infos[0].iterations, 8192);
        let names = [
            UserName::default().with_name(s("alice")),
            UserName::default().with_name(s("bob")),
            UserName::default().with_name(s("bob")),
        ];
        let d = describe(&c, Some(&names));
        let got: Vec<_> = d
            .iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect();
        assert_eq!(
            got,
            vec![
                ("alice".into(), 0),
                ("bob".into(), ResponseError::DuplicateResource.code())
            ]
        );

        let r = alter(&mut c, &[delete("alice", 2)], &[]);
        assert_eq!(codes(&r), vec![("alice".into(), 0)]);
        assert!(c.users.is_empty());
        let d = describe(&c, Some(&names[..1]));
        assert_eq!(d[0].error_code, ResponseError::ResourceNotFound.code());
    }

    #[test]
    fn new_users_past_the_limit_are_refused_existing_ones_still_change() {
        let mut c = Credentials::default();
        let full: Vec<_> = (0..SCRAM_USERS_MAX)
            .map(|i| upsert(&format!("u{i}"), 1, 4096))
            .collect();
        let r = alter(&mut c, &[], &full);
        assert!(r.iter().all(|r| r.error_code == 0));
        assert_eq!(c.users.len(), SCRAM_USERS_MAX);
        let r = alter(
            &mut c,
            &[],
            &[upsert("one-too-many", 1, 4096), upsert("u0", 2, 8192)],
        );
        assert_eq!(
            codes(&r),
            vec![
                (
                    "one-too-many".into(),
                    ResponseError::UnacceptableCredential.code()
                ),
                ("u0".into(), 0)
            ]
        );
        assert!(r[0]
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("at most")));
        assert_eq!(c.users.len(), SCRAM_USERS_MAX);
        // A deletion first makes room in the same request.
        let r = alter(&mut c, &[delete("u1", 1)], &[upsert("newcomer", 1, 4096)]);
        assert_eq!(codes(&r), vec![("u1".into(), 0), ("newcomer".into(), 0)]);
    }
}
