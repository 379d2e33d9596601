//! DescribeCluster (key 60): the Java admin client's view of the brokers (one per shard).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz_helpers::{Authz, AUTHORIZED_OPERATIONS_OMITTED};
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeCluster,
    min: 0,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeClusterRequest::try_decode(body, header.request_api_version)?;
    let snapshot = shard.snapshot();
    // Only the addresses of the listener the client connected to, as in Kafka.
    let brokers = session
        .listener
        .brokers
        .iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(str_bytes(&b.host))
                .with_port(i32::from(b.port))
        })
        .collect();
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(&snapshot.cluster_id))
        .with_controller_id(BrokerId(0))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            Authz::new(shard, session).cluster_operations_field()
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        });
    Ok(encode(&shard.metrics, header, &response))
}
