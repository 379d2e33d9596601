//! ListTransactions request, versions 0–1 (flexible; duration filter from 1). The crate's type
//! goes to v2, whose transactional-id pattern (a Java regular expression) is not served.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ListTransactionsRequest, ProducerId};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(ListTransactionsRequest, ApiKey::ListTransactions, 0..=1);

fn decode(buf: &mut Bytes, version: i16) -> Result<ListTransactionsRequest> {
    let mut request = ListTransactionsRequest::default();
    request.state_filters = try_get_string_array(buf, true, "state_filters")?;
    request.producer_id_filters = try_get_array(buf, true, 8, "producer_id_filters", |buf| {
        Ok(ProducerId(try_get_i64(buf, "producer_id_filters")?))
    })?;
    if version >= 1 {
        request.duration_filter = try_get_i64(buf, "duration_filter")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, true, "list_transactions")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> ListTransactionsRequest {
        let mut r = ListTransactionsRequest::default();
        r.state_filters = vec(rng, 4, string);
        r.producer_id_filters = vec(rng, 4, |rng| ProducerId(rng.gen()));
        if version >= 1 {
            r.duration_filter = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
