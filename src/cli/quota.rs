//! `sluice quota set|describe`: client quotas, as kafka-configs.sh manages them
//! (`--entity-type users|clients --entity-name NAME|--entity-default`, or `--user`, `--client`,
//! `--user-defaults`, `--client-defaults` for user + client-id combinations;
//! `--add-config 'producer_byte_rate=1048576,...'`, `--delete-config KEY,...`), through
//! AlterClientQuotas and DescribeClientQuotas on the controller.

use clap::{Args, Subcommand};
use kafka_protocol::messages::{
    alter_client_quotas_request, describe_client_quotas_request, AlterClientQuotasRequest,
    DescribeClientQuotasRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Map, Value};
use sluice_client::ClientError;

use super::output::{print_json, Table};
use super::{ClientOpts, Format};

const DESCRIBE_CLIENT_QUOTAS_VERSION_MAX: i16 = 1;
const ALTER_CLIENT_QUOTAS_VERSION_MAX: i16 = 1;
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_ANY: i8 = 2;

#[derive(Args, Debug)]
pub struct QuotaCommand {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: QuotaAction,
}

/// Which entity: kafka-configs.sh's two ways of naming one.
#[derive(Args, Debug, Clone, Default)]
pub struct EntityArgs {
    /// `users` or `clients` (with --entity-name or --entity-default).
    #[arg(long, value_parser = ["users", "clients"])]
    pub entity_type: Option<String>,
    /// The user or client id named by --entity-type.
    #[arg(long, requires = "entity_type", conflicts_with = "entity_default")]
    pub entity_name: Option<String>,
    /// The `<default>` of --entity-type.
    #[arg(long, requires = "entity_type")]
    pub entity_default: bool,
    /// A user (combinable with --client / --client-defaults).
    #[arg(long, conflicts_with_all = ["entity_type", "user_defaults"])]
    pub user: Option<String>,
    /// The default user.
    #[arg(long, conflicts_with = "entity_type")]
    pub user_defaults: bool,
    /// A client id (combinable with --user / --user-defaults).
    #[arg(long, conflicts_with_all = ["entity_type", "client_defaults"])]
    pub client: Option<String>,
    /// The default client id.
    #[arg(long, conflicts_with = "entity_type")]
    pub client_defaults: bool,
}

#[derive(Subcommand, Debug)]
pub enum QuotaAction {
    /// Set and/or delete quota values of one entity.
    Set {
        #[command(flatten)]
        entity: EntityArgs,
        /// Values to set: `producer_byte_rate=N,consumer_byte_rate=N,request_percentage=P`.
        #[arg(long)]
        add_config: Option<String>,
        /// Keys to remove, comma-separated.
        #[arg(long)]
        delete_config: Option<String>,
    },
    /// Show the configured quotas: all, or those of the entity given (a type alone: every
    /// entity of that type).
    Describe {
        #[command(flatten)]
        entity: EntityArgs,
    },
}

/// Entity components: (type, Some(name) / None = default / "any" when `any`).
fn components(e: &EntityArgs) -> Vec<(&'static str, Option<String>, bool)> {
    let mut out = Vec::new();
    if let Some(t) = &e.entity_type {
        let t = if t == "users" { "user" } else { "client-id" };
        let any = e.entity_name.is_none() && !e.entity_default;
        out.push((t, e.entity_name.clone(), any));
    }
    if let Some(u) = &e.user {
        out.push(("user", Some(u.clone()), false));
    } else if e.user_defaults {
        out.push(("user", None, false));
    }
    if let Some(c) = &e.client {
        out.push(("client-id", Some(c.clone()), false));
    } else if e.client_defaults {
        out.push(("client-id", None, false));
    }
    out
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn run(opts: &ClientOpts, action: QuotaAction) -> Result<(), ClientError> {
    let mut client = opts.client()?;
    match action {
        QuotaAction::Set {
            entity,
            add_config,
            delete_config,
        } => {
            let parts = components(&entity);
            if parts.is_empty() || parts.iter().any(|(_, _, any)| *any) {
                return Err(ClientError::Usage(
                    "name one entity: --entity-type with --entity-name or --entity-default, \
                     or --user/--user-defaults and/or --client/--client-defaults"
                        .into(),
                ));
            }
            let mut ops = Vec::new();
            for kv in add_config.iter().flat_map(|a| a.split(',')) {
                let kv = kv.trim();
                if kv.is_empty() {
                    continue;
                }
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    ClientError::Usage(format!("--add-config: {kv:?} is not key=value"))
                })?;
                let value: f64 = v.trim().parse().map_err(|_| {
                    ClientError::Usage(format!("--add-config: {k}: {v:?} is not a number"))
                })?;
                ops.push(
                    alter_client_quotas_request::OpData::default()
                        .with_key(s(k.trim()))
                        .with_value(value),
                );
            }
            for k in delete_config.iter().flat_map(|d| d.split(',')) {
                let k = k.trim();
                if !k.is_empty() {
                    ops.push(
                        alter_client_quotas_request::OpData::default()
                            .with_key(s(k))
                            .with_remove(true),
                    );
                }
            }
            if ops.is_empty() {
                return Err(ClientError::Usage(
                    "nothing to change: give --add-config and/or --delete-config".into(),
                ));
            }
            let request = AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(
                        parts
                            .iter()
                            .map(|(t, n, _)| {
                                alter_client_quotas_request::EntityData::default()
                                    .with_entity_type(s(t))
                                    .with_entity_name(n.as_deref().map(s))
                            })
                            .collect(),
                    )
                    .with_ops(ops),
            ]);
            let (_, response) = client
                .controller()?
                .call(&request, ALTER_CLIENT_QUOTAS_VERSION_MAX)?;
            let label = entity_label(parts.iter().map(|(t, n, _)| (*t, n.as_deref())));
            for e in &response.entries {
                ClientError::check(
                    e.error_code,
                    e.error_message.as_deref(),
                    format!("quotas of {label}"),
                )?;
            }
            match opts.format {
                Format::Json => print_json(&json!({ "entity": label, "altered": true })),
                Format::Table => println!("Altered the quotas of {label}."),
            }
            Ok(())
        }
        QuotaAction::Describe { entity } => {
            let parts = components(&entity);
            let request = DescribeClientQuotasRequest::default()
                .with_components(
                    parts
                        .iter()
                        .map(|(t, n, any)| {
                            let match_type = match (any, n) {
                                (true, _) => MATCH_ANY,
                                (false, Some(_)) => MATCH_EXACT,
                                (false, None) => MATCH_DEFAULT,
                            };
                            describe_client_quotas_request::ComponentData::default()
                                .with_entity_type(s(t))
                                .with_match_type(match_type)
                                .with_match(n.as_deref().map(s))
                        })
                        .collect(),
                )
                .with_strict(false);
            let (_, response) = client
                .controller()?
                .call(&request, DESCRIBE_CLIENT_QUOTAS_VERSION_MAX)?;
            ClientError::check(
                response.error_code,
                response.error_message.as_deref(),
                "client quotas",
            )?;
            let mut entries: Vec<Described> = response
                .entries
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let label = entity_label(
                        e.entity
                            .iter()
                            .map(|d| (d.entity_type.as_str(), d.entity_name.as_deref())),
                    );
                    let mut entity = Map::new();
                    for d in &e.entity {
                        entity.insert(
                            d.entity_type.to_string(),
                            d.entity_name
                                .as_ref()
                                .map_or(Value::Null, |n| Value::String(n.to_string())),
                        );
                    }
                    let values = e
                        .values
                        .iter()
                        .map(|v| (v.key.to_string(), v.value))
                        .collect();
                    (label, Value::Object(entity), values)
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            match opts.format {
                Format::Json => print_json(&Value::Array(
                    entries
                        .iter()
                        .map(|(_, entity, values)| {
                            let quotas: Map<String, Value> =
                                values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                            json!({ "entity": entity, "quotas": quotas })
                        })
                        .collect(),
                )),
                Format::Table => {
                    let mut t = Table::new(&["ENTITY", "QUOTAS"]);
                    for (label, _, values) in &entries {
                        let quotas: Vec<String> =
                            values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        t.row(vec![label.clone(), quotas.join(",")]);
                    }
                    print!("{}", t.render());
                }
            }
            Ok(())
        }
    }
}

/// One described entity: its label, its JSON form, its values.
type Described = (String, Value, Vec<(String, f64)>);

/// `user=alice,client-id=<default>`: an entity as kafka-configs.sh names its parts.
fn entity_label<'a>(parts: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut parts: Vec<String> = parts
        .map(|(t, n)| format!("{t}={}", n.unwrap_or("<default>")))
        .collect();
    parts.sort_by(|a, b| b.cmp(a)); // user before client-id
    parts.join(",")
}
