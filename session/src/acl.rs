//! Access control (`access_control` in the configuration), with Zenoh 1.10.2's shape and
//! decisions, sans-IO: the section (parsed and checked by
//! `crate::config::access_control`) compiled into an [`AclPolicy`], the subject of one transport ([`FaceFacts`] → [`FaceAcl`]), and the
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use plexus_transport::wire::ZenohId;

use crate::config::ConfigError;
use crate::config::access_control::{AclConf, MESSAGES};
pub(crate) use crate::config::access_control::{AclMessage, Flow, Permission};
use crate::key_expr::OwnedKeyExpr;

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

impl AclPolicy {
    /// Compiles a section that holds together ([`AclConf::check`]); `None` when access
    /// control is off.
    pub(crate) fn compile(conf: &AclConf) -> Result<Option<Arc<AclPolicy>>, ConfigError> {
        let Some(checked) = conf.check()? else {
            return Ok(None);
        };
        let deny_default = conf.default_permission == Permission::Deny;
        let mut policy = AclPolicy {
            default: conf.default_permission,
            combos: Vec::new(),
            rules: Vec::new(),
            no_policies: true,
            ingress: deny_default,
            egress: deny_default,
            uses_interfaces: false,
        };
        if checked.empty {
            tracing::warn!(
                "access control: an empty rules, subjects or policies list: every message gets \
                 default_permission ({:?})",
                conf.default_permission
            );
            return Ok(Some(Arc::new(policy)));
        }
        let mut combo_ids: HashMap<Combo, usize> = HashMap::new();
        let mut subject_combos: HashMap<&str, Vec<usize>> = HashMap::new();
        for s in checked.subjects {
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
        for (rules, subjects) in &checked.policies {
            for rule in rules {
                for s in subjects {
                    for &c in subject_combos.get(s).into_iter().flatten() {
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
