//! The `access_control` section: its vocabulary (permissions, flows, message kinds), each
//! list parsed and checked on its own as it is set ([`parse_rules`], [`parse_subjects`],
//! [`parse_policies`]), and the section checked as a whole ([`AclConf::check`]). The
//! policy it compiles into, and the decisions, are `crate::acl`'s: this module knows
//! nothing of them.

use std::collections::HashSet;

use plexus_transport::wire::ZenohId;
use serde_json::Value;

use super::ConfigError;
use crate::key_expr::OwnedKeyExpr;

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Permission {
    Allow,
    #[default]
    Deny,
}

/// Which way a message goes through a face.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Arriving from the remote process.
    Ingress = 0,
    /// Leaving to the remote process.
    Egress = 1,
}

/// The kinds of message access control decides on (Zenoh's `AclMessage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AclMessage {
    Put = 0,
    Delete,
    DeclareSubscriber,
    Query,
    DeclareQueryable,
    Reply,
    LivelinessToken,
    DeclareLivelinessSubscriber,
    LivelinessQuery,
}

pub(crate) const MESSAGES: [(&str, AclMessage); 9] = [
    ("put", AclMessage::Put),
    ("delete", AclMessage::Delete),
    ("declare_subscriber", AclMessage::DeclareSubscriber),
    ("query", AclMessage::Query),
    ("declare_queryable", AclMessage::DeclareQueryable),
    ("reply", AclMessage::Reply),
    ("liveliness_token", AclMessage::LivelinessToken),
    (
        "declare_liveliness_subscriber",
        AclMessage::DeclareLivelinessSubscriber,
    ),
    ("liveliness_query", AclMessage::LivelinessQuery),
];

/// Zenoh's `link_protocols` values.
const LINK_PROTOCOLS: [&str; 9] = [
    "tcp",
    "udp",
    "tls",
    "quic",
    "serial",
    "unixpipe",
    "unixsock-stream",
    "vsock",
    "ws",
];

/// One rule of `access_control/rules`.
#[derive(Clone, Debug)]
pub(crate) struct RuleConf {
    pub(crate) id: String,
    pub(crate) messages: Vec<AclMessage>,
    pub(crate) flows: Vec<Flow>,
    pub(crate) permission: Permission,
    pub(crate) key_exprs: Vec<OwnedKeyExpr>,
}

/// One entry of `access_control/subjects`; `None` properties match anything.
#[derive(Clone, Debug, Default)]
pub(crate) struct SubjectConf {
    pub(crate) id: String,
    pub(crate) interfaces: Option<Vec<String>>,
    pub(crate) cert_common_names: Option<Vec<String>>,
    pub(crate) usernames: Option<Vec<String>>,
    pub(crate) link_protocols: Option<Vec<String>>,
    pub(crate) zids: Option<Vec<ZenohId>>,
}

/// One entry of `access_control/policies`.
#[derive(Clone, Debug)]
pub(crate) struct PolicyConf {
    pub(crate) id: Option<String>,
    pub(crate) rules: Vec<String>,
    pub(crate) subjects: Vec<String>,
}

/// The `access_control` section as given (each item checked on its own).
#[derive(Clone, Debug, Default)]
pub(crate) struct AclConf {
    pub(crate) enabled: bool,
    pub(crate) default_permission: Permission,
    pub(crate) rules: Option<Vec<RuleConf>>,
    pub(crate) subjects: Option<Vec<SubjectConf>>,
    pub(crate) policies: Option<Vec<PolicyConf>>,
}

fn err(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Parses `default_permission`.
pub(crate) fn parse_permission(path: &str, v: &Value) -> Result<Permission, ConfigError> {
    match v.as_str() {
        Some("allow") => Ok(Permission::Allow),
        Some("deny") => Ok(Permission::Deny),
        _ => Err(err(
            path,
            format!("expected \"allow\" or \"deny\", got {v}"),
        )),
    }
}

/// The items of a list, or the error for something else.
fn list<'v>(path: &str, v: &'v Value) -> Result<&'v [Value], ConfigError> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| err(path, format!("expected a list, got {v}")))
}

/// An object's fields, rejecting any not in `known`.
fn fields<'v>(
    path: &str,
    what: &str,
    v: &'v Value,
    known: &[&str],
) -> Result<&'v serde_json::Map<String, Value>, ConfigError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(path, format!("expected a {what} object, got {v}")))?;
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        let id = obj.get("id").and_then(Value::as_str).unwrap_or("?");
        return Err(err(
            path,
            format!(
                "{what} {id:?}: unknown field {k:?} (expected {})",
                known.join(", ")
            ),
        ));
    }
    Ok(obj)
}

/// The `id` of a rule or subject: a non-empty string.
fn id_of(
    path: &str,
    what: &str,
    obj: &serde_json::Map<String, Value>,
) -> Result<String, ConfigError> {
    match obj.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(err(path, format!("{what} with an empty id"))),
        None => Err(err(path, format!("{what} without an id"))),
        Some(v) => Err(err(path, format!("{what} id must be a string, got {v}"))),
    }
}

/// A non-empty list of non-blank strings in field `field` of `what` `id`.
fn strings(
    path: &str,
    what: &str,
    id: &str,
    field: &str,
    v: &Value,
) -> Result<Vec<String>, ConfigError> {
    let items = v.as_array().ok_or_else(|| {
        err(
            path,
            format!("{what} {id:?}: `{field}` must be a list of strings, got {v}"),
        )
    })?;
    if items.is_empty() {
        return Err(err(
            path,
            format!("{what} {id:?}: `{field}` is an empty list (leave it out to match anything)"),
        ));
    }
    items
        .iter()
        .map(|i| match i.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
            Some(_) => Err(err(
                path,
                format!("{what} {id:?}: empty value in `{field}`"),
            )),
            None => Err(err(
                path,
                format!("{what} {id:?}: `{field}` must hold strings, got {i}"),
            )),
        })
        .collect()
}

/// Parses `access_control/rules`, checking each rule and that ids are unique.
pub(crate) fn parse_rules(path: &str, v: &Value) -> Result<Vec<RuleConf>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in list(path, v)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let obj = fields(
            &p,
            "rule",
            item,
            &["id", "messages", "flows", "permission", "key_exprs"],
        )?;
        let id = id_of(&p, "rule", obj)?;
        if !seen.insert(id.clone()) {
            return Err(err(
                &p,
                format!("rule id {id:?} is repeated: ids must be unique"),
            ));
        }
        let field = |name: &str| {
            obj.get(name)
                .ok_or_else(|| err(&p, format!("rule {id:?}: `{name}` is missing")))
        };
        let messages = strings(&p, "rule", &id, "messages", field("messages")?)?
            .iter()
            .map(|m| {
                MESSAGES
                    .iter()
                    .find(|(n, _)| n == m)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| {
                        let known: Vec<&str> = MESSAGES.iter().map(|(n, _)| *n).collect();
                        err(
                            &p,
                            format!(
                                "rule {id:?}: unknown message kind {m:?} (expected one of {})",
                                known.join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let flows = match obj.get("flows") {
            None | Some(Value::Null) => {
                tracing::warn!(
                    "access control rule {id:?}: no `flows`, applying it to ingress and egress"
                );
                vec![Flow::Ingress, Flow::Egress]
            }
            Some(f) => strings(&p, "rule", &id, "flows", f)?
                .iter()
                .map(|f| match f.as_str() {
                    "ingress" => Ok(Flow::Ingress),
                    "egress" => Ok(Flow::Egress),
                    _ => Err(err(
                        &p,
                        format!(
                            "rule {id:?}: unknown flow {f:?} (expected \"ingress\" or \"egress\")"
                        ),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let permission = parse_permission(&format!("{p}/permission"), field("permission")?)
            .map_err(|_| {
                err(
                    &p,
                    format!("rule {id:?}: `permission` must be \"allow\" or \"deny\""),
                )
            })?;
        let key_exprs = strings(&p, "rule", &id, "key_exprs", field("key_exprs")?)?
            .into_iter()
            .map(|k| {
                OwnedKeyExpr::new(k.clone())
                    .map_err(|e| err(&p, format!("rule {id:?}: bad key expression {k:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(RuleConf {
            id,
            messages,
            flows,
            permission,
            key_exprs,
        });
    }
    Ok(out)
}

/// Parses `access_control/subjects`, checking each subject and that ids are unique.
pub(crate) fn parse_subjects(path: &str, v: &Value) -> Result<Vec<SubjectConf>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in list(path, v)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let obj = fields(
            &p,
            "subject",
            item,
            &[
                "id",
                "interfaces",
                "cert_common_names",
                "usernames",
                "link_protocols",
                "zids",
            ],
        )?;
        let id = id_of(&p, "subject", obj)?;
        if !seen.insert(id.clone()) {
            return Err(err(
                &p,
                format!("subject id {id:?} is repeated: ids must be unique"),
            ));
        }
        let opt = |name: &str| -> Result<Option<Vec<String>>, ConfigError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => strings(&p, "subject", &id, name, v).map(Some),
            }
        };
        let link_protocols = opt("link_protocols")?;
        if let Some(bad) = link_protocols
            .iter()
            .flatten()
            .find(|l| !LINK_PROTOCOLS.contains(&l.as_str()))
        {
            return Err(err(
                &p,
                format!(
                    "subject {id:?}: unknown link protocol {bad:?} (expected one of {})",
                    LINK_PROTOCOLS.join(", ")
                ),
            ));
        }
        let zids = opt("zids")?
            .map(|z| {
                z.iter()
                    .map(|s| {
                        s.parse::<ZenohId>()
                            .map_err(|e| err(&p, format!("subject {id:?}: bad zid {s:?}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        out.push(SubjectConf {
            interfaces: opt("interfaces")?,
            cert_common_names: opt("cert_common_names")?,
            usernames: opt("usernames")?,
            link_protocols,
            zids,
            id,
        });
    }
    Ok(out)
}

/// Parses `access_control/policies`, checking each entry and that given ids are unique.
pub(crate) fn parse_policies(path: &str, v: &Value) -> Result<Vec<PolicyConf>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in list(path, v)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let obj = fields(&p, "policy", item, &["id", "rules", "subjects"])?;
        let id = match obj.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(err(&p, format!("policy id must be a string, got {v}"))),
        };
        let name = match &id {
            Some(id) => format!("{id:?}"),
            None => format!("#{i}"),
        };
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            return Err(err(
                &p,
                format!("policy id {id:?} is repeated: ids must be unique"),
            ));
        }
        let names = |field: &str| -> Result<Vec<String>, ConfigError> {
            let v = obj
                .get(field)
                .ok_or_else(|| err(&p, format!("policy {name}: `{field}` is missing")))?;
            let items = v.as_array().ok_or_else(|| {
                err(
                    &p,
                    format!("policy {name}: `{field}` must be a list of ids"),
                )
            })?;
            if items.is_empty() {
                return Err(err(
                    &p,
                    format!("policy {name}: `{field}` is an empty list"),
                ));
            }
            items
                .iter()
                .map(|i| match i.as_str() {
                    Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
                    _ => Err(err(
                        &p,
                        format!("policy {name}: `{field}` holds an empty or non-string id ({i})"),
                    )),
                })
                .collect()
        };
        out.push(PolicyConf {
            rules: names("rules")?,
            subjects: names("subjects")?,
            id,
        });
    }
    Ok(out)
}

/// The section once it holds together ([`AclConf::check`]): every policy's rules and
/// subjects resolved.
#[derive(Debug)]
pub(crate) struct Checked<'a> {
    pub(crate) subjects: &'a [SubjectConf],
    /// Each policy's rules and the ids of its subjects (all in `subjects`).
    pub(crate) policies: Vec<(Vec<&'a RuleConf>, Vec<&'a str>)>,
    /// A list is empty: every message gets `default_permission`.
    pub(crate) empty: bool,
}

impl AclConf {
    /// Checks the section as a whole: `None` when access control is off; an error naming
    /// the missing list, or the policy and the rule or subject it names that no list has.
    pub(crate) fn check(&self) -> Result<Option<Checked<'_>>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let (Some(rules), Some(subjects), Some(policies)) =
            (&self.rules, &self.subjects, &self.policies)
        else {
            let missing: Vec<&str> = [
                ("rules", self.rules.is_none()),
                ("subjects", self.subjects.is_none()),
                ("policies", self.policies.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect();
            return Err(err(
                "access_control",
                format!(
                    "enabled, but `{}` not given: rules, subjects and policies must all be provided",
                    missing.join("`, `")
                ),
            ));
        };
        let empty = rules.is_empty() || subjects.is_empty() || policies.is_empty();
        let mut checked = Checked {
            subjects,
            policies: Vec::new(),
            empty,
        };
        if empty {
            return Ok(Some(checked));
        }
        for (i, p) in policies.iter().enumerate() {
            let path = format!("access_control/policies[{i}]");
            let name = match &p.id {
                Some(id) => format!("{id:?}"),
                None => format!("#{i}"),
            };
            let mut subject_ids = Vec::new();
            for s in &p.subjects {
                let Some(known) = subjects.iter().find(|k| k.id == *s) else {
                    return Err(err(
                        &path,
                        format!("policy {name}: subject {s:?} is not in the subjects list"),
                    ));
                };
                subject_ids.push(known.id.as_str());
            }
            let mut rule_refs = Vec::new();
            for r in &p.rules {
                let Some(rule) = rules.iter().find(|k| k.id == *r) else {
                    return Err(err(
                        &path,
                        format!("policy {name}: rule {r:?} is not in the rules list"),
                    ));
                };
                rule_refs.push(rule);
            }
            checked.policies.push((rule_refs, subject_ids));
        }
        Ok(Some(checked))
    }
}
