//! DescribeTransactions request, version 0 (flexible).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, DescribeTransactionsRequest, TransactionalId};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    DescribeTransactionsRequest,
    ApiKey::DescribeTransactions,
    0..=0
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<DescribeTransactionsRequest> {
    let mut request = DescribeTransactionsRequest::default();
    request.transactional_ids = try_get_string_array(buf, true, "transactional_ids")?
        .into_iter()
        .map(TransactionalId)
        .collect();
    request.unknown_tagged_fields = try_get_tags_if(buf, true, "describe_transactions")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> DescribeTransactionsRequest {
        let mut r = DescribeTransactionsRequest::default();
        r.transactional_ids = vec(rng, 4, |rng| TransactionalId(string(rng)));
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
