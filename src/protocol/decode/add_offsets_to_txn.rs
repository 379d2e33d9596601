//! AddOffsetsToTxn request, versions 0–4 (flexible from 3).

use bytes::Bytes;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, ApiKey};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(AddOffsetsToTxnRequest, ApiKey::AddOffsetsToTxn, 0..=4);

fn decode(buf: &mut Bytes, version: i16) -> Result<AddOffsetsToTxnRequest> {
    let flexible = version >= 3;
    let mut request = AddOffsetsToTxnRequest::default();
    request.transactional_id = try_get_string(buf, flexible, "transactional_id")?.into();
    request.producer_id = try_get_i64(buf, "producer_id")?.into();
    request.producer_epoch = try_get_i16(buf, "producer_epoch")?;
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "add_offsets_to_txn")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> AddOffsetsToTxnRequest {
        let mut r = AddOffsetsToTxnRequest::default();
        r.transactional_id = string(rng).into();
        r.producer_id = rng.gen::<i64>().into();
        r.producer_epoch = rng.gen();
        r.group_id = string(rng).into();
        r.unknown_tagged_fields = tags(rng, version >= 3);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
