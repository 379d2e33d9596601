//! SCRAM credentials (RFC 5802 / 7677), Kafka's way: per user and mechanism a random salt, an
//! iteration count, StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
//! ServerKey = HMAC(SaltedPassword, "Server Key"). No password and no SaltedPassword is kept:
//! PLAIN is verified by deriving StoredKey from the offered password and comparing.
//!
//! Persisted in `<data-dir>/meta/scram-credentials.json`, replaced whole and durably
//! (`metadata::file::replace_durably`). The primitives are the RustCrypto crates (sha2, hmac,
//! pbkdf2) behind `sluice_client::sasl::ScramAlgorithm`, shared with the client's side of
//! the exchange; nothing here is hand-written crypto.
//!
//! Loaded on the main thread at start-up; shards read it through [`SharedCredentials`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sluice_client::sasl::ScramAlgorithm;

/// Kafka's minimum SCRAM iteration count (`ScramMechanism.minIterations`), and its default.
pub const SCRAM_ITERATIONS_MIN: u32 = 4096;
/// Kafka's maximum (`ScramMechanism.maxIterations`): more makes every PLAIN check and every
/// credential change a long CPU stall.
pub const SCRAM_ITERATIONS_MAX: u32 = 16_384;
/// Salt bytes of a new credential.
pub const SCRAM_SALT_BYTES: usize = 32;

/// A SCRAM mechanism. Discriminants are Kafka's `ScramMechanism` type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256 = 1,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512 = 2,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(s: &str) -> Option<ScramMechanism> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn from_type(t: i8) -> Option<ScramMechanism> {
        Self::ALL.into_iter().find(|m| *m as i8 == t)
    }

    /// The hash and RFC 5802 functions of this mechanism (shared with the client library).
    pub fn algorithm(self) -> ScramAlgorithm {
        match self {
            ScramMechanism::Sha256 => ScramAlgorithm::Sha256,
            ScramMechanism::Sha512 => ScramAlgorithm::Sha512,
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        self.algorithm().hash(data)
    }

    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        self.algorithm().hmac(key, data)
    }

    /// Hi() of RFC 5802: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        self.algorithm().salted_password(password, salt, iterations)
    }
}

/// One user's credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    #[serde(with = "b64")]
    pub stored_key: Vec<u8>,
    #[serde(with = "b64")]
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    /// Derive from a password with `salt` (Kafka's `ScramFormatter.generateCredential`).
    pub fn derive(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let salted = mechanism.salted_password(password, salt, iterations);
        Self::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// From a SaltedPassword the client computed (AlterUserScramCredentials, KIP-554): only the
    /// keys derived from it are kept.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// A new credential with a fresh random salt.
    pub fn new(mechanism: ScramMechanism, password: &[u8], iterations: u32) -> ScramCredential {
        let mut salt = vec![0u8; SCRAM_SALT_BYTES];
        rand::Rng::fill(&mut rand::thread_rng(), salt.as_mut_slice());
        Self::derive(mechanism, password, &salt, iterations)
    }

    /// Whether `password` is this credential's password (constant-time comparison of the
    /// derived StoredKey).
    pub fn verify_password(&self, mechanism: ScramMechanism, password: &[u8]) -> bool {
        let d = Self::derive(mechanism, password, &self.salt, self.iterations);
        subtle::ConstantTimeEq::ct_eq(d.stored_key.as_slice(), self.stored_key.as_slice()).into()
    }
}

/// Every user's credentials, as persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// Secret that makes unknown users' fake SCRAM salts stable and unguessable, so a client
    /// cannot tell an unknown user from a known one by its salt.
    #[serde(with = "b64")]
    pub fake_salt_secret: Vec<u8>,
    pub users: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
}

impl Credentials {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("meta").join("scram-credentials.json")
    }

    /// Load from `data_dir` (empty if the file does not exist yet).
    pub fn load(data_dir: &Path) -> std::io::Result<Credentials> {
        let path = Self::path(data_dir);
        let mut c: Credentials = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Credentials::default(),
            Err(e) => return Err(e),
        };
        if c.fake_salt_secret.is_empty() {
            c.fake_salt_secret = vec![0u8; 32];
            rand::Rng::fill(&mut rand::thread_rng(), c.fake_salt_secret.as_mut_slice());
        }
        Ok(c)
    }

    /// Write to `data_dir` durably (blocking: start-up, the offline CLI, or the blocking pool).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = Self::path(data_dir);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::metadata::file::replace_durably(&path, &bytes)
    }

    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.users.get(user)?.get(&mechanism)
    }

    /// The salt and iterations told to a client that names an unknown user: derived from the
    /// name with a secret, so they look like a real user's and stay the same on every try.
    pub fn fake(&self, user: &str, mechanism: ScramMechanism) -> (Vec<u8>, u32) {
        let mut salt = mechanism.hmac(&self.fake_salt_secret, user.as_bytes());
        salt.truncate(SCRAM_SALT_BYTES);
        (salt, SCRAM_ITERATIONS_MIN)
    }

    /// Verify a PLAIN username and password against the user's SCRAM credentials (SHA-512
    /// first, else SHA-256). False for an unknown user, at the cost of a real derivation, so
    /// the time taken does not tell whether the user exists.
    pub fn verify_plain(&self, user: &str, password: &[u8]) -> bool {
        let found = ScramMechanism::ALL
            .into_iter()
            .rev()
            .find_map(|m| self.get(user, m).map(|c| (m, c)));
        match found {
            Some((m, c)) => c.verify_password(m, password),
            None => {
                let (salt, iterations) = self.fake(user, ScramMechanism::Sha512);
                let _ =
                    ScramCredential::derive(ScramMechanism::Sha512, password, &salt, iterations);
                false
            }
        }
    }
}

/// The credentials every shard reads. Replaced whole (an `Arc` swap) when they change; a
/// reader holds the lock only to clone the `Arc`. One per broker, shared by every shard (and
/// by the SASL listeners' settings); changes go through [`SharedCredentials::update`].
#[derive(Debug, Default)]
pub struct SharedCredentials {
    current: RwLock<Arc<Credentials>>,
    /// Held by [`SharedCredentials::update`] from reading the current credentials to publishing
    /// the next: one change at a time, broker-wide, so concurrent changes from different
    /// shards never lose each other's update.
    writer: Mutex<()>,
}

impl SharedCredentials {
    pub fn new(c: Credentials) -> SharedCredentials {
        SharedCredentials {
            current: RwLock::new(Arc::new(c)),
            writer: Mutex::new(()),
        }
    }

    pub fn current(&self) -> Arc<Credentials> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, c: Arc<Credentials>) {
        match self.current.write() {
            Ok(mut g) => *g = c,
            Err(poisoned) => *poisoned.into_inner() = c,
        }
    }

    /// Apply `change` to a copy of the current credentials; if it changed any user, write the
    /// copy to `data_dir` durably and only then publish it, so every shard's next
    /// authentication sees it. A failed write publishes nothing. Blocking (it fsyncs): call it
    /// on a blocking pool, never on a shard's thread.
    pub fn update<R>(
        &self,
        data_dir: &Path,
        change: impl FnOnce(&mut Credentials) -> R,
    ) -> std::io::Result<R> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current();
        let mut next = Credentials::clone(&current);
        let r = change(&mut next);
        if next.users != current.users {
            next.save(data_dir)?;
            self.replace(Arc::new(next));
        }
        Ok(r)
    }
}

mod b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 section 3: user "user", password "pencil", 4096 iterations.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let c = ScramCredential::derive(ScramMechanism::Sha256, b"pencil", &salt, 4096);
        let salted = ScramMechanism::Sha256.salted_password(b"pencil", &salt, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let client_key = ScramMechanism::Sha256.hmac(&salted, b"Client Key");
        let sig = ScramMechanism::Sha256.hmac(&c.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(
            B64.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_sig = ScramMechanism::Sha256.hmac(&c.server_key, auth.as_bytes());
        assert_eq!(
            B64.encode(server_sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(c.verify_password(ScramMechanism::Sha256, b"pencil"));
        assert!(!c.verify_password(ScramMechanism::Sha256, b"pencil2"));
    }

    #[test]
    fn round_trips_and_fakes_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Credentials::load(dir.path()).unwrap();
        let mut m = BTreeMap::new();
        m.insert(
            ScramMechanism::Sha512,
            ScramCredential::new(ScramMechanism::Sha512, b"pw", 4096),
        );
        c.users.insert("alice".into(), m);
        c.save(dir.path()).unwrap();
        let back = Credentials::load(dir.path()).unwrap();
        assert_eq!(back.users, c.users);
        assert!(back.verify_plain("alice", b"pw"));
        assert!(!back.verify_plain("alice", b"no"));
        assert!(!back.verify_plain("bob", b"pw"));
        assert_eq!(
            back.fake("bob", ScramMechanism::Sha256),
            c.fake("bob", ScramMechanism::Sha256)
        );
        let text = std::fs::read_to_string(Credentials::path(dir.path())).unwrap();
        assert!(!text.contains("\"pw\""), "no plaintext password is stored");
    }
}
