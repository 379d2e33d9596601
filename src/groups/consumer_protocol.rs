//! The one piece of the consumer protocol (protocol type "consumer") the broker reads: the
//! topics a member subscribes to, from its JoinGroup metadata. Kafka uses them to keep the
//! offsets of subscribed topics from expiring and to refuse OffsetDelete on them.
//!
//! ConsumerProtocolSubscription, versions 0–3 (non-flexible), is untrusted client bytes:
//!
//! | field   | type                                  |
//! |---------|---------------------------------------|
//! | version | i16                                   |
//! | topics  | i32 count, then each: i16 len + UTF-8 |
//! | ...     | user data, owned partitions (ignored) |

/// The consumer protocol's type name in JoinGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Subscribed topics, or None if the bytes are not a subscription this parser understands.
pub fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = metadata;
    let version = take_i16(&mut buf)?;
    if version < 0 {
        return None;
    }
    let count = take_i32(&mut buf)?;
    // Each topic takes at least its 2-byte length: a larger count is a lie, refused before
    // anything is sized by it.
    if count < 0 || count as usize > buf.len() / 2 {
        return None;
    }
    let mut topics = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = take_i16(&mut buf)?;
        if len < 0 || len as usize > buf.len() {
            return None;
        }
        let (name, rest) = buf.split_at(len as usize);
        topics.push(std::str::from_utf8(name).ok()?.to_string());
        buf = rest;
    }
    Some(topics)
}

fn take_i16(buf: &mut &[u8]) -> Option<i16> {
    let (head, rest) = buf.split_first_chunk::<2>()?;
    *buf = rest;
    Some(i16::from_be_bytes(*head))
}

fn take_i32(buf: &mut &[u8]) -> Option<i32> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    *buf = rest;
    Some(i32::from_be_bytes(*head))
}

/// A subscription (version 0, no user data) for tests.
#[cfg(test)]
pub fn encode_subscription(topics: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend_from_slice(&(t.len() as i16).to_be_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topics() {
        let b = encode_subscription(&["orders", "payments"]);
        assert_eq!(
            subscribed_topics(&b),
            Some(vec!["orders".to_string(), "payments".to_string()])
        );
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        assert_eq!(subscribed_topics(&[]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0, 0, 0, 1, 0, 9, b'a']), None);
        assert_eq!(subscribed_topics(&[0xff, 0xff, 0, 0, 0, 0]), None);
        let b = encode_subscription(&["t"]);
        for cut in 0..b.len() - 4 {
            let _ = subscribed_topics(&b[..cut]);
        }
    }
}
