//! Producer id and transaction requests.

use super::*;

/// The request body of API `key` at version `v` if it is one of this family's (`None`:
/// another family's), as `super::body` builds it.
pub(super) fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    _stats: &mut Stats,
    _joined: &mut Option<String>,
) -> Option<Option<BytesMut>> {
    // Sets a field only in the versions that carry it (the crate refuses to encode a
    // non-default value elsewhere).
    let within = |lo: i16, hi: i16| (lo..=hi).contains(&v);
    let body = match key {
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdRequest::default()
                .with_transactional_id(if c.one_in(5) {
                    Some(TransactionalId(s("fz-txn")))
                } else {
                    None
                })
                .with_transaction_timeout_ms(int32(c, 0..=60_000));
            if within(3, 5) {
                let (id, epoch) = producer(c, ctx);
                r.producer_id = ProducerId(id);
                r.producer_epoch = epoch;
            }
            enc(r, v)
        }
        // Transactions: one transactional id (the one InitProducerId asks for), producer ids
        // learned from it or extreme, few partitions so the coordinator's writes stay small.
        ApiKey::AddPartitionsToTxn => {
            let (id, epoch) = producer(c, ctx);
            enc(
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(s("fz-txn")))
                    .with_v3_and_below_producer_id(ProducerId(id))
                    .with_v3_and_below_producer_epoch(epoch)
                    .with_v3_and_below_topics(few(c, |c| {
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(topic(c))
                            .with_partitions(few(c, partition))
                    })),
                v,
            )
        }
        ApiKey::AddOffsetsToTxn => {
            let (id, epoch) = producer(c, ctx);
            enc(
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(s("fz-txn")))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_group_id(group(c)),
                v,
            )
        }
        ApiKey::EndTxn => {
            let (id, epoch) = producer(c, ctx);
            enc(
                EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(s("fz-txn")))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_committed(c.one_in(2)),
                v,
            )
        }
        ApiKey::TxnOffsetCommit => {
            let (id, epoch) = producer(c, ctx);
            let mut r = TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("fz-txn")))
                .with_group_id(group(c))
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch)
                .with_topics(few(c, |c| {
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic(c))
                        .with_partitions(few(c, |c| {
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(partition(c))
                                .with_committed_offset(offset(c))
                        }))
                }));
            if within(3, 5) {
                let (group_id, member, generation) = membership(c, ctx);
                r.group_id = group_id;
                r.member_id = member;
                r.generation_id = generation;
            }
            enc(r, v)
        }
        ApiKey::DescribeTransactions => enc(
            DescribeTransactionsRequest::default().with_transactional_ids(few(c, |c| {
                TransactionalId(s(c.pick(&["fz-txn", "fz-txn-unknown", ""])))
            })),
            v,
        ),
        ApiKey::ListTransactions => {
            let mut r = ListTransactionsRequest::default()
                .with_state_filters(few(c, |c| s(c.pick(&["Ongoing", "Empty", "Nonsense", ""]))))
                .with_producer_id_filters(few(c, |c| ProducerId(c.pick(INTERESTING_I64))));
            if within(1, 2) {
                r.duration_filter = int64(c, -1..=1_000);
            }
            enc(r, v)
        }
        _ => return None,
    };
    Some(body)
}
