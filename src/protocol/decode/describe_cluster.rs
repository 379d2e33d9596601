//! DescribeCluster request, versions 0–1 (flexible from 0). The crate's type goes to v2.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, DescribeClusterRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DescribeClusterRequest, ApiKey::DescribeCluster, 0..=1);

fn decode(buf: &mut Bytes, version: i16) -> Result<DescribeClusterRequest> {
    let mut request = DescribeClusterRequest::default();
    request.include_cluster_authorized_operations =
        try_get_bool(buf, "include_cluster_authorized_operations")?;
    if version >= 1 {
        request.endpoint_type = try_get_i8(buf, "endpoint_type")?;
    }
    // include_fenced_brokers is v2+, past our range.
    request.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "describe_cluster")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DescribeClusterRequest {
        let mut r = DescribeClusterRequest::default();
        r.include_cluster_authorized_operations = rng.gen();
        if version >= 1 {
            r.endpoint_type = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
