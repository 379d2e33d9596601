//! A transactional producer's calls to its transaction coordinator (KIP-98): InitProducerId
//! with a `transactional.id`, AddPartitionsToTxn, EndTxn. Produce stays the caller's: its
//! batches carry the transactional flag, [`TxnProducer::fields`] and per-partition sequences,
//! and the request names the transactional id. Used by sluice-bench's transactional lanes;
//! speaks plain Kafka, so any broker with transactions serves it.
//!
//! Runs on a client process's thread.

use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::{topic_name, Client, ClientError, Conn};
use crate::limits::{CLIENT_TXN_ATTEMPTS_MAX, CLIENT_TXN_RETRY_BACKOFF_MS};
use crate::records::ProducerFields;

/// Newest versions this client fills in: InitProducerId v4 (KIP-588's PRODUCER_FENCED; v5+ is
/// KIP-890 part 2), AddPartitionsToTxn v3 (v4+ is broker to broker), EndTxn v3 (v4+ is
/// KIP-890's).
const INIT_PRODUCER_ID_VERSION_MAX: i16 = 4;
const ADD_PARTITIONS_TO_TXN_VERSION_MAX: i16 = 3;
const END_TXN_VERSION_MAX: i16 = 3;

/// A transactional producer's identity: its id, the producer id and epoch the coordinator gave
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnProducer {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
}

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

impl TxnProducer {
    /// InitProducerId for `transactional_id` with `transaction_timeout_ms`: a new producer id
    /// and epoch (fencing any earlier producer of the id, aborting its open transaction).
    pub fn init(
        client: &mut Client,
        transactional_id: &str,
        transaction_timeout_ms: i32,
    ) -> Result<TxnProducer, ClientError> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id(transactional_id)))
            .with_transaction_timeout_ms(transaction_timeout_ms)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let r = with_txn_coordinator(client, transactional_id, |conn| {
            let (_, r) = conn.call(&request, INIT_PRODUCER_ID_VERSION_MAX)?;
            ClientError::check(
                r.error_code,
                None,
                format!("InitProducerId of {transactional_id}"),
            )?;
            Ok(r)
        })?;
        Ok(TxnProducer {
            transactional_id: transactional_id.to_string(),
            producer_id: r.producer_id.0,
            epoch: r.producer_epoch,
        })
    }

    /// The producer fields of this producer's transactional batch starting at `base_sequence`.
    pub fn fields(&self, base_sequence: i32) -> ProducerFields {
        ProducerFields {
            id: self.producer_id,
            epoch: self.epoch,
            base_sequence,
            transactional: true,
        }
    }

    /// AddPartitionsToTxn: `partitions` of `topic` join the producer's transaction (begun by
    /// the first add after InitProducerId or the last EndTxn).
    pub fn add_partitions(
        &self,
        client: &mut Client,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), ClientError> {
        let id = &self.transactional_id;
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id(id))
            .with_v3_and_below_producer_id(ProducerId(self.producer_id))
            .with_v3_and_below_producer_epoch(self.epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(partitions.to_vec())]);
        with_txn_coordinator(client, id, |conn| {
            let (_, r) = conn.call(&request, ADD_PARTITIONS_TO_TXN_VERSION_MAX)?;
            for t in &r.results_by_topic_v3_and_below {
                for p in &t.results_by_partition {
                    ClientError::check(
                        p.partition_error_code,
                        None,
                        format!(
                            "AddPartitionsToTxn of {id}: {}-{}",
                            t.name.0, p.partition_index
                        ),
                    )?;
                }
            }
            Ok(())
        })
    }

    /// EndTxn: commit (or abort) the producer's transaction. Answers once the coordinator has
    /// completed it (Sluice: after every marker is written; Kafka: once PREPARE is written).
    pub fn end(&self, client: &mut Client, commit: bool) -> Result<(), ClientError> {
        let id = &self.transactional_id;
        let request = EndTxnRequest::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.epoch)
            .with_committed(commit);
        with_txn_coordinator(client, id, |conn| {
            let (_, r) = conn.call(&request, END_TXN_VERSION_MAX)?;
            ClientError::check(r.error_code, None, format!("EndTxn of {id}"))
        })
    }
}

/// Run `f` on the transaction coordinator of `transactional_id`, finding it again while it
/// answers retriably (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS
/// while an earlier transaction's markers are still being written...).
pub fn with_txn_coordinator<T>(
    client: &mut Client,
    transactional_id: &str,
    mut f: impl FnMut(&mut Conn) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let mut last = None;
    for _ in 0..CLIENT_TXN_ATTEMPTS_MAX {
        let node = client.transaction_coordinator(transactional_id)?;
        match f(client.node(node)?) {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() => {
                if matches!(e, ClientError::Network(_)) {
                    client.forget(node);
                }
                client.forget_transaction_coordinator(transactional_id);
                last = Some(e);
                std::thread::sleep(Duration::from_millis(CLIENT_TXN_RETRY_BACKOFF_MS));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ClientError::Protocol("transaction coordinator unavailable".into())))
}
