//! The table of supported keys, each with the setter that parses and stores its value,
//! and how a document or an inserted value is applied to a [`Config`] key by key.

use std::path::PathBuf;
use std::time::Duration;

use plexus_link::{Endpoint, Pem, TlsConfig};
use plexus_transport::wire::{Priority, WhatAmI};

use super::access_control;
use super::error::ConfigError;
use super::json::J;
use super::resolved::{Config, ModeValues, Secret};
use crate::linkstate::weight::{RttWeightConfig, StaticWeights};

/// Every supported key, as `/`-separated paths.
pub(super) fn names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(k, _)| *k)
}

impl Config {
    /// Applies `value` at `path`, which is either a key or a section.
    pub(super) fn apply(&mut self, path: &str, value: &J) -> Result<(), ConfigError> {
        let mut ctx = Apply {
            config: self,
            lease_from: None,
        };
        ctx.at(path, value)
    }
}

/// A setter for one key: parses the value found at the given path and stores it.
type Setter = fn(&mut Apply<'_>, &str, &J) -> Result<(), ConfigError>;

/// Every supported key and its setter; sections are the proper prefixes of these keys.
const KEYS: &[(&str, Setter)] = &[
    ("id", |a, p, v| {
        a.config.id = match v {
            J::Null => None,
            J::Str(s) => Some(s.parse().map_err(|source| ConfigError::InvalidId {
                path: p.to_string(),
                source,
            })?),
            _ => return Err(invalid(p, "a hex zenoh id string", v)),
        };
        Ok(())
    }),
    ("mode", |a, p, v| {
        const EXPECTED: &str = "\"router\", \"peer\" or \"client\"";
        a.config.mode = match v {
            J::Null => WhatAmI::Peer,
            J::Str(s) => s.parse().map_err(|_| invalid(p, EXPECTED, v))?,
            _ => return Err(invalid(p, EXPECTED, v)),
        };
        Ok(())
    }),
    ("connect/endpoints", |a, p, v| {
        a.config.connect_endpoints = mode_values(p, v, false, endpoints)?;
        Ok(())
    }),
    ("connect/timeout_ms", |a, p, v| {
        a.config.connect_timeout_ms = mode_values(p, v, true, |p, v| {
            as_i64(v)
                .ok_or_else(|| invalid(p, "an integer (milliseconds; negative: retry forever)", v))
        })?;
        Ok(())
    }),
    ("connect/exit_on_failure", |a, p, v| {
        a.config.connect_exit_on_failure = mode_values(p, v, true, boolean)?;
        Ok(())
    }),
    ("connect/retry/period_init_ms", |a, p, v| {
        a.config.retry_period_init_ms = mode_values(p, v, true, millis)?;
        Ok(())
    }),
    ("connect/retry/period_max_ms", |a, p, v| {
        a.config.retry_period_max_ms = mode_values(p, v, true, millis)?;
        Ok(())
    }),
    ("connect/retry/period_increase_factor", |a, p, v| {
        a.config.retry_factor = mode_values(p, v, true, |p, v| match v {
            J::Int(i) if *i >= 1 => Ok(*i as f64),
            J::Float(f) if f.is_finite() && *f >= 1.0 => Ok(*f),
            _ => Err(invalid(p, "a number >= 1", v)),
        })?;
        Ok(())
    }),
    ("listen/endpoints", |a, p, v| {
        a.config.listen_endpoints = mode_values(p, v, false, endpoints)?;
        Ok(())
    }),
    ("scouting/multicast/enabled", |a, p, v| {
        a.config.scouting_multicast = optional(p, v, boolean)?;
        Ok(())
    }),
    ("timestamping/enabled", |a, p, v| {
        a.config.timestamping = mode_values(p, v, true, boolean)?;
        Ok(())
    }),
    ("timestamping/drop_future_timestamp", |a, p, v| {
        a.config.drop_future_timestamp = optional(p, v, boolean)?;
        Ok(())
    }),
    ("queries_default_timeout", |a, p, v| {
        a.config.queries_default_timeout =
            Duration::from_millis(optional(p, v, millis)?.unwrap_or(10_000));
        Ok(())
    }),
    ("routing/router/linkstate/transport_weights", |a, _p, v| {
        a.config.transport_weights =
            StaticWeights::from_json(&v.to_json()).map_err(|e| ConfigError::Invalid {
                path: e.key.to_string(),
                reason: e.detail,
            })?;
        Ok(())
    }),
    ("routing/router/linkstate/rtt_weights", |a, _p, v| {
        a.config.rtt_weights =
            RttWeightConfig::from_json(&v.to_json()).map_err(|e| ConfigError::Invalid {
                path: e.key.to_string(),
                reason: e.detail,
            })?;
        Ok(())
    }),
    ("transport/link/tx/lease", |a, p, v| a.set_lease(p, v)),
    ("transport/unicast/lease", |a, p, v| a.set_lease(p, v)),
    ("transport/link/tx/keep_alive", |a, p, v| {
        a.config.keep_alive = match as_i64(v).map(u32::try_from) {
            Some(Ok(n)) if n > 0 => n,
            _ => return Err(invalid(p, "a positive integer", v)),
        };
        Ok(())
    }),
    ("transport/link/tx/batch_size", |a, p, v| {
        a.config.batch_size = match as_i64(v).map(u16::try_from) {
            Some(Ok(n)) if n > 0 => n,
            _ => return Err(invalid(p, "an integer from 1 to 65535 (bytes)", v)),
        };
        Ok(())
    }),
    ("transport/link/rx/max_message_size", |a, p, v| {
        a.config.max_message_size = match as_i64(v).map(usize::try_from) {
            Some(Ok(n)) if n > 0 => n,
            _ => return Err(invalid(p, "a positive integer (bytes)", v)),
        };
        Ok(())
    }),
    ("transport/unicast/open_timeout", |a, p, v| {
        a.config.open_timeout = Duration::from_millis(millis(p, v)?);
        Ok(())
    }),
    ("transport/unicast/accept_timeout", |a, p, v| {
        a.config.accept_timeout = Duration::from_millis(millis(p, v)?);
        Ok(())
    }),
    ("transport/unicast/accept_pending", |a, p, v| {
        a.config.accept_pending = positive_count(p, v)?;
        Ok(())
    }),
    ("transport/unicast/max_sessions", |a, p, v| {
        a.config.max_sessions = positive_count(p, v)?;
        Ok(())
    }),
    ("transport/unicast/max_links", |a, p, v| {
        a.config.max_links = positive_count(p, v)?;
        Ok(())
    }),
    ("transport/unicast/qos/enabled", |a, p, v| {
        a.config.qos = boolean(p, v)?;
        Ok(())
    }),
    ("transport/link/tx/queue/size/control", |a, p, v| {
        queue_size(a, p, v, Priority::Control)
    }),
    ("transport/link/tx/queue/size/real_time", |a, p, v| {
        queue_size(a, p, v, Priority::RealTime)
    }),
    (
        "transport/link/tx/queue/size/interactive_high",
        |a, p, v| queue_size(a, p, v, Priority::InteractiveHigh),
    ),
    ("transport/link/tx/queue/size/interactive_low", |a, p, v| {
        queue_size(a, p, v, Priority::InteractiveLow)
    }),
    ("transport/link/tx/queue/size/data_high", |a, p, v| {
        queue_size(a, p, v, Priority::DataHigh)
    }),
    ("transport/link/tx/queue/size/data", |a, p, v| {
        queue_size(a, p, v, Priority::Data)
    }),
    ("transport/link/tx/queue/size/data_low", |a, p, v| {
        queue_size(a, p, v, Priority::DataLow)
    }),
    ("transport/link/tx/queue/size/background", |a, p, v| {
        queue_size(a, p, v, Priority::Background)
    }),
    (
        "transport/link/tx/queue/congestion_control/drop/wait_before_drop",
        |a, p, v| {
            a.config.queue.wait_before_drop = micros(p, v)?;
            Ok(())
        },
    ),
    (
        "transport/link/tx/queue/congestion_control/drop/max_wait_before_drop_fragments",
        |a, p, v| {
            a.config.queue.max_wait_before_drop_fragments = micros(p, v)?;
            Ok(())
        },
    ),
    ("transport/link/tx/queue/batching/enabled", |a, p, v| {
        a.config.queue.batching = boolean(p, v)?;
        Ok(())
    }),
    ("transport/link/tx/queue/batching/time_limit", |a, p, v| {
        // Kept safe to add to an instant, as the other waits.
        a.config.queue.batching_time_limit = Duration::from_millis(millis(p, v)?).min(FOREVER);
        Ok(())
    }),
    (
        "transport/link/tx/queue/congestion_control/block/wait_before_close",
        |a, p, v| {
            a.config.queue.wait_before_close = micros(p, v)?;
            Ok(())
        },
    ),
    ("metadata", |a, _, v| {
        a.config.metadata = v.to_json();
        Ok(())
    }),
    ("adminspace/enabled", |a, p, v| {
        a.config.adminspace.enabled = boolean(p, v)?;
        Ok(())
    }),
    ("adminspace/permissions/read", |a, p, v| {
        a.config.adminspace.read = boolean(p, v)?;
        Ok(())
    }),
    ("adminspace/permissions/write", |a, p, v| {
        a.config.adminspace.write = boolean(p, v)?;
        Ok(())
    }),
    ("adminspace/max_closed_transports", |a, p, v| {
        a.config.adminspace.max_closed_transports = match as_i64(v).map(usize::try_from) {
            Some(Ok(n)) => n,
            _ => return Err(invalid(p, "a non-negative integer", v)),
        };
        Ok(())
    }),
    ("plugins", |a, p, v| a.set_plugin(p, v)),
    ("transport/link/tls/root_ca_certificate", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.root_ca_certificate, false)
    }),
    (
        "transport/link/tls/root_ca_certificate_base64",
        |a, p, v| pem_item(a, p, v, |t| &mut t.root_ca_certificate, true),
    ),
    ("transport/link/tls/listen_certificate", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.listen_certificate, false)
    }),
    ("transport/link/tls/listen_certificate_base64", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.listen_certificate, true)
    }),
    ("transport/link/tls/listen_private_key", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.listen_private_key, false)
    }),
    ("transport/link/tls/listen_private_key_base64", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.listen_private_key, true)
    }),
    ("transport/link/tls/connect_certificate", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.connect_certificate, false)
    }),
    (
        "transport/link/tls/connect_certificate_base64",
        |a, p, v| pem_item(a, p, v, |t| &mut t.connect_certificate, true),
    ),
    ("transport/link/tls/connect_private_key", |a, p, v| {
        pem_item(a, p, v, |t| &mut t.connect_private_key, false)
    }),
    (
        "transport/link/tls/connect_private_key_base64",
        |a, p, v| pem_item(a, p, v, |t| &mut t.connect_private_key, true),
    ),
    ("transport/link/tls/enable_mtls", |a, p, v| {
        a.config.tls.enable_mtls = optional(p, v, boolean)?.unwrap_or(false);
        Ok(())
    }),
    ("transport/link/tls/verify_name_on_connect", |a, p, v| {
        a.config.tls.verify_name_on_connect = optional(p, v, boolean)?.unwrap_or(true);
        Ok(())
    }),
    ("transport/link/tls/close_link_on_expiration", |_a, p, v| {
        if optional(p, v, boolean)? == Some(true) {
            return Err(ConfigError::Invalid {
                path: p.to_string(),
                reason: "not supported by Plexus: links are not closed when the peer's \
                         certificate expires (leave it false)"
                    .into(),
            });
        }
        Ok(())
    }),
    ("transport/link/tls/so_sndbuf", |a, p, v| {
        a.config.tls.so_sndbuf = optional(p, v, bytes)?;
        Ok(())
    }),
    ("transport/link/tls/so_rcvbuf", |a, p, v| {
        a.config.tls.so_rcvbuf = optional(p, v, bytes)?;
        Ok(())
    }),
    ("transport/auth/usrpwd/user", |a, p, v| {
        a.config.usrpwd_user = optional(p, v, string)?;
        Ok(())
    }),
    ("transport/auth/usrpwd/password", |a, p, v| {
        a.config.usrpwd_password = match v {
            J::Null => None,
            J::Str(s) => Some(Secret(s.clone())),
            _ => return Err(hidden(p, "a string")),
        };
        Ok(())
    }),
    ("transport/auth/usrpwd/dictionary_file", |a, p, v| {
        a.config.usrpwd_dictionary_file = optional(p, v, string)?.map(PathBuf::from);
        Ok(())
    }),
    ("access_control/enabled", |a, p, v| {
        a.config.access_control.enabled = optional(p, v, boolean)?.unwrap_or(false);
        Ok(())
    }),
    ("access_control/default_permission", |a, p, v| {
        a.config.access_control.default_permission = match v {
            J::Null => Default::default(),
            _ => access_control::parse_permission(p, &v.to_json())?,
        };
        Ok(())
    }),
    ("access_control/rules", |a, p, v| {
        a.config.access_control.rules = match v {
            J::Null => None,
            _ => Some(access_control::parse_rules(p, &v.to_json())?),
        };
        Ok(())
    }),
    ("access_control/subjects", |a, p, v| {
        a.config.access_control.subjects = match v {
            J::Null => None,
            _ => Some(access_control::parse_subjects(p, &v.to_json())?),
        };
        Ok(())
    }),
    ("access_control/policies", |a, p, v| {
        a.config.access_control.policies = match v {
            J::Null => None,
            _ => Some(access_control::parse_policies(p, &v.to_json())?),
        };
        Ok(())
    }),
];

/// Sets one TLS PEM item from its file key (`base64: false`) or its `_base64` key.
///
/// `null` clears the item only if this key set it; giving both forms is an error.
fn pem_item(
    a: &mut Apply<'_>,
    path: &str,
    v: &J,
    slot: fn(&mut TlsConfig) -> &mut Option<Pem>,
    base64: bool,
) -> Result<(), ConfigError> {
    let slot = slot(&mut a.config.tls);
    let mine = |p: &Pem| matches!(p, Pem::Base64(_)) == base64;
    match v {
        J::Null => {
            if slot.as_ref().is_some_and(mine) {
                *slot = None;
            }
            Ok(())
        }
        J::Str(s) if !s.is_empty() => {
            if let Some(existing) = slot.as_ref()
                && !mine(existing)
            {
                let other = match path.strip_suffix("_base64") {
                    Some(file_key) => file_key.to_owned(),
                    None => format!("{path}_base64"),
                };
                return Err(ConfigError::Invalid {
                    path: path.to_string(),
                    reason: format!("{other:?} is set too: give only one of the two"),
                });
            }
            *slot = Some(if base64 {
                Pem::Base64(s.clone())
            } else {
                Pem::File(PathBuf::from(s))
            });
            Ok(())
        }
        _ if base64 => Err(hidden(path, "a non-empty base64 string")),
        _ => Err(invalid(path, "a non-empty file path", v)),
    }
}

/// The error for a secret of the wrong type: its value is not shown.
fn hidden(path: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        path: path.to_string(),
        expected,
        got: "a value of another type (not shown: it may be a secret)".into(),
    }
}

fn string(path: &str, v: &J) -> Result<String, ConfigError> {
    match v {
        J::Str(s) => Ok(s.clone()),
        _ => Err(invalid(path, "a string", v)),
    }
}

fn bytes(path: &str, v: &J) -> Result<usize, ConfigError> {
    match as_i64(v).map(usize::try_from) {
        Some(Ok(n)) if n > 0 => Ok(n),
        _ => Err(invalid(path, "a positive integer (bytes)", v)),
    }
}

/// Sets one priority's queue size (Zenoh accepts 1 to 16).
fn queue_size(a: &mut Apply<'_>, p: &str, v: &J, priority: Priority) -> Result<(), ConfigError> {
    a.config.queue.size[priority as usize] = match as_i64(v) {
        Some(n @ 1..=16) => n as usize,
        _ => return Err(invalid(p, "an integer from 1 to 16 (batches)", v)),
    };
    Ok(())
}

/// How a negative wait (Zenoh: forever) is kept: long enough, and safe to add to an instant.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A wait in microseconds, as Zenoh's congestion-control keys give it; negative is forever.
fn micros(path: &str, v: &J) -> Result<Duration, ConfigError> {
    match as_i64(v) {
        Some(us) if us >= 0 => Ok(Duration::from_micros(us as u64)),
        Some(_) => Ok(FOREVER),
        None => Err(invalid(
            path,
            "an integer (microseconds; negative: forever)",
            v,
        )),
    }
}

/// State of one application of a document (or inserted value) to a [`Config`].
struct Apply<'a> {
    config: &'a mut Config,
    /// The key and value that set the lease so far, to detect alias conflicts.
    lease_from: Option<(String, u64)>,
}

impl Apply<'_> {
    fn at(&mut self, path: &str, value: &J) -> Result<(), ConfigError> {
        if let Some((_, set)) = KEYS.iter().find(|(k, _)| *k == path) {
            return set(self, path, value);
        }
        if path.starts_with("plugins/") {
            return self.set_plugin(path, value);
        }
        if !is_section(path) {
            return Err(unknown(path));
        }
        let J::Obj(entries) = value else {
            let what = if path.is_empty() {
                "configuration"
            } else {
                path
            };
            return Err(invalid(what, "an object", value));
        };
        for (k, v) in entries {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}/{k}")
            };
            self.at(&child, v)?;
        }
        Ok(())
    }

    /// Sets `plugins` (an object of plugin sections) or a value inside one plugin's
    /// free-form section (`plugins/<name>/…`); `null` removes the key.
    fn set_plugin(&mut self, path: &str, value: &J) -> Result<(), ConfigError> {
        let rest = path.strip_prefix("plugins").unwrap_or(path);
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, parents)) = parts.split_last() else {
            // The whole section.
            match value {
                J::Null => self.config.plugins.clear(),
                J::Obj(entries) => {
                    for (name, v) in entries {
                        self.set_plugin(&format!("plugins/{name}"), v)?;
                    }
                }
                _ => return Err(invalid(path, "an object of plugin sections", value)),
            }
            return Ok(());
        };
        if parents.is_empty() && !matches!(value, J::Obj(_) | J::Null) {
            return Err(invalid(
                path,
                "an object (the plugin's configuration)",
                value,
            ));
        }
        let mut map = &mut self.config.plugins;
        for (i, part) in parents.iter().enumerate() {
            let slot = map
                .entry(part.to_string())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            map = match slot {
                serde_json::Value::Object(m) => m,
                other => {
                    return Err(ConfigError::InvalidValue {
                        path: format!("plugins/{}", parents[..=i].join("/")),
                        expected: "an object",
                        got: other.to_string(),
                    });
                }
            };
        }
        match value {
            J::Null => {
                map.remove(*last);
            }
            v => {
                map.insert(last.to_string(), v.to_json());
            }
        }
        Ok(())
    }

    fn set_lease(&mut self, path: &str, value: &J) -> Result<(), ConfigError> {
        let ms = match as_i64(value) {
            Some(n) if n > 0 => n as u64,
            _ => {
                return Err(invalid(path, "a positive integer (milliseconds)", value));
            }
        };
        if let Some((first, first_ms)) = &self.lease_from
            && first != path
            && *first_ms != ms
        {
            return Err(ConfigError::Conflict {
                first: first.clone(),
                first_value: first_ms.to_string(),
                second: path.to_string(),
                second_value: ms.to_string(),
            });
        }
        self.lease_from = Some((path.to_string(), ms));
        self.config.lease = Duration::from_millis(ms);
        Ok(())
    }
}

/// Whether `path` is the root or a proper prefix (ending at a `/`) of a key.
fn is_section(path: &str) -> bool {
    path.is_empty()
        || KEYS.iter().any(|(k, _)| {
            k.len() > path.len() && k.starts_with(path) && k.as_bytes()[path.len()] == b'/'
        })
}

/// The unknown-key error for `path`, with a similar sibling key if there is one.
fn unknown(path: &str) -> ConfigError {
    let (parent, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    let skip = if parent.is_empty() {
        0
    } else {
        parent.len() + 1
    };
    let suggestion = KEYS
        .iter()
        .filter(|(k, _)| {
            skip == 0 || (k.len() > skip && k.starts_with(parent) && k.as_bytes()[skip - 1] == b'/')
        })
        .filter_map(|(k, _)| {
            let len = k[skip..].find('/').unwrap_or(k.len() - skip);
            let sibling = &k[skip..skip + len];
            let d = edit_distance(name, sibling);
            (d <= 2 && 2 * d < sibling.len()).then_some((d, &k[..skip + len]))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, s)| s);
    ConfigError::UnknownKey {
        path: path.to_string(),
        suggestion,
    }
}

/// Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A limit: an integer ≥ 1.
fn positive_count(path: &str, v: &J) -> Result<usize, ConfigError> {
    match as_i64(v).map(usize::try_from) {
        Some(Ok(n)) if n > 0 => Ok(n),
        _ => Err(invalid(path, "a positive integer", v)),
    }
}

fn invalid(path: &str, expected: &'static str, got: &J) -> ConfigError {
    ConfigError::InvalidValue {
        path: path.to_string(),
        expected,
        got: got.to_string(),
    }
}

fn as_i64(v: &J) -> Option<i64> {
    match v {
        J::Int(i) => Some(*i),
        _ => None,
    }
}

fn boolean(path: &str, v: &J) -> Result<bool, ConfigError> {
    match v {
        J::Bool(b) => Ok(*b),
        _ => Err(invalid(path, "true or false", v)),
    }
}

fn millis(path: &str, v: &J) -> Result<u64, ConfigError> {
    match v {
        J::Int(i) if *i >= 0 => Ok(*i as u64),
        _ => Err(invalid(path, "a non-negative integer (milliseconds)", v)),
    }
}

/// Parses an optional value: `null` gives `None`.
fn optional<T>(
    path: &str,
    v: &J,
    parse: impl Fn(&str, &J) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    match v {
        J::Null => Ok(None),
        _ => parse(path, v).map(Some),
    }
}

fn endpoints(path: &str, v: &J) -> Result<Vec<Endpoint>, ConfigError> {
    const EXPECTED: &str = "a list of endpoint strings";
    let J::Arr(items) = v else {
        return Err(invalid(path, EXPECTED, v));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            J::Str(s) => s.parse().map_err(|source| ConfigError::InvalidEndpoint {
                path: path.to_string(),
                index,
                source,
            }),
            _ => Err(invalid(
                &format!("{path}[{index}]"),
                "an endpoint string such as \"tcp/127.0.0.1:7447\"",
                item,
            )),
        })
        .collect()
}

/// Parses a value given once or as `{ router, peer, client }`.
///
/// `nullable` accepts `null` (for Zenoh's optional fields), meaning "default in every mode".
fn mode_values<T: Clone>(
    path: &str,
    v: &J,
    nullable: bool,
    parse: impl Fn(&str, &J) -> Result<T, ConfigError>,
) -> Result<ModeValues<T>, ConfigError> {
    match v {
        J::Null if nullable => Ok(ModeValues::default()),
        J::Obj(entries) => {
            let mut out = ModeValues::default();
            for (k, item) in entries {
                let child = format!("{path}/{k}");
                let slot = match k.as_str() {
                    "router" => &mut out.router,
                    "peer" => &mut out.peer,
                    "client" => &mut out.client,
                    _ => {
                        return Err(ConfigError::UnknownKey {
                            path: child,
                            suggestion: None,
                        });
                    }
                };
                *slot = optional(&child, item, &parse)?;
            }
            Ok(out)
        }
        _ => parse(path, v).map(ModeValues::unique),
    }
}
