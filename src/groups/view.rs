//! A group as the admin thread shows it (status page, `/metrics` lag): a plain copy taken on
//! the coordinator shard for its snapshot.

use super::state::Group;
use crate::metrics::{GroupView, MemberView};

pub fn view(g: &Group) -> GroupView {
    GroupView {
        group: g.id.clone(),
        state: g.state().name(),
        protocol_type: g.protocol_type().unwrap_or_default().to_string(),
        generation: g.generation(),
        members: g
            .member_ids()
            .iter()
            .filter_map(|id| g.member(id))
            .map(|m| MemberView {
                member_id: m.id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
            })
            .collect(),
        offsets: g
            .offsets
            .iter()
            .map(|((topic, partition), o)| (topic.clone(), *partition, o.offset))
            .collect(),
    }
}

/// A KIP-848 consumer group: its members with their epochs and assigned partitions; the
/// generation shown is the group epoch.
pub fn consumer_view(g: &Group, c: &super::consumer::ConsumerGroup) -> GroupView {
    GroupView {
        group: g.id.clone(),
        state: c.state_name(),
        protocol_type: super::consumer_protocol::CONSUMER_PROTOCOL_TYPE.to_string(),
        generation: c.group_epoch,
        members: c
            .members
            .values()
            .map(|m| MemberView {
                member_id: m.id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
            })
            .collect(),
        offsets: g
            .offsets
            .iter()
            .map(|((topic, partition), o)| (topic.clone(), *partition, o.offset))
            .collect(),
    }
}
