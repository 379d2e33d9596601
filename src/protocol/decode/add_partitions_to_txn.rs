//! AddPartitionsToTxn request, versions 0–3 (flexible from 3): the client versions. The crate's
//! type goes to v5; v4+ (a batch of transactions, broker to broker) is not served.

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ApiKey};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(AddPartitionsToTxnRequest, ApiKey::AddPartitionsToTxn, 0..=3);

fn decode(buf: &mut Bytes, version: i16) -> Result<AddPartitionsToTxnRequest> {
    let flexible = version >= 3;
    let mut request = AddPartitionsToTxnRequest::default();
    request.v3_and_below_transactional_id =
        try_get_string(buf, flexible, "transactional_id")?.into();
    request.v3_and_below_producer_id = try_get_i64(buf, "producer_id")?.into();
    request.v3_and_below_producer_epoch = try_get_i16(buf, "producer_epoch")?;
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.v3_and_below_topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        let mut topic = AddPartitionsToTxnTopic::default();
        topic.name = try_get_string(buf, flexible, "name")?.into();
        topic.partitions = try_get_i32_array(buf, flexible, "partitions")?;
        topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
        Ok(topic)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "add_partitions_to_txn")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> AddPartitionsToTxnRequest {
        let flexible = version >= 3;
        let mut r = AddPartitionsToTxnRequest::default();
        r.v3_and_below_transactional_id = string(rng).into();
        r.v3_and_below_producer_id = rng.gen::<i64>().into();
        r.v3_and_below_producer_epoch = rng.gen();
        r.v3_and_below_topics = vec(rng, 3, |rng| {
            let mut t = AddPartitionsToTxnTopic::default();
            t.name = string(rng).into();
            t.partitions = vec(rng, 4, |rng| rng.gen());
            t.unknown_tagged_fields = tags(rng, flexible);
            t
        });
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
