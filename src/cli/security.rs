//! The client commands' security settings, Kafka's way: `--security-protocol`,
//! `--sasl-mechanism`, `--sasl-username`, the password from a file, stdin or
//! `SLUICE_SASL_PASSWORD` (never the command line), the `--ssl-*` files, and `--command-config`,
//! a Kafka client properties file as kafka-topics.sh reads it (Java properties syntax;
//! `sasl.jaas.config` with PlainLoginModule / ScramLoginModule, librdkafka's `sasl.username` /
//! `sasl.password` / `ssl.ca.location`, Kafka's PEM `ssl.truststore.location`). Flags override
//! the file. Runs on the CLI's main thread, once per command.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sluice_client::sasl::{SaslConfig, SaslMechanism};
use sluice_client::tls::ClientTls;
use sluice_client::ClientError;

use super::ClientOpts;
use crate::security::listener::SecurityProtocol;

/// The environment variable a SASL password may come from.
pub const PASSWORD_ENV: &str = "SLUICE_SASL_PASSWORD";

/// Largest `--command-config` file read, and largest password read from a file or stdin.
/// Read whole into memory; a properties file of client settings is a few hundred bytes.
const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

fn usage(m: impl Into<String>) -> ClientError {
    ClientError::Usage(m.into())
}

/// What the command connects with.
pub struct Security {
    pub tls: Option<ClientTls>,
    pub sasl: Option<SaslConfig>,
}

/// The password's first line of stdin, read at most once per process (so a second client of
/// the same command does not wait for a second line).
static STDIN_PASSWORD: OnceLock<Result<String, String>> = OnceLock::new();

/// The first line of stdin (leaving the rest to the command: `produce` reads records after it).
pub fn stdin_first_line(what: &str) -> Result<String, ClientError> {
    let got = STDIN_PASSWORD.get_or_init(|| {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(CONFIG_FILE_BYTES_MAX)
            .read_line(&mut line)
            .map_err(|e| format!("reading {what} from stdin: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    });
    got.clone().map_err(usage)
}

/// The first line of `file`, or of stdin for `-`.
pub fn read_secret(file: &Path, what: &str) -> Result<String, ClientError> {
    if file == Path::new("-") {
        return stdin_first_line(what);
    }
    let f = std::fs::File::open(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    let mut text = String::new();
    f.take(CONFIG_FILE_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(|e| usage(format!("{}: {e}", file.display())))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

impl ClientOpts {
    /// Whether the SASL password is to come from stdin (so a command reading other input from
    /// stdin knows its first line is taken).
    pub fn password_from_stdin(&self) -> bool {
        self.sasl_password_file.as_deref() == Some(Path::new("-"))
    }

    /// Resolve the TLS and SASL settings from the flags and `--command-config`.
    pub fn security(&self) -> Result<Security, ClientError> {
        let props = match &self.command_config {
            Some(path) => Properties::read(path)?,
            None => Properties::default(),
        };
        let from_file = props.security(self.command_config.as_deref())?;
        let protocol = match &self.security_protocol {
            Some(p) => Some(SecurityProtocol::parse(p).ok_or_else(|| {
                usage(format!(
                    "--security-protocol {p}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ))
            })?),
            None => from_file.protocol,
        };
        let mechanism = match &self.sasl_mechanism {
            Some(m) => Some(SaslMechanism::from_name(m).ok_or_else(|| {
                usage(format!(
                    "--sasl-mechanism {m}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 \
                     (GSSAPI and OAUTHBEARER are not supported)"
                ))
            })?),
            None => from_file.mechanism,
        };
        let username = self.sasl_username.clone().or(from_file.username);
        let ca = self.ssl_ca.clone().or(from_file.ca);
        let (certificate, key) = match (&self.ssl_certificate, &self.ssl_key) {
            (Some(c), Some(k)) => (Some(c.clone()), Some(k.clone())),
            _ => (from_file.certificate, from_file.key),
        };
        let sasl_given = mechanism.is_some()
            || username.is_some()
            || self.sasl_password_file.is_some()
            || from_file.password.is_some();
        // Without --security-protocol: what the other options imply (Kafka needs it spelled
        // out; nothing else is consistent with them).
        let protocol = protocol.unwrap_or(match (sasl_given, ca.is_some()) {
            (false, false) => SecurityProtocol::Plaintext,
            (false, true) => SecurityProtocol::Ssl,
            (true, false) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        });
        let tls = if protocol.is_tls() {
            let ca = ca.ok_or_else(|| {
                usage(format!(
                    "security protocol {} needs --ssl-ca FILE (or ssl.ca.location in \
                     --command-config): the CA certificates the broker's certificate chains to",
                    protocol.name()
                ))
            })?;
            let mtls = certificate.as_deref().zip(key.as_deref());
            Some(ClientTls::new(&ca, mtls)?)
        } else {
            if ca.is_some() || certificate.is_some() {
                return Err(usage(format!(
                    "--ssl-* options given but the security protocol is {}: use SSL or SASL_SSL",
                    protocol.name()
                )));
            }
            None
        };
        let sasl = if protocol.is_sasl() {
            let mechanism = mechanism.ok_or_else(|| {
                usage(format!(
                    "security protocol {} needs --sasl-mechanism (PLAIN, SCRAM-SHA-256 or \
                     SCRAM-SHA-512; Kafka's default GSSAPI is not supported)",
                    protocol.name()
                ))
            })?;
            if let Some(module) = from_file.jaas_module {
                if module.mechanism_is_scram() != (mechanism != SaslMechanism::Plain) {
                    return Err(usage(format!(
                        "sasl.jaas.config uses {} but the mechanism is {}",
                        module.class(),
                        mechanism.name()
                    )));
                }
            }
            let username = username.ok_or_else(|| {
                usage(format!(
                    "SASL needs --sasl-username (or username=\"...\" in sasl.jaas.config, or \
                     sasl.username in --command-config) with {}",
                    mechanism.name()
                ))
            })?;
            let password = match &self.sasl_password_file {
                Some(f) => read_secret(f, "the SASL password")?,
                None => match std::env::var(PASSWORD_ENV) {
                    Ok(p) => p,
                    Err(_) => from_file.password.ok_or_else(|| {
                        usage(format!(
                            "SASL needs a password: --sasl-password-file FILE (- for stdin), \
                             the {PASSWORD_ENV} environment variable, or password=\"...\" in \
                             --command-config's sasl.jaas.config"
                        ))
                    })?,
                },
            };
            Some(SaslConfig::new(mechanism, username, password)?)
        } else {
            if sasl_given {
                return Err(usage(format!(
                    "SASL options given but the security protocol is {}: use SASL_PLAINTEXT or \
                     SASL_SSL",
                    protocol.name()
                )));
            }
            None
        };
        Ok(Security { tls, sasl })
    }
}

/// A JAAS login module Kafka's clients use for SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginModule {
    Plain,
    Scram,
}

impl LoginModule {
    const PLAIN: &'static str = "org.apache.kafka.common.security.plain.PlainLoginModule";
    const SCRAM: &'static str = "org.apache.kafka.common.security.scram.ScramLoginModule";

    fn class(self) -> &'static str {
        match self {
            LoginModule::Plain => Self::PLAIN,
            LoginModule::Scram => Self::SCRAM,
        }
    }

    fn mechanism_is_scram(self) -> bool {
        self == LoginModule::Scram
    }
}

/// `sasl.jaas.config`: one login module, its control flag, its options.
#[derive(Debug, PartialEq, Eq)]
pub struct Jaas {
    pub module: LoginModule,
    pub options: BTreeMap<String, String>,
}

/// Parse a `sasl.jaas.config` value: `CLASS FLAG key=value ... ;` with values bare or in
/// double quotes (backslash escapes inside quotes), as Kafka's `JaasConfig` reads it.
pub fn parse_jaas(text: &str) -> Result<Jaas, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' || c == ';' {
            tokens.push((false, c.to_string()));
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("sasl.jaas.config: unterminated quoted value".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e) => s.push(e),
                        None => return Err("sasl.jaas.config: unterminated quoted value".into()),
                    },
                    Some(o) => s.push(o),
                }
            }
            tokens.push((true, s));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                    break;
                }
                s.push(c);
                chars.next();
            }
            tokens.push((false, s));
        }
    }
    let mut it = tokens.into_iter();
    let module = match it.next() {
        Some((false, class)) => match class.as_str() {
            LoginModule::PLAIN => LoginModule::Plain,
            LoginModule::SCRAM => LoginModule::Scram,
            other => {
                return Err(format!(
                    "sasl.jaas.config: login module {other} is not supported (PlainLoginModule \
                     or ScramLoginModule)"
                ))
            }
        },
        _ => return Err("sasl.jaas.config: no login module".into()),
    };
    match it.next() {
        Some((false, flag))
            if ["required", "requisite", "sufficient", "optional"]
                .contains(&flag.to_ascii_lowercase().as_str()) => {}
        _ => {
            return Err(
                "sasl.jaas.config: the login module's control flag (required) is missing".into(),
            )
        }
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some((false, semi)) if semi == ";" => break,
            Some((false, key)) if key != "=" => match (it.next(), it.next()) {
                (Some((false, eq)), Some((quoted, value)))
                    if eq == "=" && (quoted || (value != ";" && value != "=")) =>
                {
                    options.insert(key, value);
                }
                _ => return Err(format!("sasl.jaas.config: option {key} has no value")),
            },
            _ => return Err("sasl.jaas.config: expected key=value options ending with ';'".into()),
        }
    }
    if it.next().is_some() {
        return Err("sasl.jaas.config: only one login module is supported".into());
    }
    Ok(Jaas { module, options })
}

/// A Java properties file (`key=value`, `key: value` or `key value`; `#` and `!` comments;
/// a line ending in `\` continues; `\t \n \r \f \uXXXX` and `\x` escapes).
#[derive(Debug, Default)]
pub struct Properties(pub BTreeMap<String, String>);

/// What a properties file says about security.
#[derive(Debug, Default)]
pub struct FromFile {
    protocol: Option<SecurityProtocol>,
    mechanism: Option<SaslMechanism>,
    username: Option<String>,
    password: Option<String>,
    jaas_module: Option<LoginModule>,
    ca: Option<PathBuf>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Properties {
    pub fn read(path: &Path) -> Result<Properties, ClientError> {
        let f = std::fs::File::open(path)
            .map_err(|e| usage(format!("--command-config {}: {e}", path.display())))?;
        let mut text = String::new();
        f.take(CONFIG_FILE_BYTES_MAX + 1)
            .read_to_string(&mut text)
            .map_err(|e| usage(format!("--command-config {}: {e}", path.display())))?;
        if text.len() as u64 > CONFIG_FILE_BYTES_MAX {
            return Err(usage(format!(
                "--command-config {}: larger than {CONFIG_FILE_BYTES_MAX} bytes",
                path.display()
            )));
        }
        Ok(Properties::parse(&text))
    }

    pub fn parse(text: &str) -> Properties {
        let mut out = BTreeMap::new();
        let mut logical = String::new();
        let mut continuing = false;
        for line in text.lines() {
            let line = line.trim_start();
            if !continuing && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
                continue;
            }
            let trailing = line.len() - line.trim_end_matches('\\').len();
            if trailing % 2 == 1 {
                logical.push_str(&line[..line.len() - 1]);
                continuing = true;
                continue;
            }
            logical.push_str(line);
            continuing = false;
            let (k, v) = split_property(&logical);
            out.insert(unescape(k), unescape(v));
            logical.clear();
        }
        if !logical.is_empty() {
            let (k, v) = split_property(&logical);
            out.insert(unescape(k), unescape(v));
        }
        Properties(out)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The security settings the file holds. `path` names the file in errors.
    pub fn security(&self, path: Option<&Path>) -> Result<FromFile, ClientError> {
        let name = path.map_or_else(String::new, |p| p.display().to_string());
        let bad = |m: String| usage(format!("--command-config {name}: {m}"));
        let mut out = FromFile::default();
        if let Some(p) = self.get("security.protocol") {
            out.protocol = Some(SecurityProtocol::parse(p).ok_or_else(|| {
                bad(format!(
                    "security.protocol={p}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ))
            })?);
        }
        // Kafka's sasl.mechanism; librdkafka's sasl.mechanisms.
        if let Some(m) = self.get("sasl.mechanism").or(self.get("sasl.mechanisms")) {
            out.mechanism = Some(SaslMechanism::from_name(m).ok_or_else(|| {
                bad(format!(
                    "sasl.mechanism={m}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                ))
            })?);
        }
        if let Some(j) = self.get("sasl.jaas.config") {
            let jaas = parse_jaas(j).map_err(bad)?;
            out.jaas_module = Some(jaas.module);
            out.username = jaas.options.get("username").cloned();
            out.password = jaas.options.get("password").cloned();
        }
        if let Some(u) = self.get("sasl.username") {
            out.username = Some(u.to_string());
        }
        if let Some(p) = self.0.get("sasl.password").filter(|p| !p.is_empty()) {
            out.password = Some(p.clone());
        }
        out.ca = self.get("ssl.ca.location").map(PathBuf::from);
        if let Some(t) = self.get("ssl.truststore.location") {
            if !self
                .get("ssl.truststore.type")
                .is_some_and(|t| t.eq_ignore_ascii_case("PEM"))
            {
                return Err(bad(
                    "ssl.truststore.location needs ssl.truststore.type=PEM (JKS and PKCS12 \
                     trust stores are not read; ssl.ca.location takes a PEM file too)"
                        .into(),
                ));
            }
            out.ca = Some(PathBuf::from(t));
        }
        out.certificate = self.get("ssl.certificate.location").map(PathBuf::from);
        out.key = self.get("ssl.key.location").map(PathBuf::from);
        if let Some(k) = self.get("ssl.keystore.location") {
            if !self
                .get("ssl.keystore.type")
                .is_some_and(|t| t.eq_ignore_ascii_case("PEM"))
            {
                return Err(bad(
                    "ssl.keystore.location needs ssl.keystore.type=PEM (a file holding the \
                     certificate chain and its unencrypted key)"
                        .into(),
                ));
            }
            out.certificate = Some(PathBuf::from(k));
            out.key = Some(PathBuf::from(k));
        }
        if out.certificate.is_some() != out.key.is_some() {
            return Err(bad(
                "ssl.certificate.location and ssl.key.location go together".into(),
            ));
        }
        if self.get("ssl.key.password").is_some() || self.get("ssl.keystore.password").is_some() {
            // A PEM truststore needs no password; an encrypted key can't be read here.
            if out.key.is_some() {
                return Err(bad(
                    "encrypted private keys (ssl.key.password) are not supported: use an \
                     unencrypted PEM key"
                        .into(),
                ));
            }
        }
        if let Some(a) = self.0.get("ssl.endpoint.identification.algorithm") {
            if !a.trim().eq_ignore_ascii_case("https") {
                return Err(bad(
                    "ssl.endpoint.identification.algorithm: only https (the default) is \
                     supported; the broker's certificate must name the host connected to"
                        .into(),
                ));
            }
        }
        Ok(out)
    }
}

/// Split a logical line at the first unescaped `=`, `:` or whitespace (Java's rule).
fn split_property(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(line.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_as_java_reads_them() {
        let p = Properties::parse(
            "# comment\n! also\nsecurity.protocol=SASL_SSL\nsasl.mechanism : SCRAM-SHA-512\n\
             spaced   value here\nsasl.jaas.config=org.apache.kafka.common.security.scram.\\\n   \
             ScramLoginModule required \\\n    username=\"alice\" \\\n    password=\"a\\\\\\\"b\";\n\
             esc=tab\\there\\u0041\nkey\\=with\\:sep=v\nempty=\n",
        );
        assert_eq!(p.0["security.protocol"], "SASL_SSL");
        assert_eq!(p.0["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(p.0["spaced"], "value here");
        assert_eq!(p.0["esc"], "tab\thereA");
        assert_eq!(p.0["key=with:sep"], "v");
        assert_eq!(p.0["empty"], "");
        let jaas = parse_jaas(&p.0["sasl.jaas.config"]).unwrap();
        assert_eq!(jaas.module, LoginModule::Scram);
        assert_eq!(jaas.options["username"], "alice");
        assert_eq!(jaas.options["password"], "a\"b");
        let s = p.security(None).unwrap();
        assert_eq!(s.protocol, Some(SecurityProtocol::SaslSsl));
        assert_eq!(s.mechanism, Some(SaslMechanism::ScramSha512));
        assert_eq!(s.username.as_deref(), Some("alice"));
    }

    #[test]
    fn jaas_configs() {
        let j = parse_jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=bob \
             password=\"p w;=\";",
        )
        .unwrap();
        assert_eq!(j.module, LoginModule::Plain);
        assert_eq!(j.options["username"], "bob");
        assert_eq!(j.options["password"], "p w;=");
        for bad in [
            "",
            "com.sun.security.auth.module.Krb5LoginModule required;",
            "org.apache.kafka.common.security.plain.PlainLoginModule username=\"a\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\"",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"x",
            "org.apache.kafka.common.security.plain.PlainLoginModule required; x required;",
        ] {
            assert!(parse_jaas(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn librdkafka_and_truststore_keys() {
        let p = Properties::parse(
            "security.protocol=sasl_plaintext\nsasl.mechanisms=PLAIN\nsasl.username=u\n\
             sasl.password=p\nssl.truststore.location=/ca.pem\nssl.truststore.type=PEM\n",
        );
        let s = p.security(None).unwrap();
        assert_eq!(s.protocol, Some(SecurityProtocol::SaslPlaintext));
        assert_eq!(s.mechanism, Some(SaslMechanism::Plain));
        assert_eq!(
            (s.username.as_deref(), s.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert_eq!(s.ca.as_deref(), Some(Path::new("/ca.pem")));
        for bad in [
            "ssl.truststore.location=/x.jks\n",
            "security.protocol=SASL\n",
            "sasl.mechanism=GSSAPI\n",
            "ssl.endpoint.identification.algorithm=\n",
            "ssl.keystore.location=/k.p12\n",
            "ssl.certificate.location=/c.pem\n",
        ] {
            assert!(Properties::parse(bad).security(None).is_err(), "{bad}");
        }
    }
}
