//! `sluice txn list|describe`, as kafka-transactions.sh: the same columns, from
//! ListTransactions (every broker) and DescribeTransactions (the id's coordinator, found with
//! FindCoordinator key type TRANSACTION).

use std::collections::BTreeMap;

use clap::Subcommand;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, FindCoordinatorRequest, ListTransactionsRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};

use super::output::{print_json, Format, Table};
use super::ClientOpts;
use sluice_client::{Client, ClientError};

const LIST_TRANSACTIONS_VERSION: i16 = 0;
const DESCRIBE_TRANSACTIONS_VERSION: i16 = 0;
const FIND_COORDINATOR_VERSION: i16 = 1;
const KEY_TYPE_TRANSACTION: i8 = 1;

#[derive(Subcommand, Debug)]
pub enum TxnAction {
    /// Every transactional id of every broker: its coordinator, producer id and state.
    List,
    /// One transactional id's state, as its coordinator reports it.
    Describe {
        #[arg(long = "transactional-id")]
        transactional_id: String,
    },
}

pub fn run(opts: &ClientOpts, action: TxnAction) -> Result<(), ClientError> {
    let mut client = opts.client()?;
    match action {
        TxnAction::List => list(&mut client, opts.format),
        TxnAction::Describe { transactional_id } => {
            describe(&mut client, opts.format, &transactional_id)
        }
    }
}

fn list(client: &mut Client, format: Format) -> Result<(), ClientError> {
    // transactional id → (coordinator, producer id, state)
    let mut ids: BTreeMap<String, (i32, i64, String)> = BTreeMap::new();
    for node in client.broker_ids()? {
        let (_, r) = client.node(node)?.call(
            &ListTransactionsRequest::default(),
            LIST_TRANSACTIONS_VERSION,
        )?;
        ClientError::check(r.error_code, None, format!("transactions of broker {node}"))?;
        for t in &r.transaction_states {
            ids.insert(
                t.transactional_id.0.to_string(),
                (node, t.producer_id.0, t.transaction_state.to_string()),
            );
        }
    }
    match format {
        Format::Json => print_json(&Value::Array(
            ids.iter()
                .map(|(id, (node, pid, state))| {
                    json!({ "transactional_id": id, "coordinator": node, "producer_id": pid, "transaction_state": state })
                })
                .collect(),
        )),
        Format::Table => {
            let mut t = Table::new(&[
                "TransactionalId",
                "Coordinator",
                "ProducerId",
                "TransactionState",
            ]);
            for (id, (node, pid, state)) in &ids {
                t.row(vec![
                    id.clone(),
                    node.to_string(),
                    pid.to_string(),
                    state.clone(),
                ]);
            }
            print!("{}", t.render());
        }
    }
    Ok(())
}

fn describe(client: &mut Client, format: Format, id: &str) -> Result<(), ClientError> {
    let first = *client
        .broker_ids()?
        .first()
        .ok_or_else(|| ClientError::Protocol("no broker in metadata".into()))?;
    let (_, found) = client.node(first)?.call(
        &FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(id.to_string()))
            .with_key_type(KEY_TYPE_TRANSACTION),
        FIND_COORDINATOR_VERSION,
    )?;
    ClientError::check(
        found.error_code,
        found.error_message.as_deref(),
        format!("the coordinator of {id}"),
    )?;
    let coordinator = found.node_id.0;
    let (_, r) = client.node(coordinator)?.call(
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]),
        DESCRIBE_TRANSACTIONS_VERSION,
    )?;
    let s = r
        .transaction_states
        .first()
        .ok_or_else(|| ClientError::Protocol("an empty DescribeTransactions answer".into()))?;
    ClientError::check(s.error_code, None, format!("transactional id {id}"))?;
    let partitions: Vec<String> = s
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| format!("{}-{p}", t.topic.0))
        })
        .collect();
    let now = crate::log::now_ms();
    let (start, duration) = if s.transaction_start_time_ms >= 0 {
        (
            s.transaction_start_time_ms.to_string(),
            now.saturating_sub(s.transaction_start_time_ms).to_string(),
        )
    } else {
        ("None".to_string(), "None".to_string())
    };
    match format {
        Format::Json => print_json(&json!({
            "coordinator_id": coordinator,
            "transactional_id": s.transactional_id.0.to_string(),
            "producer_id": s.producer_id.0,
            "producer_epoch": s.producer_epoch,
            "transaction_state": s.transaction_state.to_string(),
            "transaction_timeout_ms": s.transaction_timeout_ms,
            "current_transaction_start_time_ms": (s.transaction_start_time_ms >= 0).then_some(s.transaction_start_time_ms),
            "topic_partitions": partitions,
        })),
        Format::Table => {
            let mut t = Table::new(&[
                "CoordinatorId",
                "TransactionalId",
                "ProducerId",
                "ProducerEpoch",
                "TransactionState",
                "TransactionTimeoutMs",
                "CurrentTransactionStartTimeMs",
                "TransactionDurationMs",
                "TopicPartitions",
            ]);
            t.row(vec![
                coordinator.to_string(),
                s.transactional_id.0.to_string(),
                s.producer_id.0.to_string(),
                s.producer_epoch.to_string(),
                s.transaction_state.to_string(),
                s.transaction_timeout_ms.to_string(),
                start,
                duration,
                partitions.join(","),
            ]);
            print!("{}", t.render());
        }
    }
    Ok(())
}
