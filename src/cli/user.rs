//! `sluice user create|delete|list`: SCRAM users.
//!
//! - With `--data-dir DIR`: of a stopped broker's data directory (as kafka-storage.sh's
//!   `--add-scram` formats them before the first start). Refused while a broker holds the data
//!   directory's lock.
//! - Without: of the running broker at `--brokers` (any Kafka broker), through
//!   DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554, as kafka-configs.sh
//!   `--entity-type users --alter --add-config SCRAM-SHA-512=[...]`): the client salts the
//!   password and sends only the salted password, never the password.
//!
//! A new password comes from `--password-file` or stdin, never from the command line.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use sluice_client::{Client, ClientError};

use crate::security::credentials::{
    Credentials, ScramCredential, ScramMechanism, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN,
    SCRAM_SALT_BYTES,
};

#[derive(Args, Debug)]
pub struct UserCommand {
    /// The data directory of a stopped broker. Without it: the running broker at --brokers.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub opts: super::ClientOpts,
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Create a user (or replace its password) with SCRAM credentials.
    Create {
        name: String,
        /// SCRAM mechanisms to store credentials for (PLAIN is checked against them).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "SCRAM-SHA-256,SCRAM-SHA-512"
        )]
        mechanism: Vec<String>,
        /// PBKDF2 iterations (Kafka's 4096 to 16384).
        #[arg(long, default_value_t = SCRAM_ITERATIONS_MIN)]
        iterations: u32,
        /// Read the password from this file (its first line), or stdin's with `-`; default:
        /// stdin's first line.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Delete a user's credentials (every mechanism).
    Delete { name: String },
    /// List users and their mechanisms.
    List,
}

/// Run `sluice user`: offline with `--data-dir`, else online.
pub fn run(c: UserCommand) -> Result<(), ClientError> {
    match c.data_dir.clone() {
        Some(dir) => {
            let o = &c.opts;
            if o.security_protocol.is_some()
                || o.sasl_mechanism.is_some()
                || o.sasl_username.is_some()
                || o.sasl_password_file.is_some()
                || o.command_config.is_some()
                || o.ssl_ca.is_some()
            {
                return Err(ClientError::Usage(
                    "--data-dir works on a stopped broker's files: connection options (--brokers' \
                     security) don't apply; leave out --data-dir to change a running broker's users"
                        .into(),
                ));
            }
            run_offline(&dir, c.action).map_err(ClientError::Usage)
        }
        None => run_online(&c.opts, c.action),
    }
}

fn check_create(
    name: &str,
    mechanism: &[String],
    iterations: u32,
) -> Result<Vec<ScramMechanism>, String> {
    check_name(name)?;
    if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
        return Err(format!(
            "--iterations must be between {SCRAM_ITERATIONS_MIN} and {SCRAM_ITERATIONS_MAX}"
        ));
    }
    mechanism
        .iter()
        .map(|m| {
            ScramMechanism::from_name(&m.trim().to_ascii_uppercase()).ok_or_else(|| {
                format!("unknown SCRAM mechanism {m:?} (SCRAM-SHA-256, SCRAM-SHA-512)")
            })
        })
        .collect()
}

fn run_offline(data_dir: &Path, action: UserAction) -> Result<(), String> {
    let _lock = lock(data_dir)?;
    let mut creds = Credentials::load(data_dir).map_err(|e| e.to_string())?;
    match action {
        UserAction::Create {
            name,
            mechanism,
            iterations,
            password_file,
        } => {
            let mechanisms = check_create(&name, &mechanism, iterations)?;
            let password = read_password(password_file.as_deref())?;
            if creds.users.len() >= crate::limits::SCRAM_USERS_MAX
                && !creds.users.contains_key(&name)
            {
                return Err(format!(
                    "there are {} users already, the most a broker keeps (SCRAM_USERS_MAX)",
                    creds.users.len()
                ));
            }
            let entry = creds.users.entry(name.clone()).or_default();
            for m in mechanisms {
                entry.insert(m, ScramCredential::new(m, password.as_bytes(), iterations));
            }
            creds.save(data_dir).map_err(|e| e.to_string())?;
            println!("created user {name}");
        }
        UserAction::Delete { name } => {
            if creds.users.remove(&name).is_none() {
                return Err(format!("no user {name:?}"));
            }
            creds.save(data_dir).map_err(|e| e.to_string())?;
            println!("deleted user {name}");
        }
        UserAction::List => print_users(
            super::Format::Table,
            creds.users.iter().map(|(name, mechs)| {
                (
                    name.as_str(),
                    mechs
                        .iter()
                        .map(|(m, c)| (m.name().to_string(), c.iterations as i32))
                        .collect(),
                )
            }),
        ),
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > crate::limits::SCRAM_USER_NAME_BYTES_MAX {
        return Err(format!(
            "a user name must be 1 to {} bytes",
            crate::limits::SCRAM_USER_NAME_BYTES_MAX
        ));
    }
    Ok(())
}

/// The first line of `file` (stdin for `-`), or of stdin.
fn read_password(file: Option<&Path>) -> Result<String, String> {
    let password =
        crate::cli::security::read_secret(file.unwrap_or(Path::new("-")), "the password").map_err(
            |e| match e {
                ClientError::Usage(m) => m,
                other => other.to_string(),
            },
        )?;
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(password)
}

/// Newest versions of the SCRAM admin APIs this command fills in (both have only v0).
const SCRAM_ADMIN_VERSION_MAX: i16 = 0;

fn run_online(opts: &super::ClientOpts, action: UserAction) -> Result<(), ClientError> {
    use bytes::Bytes;
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use kafka_protocol::messages::AlterUserScramCredentialsRequest;
    use kafka_protocol::protocol::StrBytes;

    let usage = ClientError::Usage;
    match action {
        UserAction::Create {
            name,
            mechanism,
            iterations,
            password_file,
        } => {
            let mechanisms = check_create(&name, &mechanism, iterations).map_err(usage)?;
            let new_from_stdin = password_file.as_deref().is_none_or(|f| f == Path::new("-"));
            if new_from_stdin && opts.password_from_stdin() {
                return Err(ClientError::Usage(
                    "the SASL password and the new user's password can't both come from stdin: \
                     give one with a file (--sasl-password-file FILE or --password-file FILE)"
                        .into(),
                ));
            }
            let mut client = opts.client()?;
            // Connect (and authenticate) before asking for the password, so a bad connection
            // fails before anything is typed.
            client.controller()?;
            let password = read_password(password_file.as_deref()).map_err(usage)?;
            // One request per mechanism: Kafka refuses a user named twice in one request
            // (DUPLICATE_RESOURCE), whatever the mechanisms.
            for m in &mechanisms {
                let mut salt = vec![0u8; SCRAM_SALT_BYTES];
                rand::Rng::fill(&mut rand::thread_rng(), salt.as_mut_slice());
                let salted = m.salted_password(password.as_bytes(), &salt, iterations);
                let upsertion = ScramCredentialUpsertion::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_mechanism(*m as i8)
                    .with_iterations(iterations as i32)
                    .with_salt(Bytes::from(salt))
                    .with_salted_password(Bytes::from(salted));
                alter(
                    &mut client,
                    AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]),
                    &name,
                )?;
            }
            println!("created user {name}");
        }
        UserAction::Delete { name } => {
            let mut client = opts.client()?;
            let described = describe(&mut client, Some(&name))?;
            for (_, mechanisms) in &described {
                for (m, _) in mechanisms {
                    let deletion = ScramCredentialDeletion::default()
                        .with_name(StrBytes::from_string(name.clone()))
                        .with_mechanism(*m);
                    alter(
                        &mut client,
                        AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]),
                        &name,
                    )?;
                }
            }
            println!("deleted user {name}");
        }
        UserAction::List => {
            let mut client = opts.client()?;
            let users = describe(&mut client, None)?;
            print_users(
                opts.format,
                users.iter().map(|(name, mechanisms)| {
                    (
                        name.as_str(),
                        mechanisms
                            .iter()
                            .map(|(m, i)| {
                                (
                                    ScramMechanism::from_type(*m).map_or_else(
                                        || format!("UNKNOWN({m})"),
                                        |m| m.name().to_string(),
                                    ),
                                    *i,
                                )
                            })
                            .collect(),
                    )
                }),
            );
        }
    }
    Ok(())
}

/// A user and its (mechanism type, iterations).
type Described = (String, Vec<(i8, i32)>);

/// DescribeUserScramCredentials for `user` (None: every user).
fn describe(client: &mut Client, user: Option<&str>) -> Result<Vec<Described>, ClientError> {
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    use kafka_protocol::messages::DescribeUserScramCredentialsRequest;
    use kafka_protocol::protocol::StrBytes;
    let request = DescribeUserScramCredentialsRequest::default().with_users(
        user.map(|u| vec![UserName::default().with_name(StrBytes::from_string(u.to_string()))]),
    );
    let (_, response) = client
        .controller()?
        .call(&request, SCRAM_ADMIN_VERSION_MAX)?;
    ClientError::check(
        response.error_code,
        response.error_message.as_deref(),
        "DescribeUserScramCredentials",
    )?;
    response
        .results
        .iter()
        .map(|r| {
            ClientError::check(
                r.error_code,
                r.error_message.as_deref(),
                format!("user {}", r.user.as_str()),
            )?;
            Ok((
                r.user.to_string(),
                r.credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect(),
            ))
        })
        .collect()
}

/// Send an AlterUserScramCredentials for one user; its per-user error, if any.
fn alter(
    client: &mut Client,
    request: kafka_protocol::messages::AlterUserScramCredentialsRequest,
    name: &str,
) -> Result<(), ClientError> {
    let (_, response) = client
        .controller()?
        .call(&request, SCRAM_ADMIN_VERSION_MAX)?;
    let mut errors: Vec<ClientError> = response
        .results
        .iter()
        .filter_map(|r| {
            ClientError::check(
                r.error_code,
                r.error_message.as_deref(),
                format!("user {}", r.user.as_str()),
            )
            .err()
        })
        .collect();
    match errors.len() {
        0 if response.results.is_empty() => Err(ClientError::Protocol(format!(
            "AlterUserScramCredentials answered nothing for user {name}"
        ))),
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(ClientError::Several(errors)),
    }
}

/// One line per user, `NAME<TAB>MECHANISM(iterations=N),...`, or a JSON array.
fn print_users<'a>(
    format: super::Format,
    users: impl Iterator<Item = (&'a str, Vec<(String, i32)>)>,
) {
    for (name, mechanisms) in users {
        match format {
            super::Format::Json => {
                let m: Vec<serde_json::Value> = mechanisms
                    .iter()
                    .map(|(m, i)| serde_json::json!({"mechanism": m, "iterations": i}))
                    .collect();
                println!("{}", serde_json::json!({"user": name, "credentials": m}));
            }
            _ => {
                let m: Vec<String> = mechanisms
                    .iter()
                    .map(|(m, i)| format!("{m}(iterations={i})"))
                    .collect();
                println!("{name}\t{}", m.join(","));
            }
        }
    }
}

/// Take the data directory's lock (the one `sluice serve` holds): refused while a broker runs.
fn lock(dir: &Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let f =
        std::fs::File::create(dir.join(".lock")).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "{} is in use by a running broker: stop it first",
            dir.display()
        ));
    }
    Ok(f)
}
