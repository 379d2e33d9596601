//! EndTxn request, versions 0–5 (flexible from 3; v5's semantics are KIP-890 part 2's, whose
//! `transaction.version` 2 Sluice does not advertise, so clients send up to v4).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, EndTxnRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(EndTxnRequest, ApiKey::EndTxn, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<EndTxnRequest> {
    let flexible = version >= 3;
    let mut request = EndTxnRequest::default();
    request.transactional_id = try_get_string(buf, flexible, "transactional_id")?.into();
    request.producer_id = try_get_i64(buf, "producer_id")?.into();
    request.producer_epoch = try_get_i16(buf, "producer_epoch")?;
    request.committed = try_get_bool(buf, "committed")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "end_txn")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> EndTxnRequest {
        let mut r = EndTxnRequest::default();
        r.transactional_id = string(rng).into();
        r.producer_id = rng.gen::<i64>().into();
        r.producer_epoch = rng.gen();
        r.committed = rng.gen();
        r.unknown_tagged_fields = tags(rng, version >= 3);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
