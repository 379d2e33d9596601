//! A client certificate's subject as a Kafka principal.
//!
//! Kafka's default `ssl.principal.mapping.rules` (`DEFAULT`) names an mTLS client by its
//! certificate's subject exactly as Java's `X500Principal.getName()` prints it (RFC 2253):
//! - the RDNs from the last encoded to the first (so "CN=alice,OU=eng,O=Acme,C=GB" for a
//!   subject encoded C, O, OU, CN), joined by ',' with no spaces; the attributes of a
//!   multi-valued RDN joined by '+' (in their encoded order);
//! - the RFC 2253 keywords CN, C, L, ST, O, OU, STREET, DC, UID; any other attribute (e.g.
//!   emailAddress) as its dotted OID with the value as '#' and the lower-case hex of its DER
//!   encoding, as is a keyword attribute whose value is not a string;
//! - in string values, each of `,=+<>#;"\` escaped with '\', and a leading or trailing space too.
//!
//! The principal is "User:" followed by that name; a connection without a client certificate
//! keeps its session's "User:ANONYMOUS" (Kafka's `KafkaPrincipal.ANONYMOUS`).

use x509_parser::der_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::security::session::KafkaPrincipal;

/// The principal of the client whose certificate chain starts with `end_entity` (DER).
/// None if the certificate does not parse (rustls verified it, so it does in practice).
pub fn of_certificate(end_entity: &[u8]) -> Option<KafkaPrincipal> {
    let (_, cert) = X509Certificate::from_der(end_entity).ok()?;
    Some(KafkaPrincipal::user(&rfc2253(cert.subject())))
}

/// The distinguished name as `X500Principal.getName()` (RFC 2253) prints it.
pub fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.attr_type().to_id_string();
            let keyword = keyword(&oid);
            let text = keyword.and_then(|_| string_value(atv.attr_value()));
            match (keyword, text) {
                (Some(k), Some(text)) => {
                    out.push_str(k);
                    out.push('=');
                    escape_into(&mut out, &text);
                }
                (k, _) => {
                    out.push_str(k.unwrap_or(&oid));
                    out.push_str("=#");
                    for b in der(atv.attr_value()) {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    out
}

/// RFC 2253's attribute keywords, by OID (the ones `X500Principal.getName()` uses).
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// A directory string's text; None for a value of another type (printed as hex).
fn string_value(v: &Any<'_>) -> Option<String> {
    let data = v.data;
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_string)
        }
        // Java reads a T61String as ISO-8859-1.
        Tag::T61String => Some(data.iter().map(|&b| b as char).collect()),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            data.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// RFC 2253 escaping as Java does it: `,=+<>#;"\` anywhere, a space at either end.
fn escape_into(out: &mut String, text: &str) {
    let chars: Vec<char> = text.chars().collect();
    let lead = chars.iter().take_while(|&&c| c == ' ').count();
    let trail = chars.len() - chars.iter().rev().take_while(|&&c| c == ' ').count();
    for (i, &c) in chars.iter().enumerate() {
        if ",=+<>#;\"\\".contains(c) || (c == ' ' && (i < lead || i >= trail)) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The DER encoding of a value: identifier, length, contents.
fn der(v: &Any<'_>) -> Vec<u8> {
    let class = match v.class() {
        Class::Universal => 0u8,
        Class::Application => 0x40,
        Class::ContextSpecific => 0x80,
        Class::Private => 0xc0,
    };
    let constructed = if v.header.is_constructed() { 0x20 } else { 0 };
    let tag = v.tag().0;
    let mut out = Vec::with_capacity(v.data.len() + 8);
    if tag < 31 {
        out.push(class | constructed | tag as u8);
    } else {
        out.push(class | constructed | 0x1f);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7f) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            out.push(if i + 1 < groups.len() { g | 0x80 } else { *g });
        }
    }
    let len = v.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(v.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal_of(build: impl FnOnce(&mut rcgen::DistinguishedName)) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["client.test".into()]).expect("p");
        let mut dn = rcgen::DistinguishedName::new();
        build(&mut dn);
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        of_certificate(cert.der()).expect("parses").to_string()
    }

    #[test]
    fn rdns_come_last_encoded_first_with_rfc2253_keywords() {
        let p = principal_of(|dn| {
            dn.push(rcgen::DnType::CountryName, "GB");
            dn.push(rcgen::DnType::StateOrProvinceName, "Kent");
            dn.push(rcgen::DnType::LocalityName, "Canterbury");
            dn.push(rcgen::DnType::OrganizationName, "Acme");
            dn.push(rcgen::DnType::OrganizationalUnitName, "eng");
            dn.push(rcgen::DnType::CommonName, "alice");
        });
        assert_eq!(p, "User:CN=alice,OU=eng,O=Acme,L=Canterbury,ST=Kent,C=GB");
    }

    #[test]
    fn special_characters_are_escaped_as_java_does() {
        let p = principal_of(|dn| {
            dn.push(rcgen::DnType::OrganizationName, "Acme, Inc.");
            dn.push(rcgen::DnType::CommonName, " a+b=c#\"d\"<e>;f\\ ");
        });
        assert_eq!(p, r#"User:CN=\ a\+b\=c\#\"d\"\<e\>\;f\\\ ,O=Acme\, Inc."#);
    }

    #[test]
    fn other_attributes_are_an_oid_and_the_hex_of_their_der() {
        // emailAddress (1.2.840.113549.1.9.1), an IA5String: Java prints it as hex.
        let p = principal_of(|dn| {
            dn.push(
                rcgen::DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                rcgen::DnValue::Ia5String("a@b.c".try_into().expect("ia5")),
            );
            dn.push(rcgen::DnType::CommonName, "alice");
        });
        assert_eq!(p, "User:CN=alice,1.2.840.113549.1.9.1=#16056140622e63");
    }

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        let long = "x".repeat(200);
        let p = principal_of(|dn| {
            dn.push(
                rcgen::DnType::CustomDnType(vec![2, 5, 4, 99]),
                rcgen::DnValue::Utf8String(long.clone()),
            );
        });
        assert_eq!(p, format!("User:2.5.4.99=#0c81c8{}", "78".repeat(200)));
    }
}
