use super::*;

const LIMITS: Limits = Limits {
    lock_duration_ms: 1_000,
    delivery_count_limit: 3,
    record_locks_max: 10,
};

fn batch(base: i64, last: i64) -> BatchSpan {
    BatchSpan {
        base,
        last,
        control: false,
        aborted: false,
    }
}

#[test]
fn acquires_new_records_once_and_accept_moves_the_start() {
    let mut sp = SharePartition::new(0);
    let got = sp.acquire("a", &[batch(0, 4)], 100, 5, 0, &LIMITS);
    assert_eq!(
        got,
        vec![Acquired {
            first_offset: 0,
            last_offset: 4,
            delivery_count: 1
        }]
    );
    // A second member gets nothing: all acquired.
    assert!(sp
        .acquire("b", &[batch(0, 4)], 100, 5, 0, &LIMITS)
        .is_empty());
    assert_eq!(sp.next_fetch_offset(5, &LIMITS), None);
    assert_eq!(sp.acknowledge("a", 0, 1, &[1], 10, &LIMITS), Ok(true));
    assert_eq!(sp.start(), 2);
    // Someone else's records can't be acknowledged.
    assert_eq!(
        sp.acknowledge("b", 2, 2, &[1], 10, &LIMITS),
        Err(AckError::InvalidRecordState)
    );
}

#[test]
fn max_records_splits_between_members() {
    let mut sp = SharePartition::new(0);
    let a = sp.acquire("a", &[batch(0, 9)], 3, 10, 0, &LIMITS);
    assert_eq!((a[0].first_offset, a[0].last_offset), (0, 2));
    assert_eq!(sp.next_fetch_offset(10, &LIMITS), Some(3));
    let b = sp.acquire("b", &[batch(0, 9)], 3, 10, 0, &LIMITS);
    assert_eq!((b[0].first_offset, b[0].last_offset), (3, 5));
}

#[test]
fn release_redelivers_with_a_higher_count_and_reject_archives() {
    let mut sp = SharePartition::new(0);
    sp.acquire("a", &[batch(0, 1)], 100, 2, 0, &LIMITS);
    assert_eq!(sp.acknowledge("a", 0, 1, &[2, 3], 5, &LIMITS), Ok(true));
    assert_eq!(sp.start(), 0);
    let again = sp.acquire("b", &[batch(0, 1)], 100, 2, 10, &LIMITS);
    assert_eq!(
        again,
        vec![Acquired {
            first_offset: 0,
            last_offset: 0,
            delivery_count: 2
        }]
    );
    assert_eq!(sp.counters.redeliveries, 1);
    assert_eq!(sp.counters.archived, 1);
}

#[test]
fn expired_locks_come_back_and_archive_past_the_delivery_limit() {
    let mut sp = SharePartition::new(0);
    let mut now = 0;
    for round in 1..=3u16 {
        let got = sp.acquire("a", &[batch(0, 0)], 100, 1, now, &LIMITS);
        assert_eq!(got[0].delivery_count, round);
        now += LIMITS.lock_duration_ms;
        // A late acknowledgement is refused: the lock has ended.
        assert_eq!(
            sp.acknowledge("a", 0, 0, &[1], now, &LIMITS),
            Err(AckError::InvalidRecordState)
        );
        assert_eq!(sp.expire_locks(now, &LIMITS), 1);
    }
    // Delivered three times (the limit): archived, and the start passes it.
    assert_eq!(sp.start(), 1);
    assert_eq!(sp.counters.archived, 1);
    assert!(sp
        .acquire("a", &[batch(0, 0)], 100, 1, now, &LIMITS)
        .is_empty());
}

#[test]
fn renew_extends_the_lock() {
    let mut sp = SharePartition::new(0);
    sp.acquire("a", &[batch(0, 0)], 100, 1, 0, &LIMITS);
    assert_eq!(sp.acknowledge("a", 0, 0, &[4], 900, &LIMITS), Ok(false));
    assert_eq!(sp.expire_locks(1_500, &LIMITS), 0);
    assert_eq!(sp.acknowledge("a", 0, 0, &[1], 1_800, &LIMITS), Ok(true));
}

#[test]
fn in_flight_records_are_bounded_by_the_record_locks() {
    let mut sp = SharePartition::new(0);
    let got = sp.acquire("a", &[batch(0, 99)], 1_000, 100, 0, &LIMITS);
    assert_eq!(got[0].last_offset, 9);
    assert_eq!(sp.next_fetch_offset(100, &LIMITS), None);
    sp.acknowledge("a", 0, 0, &[1], 1, &LIMITS).unwrap();
    assert_eq!(sp.next_fetch_offset(100, &LIMITS), Some(10));
}

#[test]
fn bad_acknowledgements_change_nothing() {
    let mut sp = SharePartition::new(0);
    sp.acquire("a", &[batch(0, 3)], 100, 4, 0, &LIMITS);
    let before = sp.clone();
    assert_eq!(
        sp.acknowledge("a", 3, 2, &[1], 1, &LIMITS),
        Err(AckError::InvalidRequest)
    );
    assert_eq!(
        sp.acknowledge("a", 0, 3, &[1, 1], 1, &LIMITS),
        Err(AckError::InvalidRequest)
    );
    assert_eq!(
        sp.acknowledge("a", 0, 3, &[9], 1, &LIMITS),
        Err(AckError::InvalidRequest)
    );
    // Offset 4 was never acquired: the whole batch is refused.
    assert_eq!(
        sp.acknowledge("a", 0, 4, &[1], 1, &LIMITS),
        Err(AckError::InvalidRecordState)
    );
    assert_eq!(sp, before);
}

#[test]
fn restored_state_skips_done_records_and_redelivers_the_rest() {
    let mut sp = SharePartition::new(0);
    sp.acquire("a", &[batch(0, 4)], 100, 5, 0, &LIMITS);
    sp.acknowledge("a", 1, 1, &[1], 1, &LIMITS).unwrap();
    sp.acknowledge("a", 3, 3, &[3], 1, &LIMITS).unwrap();
    let back = SharePartition::restored(sp.start(), sp.persisted());
    let mut back = back;
    let got = back.acquire("b", &[batch(0, 6)], 100, 7, 0, &LIMITS);
    let offsets: Vec<(i64, i64, u16)> = got
        .iter()
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect();
    assert_eq!(offsets, vec![(0, 0, 2), (2, 2, 2), (4, 4, 2), (5, 6, 1)]);
}

#[test]
fn control_batches_are_never_delivered() {
    let mut sp = SharePartition::new(0);
    let got = sp.acquire(
        "a",
        &[
            batch(0, 1),
            BatchSpan {
                base: 2,
                last: 2,
                control: true,
                aborted: false,
            },
        ],
        100,
        3,
        0,
        &LIMITS,
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].last_offset, 1);
    sp.acknowledge("a", 0, 1, &[1], 1, &LIMITS).unwrap();
    assert_eq!(sp.start(), 3);
}

/// `share.isolation.level=read_committed`: an aborted transaction's records are archived as
/// they are reached, never handed out, and the start moves past them once acknowledged around.
#[test]
fn aborted_transactions_are_archived_not_delivered() {
    let mut sp = SharePartition::new(0);
    let aborted = |base, last| BatchSpan {
        base,
        last,
        control: false,
        aborted: true,
    };
    let marker = |at| BatchSpan {
        base: at,
        last: at,
        control: true,
        aborted: false,
    };
    let got = sp.acquire(
        "a",
        &[aborted(0, 2), marker(3), batch(4, 5)],
        100,
        6,
        0,
        &LIMITS,
    );
    assert_eq!(
        got,
        vec![Acquired {
            first_offset: 4,
            last_offset: 5,
            delivery_count: 1
        }]
    );
    assert_eq!(
        sp.counters.archived, 3,
        "the aborted records count as archived"
    );
    sp.acknowledge("a", 4, 5, &[1], 1, &LIMITS).unwrap();
    assert_eq!(sp.start(), 6);
    assert_eq!(sp.next_fetch_offset(6, &LIMITS), None);
}

#[test]
fn members_leaving_give_their_records_back() {
    let mut sp = SharePartition::new(0);
    sp.acquire("a", &[batch(0, 1)], 1, 2, 0, &LIMITS);
    sp.acquire("b", &[batch(0, 1)], 1, 2, 0, &LIMITS);
    assert_eq!(sp.release_member("a", &LIMITS), 1);
    assert_eq!(sp.next_fetch_offset(2, &LIMITS), Some(0));
}
