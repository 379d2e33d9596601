//! AlterClientQuotas request, versions 0-1 (v1 flexible).

use bytes::Bytes;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::{AlterClientQuotasRequest, ApiKey};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(AlterClientQuotasRequest, ApiKey::AlterClientQuotas, 0..=1);

fn decode(buf: &mut Bytes, version: i16) -> Result<AlterClientQuotasRequest> {
    let flexible = version >= 1;
    let mut request = AlterClientQuotasRequest::default();
    let entity_bytes_min = 2 * string_bytes_min(flexible) + tags_bytes_min(flexible);
    let op_bytes_min = string_bytes_min(flexible) + 8 + 1 + tags_bytes_min(flexible);
    let entry_bytes_min = 2 * array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.entries = try_get_array(buf, flexible, entry_bytes_min, "entries", |buf| {
        let mut e = EntryData::default();
        e.entity = try_get_array(buf, flexible, entity_bytes_min, "entity", |buf| {
            let mut d = EntityData::default();
            d.entity_type = try_get_string(buf, flexible, "entity_type")?;
            d.entity_name = try_get_nullable_string(buf, flexible, "entity_name")?;
            d.unknown_tagged_fields = try_get_tags_if(buf, flexible, "entity")?;
            Ok(d)
        })?;
        e.ops = try_get_array(buf, flexible, op_bytes_min, "ops", |buf| {
            let mut o = OpData::default();
            o.key = try_get_string(buf, flexible, "key")?;
            o.value = try_get_f64(buf, "value")?;
            o.remove = try_get_bool(buf, "remove")?;
            o.unknown_tagged_fields = try_get_tags_if(buf, flexible, "op")?;
            Ok(o)
        })?;
        e.unknown_tagged_fields = try_get_tags_if(buf, flexible, "entry")?;
        Ok(e)
    })?;
    request.validate_only = try_get_bool(buf, "validate_only")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "alter_client_quotas")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> AlterClientQuotasRequest {
        let flexible = version >= 1;
        let mut r = AlterClientQuotasRequest::default();
        r.entries = vec(rng, 3, |rng| {
            let mut e = EntryData::default();
            e.entity = vec(rng, 2, |rng| {
                let mut d = EntityData::default();
                d.entity_type = string(rng);
                d.entity_name = opt_string(rng);
                d.unknown_tagged_fields = tags(rng, flexible);
                d
            });
            e.ops = vec(rng, 3, |rng| {
                let mut o = OpData::default();
                o.key = string(rng);
                // Finite values only: NaN != NaN would fail the oracle's comparison.
                o.value = f64::from(rng.gen::<i32>()) / 7.0;
                o.remove = rng.gen();
                o.unknown_tagged_fields = tags(rng, flexible);
                o
            });
            e.unknown_tagged_fields = tags(rng, flexible);
            e
        });
        r.validate_only = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
