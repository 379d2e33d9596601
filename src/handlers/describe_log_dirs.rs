//! DescribeLogDirs (key 35): the log directory of this broker (= this shard) and the size of
//! every partition it owns there. Each shard answers for its own partitions only, as each Kafka
//! broker answers for its own replicas, so admin tools that ask every broker see each partition
//! once, on its leader.

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeLogDirs,
    min: 1,
    max: 4,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeLogDirsRequest::try_decode(body, header.request_api_version)?;
    if !Authz::new(shard, session).cluster(AclOperation::Describe) {
        // Kafka: no results, and (v3+) CLUSTER_AUTHORIZATION_FAILED.
        let mut response = DescribeLogDirsResponse::default();
        if header.request_api_version >= 3 {
            response = response.with_error_code(ResponseError::ClusterAuthorizationFailed.code());
        }
        return Ok(encode(&shard.metrics, header, &response));
    }
    // None: every partition; Some(map): the named partitions of the named topics.
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request.topics.as_ref().map(|t| {
        t.iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect()
    });
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for p in shard.local_partitions() {
        let included = match &wanted {
            None => true,
            Some(w) => w.get(&p.topic).is_some_and(|ps| ps.contains(&p.index)),
        };
        if included {
            topics.entry(p.topic.clone()).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(p.index)
                    .with_partition_size(i64::try_from(p.log().size_bytes()).unwrap_or(i64::MAX))
                    .with_offset_lag(0),
            );
        }
    }
    // statvfs and canonicalize are blocking file-system calls: the shard's blocking pool makes
    // them, so a slow or hung mount holds up this request only.
    let data_dir = shard.config.data_dir.clone();
    let (dir, (total, usable)) = shard
        .storage
        .blocking
        .run(move || {
            let space = disk_space(&data_dir);
            Ok((std::fs::canonicalize(&data_dir).unwrap_or(data_dir), space))
        })
        .await
        .unwrap_or_else(|_| (shard.config.data_dir.clone(), (-1, -1)));
    let result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(&dir.to_string_lossy()))
        .with_topics(
            topics
                .into_iter()
                .map(|(name, mut partitions)| {
                    partitions.sort_by_key(|p| p.partition_index);
                    DescribeLogDirsTopic::default()
                        .with_name(TopicName(str_bytes(&name)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_total_bytes(total)
        .with_usable_bytes(usable);
    Ok(encode(
        &shard.metrics,
        header,
        &DescribeLogDirsResponse::default().with_results(vec![result]),
    ))
}

/// (total, usable) bytes of the file system holding `dir`; -1 each if statvfs fails (Kafka's
/// "unknown" for these fields).
fn disk_space(dir: &std::path::Path) -> (i64, i64) {
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return (-1, -1);
    };
    // SAFETY: statvfs writes into the zeroed struct; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return (-1, -1);
    }
    let block = st.f_frsize as i64;
    (
        (st.f_blocks as i64).saturating_mul(block),
        (st.f_bavail as i64).saturating_mul(block),
    )
}
