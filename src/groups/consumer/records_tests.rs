//! Byte layouts of the consumer-group records against Kafka 4's schemas, field by field.

use super::*;
use crate::groups::records::{decode_key, RecordKey};
use crate::limits::RECORD_STRING_BYTES_MAX;

const T: Uuid = Uuid::from_bytes([7; 16]);

fn a(parts: &[i32]) -> Assignment {
    let mut x = Assignment::new();
    x.insert(T, parts.iter().copied().collect());
    x
}

#[test]
fn keys_match_the_schema() {
    let k = key("g", &ConsumerKey::Metadata);
    assert_eq!(&k[..], &[0, 3, 0, 1, b'g']);
    let k = key("g", &ConsumerKey::PartitionMetadata);
    assert_eq!(&k[..], &[0, 4, 0, 1, b'g']);
    let k = key("g", &ConsumerKey::Member("mm".into()));
    assert_eq!(&k[..], &[0, 5, 0, 1, b'g', 0, 2, b'm', b'm']);
    let k = key("g", &ConsumerKey::TargetMetadata);
    assert_eq!(&k[..], &[0, 6, 0, 1, b'g']);
    let k = key("g", &ConsumerKey::TargetMember("m".into()));
    assert_eq!(&k[..], &[0, 7, 0, 1, b'g', 0, 1, b'm']);
    let k = key("g", &ConsumerKey::CurrentAssignment("m".into()));
    assert_eq!(&k[..], &[0, 8, 0, 1, b'g', 0, 1, b'm']);
    for ck in [
        ConsumerKey::Metadata,
        ConsumerKey::PartitionMetadata,
        ConsumerKey::Member("m1".into()),
        ConsumerKey::TargetMetadata,
        ConsumerKey::TargetMember("m2".into()),
        ConsumerKey::CurrentAssignment("m3".into()),
    ] {
        assert_eq!(
            decode_key(&key("grp", &ck)),
            Ok(RecordKey::Consumer {
                group: "grp".into(),
                key: ck
            })
        );
    }
}

#[test]
fn group_and_target_metadata_values() {
    let v = value(&ConsumerValue::Metadata { epoch: 5 });
    // version 0 · epoch · no tags
    assert_eq!(&v[..], &[0, 0, 0, 0, 0, 5, 0]);
    assert_eq!(
        decode_value(GROUP_METADATA, &v),
        Ok(ConsumerValue::Metadata { epoch: 5 })
    );
    let v = value(&ConsumerValue::TargetMetadata { epoch: 300 });
    assert_eq!(&v[..], &[0, 0, 0, 0, 1, 44, 0]);
    assert_eq!(
        decode_value(TARGET_METADATA, &v),
        Ok(ConsumerValue::TargetMetadata { epoch: 300 })
    );
    // Kafka 4.1+ writes the metadata hash as tag 0: read and skipped.
    #[rustfmt::skip]
    let kafka41 = [
        0, 0,                 // version
        0, 0, 0, 9,           // epoch
        1,                    // one tagged field
        0, 8,                 // tag 0, 8 bytes
        1, 2, 3, 4, 5, 6, 7, 8,
    ];
    assert_eq!(
        decode_value(GROUP_METADATA, &kafka41),
        Ok(ConsumerValue::Metadata { epoch: 9 })
    );
}

#[test]
fn partition_metadata_value() {
    let mut topics = BTreeMap::new();
    topics.insert(T, ("t".to_string(), 6));
    let v = value(&ConsumerValue::PartitionMetadata(topics.clone()));
    let mut want = vec![0, 0, 2]; // version 0 · one topic
    want.extend_from_slice(&[7; 16]); // topic id
    want.extend_from_slice(&[2, b't']); // name
    want.extend_from_slice(&[0, 0, 0, 6]); // partitions
    want.extend_from_slice(&[1, 0]); // no racks · topic's tags
    want.push(0); // value's tags
    assert_eq!(&v[..], &want[..]);
    assert_eq!(
        decode_value(PARTITION_METADATA, &v),
        Ok(ConsumerValue::PartitionMetadata(topics))
    );
}

#[test]
fn member_metadata_value() {
    let m = MemberMetadata {
        instance_id: Some("i".into()),
        rack_id: None,
        client_id: "c".into(),
        client_host: "/h".into(),
        topic_names: vec!["t".into(), "u".into()],
        topic_regex: None,
        rebalance_timeout_ms: 1000,
        server_assignor: Some("range".into()),
        classic: None,
    };
    let v = value(&ConsumerValue::Member(m.clone()));
    #[rustfmt::skip]
    let want = [
        0, 0,                   // version 0
        2, b'i',                // instance id
        0,                      // rack id: null
        2, b'c',                // client id
        3, b'/', b'h',          // client host
        3, 2, b't', 2, b'u',    // topic names
        0,                      // regex: null
        0, 0, 3, 232,           // rebalance timeout
        6, b'r', b'a', b'n', b'g', b'e', // server assignor
        0,                      // tags
    ];
    assert_eq!(&v[..], &want);
    assert_eq!(
        decode_value(MEMBER_METADATA, &v),
        Ok(ConsumerValue::Member(m))
    );
}

#[test]
fn classic_member_metadata_is_tag_0() {
    let m = MemberMetadata {
        client_id: "c".into(),
        classic: Some(ClassicMetadata {
            session_timeout_ms: 10_000,
            protocols: vec![("range".into(), Bytes::from_static(&[9, 8]))],
        }),
        ..MemberMetadata::default()
    };
    let v = value(&ConsumerValue::Member(m.clone()));
    #[rustfmt::skip]
    let want = [
        0, 0,                   // version 0
        0, 0, 2, b'c', 1,       // instance, rack: null · client id · client host ""
        1, 0, 0, 0, 0, 0, 0,    // no topics · regex null · rebalance timeout 0 · assignor null
        1, 0, 16,               // one tagged field: tag 0, 16 bytes
        0, 0, 0x27, 0x10,       //   session timeout 10000
        2, 6, b'r', b'a', b'n', b'g', b'e', 3, 9, 8, 0, // one protocol: name · metadata · tags
        0,                      //   tags
    ];
    assert_eq!(&v[..], &want);
    assert_eq!(
        decode_value(MEMBER_METADATA, &v),
        Ok(ConsumerValue::Member(m))
    );
    // Another tag is skipped; a torn tag is an error.
    let mut other = v.to_vec();
    other[15] = 5;
    let Ok(ConsumerValue::Member(read)) = decode_value(MEMBER_METADATA, &other) else {
        panic!("tag 5 not skipped");
    };
    assert_eq!(read.classic, None);
    for cut in 14..v.len() {
        assert!(
            decode_value(MEMBER_METADATA, &v[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn assignment_values() {
    let v = value(&ConsumerValue::TargetMember(a(&[0, 2])));
    let mut want = vec![0, 0, 2]; // version · one topic
    want.extend_from_slice(&[7; 16]);
    want.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 2, 0]); // two partitions · tags
    want.push(0);
    assert_eq!(&v[..], &want[..]);
    assert_eq!(
        decode_value(TARGET_MEMBER, &v),
        Ok(ConsumerValue::TargetMember(a(&[0, 2])))
    );
    let c = CurrentAssignment {
        epoch: 4,
        previous_epoch: 3,
        state: STATE_UNREVOKED,
        assigned: a(&[1]),
        revoking: Assignment::new(),
    };
    let v = value(&ConsumerValue::CurrentAssignment(c.clone()));
    let mut want = vec![0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 1, 2];
    want.extend_from_slice(&[7; 16]);
    want.extend_from_slice(&[2, 0, 0, 0, 1, 0]);
    want.extend_from_slice(&[1, 0]); // nothing pending revocation · tags
    assert_eq!(&v[..], &want[..]);
    assert_eq!(
        decode_value(CURRENT_ASSIGNMENT, &v),
        Ok(ConsumerValue::CurrentAssignment(c))
    );
}

#[test]
fn corrupt_values_are_errors_not_panics() {
    let m = ConsumerValue::Member(MemberMetadata {
        topic_names: vec!["abc".into()],
        ..MemberMetadata::default()
    });
    let c = ConsumerValue::CurrentAssignment(CurrentAssignment {
        assigned: a(&[0, 1, 2]),
        revoking: a(&[3]),
        ..CurrentAssignment::default()
    });
    for (t, v) in [
        (MEMBER_METADATA, value(&m)),
        (CURRENT_ASSIGNMENT, value(&c)),
    ] {
        for cut in 0..v.len() {
            assert!(decode_value(t, &v[..cut]).is_err(), "type {t} cut at {cut}");
        }
        let mut extra = v.to_vec();
        extra.push(0);
        assert_eq!(decode_value(t, &extra), Err(RecordError::TrailingBytes));
    }
    // A count far beyond the bytes present is refused before anything is sized by it.
    let huge = [0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(
        decode_value(TARGET_MEMBER, &huge),
        Err(RecordError::InvalidLength)
    );
    assert_eq!(
        decode_value(GROUP_METADATA, &[0, 1, 0, 0, 0, 0, 0]),
        Err(RecordError::UnknownValueVersion(1))
    );
    // A varint that never ends.
    assert!(decode_value(TARGET_MEMBER, &[0, 0, 0xff, 0xff, 0xff]).is_err());
}

/// A compact string past Kafka's 32,767 bytes is refused (as Kafka's readers refuse it): the
/// broker writes a member's client id, host and instance id back in i16-length layouts (the
/// classic group value of a downgrade), whose writer asserts they fit.
#[test]
fn strings_longer_than_kafka_allows_are_refused() {
    let member = |client_id: String| {
        ConsumerValue::Member(MemberMetadata {
            client_id,
            classic: Some(ClassicMetadata {
                session_timeout_ms: 1,
                protocols: vec![("range".into(), Bytes::new())],
            }),
            ..MemberMetadata::default()
        })
    };
    let longest = member("c".repeat(RECORD_STRING_BYTES_MAX));
    assert_eq!(decode_value(MEMBER_METADATA, &value(&longest)), Ok(longest));
    let too_long = value(&member("c".repeat(RECORD_STRING_BYTES_MAX + 1)));
    assert_eq!(
        decode_value(MEMBER_METADATA, &too_long),
        Err(RecordError::InvalidLength)
    );
    // The same in a classic protocol's name, inside tag 0.
    let long_protocol = ConsumerValue::Member(MemberMetadata {
        classic: Some(ClassicMetadata {
            session_timeout_ms: 1,
            protocols: vec![("p".repeat(RECORD_STRING_BYTES_MAX + 1), Bytes::new())],
        }),
        ..MemberMetadata::default()
    });
    assert_eq!(
        decode_value(MEMBER_METADATA, &value(&long_protocol)),
        Err(RecordError::InvalidLength)
    );
}
