//! `sluice user create|delete|list --data-dir DIR`: SCRAM users of a stopped broker (as
//! kafka-storage.sh's `--add-scram` formats them before the first start). The password comes
//! from `--password-file` or stdin, never from the command line. Refused while a broker holds
//! the data directory's lock.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::security::credentials::{
    Credentials, ScramCredential, ScramMechanism, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN,
};

#[derive(Args, Debug)]
pub struct UserCommand {
    /// The data directory of a stopped broker.
    #[arg(long)]
    pub data_dir: PathBuf,
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
        /// Read the password from this file (its first line); default: stdin's first line.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Delete a user's credentials.
    Delete { name: String },
    /// List users and their mechanisms.
    List,
}

pub fn run(c: UserCommand) -> Result<(), String> {
    let _lock = lock(&c.data_dir)?;
    let mut creds = Credentials::load(&c.data_dir).map_err(|e| e.to_string())?;
    match c.action {
        UserAction::Create {
            name,
            mechanism,
            iterations,
            password_file,
        } => {
            check_name(&name)?;
            if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
                return Err(format!(
                    "--iterations must be between {SCRAM_ITERATIONS_MIN} and {SCRAM_ITERATIONS_MAX}"
                ));
            }
            let mechanisms = mechanism
                .iter()
                .map(|m| {
                    ScramMechanism::from_name(&m.trim().to_ascii_uppercase())
                        .ok_or_else(|| format!("unknown SCRAM mechanism {m:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let password = read_password(password_file.as_deref())?;
            let entry = creds.users.entry(name.clone()).or_default();
            for m in mechanisms {
                entry.insert(m, ScramCredential::new(m, password.as_bytes(), iterations));
            }
            creds.save(&c.data_dir).map_err(|e| e.to_string())?;
            println!("created user {name}");
        }
        UserAction::Delete { name } => {
            if creds.users.remove(&name).is_none() {
                return Err(format!("no user {name:?}"));
            }
            creds.save(&c.data_dir).map_err(|e| e.to_string())?;
            println!("deleted user {name}");
        }
        UserAction::List => {
            for (name, mechs) in &creds.users {
                let m: Vec<String> = mechs
                    .iter()
                    .map(|(m, c)| format!("{}(iterations={})", m.name(), c.iterations))
                    .collect();
                println!("{name}\t{}", m.join(","));
            }
        }
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

/// The first line of `file`, or of stdin.
fn read_password(file: Option<&Path>) -> Result<String, String> {
    let mut text = String::new();
    match file {
        Some(f) => {
            text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        }
        None => {
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut text)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
        }
    }
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(password)
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
