//! The server side of one SCRAM exchange (RFC 5802, RFC 7677): client-first → server-first,
//! client-final → server-final. An unknown user gets a fake salt and iteration count
//! (`Credentials::fake`) and fails at client-final exactly as a wrong password does.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::credentials::{Credentials, ScramCredential, ScramMechanism};

/// Characters of the server's nonce part (alphanumeric: ~190 bits).
const SERVER_NONCE_CHARS: usize = 32;

/// A SCRAM exchange waiting for the client's final message.
pub struct ScramServer {
    mechanism: ScramMechanism,
    username: String,
    /// None: an unknown user (the exchange continues with a fake salt, then fails).
    credential: Option<ScramCredential>,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    /// The client's part of `nonce` (see `finish`: librdkafka 2.0 repeats it).
    client_nonce_len: usize,
}

/// Why an exchange failed (logged, never told to the client beyond Kafka's generic message).
pub type ScramError = String;

impl ScramServer {
    /// Parse client-first; returns the exchange and the server-first message.
    pub fn start(
        mechanism: ScramMechanism,
        credentials: &Credentials,
        client_first: &[u8],
    ) -> Result<(ScramServer, Vec<u8>), ScramError> {
        let text = std::str::from_utf8(client_first).map_err(|_| "client-first is not UTF-8")?;
        // gs2-header: cbind-flag "," [authzid] ","
        let mut parts = text.splitn(3, ',');
        let cbind = parts.next().unwrap_or("");
        let authzid = parts.next().ok_or("client-first has no gs2 header")?;
        let bare = parts.next().ok_or("client-first has no bare part")?;
        if cbind != "n" && cbind != "y" {
            return Err("channel binding is not supported".into());
        }
        let mut username = None;
        let mut client_nonce = None;
        for (i, attr) in bare.split(',').enumerate() {
            match (i, attr.split_once('=')) {
                (0, Some(("n", v))) => username = Some(decode_saslname(v)?),
                (1, Some(("r", v))) => client_nonce = Some(v.to_string()),
                (0 | 1, _) => return Err("client-first must start n=...,r=...".into()),
                // Extensions (Kafka's tokenauth=...) are not supported: delegation tokens
                // don't exist here, and an unknown extension is ignored as Kafka does.
                _ => {}
            }
        }
        let username = username.ok_or("client-first has no user name")?;
        let client_nonce = client_nonce.ok_or("client-first has no nonce")?;
        if client_nonce.is_empty() || client_nonce.contains(',') {
            return Err("client-first has a bad nonce".into());
        }
        if let Some(a) = authzid.strip_prefix("a=") {
            if decode_saslname(a)? != username {
                return Err("authorization id differs from the user name".into());
            }
        }
        let credential = credentials.get(&username, mechanism).cloned();
        let (salt, iterations) = match &credential {
            Some(c) => (c.salt.clone(), c.iterations),
            None => credentials.fake(&username, mechanism),
        };
        // Alphanumeric, as Kafka's (librdkafka 2.0 mis-parses a nonce with '=' in it).
        let server_nonce: String =
            rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
                .take(SERVER_NONCE_CHARS)
                .map(char::from)
                .collect();
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        let gs2_header = format!("{cbind},{authzid},");
        Ok((
            ScramServer {
                mechanism,
                username,
                credential,
                gs2_header,
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                client_nonce_len: client_nonce.len(),
                nonce,
            },
            server_first.into_bytes(),
        ))
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// Check client-final; returns server-final on success.
    pub fn finish(self, client_final: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text = std::str::from_utf8(client_final).map_err(|_| "client-final is not UTF-8")?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or("client-final has no proof")?;
        let mut attrs = without_proof.split(',');
        let c = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or("client-final has no channel binding")?;
        let r = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or("client-final has no nonce")?;
        if B64.decode(c).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err("channel binding differs from client-first".into());
        }
        // RFC 5802: the nonce exactly as server-first sent it. librdkafka 2.0 (Debian's kcat)
        // sends its own nonce again in front of it (client + client + server); Kafka brokers
        // long accepted that (their check was `endsWith`), so that one form is accepted too —
        // nothing else, and the proof still covers the message as sent.
        let repeated_client_nonce = r.len() == self.nonce.len() + self.client_nonce_len
            && r.starts_with(&self.nonce[..self.client_nonce_len])
            && r.ends_with(self.nonce.as_str());
        if r != self.nonce && !repeated_client_nonce {
            return Err("nonce differs from server-first".into());
        }
        let proof = B64.decode(proof).map_err(|_| "proof is not base64")?;
        let Some(credential) = self.credential else {
            return Err(format!("unknown user {:?}", self.username));
        };
        let m = self.mechanism;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err("proof has the wrong length".into());
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let ok: bool = subtle::ConstantTimeEq::ct_eq(
            m.hash(&client_key).as_slice(),
            credential.stored_key.as_slice(),
        )
        .into();
        if !ok {
            return Err(format!("wrong password for user {:?}", self.username));
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

/// RFC 5802 saslname: "=2C" is ',', "=3D" is '='; any other '=' is an error.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err("bad escape in user name".into()),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err("empty user name".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client side of the exchange, for the test only.
    fn client_final(
        m: ScramMechanism,
        password: &[u8],
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        client_final_with_prefix(m, password, client_first_bare, server_first, "")
    }

    /// As `client_final`, with `prefix` sent in front of the nonce (librdkafka 2.0 repeats its
    /// own nonce there).
    fn client_final_with_prefix(
        m: ScramMechanism,
        password: &[u8],
        client_first_bare: &str,
        server_first: &str,
        prefix: &str,
    ) -> String {
        let mut salt = None;
        let mut iterations = 0;
        let mut nonce = "";
        for a in server_first.split(',') {
            match a.split_once('=').unwrap() {
                ("r", v) => nonce = v,
                ("s", v) => salt = Some(B64.decode(v).unwrap()),
                ("i", v) => iterations = v.parse().unwrap(),
                _ => {}
            }
        }
        let salted = m.salted_password(password, &salt.unwrap(), iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored = m.hash(&client_key);
        let without = format!("c=biws,r={prefix}{nonce}");
        let auth = format!("{client_first_bare},{server_first},{without}");
        let sig = m.hmac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without},p={}", B64.encode(proof))
    }

    #[test]
    fn exchange_succeeds_with_the_password_and_fails_alike_otherwise() {
        let mut creds = Credentials {
            fake_salt_secret: vec![7; 32],
            ..Credentials::default()
        };
        for m in ScramMechanism::ALL {
            let mut per = std::collections::BTreeMap::new();
            per.insert(m, ScramCredential::new(m, b"secret", 4096));
            creds.users.insert("al=ice,".into(), per);
            let bare = "n=al=3Dice=2C,r=abc";
            let (s, first) =
                ScramServer::start(m, &creds, format!("n,,{bare}").as_bytes()).unwrap();
            let first = String::from_utf8(first).unwrap();
            assert_eq!(s.username(), "al=ice,");
            let fin = client_final(m, b"secret", bare, &first);
            let v = s.finish(fin.as_bytes()).unwrap();
            assert!(v.starts_with(b"v="));

            let (s, first) =
                ScramServer::start(m, &creds, format!("n,,{bare}").as_bytes()).unwrap();
            let fin = client_final(m, b"wrong", bare, &String::from_utf8(first).unwrap());
            assert!(s.finish(fin.as_bytes()).is_err());

            // An unknown user gets a server-first of the same shape, stable across tries.
            let bare = "n=nobody,r=abc";
            let (s, first) =
                ScramServer::start(m, &creds, format!("n,,{bare}").as_bytes()).unwrap();
            let first = String::from_utf8(first).unwrap();
            let (_, again) =
                ScramServer::start(m, &creds, format!("n,,{bare}").as_bytes()).unwrap();
            let salt = |f: &str| f.split(',').nth(1).unwrap().to_string();
            assert_eq!(salt(&first), salt(&String::from_utf8(again).unwrap()));
            assert!(first.ends_with(",i=4096"));
            let fin = client_final(m, b"secret", bare, &first);
            assert!(s.finish(fin.as_bytes()).is_err());
        }
        assert!(ScramServer::start(ScramMechanism::Sha256, &creds, b"p=x,,n=a,r=b").is_err());
        assert!(ScramServer::start(ScramMechanism::Sha256, &creds, b"n,,n=a=b,r=c").is_err());
        assert!(ScramServer::start(ScramMechanism::Sha256, &creds, b"garbage").is_err());
    }

    #[test]
    fn the_client_nonce_repeated_in_front_is_accepted_and_nothing_else() {
        let m = ScramMechanism::Sha256;
        let mut creds = Credentials::default();
        let mut per = std::collections::BTreeMap::new();
        per.insert(m, ScramCredential::new(m, b"secret", 4096));
        creds.users.insert("alice".into(), per);
        let bare = "n=alice,r=clientnonce";
        let attempt = |prefix: &str| {
            let (s, first) =
                ScramServer::start(m, &creds, format!("n,,{bare}").as_bytes()).unwrap();
            let first = String::from_utf8(first).unwrap();
            let fin = client_final_with_prefix(m, b"secret", bare, &first, prefix);
            s.finish(fin.as_bytes())
        };
        assert!(attempt("").is_ok());
        // librdkafka 2.0 (Debian's kcat): client nonce + client nonce + server nonce.
        assert!(attempt("clientnonce").is_ok());
        // Any other prefix, even of the same length, is refused.
        assert!(attempt("clientnoncf").is_err());
        assert!(attempt("x").is_err());
        assert!(attempt("clientnonceclientnonce").is_err());
    }
}
