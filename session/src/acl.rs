//! Access control (`access_control` in the configuration), with Zenoh 1.10.2's shape and
//! decisions, sans-IO: the section parsed and checked ([`AclConf`]), compiled into an
//! [`AclPolicy`], the subject of one transport ([`FaceFacts`] → [`FaceAcl`]), and the
//! decision for one message kind, flow and key expression.
//!
//! Semantics (as Zenoh's):
//! - a *subject* entry lists properties (`interfaces`, `cert_common_names`, `usernames`,
//!   `link_protocols`, `zids`); a property left out matches anything, and the entry stands
//!   for every combination of one value per listed property;
//! - a transport matches the combinations whose every listed property is one of its own
//!   (its usrpwd user, its links' certificate common names, protocols and interfaces, its zid);
//! - for one matched combination, a `deny` rule whose key expression includes the
//!   message's key denies; else `default_permission: allow` allows; else an `allow` rule
//!   including the key allows; else it is denied. A combination that no policy names
//!   takes `default_permission`;
//! - over several matched combinations, any one that allows allows; with none matched,
//!   `default_permission` applies;
//! - `enabled: true` with an empty `rules`, `subjects` or `policies` list applies
//!   `default_permission` to everything (with a warning), as Zenoh does; a missing list is
//!   an error.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use plexus_transport::wire::ZenohId;
use serde_json::Value;

use crate::config::ConfigError;
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

const MESSAGES: [(&str, AclMessage); 9] = [
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
    id: String,
    messages: Vec<AclMessage>,
    flows: Vec<Flow>,
    permission: Permission,
    key_exprs: Vec<OwnedKeyExpr>,
}

/// One entry of `access_control/subjects`; `None` properties match anything.
#[derive(Clone, Debug, Default)]
pub(crate) struct SubjectConf {
    id: String,
    interfaces: Option<Vec<String>>,
    cert_common_names: Option<Vec<String>>,
    usernames: Option<Vec<String>>,
    link_protocols: Option<Vec<String>>,
    zids: Option<Vec<ZenohId>>,
}

/// One entry of `access_control/policies`.
#[derive(Clone, Debug)]
pub(crate) struct PolicyConf {
    id: Option<String>,
    rules: Vec<String>,
    subjects: Vec<String>,
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

/// One combination of subject properties (Zenoh's `Subject`); `None` matches anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Combo {
    interface: Option<String>,
    cert_common_name: Option<String>,
    username: Option<String>,
    link_protocol: Option<String>,
    zid: Option<ZenohId>,
}

/// The key expressions a combination's rules allow and deny, for one flow and message.
#[derive(Clone, Debug, Default)]
struct KeySets {
    allow: Vec<OwnedKeyExpr>,
    deny: Vec<OwnedKeyExpr>,
}

/// A combination's rules: `[flow][message]`.
type ComboRules = [[KeySets; 9]; 2];

/// What one transport is, as subjects see it.
#[derive(Clone, Debug, Default)]
pub(crate) struct FaceFacts {
    /// Its zenoh id.
    pub(crate) zid: Option<ZenohId>,
    /// The user it proved with usrpwd.
    pub(crate) username: Option<String>,
    /// The common names of the certificates it presented on its TLS links.
    pub(crate) cert_common_names: Vec<String>,
    /// The protocols of its links (`tcp`, `tls`, …).
    pub(crate) link_protocols: Vec<String>,
    /// The network interfaces of its links: those holding a link's local address, as
    /// Zenoh finds them (see [`interfaces_of`]).
    pub(crate) interfaces: Vec<String>,
}

/// A compiled `access_control` section.
#[derive(Debug)]
pub(crate) struct AclPolicy {
    default: Permission,
    combos: Vec<Combo>,
    /// Per combination (same index), its rules; `None` when no policy names it.
    rules: Vec<Option<Box<ComboRules>>>,
    /// No policy at all: every decision is `default`.
    no_policies: bool,
    /// Whether ingress and egress need checking at all (Zenoh's `interface_enabled`).
    ingress: bool,
    egress: bool,
    /// Whether a subject names `interfaces` (only then are a transport's looked up).
    uses_interfaces: bool,
}

impl AclConf {
    /// Checks the section as a whole and compiles it; `None` when access control is off.
    pub(crate) fn compile(&self) -> Result<Option<Arc<AclPolicy>>, ConfigError> {
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
        let deny_default = self.default_permission == Permission::Deny;
        let mut policy = AclPolicy {
            default: self.default_permission,
            combos: Vec::new(),
            rules: Vec::new(),
            no_policies: true,
            ingress: deny_default,
            egress: deny_default,
            uses_interfaces: false,
        };
        if rules.is_empty() || subjects.is_empty() || policies.is_empty() {
            tracing::warn!(
                "access control: an empty rules, subjects or policies list: every message gets \
                 default_permission ({:?})",
                self.default_permission
            );
            return Ok(Some(Arc::new(policy)));
        }
        let rule_by_id: HashMap<&str, &RuleConf> =
            rules.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut combo_ids: HashMap<Combo, usize> = HashMap::new();
        let mut subject_combos: HashMap<&str, Vec<usize>> = HashMap::new();
        for s in subjects {
            let mut ids = Vec::new();
            for interface in options(&s.interfaces) {
                for cn in options(&s.cert_common_names) {
                    for user in options(&s.usernames) {
                        for link in options(&s.link_protocols) {
                            for zid in options(&s.zids) {
                                let combo = Combo {
                                    interface: interface.clone(),
                                    cert_common_name: cn.clone(),
                                    username: user.clone(),
                                    link_protocol: link.clone(),
                                    zid,
                                };
                                let next = policy.combos.len();
                                let id = *combo_ids.entry(combo.clone()).or_insert(next);
                                if id == next {
                                    policy.combos.push(combo);
                                    policy.rules.push(None);
                                }
                                ids.push(id);
                            }
                        }
                    }
                }
            }
            subject_combos.insert(s.id.as_str(), ids);
            policy.uses_interfaces |= s.interfaces.is_some();
        }
        for (i, p) in policies.iter().enumerate() {
            let path = format!("access_control/policies[{i}]");
            let name = match &p.id {
                Some(id) => format!("{id:?}"),
                None => format!("#{i}"),
            };
            for s in &p.subjects {
                if !subject_combos.contains_key(s.as_str()) {
                    return Err(err(
                        &path,
                        format!("policy {name}: subject {s:?} is not in the subjects list"),
                    ));
                }
            }
            for r in &p.rules {
                let Some(rule) = rule_by_id.get(r.as_str()) else {
                    return Err(err(
                        &path,
                        format!("policy {name}: rule {r:?} is not in the rules list"),
                    ));
                };
                for s in &p.subjects {
                    for &c in &subject_combos[s.as_str()] {
                        let slot = policy.rules[c].get_or_insert_with(Default::default);
                        for &flow in &rule.flows {
                            for &m in &rule.messages {
                                let sets = &mut slot[flow as usize][m as usize];
                                let list = match rule.permission {
                                    Permission::Allow => &mut sets.allow,
                                    Permission::Deny => &mut sets.deny,
                                };
                                list.extend(rule.key_exprs.iter().cloned());
                            }
                            policy.no_policies = false;
                            match flow {
                                Flow::Ingress => policy.ingress = true,
                                Flow::Egress => policy.egress = true,
                            }
                        }
                    }
                }
            }
        }
        Ok(Some(Arc::new(policy)))
    }
}

/// `None` (a wildcard) for a property left out, else each of its values.
fn options<T: Clone>(values: &Option<Vec<T>>) -> Vec<Option<T>> {
    match values {
        None => vec![None],
        Some(v) => v.iter().cloned().map(Some).collect(),
    }
}

/// `Some(v)` must be one of `have`; `None` matches anything.
fn property<T: PartialEq>(want: &Option<T>, have: &[T]) -> bool {
    want.as_ref().is_none_or(|w| have.contains(w))
}

impl AclPolicy {
    /// Whether subjects match on network interfaces, so that a transport's facts must
    /// list them ([`interfaces_of`]).
    pub(crate) fn uses_interfaces(&self) -> bool {
        self.uses_interfaces
    }

    /// The combinations a transport with these facts matches (Zenoh's subject query).
    fn subjects_of(&self, f: &FaceFacts) -> Vec<usize> {
        // A transport without links (never, in practice) matches no combination, as in Zenoh.
        if f.link_protocols.is_empty() {
            return Vec::new();
        }
        let username: Vec<String> = f.username.iter().cloned().collect();
        let zid: Vec<ZenohId> = f.zid.iter().copied().collect();
        self.combos
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                property(&c.interface, &f.interfaces)
                    && property(&c.cert_common_name, &f.cert_common_names)
                    && property(&c.username, &username)
                    && property(&c.link_protocol, &f.link_protocols)
                    && property(&c.zid, &zid)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The decision for one matched combination.
    fn decide_one(
        &self,
        combo: usize,
        flow: Flow,
        msg: AclMessage,
        key: &OwnedKeyExpr,
    ) -> Permission {
        if self.no_policies {
            return self.default;
        }
        let Some(rules) = self.rules.get(combo).and_then(Option::as_ref) else {
            return self.default;
        };
        let sets = &rules[flow as usize][msg as usize];
        if sets.deny.iter().any(|k| k.includes(key)) {
            return Permission::Deny;
        }
        if self.default == Permission::Allow || sets.allow.iter().any(|k| k.includes(key)) {
            Permission::Allow
        } else {
            Permission::Deny
        }
    }

    /// The decision for a transport that matched `subjects`.
    fn decide(
        &self,
        subjects: &[usize],
        flow: Flow,
        msg: AclMessage,
        key: &OwnedKeyExpr,
    ) -> Permission {
        let mut decision = self.default;
        for &s in subjects {
            match self.decide_one(s, flow, msg, key) {
                Permission::Allow => return Permission::Allow,
                Permission::Deny => decision = Permission::Deny,
            }
        }
        decision
    }

    /// The access control of one transport; `None` when nothing it sends or is sent
    /// needs checking.
    pub(crate) fn face(self: &Arc<Self>, facts: &FaceFacts) -> Option<Arc<FaceAcl>> {
        if !self.ingress && !self.egress {
            return None;
        }
        let subjects = self.subjects_of(facts);
        if subjects.is_empty() {
            tracing::info!(
                "access control: {} matches no subject: default_permission ({:?}) applies to \
                 all its messages",
                facts.zid.map(|z| z.to_string()).unwrap_or_default(),
                self.default
            );
        }
        Some(Arc::new(FaceAcl {
            policy: self.clone(),
            subjects,
            cache: Mutex::new(HashMap::new()),
        }))
    }
}

/// The names of the network interfaces that hold one of `addrs` (a link's local
/// addresses), as Zenoh's links report them: every interface for an unspecified
/// address; an IPv4-mapped IPv6 address counts as its IPv4 address.
pub(crate) fn interfaces_of(addrs: &[std::net::IpAddr]) -> Vec<String> {
    if addrs.is_empty() {
        return Vec::new();
    }
    let mut names: Vec<String> = Vec::new();
    for iface in pnet_datalink::interfaces() {
        let holds = addrs.iter().any(|a| {
            let a = a.to_canonical();
            a.is_unspecified() || iface.ips.iter().any(|net| net.ip() == a)
        });
        if holds && !names.contains(&iface.name) {
            names.push(iface.name);
        }
    }
    names
}

/// How many keys a face's decision cache holds before it starts afresh.
const CACHE_MAX: usize = 1024;

/// The access control of one transport: its matched subjects, and its decisions by key
/// (every flow and message kind at once, as a bit mask), cached.
#[derive(Debug)]
pub(crate) struct FaceAcl {
    policy: Arc<AclPolicy>,
    subjects: Vec<usize>,
    cache: Mutex<HashMap<OwnedKeyExpr, u32>>,
}

impl FaceAcl {
    /// Whether messages of kind `msg` on `key` may go `flow` through this face.
    pub(crate) fn allows(&self, flow: Flow, msg: AclMessage, key: &OwnedKeyExpr) -> bool {
        let enabled = match flow {
            Flow::Ingress => self.policy.ingress,
            Flow::Egress => self.policy.egress,
        };
        if !enabled {
            return true;
        }
        let bit = 1u32 << (flow as u32 * 9 + msg as u32);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mask) = cache.get(key) {
            return mask & bit != 0;
        }
        let mut mask = 0u32;
        for f in [Flow::Ingress, Flow::Egress] {
            for (_, m) in MESSAGES {
                if self.policy.decide(&self.subjects, f, m, key) == Permission::Allow {
                    mask |= 1 << (f as u32 * 9 + m as u32);
                }
            }
        }
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key.clone(), mask);
        mask & bit != 0
    }

    /// True if this face's messages need checking when they arrive.
    pub(crate) fn checks_ingress(&self) -> bool {
        self.policy.ingress
    }

    /// True if messages need checking before they go to this face.
    pub(crate) fn checks_egress(&self) -> bool {
        self.policy.egress
    }
}

#[cfg(test)]
mod tests;
