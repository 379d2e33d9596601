//! InitProducerId request, versions 0–5 (flexible from 2). The crate's type goes to v6, whose
//! two-phase-commit fields (enable_2_pc, keep_prepared_txn) keep their defaults here.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(InitProducerIdRequest, ApiKey::InitProducerId, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<InitProducerIdRequest> {
    let flexible = version >= 2;
    let mut request = InitProducerIdRequest::default();
    request.transactional_id =
        try_get_nullable_string(buf, flexible, "transactional_id")?.map(Into::into);
    request.transaction_timeout_ms = try_get_i32(buf, "transaction_timeout_ms")?;
    if version >= 3 {
        request.producer_id = try_get_i64(buf, "producer_id")?.into();
        request.producer_epoch = try_get_i16(buf, "producer_epoch")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "init_producer_id")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> InitProducerIdRequest {
        let mut r = InitProducerIdRequest::default();
        r.transactional_id = opt_string(rng).map(Into::into);
        r.transaction_timeout_ms = rng.gen();
        if version >= 3 {
            r.producer_id = rng.gen::<i64>().into();
            r.producer_epoch = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, version >= 2);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
