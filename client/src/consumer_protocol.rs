//! The consumer protocol (protocol type "consumer"): the bytes group members exchange through
//! the coordinator. The broker reads one piece of it: the topics a member subscribes to, from
//! its JoinGroup metadata (Kafka uses them to keep the offsets of subscribed topics from
//! expiring and to refuse OffsetDelete on them). The `sluice consume --group` member writes
//! subscriptions and, as group leader, assignments, and reads its own assignment.
//!
//! ConsumerProtocolSubscription, versions 0–3 (non-flexible), is untrusted client bytes:
//!
//! | field   | type                                  |
//! |---------|---------------------------------------|
//! | version | i16                                   |
//! | topics  | i32 count, then each: i16 len + UTF-8 |
//! | ...     | user data, owned partitions (ignored) |
//!
//! ConsumerProtocolAssignment, versions 0–3 (non-flexible), written by the group's leader:
//!
//! | field      | type                                                        |
//! |------------|-------------------------------------------------------------|
//! | version    | i16                                                         |
//! | partitions | i32 count, then each: i16 len + UTF-8 topic, i32 count + i32s |
//! | user data  | i32 length (-1: null) + bytes (v0 ends here; later: ignored)  |

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

/// A subscription's topics and the partitions the member says it owns (v1+; empty before),
/// or None if the bytes are not a subscription this parser understands. Bounded like
/// [`subscribed_topics`]: every count is checked against the bytes left.
pub fn parse_subscription(metadata: &[u8]) -> Option<Subscription> {
    let topics = subscribed_topics(metadata)?;
    let mut buf = metadata;
    let version = take_i16(&mut buf)?;
    // Skip what `subscribed_topics` read: the count and each name.
    let count = take_i32(&mut buf)?;
    for _ in 0..count {
        let len = take_i16(&mut buf)?;
        buf = buf.get(usize::try_from(len).ok()?..)?;
    }
    let mut owned = Vec::new();
    if version >= 1 {
        let user_data = take_i32(&mut buf)?;
        if user_data > 0 {
            buf = buf.get(usize::try_from(user_data).ok()?..)?;
        }
        owned = take_topic_partitions(&mut buf)?;
    }
    Some(Subscription { topics, owned })
}

/// What [`parse_subscription`] reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// (topic, partitions) the member owns (ConsumerProtocolSubscription v1+).
    pub owned: Vec<(String, Vec<i32>)>,
}

/// An i32 count of (i16 topic name, i32 count of i32 partitions), bounded by the bytes left.
fn take_topic_partitions(buf: &mut &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    let count = take_i32(buf)?;
    // A topic entry takes at least 6 bytes (name length, partition count).
    if count < 0 || count as usize > buf.len() / 6 {
        return None;
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = take_i16(buf)?;
        if len < 0 || len as usize > buf.len() {
            return None;
        }
        let (name, rest) = buf.split_at(len as usize);
        *buf = rest;
        let n = take_i32(buf)?;
        if n < 0 || n as usize > buf.len() / 4 {
            return None;
        }
        let partitions = (0..n)
            .map(|_| take_i32(buf))
            .collect::<Option<Vec<i32>>>()?;
        out.push((std::str::from_utf8(name).ok()?.to_string(), partitions));
    }
    Some(out)
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

/// Each topic's assigned partitions, or None if the bytes are not an assignment this parser
/// understands. Every count is checked against the bytes left before it sizes anything.
pub fn assigned_partitions(bytes: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    let mut buf = bytes;
    if take_i16(&mut buf)? < 0 {
        return None;
    }
    take_topic_partitions(&mut buf)
}

/// An assignment, version 0, no user data.
pub fn encode_assignment(assigned: &[(String, Vec<i32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(assigned.len() as i32).to_be_bytes());
    for (topic, partitions) in assigned {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for p in partitions {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out
}

/// A subscription, version 0, no user data. Topic names are Kafka-legal (≤ 249 bytes).
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
    fn assignments_round_trip_and_garbage_is_refused() {
        let a = vec![
            ("orders".to_string(), vec![0, 3]),
            ("x".to_string(), vec![]),
        ];
        let b = encode_assignment(&a);
        assert_eq!(assigned_partitions(&b), Some(a));
        assert_eq!(assigned_partitions(&[]), None);
        // A count far past the bytes is refused before anything is sized by it.
        assert_eq!(assigned_partitions(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(
            assigned_partitions(&[0, 0, 0, 0, 0, 1, 0, 1, b'a', 0x7f, 0xff, 0xff, 0xff]),
            None
        );
        for cut in 0..b.len() - 4 {
            let _ = assigned_partitions(&b[..cut]);
        }
        // The crate's decoder reads what we write (other clients use the same layout).
        use kafka_protocol::protocol::Decodable;
        let mut buf = bytes::Bytes::from(b);
        let _version = bytes::Buf::get_i16(&mut buf);
        let decoded =
            kafka_protocol::messages::ConsumerProtocolAssignment::decode(&mut buf, 0).unwrap();
        assert_eq!(decoded.assigned_partitions[0].partitions, vec![0, 3]);
    }

    #[test]
    fn subscriptions_with_owned_partitions_parse_as_the_crate_writes_them() {
        use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition;
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::{Encodable, StrBytes};
        for version in 0..=3i16 {
            let sub = ConsumerProtocolSubscription::default()
                .with_topics(vec![
                    StrBytes::from_static_str("a"),
                    StrBytes::from_static_str("b"),
                ])
                .with_user_data(Some(bytes::Bytes::from_static(b"xyz")))
                .with_owned_partitions(if version >= 1 {
                    vec![TopicPartition::default()
                        .with_topic(StrBytes::from_static_str("a").into())
                        .with_partitions(vec![1, 4])]
                } else {
                    vec![]
                });
            let mut b = bytes::BytesMut::new();
            bytes::BufMut::put_i16(&mut b, version);
            sub.encode(&mut b, version).unwrap();
            let got = parse_subscription(&b).unwrap();
            assert_eq!(got.topics, vec!["a".to_string(), "b".to_string()]);
            let owned = if version >= 1 {
                vec![("a".to_string(), vec![1, 4])]
            } else {
                vec![]
            };
            assert_eq!(got.owned, owned, "version {version}");
            for cut in 0..b.len() {
                let _ = parse_subscription(&b[..cut]);
            }
        }
        let mut hostile = encode_subscription(&["t"]);
        hostile[0..2].copy_from_slice(&1i16.to_be_bytes());
        hostile.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        assert_eq!(parse_subscription(&hostile), None);
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
