use super::*;
use crate::log::format::{check_stored, validate_produced, MAX_TIMESTAMP_AT};
use bytes::Bytes;
use sluice_client::records::{encode_batch, Compression as C, NewRecord};

const NOW: i64 = 1_700_000_000_000;

fn record(key: Option<&str>, timestamp: i64) -> NewRecord {
    NewRecord {
        key: key.map(|k| Bytes::from(k.to_string())),
        value: Some(Bytes::from_static(b"value")),
        headers: vec![("h".to_string(), Some(Bytes::from_static(b"x")))],
        timestamp,
    }
}

fn batch(records: &[NewRecord], c: C) -> (Bytes, BatchHeader) {
    let b = encode_batch(records, c).unwrap();
    let h = validate_produced(&b, 1 << 24).unwrap();
    (b, h)
}

fn check(b: &[u8], h: &BatchHeader, policy: Policy) -> Result<Option<Stamp>, Refusal> {
    check_records(b, h, &policy, NOW, "t", 3)
}

fn create_time() -> Policy {
    Policy::default()
}

fn log_append_time() -> Policy {
    Policy {
        timestamp_type: TimestampType::LogAppendTime,
        ..Policy::default()
    }
}

#[test]
fn a_consistent_create_time_batch_is_stored_as_sent() {
    for c in [C::None, C::Gzip, C::Snappy, C::Lz4, C::Zstd] {
        let (b, h) = batch(&[record(Some("a"), NOW - 5), record(None, NOW)], c);
        assert_eq!(check(&b, &h, create_time()), Ok(None), "{c:?}");
    }
}

#[test]
fn a_missing_max_timestamp_is_filled_from_the_records() {
    for c in [C::None, C::Zstd] {
        let (b, _) = batch(&[record(Some("a"), NOW - 5), record(None, NOW - 9)], c);
        let mut sent = b.to_vec();
        sent[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
        crate::log::format::tests::fix_crc(&mut sent);
        let h = validate_produced(&sent, 1 << 24).unwrap();
        let stamp = check(&sent, &h, create_time()).unwrap().unwrap();
        assert_eq!(stamp.max_timestamp, NOW - 5);
        assert_eq!(stamp.attributes, h.attributes);
        let stored = stamped(&sent, stamp);
        let s = check_stored(&stored).unwrap();
        assert_eq!(s.max_timestamp, NOW - 5);
        assert_eq!(s.base_timestamp, h.base_timestamp);
        assert_eq!(&stored[..], &b[..], "the client's own encoding, restored");
    }
}

#[test]
fn log_append_time_stamps_the_clock_and_the_attribute() {
    for c in [C::None, C::Gzip, C::Zstd] {
        let (b, h) = batch(&[record(Some("a"), 5), record(Some("b"), 6)], c);
        let stamp = check(&b, &h, log_append_time()).unwrap().unwrap();
        assert_eq!(stamp.max_timestamp, NOW);
        let stored = stamped(&b, stamp);
        let s = check_stored(&stored).unwrap();
        assert!(s.is_log_append_time());
        assert_eq!(s.compression(), h.compression());
        assert_eq!(s.max_timestamp, NOW);
        assert_eq!(s.base_timestamp, 5, "the base timestamp stays as sent");
        // Every record now reads as the append time.
        let decoded = sluice_client::records::decode_batches(stored).unwrap();
        assert!(decoded.records.iter().all(|r| r.timestamp == NOW));
    }
}

#[test]
fn a_producer_setting_log_append_time_is_refused_per_record() {
    let (b, _) = batch(&[record(Some("a"), NOW), record(Some("bb"), NOW)], C::None);
    let mut sent = b.to_vec();
    sent[22] |= 0x08;
    crate::log::format::tests::fix_crc(&mut sent);
    let h = validate_produced(&sent, 1 << 24).unwrap();
    let Err(Refusal::Records {
        timestamp,
        message,
        errors,
    }) = check(&sent, &h, log_append_time())
    else {
        panic!("refused")
    };
    assert!(timestamp);
    assert_eq!(
        message,
        "One or more records have been rejected due to invalid timestamp"
    );
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1].batch_index, 1);
    assert!(
        errors[1].message.contains(
            "key=2 bytes, value=5 bytes). Producer should not set timestamp type to LogAppendTime."
        ),
        "{}",
        errors[1].message
    );
    // On a CreateTime topic Kafka reads such a batch's records at its max timestamp, accepts
    // them when that is in the window, and stores the batch as CreateTime.
    let stamp = check(&sent, &h, create_time()).unwrap().unwrap();
    assert_eq!(stamp.attributes & 0x08, 0);
}

#[test]
fn timestamps_outside_the_window_are_refused_with_their_indexes() {
    let policy = Policy {
        before_max_ms: 1000,
        after_max_ms: 2000,
        ..create_time()
    };
    let (b, h) = batch(
        &[
            record(Some("a"), NOW - 1000),
            record(Some("b"), NOW + 2001),
            record(Some("c"), NOW + 2000),
            record(Some("d"), NOW - 1001),
            record(Some("e"), -1),
        ],
        C::Lz4,
    );
    let Err(Refusal::Records {
        timestamp, errors, ..
    }) = check(&b, &h, policy)
    else {
        panic!("refused")
    };
    assert!(timestamp);
    let indexes: Vec<i32> = errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, [1, 3], "-1 (no timestamp) is never out of range");
    assert_eq!(
        errors[0].message,
        format!(
            "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
            NOW + 2001,
            NOW - 1000,
            NOW + 2000
        )
    );
    // Kafka 4's defaults: any past, one hour ahead.
    let (b, h) = batch(
        &[record(Some("a"), 0), record(Some("b"), NOW + 3_600_001)],
        C::None,
    );
    let Err(Refusal::Records { errors, .. }) = check(&b, &h, create_time()) else {
        panic!("refused")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].batch_index, 1);
    // A LogAppendTime topic does not judge the producer's timestamps.
    assert!(check(&b, &h, log_append_time()).is_ok());
}

#[test]
fn a_compacted_topic_refuses_keyless_records_as_invalid_record() {
    let policy = Policy {
        compacted: true,
        ..create_time()
    };
    let (b, h) = batch(
        &[record(Some("a"), NOW), record(None, NOW), record(None, NOW)],
        C::Snappy,
    );
    let Err(Refusal::Records {
        timestamp,
        message,
        errors,
    }) = check(&b, &h, policy)
    else {
        panic!("refused")
    };
    assert!(!timestamp);
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0].message,
        "Compacted topic cannot accept message without key in topic partition t-3."
    );
    assert!(message.starts_with(
        "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='Compacted topic"
    ), "{message}");
    // A timestamp error among them makes the partition's error INVALID_TIMESTAMP.
    let (b, h) = batch(
        &[record(None, NOW), record(Some("k"), NOW + 7_200_000)],
        C::None,
    );
    let Err(Refusal::Records {
        timestamp, errors, ..
    }) = check(&b, &h, policy)
    else {
        panic!("refused")
    };
    assert!(timestamp);
    assert_eq!(errors.len(), 2);
}

#[test]
fn record_errors_stop_at_the_limit_and_the_message_counts_all() {
    let n = PRODUCE_RECORD_ERRORS_MAX + 10;
    let records: Vec<NewRecord> = (0..n).map(|_| record(None, NOW)).collect();
    let (b, h) = batch(&records, C::None);
    let policy = Policy {
        compacted: true,
        ..create_time()
    };
    let Err(Refusal::Records {
        message, errors, ..
    }) = check(&b, &h, policy)
    else {
        panic!("refused")
    };
    assert_eq!(errors.len(), PRODUCE_RECORD_ERRORS_MAX);
    assert!(message.contains(&format!("due to {n} record errors")));
}

#[test]
fn malformed_records_are_refused_never_panic() {
    let (b, h) = batch(&[record(Some("a"), NOW), record(Some("b"), NOW)], C::None);
    assert!(check(&b, &h, create_time()).is_ok());
    // Every byte of the records flipped, every truncation and extension: an answer, no panic.
    for i in BATCH_HEADER_BYTES..b.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut c = b.to_vec();
            c[i] ^= flip;
            let _ = check(&c, &h, create_time());
        }
    }
    for cut in BATCH_HEADER_BYTES..b.len() {
        assert!(
            matches!(
                check(&b[..cut], &h, create_time()),
                Err(Refusal::Malformed(_))
            ),
            "cut at {cut}"
        );
    }
    let mut longer = b.to_vec();
    longer.push(0);
    assert_eq!(
        check(&longer, &h, create_time()),
        Err(Refusal::Malformed(
            "Incorrect declared batch size, records still remaining in file".into()
        ))
    );
    // A record count past the records.
    let mut more = h;
    more.record_count = 3;
    assert!(matches!(
        check(&b, &more, create_time()),
        Err(Refusal::Malformed(_))
    ));
    // A compressed payload that is not the codec's.
    let (z, zh) = batch(&[record(Some("a"), NOW)], C::Zstd);
    let mut bad = z.to_vec();
    for byte in &mut bad[BATCH_HEADER_BYTES..] {
        *byte = 0x55;
    }
    assert!(matches!(
        check(&bad, &zh, create_time()),
        Err(Refusal::Malformed(_))
    ));
    // ...which a LogAppendTime topic that is not compacted never opens.
    assert!(check(&bad, &zh, log_append_time()).is_ok());
}

#[test]
fn varints_read_as_kafka_reads_them() {
    let mut pos = 0;
    assert_eq!(varint(&[0x01], &mut pos), Ok(-1));
    let mut pos = 0;
    assert_eq!(
        varint(&[0xfe, 0xff, 0xff, 0xff, 0x0f], &mut pos),
        Ok(i32::MAX)
    );
    let mut pos = 0;
    assert_eq!(
        varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut pos),
        Err("Varint is too long")
    );
    let mut buf = Vec::new();
    for v in [0i64, -1, 1, i64::MAX, i64::MIN, 300, -300] {
        buf.clear();
        sluice_client::records::put_varint(&mut buf, v);
        let mut pos = 0;
        assert_eq!(varlong(&buf, &mut pos), Ok(v));
        assert_eq!(pos, buf.len());
    }
}

#[test]
fn records_decompressing_past_the_bound_are_refused() {
    // One record whose value alone decompresses past `DECOMPRESSED_BATCH_BYTES_MAX`: zeros
    // squeeze to a few KiB, so this is what a zip bomb looks like to the broker.
    let value = Bytes::from(vec![0u8; DECOMPRESSED_BATCH_BYTES_MAX + 1]);
    let r = NewRecord {
        key: Some(Bytes::from_static(b"k")),
        value: Some(value),
        headers: Vec::new(),
        timestamp: NOW,
    };
    let (b, h) = batch(&[r], C::Zstd);
    assert!(b.len() < 1 << 20, "compressed to {} bytes", b.len());
    let Err(Refusal::Malformed(why)) = check(&b, &h, create_time()) else {
        panic!("refused")
    };
    assert!(why.contains("more than"), "{why}");
}
