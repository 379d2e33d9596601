//! `sluice acl create|list|delete`, as kafka-acls.sh's `--add`, `--list` and `--remove`:
//! resources from `--topic`, `--group`, `--cluster`, `--transactional-id` with
//! `--resource-pattern-type`; entries from `--allow-principal` / `--deny-principal`,
//! `--allow-host` / `--deny-host` (default `*`) and repeatable `--operation` (default All).
//! Speaks CreateAcls / DescribeAcls / DeleteAcls to any Kafka broker, through the shared
//! [`ClientOpts`] (TLS, SASL).

use clap::{Args, Subcommand};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};

use super::output::{print_json, Format, Table};
use super::ClientOpts;
use crate::security::acl::binding::check_principal;
use crate::security::acl::{PatternType, Permission};
use crate::security::authz::{operations_of, AclOperation, ResourceType, CLUSTER_NAME};
use sluice_client::ClientError;

const CREATE_ACLS_VERSION_MAX: i16 = 3;
const DESCRIBE_ACLS_VERSION_MAX: i16 = 3;
const DELETE_ACLS_VERSION_MAX: i16 = 3;

/// The resources a command is about.
#[derive(Args, Debug, Clone, Default)]
pub struct Resources {
    /// A topic (repeatable; `*` for every topic).
    #[arg(long)]
    pub topic: Vec<String>,
    /// A consumer group (repeatable; `*` for every group).
    #[arg(long)]
    pub group: Vec<String>,
    /// The cluster (`kafka-cluster`).
    #[arg(long)]
    pub cluster: bool,
    /// A transactional id (repeatable; `*` for every one).
    #[arg(long)]
    pub transactional_id: Vec<String>,
    /// How names match: literal or prefixed; list and delete also take any and match (every
    /// ACL that applies to the named resource). Default: literal.
    #[arg(long, value_parser = parse_pattern_type)]
    pub resource_pattern_type: Option<PatternType>,
}

impl Resources {
    fn list(&self) -> Vec<(ResourceType, String)> {
        let mut out: Vec<(ResourceType, String)> = Vec::new();
        out.extend(self.topic.iter().map(|n| (ResourceType::Topic, n.clone())));
        out.extend(self.group.iter().map(|n| (ResourceType::Group, n.clone())));
        if self.cluster {
            out.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        out.extend(
            self.transactional_id
                .iter()
                .map(|n| (ResourceType::TransactionalId, n.clone())),
        );
        out
    }
}

/// Who and from where, for create and delete.
#[derive(Args, Debug, Clone, Default)]
pub struct Entries {
    /// A principal to allow, `User:alice` (repeatable).
    #[arg(long)]
    pub allow_principal: Vec<String>,
    /// A principal to deny (repeatable).
    #[arg(long)]
    pub deny_principal: Vec<String>,
    /// A host (IP) the allow entries apply to (repeatable; default `*`).
    #[arg(long)]
    pub allow_host: Vec<String>,
    /// A host the deny entries apply to (repeatable; default `*`).
    #[arg(long)]
    pub deny_host: Vec<String>,
    /// An operation (repeatable): Read, Write, Create, Delete, Alter, Describe,
    /// ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, TwoPhaseCommit, All.
    #[arg(long, value_parser = parse_operation)]
    pub operation: Vec<AclOperation>,
}

#[derive(Subcommand, Debug)]
pub enum AclAction {
    /// Add ACLs (kafka-acls.sh --add): every principal × host × operation × resource.
    Create {
        #[command(flatten)]
        resources: Resources,
        #[command(flatten)]
        entries: Entries,
    },
    /// List ACLs (kafka-acls.sh --list), of the named resources or all.
    List {
        #[command(flatten)]
        resources: Resources,
        /// Only the ACLs of this principal.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Remove ACLs (kafka-acls.sh --remove): those of the named resources matching the
    /// principals, hosts and operations given (none given: every ACL of the resources).
    Delete {
        #[command(flatten)]
        resources: Resources,
        #[command(flatten)]
        entries: Entries,
    },
}

fn parse_pattern_type(s: &str) -> Result<PatternType, String> {
    PatternType::from_name(s)
        .filter(|p| *p != PatternType::Unknown)
        .ok_or_else(|| format!("expected literal, prefixed, any or match, got {s:?}"))
}

fn parse_operation(s: &str) -> Result<AclOperation, String> {
    AclOperation::from_name(s.trim())
        .filter(|o| !matches!(o, AclOperation::Unknown | AclOperation::Any))
        .ok_or_else(|| format!("unknown operation {s:?}"))
}

fn usage(m: impl Into<String>) -> ClientError {
    ClientError::Usage(m.into())
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One ACL as the commands print it.
struct Row {
    resource_type: i8,
    name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission: i8,
}

fn names(r: &Row) -> [String; 7] {
    let rt = ResourceType::from_code(r.resource_type).map_or("?", ResourceType::name);
    let pt = PatternType::from_code(r.pattern_type).map_or("?", PatternType::name);
    let op = AclOperation::from_code(r.operation).map_or("?", AclOperation::name);
    let perm = Permission::from_code(r.permission).map_or("?", Permission::name);
    [
        r.principal.clone(),
        r.host.clone(),
        op.into(),
        perm.into(),
        rt.into(),
        r.name.clone(),
        pt.into(),
    ]
}

fn print_rows(format: Format, rows: &[Row]) {
    match format {
        Format::Table => {
            let mut t = Table::new(&[
                "PRINCIPAL",
                "HOST",
                "OPERATION",
                "PERMISSION",
                "RESOURCE_TYPE",
                "NAME",
                "PATTERN_TYPE",
            ]);
            for r in rows {
                t.row(names(r).to_vec());
            }
            print!("{}", t.render());
        }
        Format::Json => print_json(&Value::Array(rows.iter().map(row_json).collect())),
    }
}

fn row_json(r: &Row) -> Value {
    let [principal, host, operation, permission, resource_type, name, pattern_type] = names(r);
    json!({
        "principal": principal, "host": host, "operation": operation,
        "permission": permission, "resource_type": resource_type, "name": name,
        "pattern_type": pattern_type,
    })
}

pub fn run(opts: &ClientOpts, action: AclAction) -> Result<(), ClientError> {
    match action {
        AclAction::Create { resources, entries } => create(opts, &resources, &entries),
        AclAction::List {
            resources,
            principal,
        } => list(opts, &resources, principal.as_deref()),
        AclAction::Delete { resources, entries } => delete(opts, &resources, &entries),
    }
}

/// (principal, host, permission) triples of the entry options; hosts default to `*`.
fn entry_triples(e: &Entries) -> Result<Vec<(String, String, Permission)>, ClientError> {
    let mut out = Vec::new();
    for (principals, hosts, permission) in [
        (&e.allow_principal, &e.allow_host, Permission::Allow),
        (&e.deny_principal, &e.deny_host, Permission::Deny),
    ] {
        if principals.is_empty() && !hosts.is_empty() {
            let which = if permission == Permission::Allow {
                "--allow-host needs --allow-principal"
            } else {
                "--deny-host needs --deny-principal"
            };
            return Err(usage(which));
        }
        for p in principals {
            check_principal(p).map_err(usage)?;
            if hosts.is_empty() {
                out.push((p.clone(), "*".to_string(), permission));
            }
            for h in hosts {
                out.push((p.clone(), h.clone(), permission));
            }
        }
    }
    Ok(out)
}

fn create(opts: &ClientOpts, resources: &Resources, entries: &Entries) -> Result<(), ClientError> {
    let targets = resources.list();
    if targets.is_empty() {
        return Err(usage(
            "name a resource: --topic, --group, --cluster or --transactional-id",
        ));
    }
    let pattern = resources
        .resource_pattern_type
        .unwrap_or(PatternType::Literal);
    if !matches!(pattern, PatternType::Literal | PatternType::Prefixed) {
        return Err(usage(
            "--resource-pattern-type must be literal or prefixed to create ACLs",
        ));
    }
    let triples = entry_triples(entries)?;
    if triples.is_empty() {
        return Err(usage("give --allow-principal or --deny-principal"));
    }
    let operations = if entries.operation.is_empty() {
        vec![AclOperation::All]
    } else {
        entries.operation.clone()
    };
    let mut rows = Vec::new();
    for (rt, name) in &targets {
        for op in &operations {
            // kafka-acls.sh refuses operations a resource type does not have.
            if *op != AclOperation::All && !operations_of(*rt).contains(op) {
                return Err(usage(format!(
                    "ResourceType {} only supports operations {}",
                    rt.name(),
                    operations_of(*rt)
                        .iter()
                        .map(|o| o.name())
                        .chain(["ALL"])
                        .collect::<Vec<_>>()
                        .join(",")
                )));
            }
            for (principal, host, permission) in &triples {
                rows.push(Row {
                    resource_type: *rt as i8,
                    name: name.clone(),
                    pattern_type: pattern as i8,
                    principal: principal.clone(),
                    host: host.clone(),
                    operation: *op as i8,
                    permission: *permission as i8,
                });
            }
        }
    }
    let request = CreateAclsRequest::default().with_creations(
        rows.iter()
            .map(|r| {
                AclCreation::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(s(&r.name))
                    .with_resource_pattern_type(r.pattern_type)
                    .with_principal(s(&r.principal))
                    .with_host(s(&r.host))
                    .with_operation(r.operation)
                    .with_permission_type(r.permission)
            })
            .collect(),
    );
    let mut client = opts.client()?;
    let (_, response) = client
        .controller()?
        .call(&request, CREATE_ACLS_VERSION_MAX)?;
    let mut errors = Vec::new();
    for (r, result) in rows.iter().zip(&response.results) {
        if let Err(e) = ClientError::check(
            result.error_code,
            result.error_message.as_deref(),
            format!("ACL {}", names(r).join(" ")),
        ) {
            errors.push(e);
        }
    }
    if opts.format == Format::Table && errors.is_empty() {
        println!("Created {} ACL(s):", rows.len());
    }
    if errors.is_empty() {
        print_rows(opts.format, &rows);
        Ok(())
    } else {
        Err(ClientError::Several(errors))
    }
}

/// Filters for the named resources (pattern type as given; default literal), or one for all.
fn resource_filters(resources: &Resources) -> Vec<(i8, Option<String>, i8)> {
    let targets = resources.list();
    if targets.is_empty() {
        let pattern = resources.resource_pattern_type.unwrap_or(PatternType::Any);
        return vec![(ResourceType::Any as i8, None, pattern as i8)];
    }
    let pattern = resources
        .resource_pattern_type
        .unwrap_or(PatternType::Literal);
    targets
        .into_iter()
        .map(|(rt, name)| (rt as i8, Some(name), pattern as i8))
        .collect()
}

fn list(
    opts: &ClientOpts,
    resources: &Resources,
    principal: Option<&str>,
) -> Result<(), ClientError> {
    if let Some(p) = principal {
        check_principal(p).map_err(usage)?;
    }
    let mut client = opts.client()?;
    let mut rows = Vec::new();
    for (rt, name, pattern) in resource_filters(resources) {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(rt)
            .with_resource_name_filter(name.as_deref().map(s))
            .with_pattern_type_filter(pattern)
            .with_principal_filter(principal.map(s))
            .with_host_filter(None)
            .with_operation(AclOperation::Any as i8)
            .with_permission_type(Permission::Any as i8);
        let (_, response) = client.any()?.call(&request, DESCRIBE_ACLS_VERSION_MAX)?;
        ClientError::check(
            response.error_code,
            response.error_message.as_deref(),
            "describing ACLs",
        )?;
        for res in &response.resources {
            for a in &res.acls {
                rows.push(Row {
                    resource_type: res.resource_type,
                    name: res.resource_name.to_string(),
                    pattern_type: res.pattern_type,
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: a.operation,
                    permission: a.permission_type,
                });
            }
        }
    }
    print_rows(opts.format, &rows);
    Ok(())
}

fn delete(opts: &ClientOpts, resources: &Resources, entries: &Entries) -> Result<(), ClientError> {
    if resources.list().is_empty() {
        return Err(usage(
            "name a resource: --topic, --group, --cluster or --transactional-id",
        ));
    }
    let triples = entry_triples(entries)?;
    let operations: Vec<i8> = if entries.operation.is_empty() {
        vec![AclOperation::Any as i8]
    } else {
        entries.operation.iter().map(|o| *o as i8).collect()
    };
    let mut filters = Vec::new();
    for (rt, name, pattern) in resource_filters(resources) {
        let base = DeleteAclsFilter::default()
            .with_resource_type_filter(rt)
            .with_resource_name_filter(name.as_deref().map(s))
            .with_pattern_type_filter(pattern);
        if triples.is_empty() {
            for op in &operations {
                filters.push(
                    base.clone()
                        .with_principal_filter(None)
                        .with_host_filter(None)
                        .with_operation(*op)
                        .with_permission_type(Permission::Any as i8),
                );
            }
        }
        for (principal, host, permission) in &triples {
            for op in &operations {
                filters.push(
                    base.clone()
                        .with_principal_filter(Some(s(principal)))
                        .with_host_filter(Some(s(host)))
                        .with_operation(*op)
                        .with_permission_type(*permission as i8),
                );
            }
        }
    }
    let request = DeleteAclsRequest::default().with_filters(filters);
    let mut client = opts.client()?;
    let (_, response) = client
        .controller()?
        .call(&request, DELETE_ACLS_VERSION_MAX)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for f in &response.filter_results {
        if let Err(e) =
            ClientError::check(f.error_code, f.error_message.as_deref(), "deleting ACLs")
        {
            errors.push(e);
        }
        for m in &f.matching_acls {
            rows.push(Row {
                resource_type: m.resource_type,
                name: m.resource_name.to_string(),
                pattern_type: m.pattern_type,
                principal: m.principal.to_string(),
                host: m.host.to_string(),
                operation: m.operation,
                permission: m.permission_type,
            });
        }
    }
    if !errors.is_empty() {
        return Err(ClientError::Several(errors));
    }
    if opts.format == Format::Table {
        println!("Deleted {} ACL(s):", rows.len());
    }
    print_rows(opts.format, &rows);
    Ok(())
}
