//! Session configuration, read from JSON5 with Zenoh 1.x key names.
//!
//! A [`Config`] is built from a JSON5 document ([`Config::from_json5`],
//! [`Config::from_file`]), edited key by key with [`Config::insert_json5`] (keys are
//! `/`-separated paths such as `transport/link/tx/lease`), or built in code with the
//! `with_*` setters. Keys and defaults follow `zenoh-config` 1.10.2; the keys Plexus
//! understands are listed by [`Config::supported_keys`]:
//!
//! | key | value | default |
//! |-----|-------|---------|
//! | `id` | hex zenoh id | random, chosen when the session opens |
//! | `mode` | `"peer"`, `"client"` or `"router"` | `"peer"` |
//! | `connect/endpoints` | endpoint strings (mode-dependent) | `[]` |
//! | `connect/timeout_ms` | ms, negative = retry forever (mode-dependent) | router, peer: `-1`; client: `0` |
//! | `connect/exit_on_failure` | bool (mode-dependent) | router, peer: `false`; client: `true` |
//! | `connect/retry/period_init_ms` | ms (mode-dependent) | `1000` |
//! | `connect/retry/period_max_ms` | ms (mode-dependent) | `4000` |
//! | `connect/retry/period_increase_factor` | number ≥ 1 (mode-dependent) | `2.0` |
//! | `listen/endpoints` | endpoint strings (mode-dependent) | router: `["tcp/[::]:7447"]`; peer: `["tcp/[::]:0"]`; client: `[]` |
//! | `scouting/multicast/enabled` | bool (stored; Plexus does not scout) | unset |
//! | `timestamping/enabled` | bool (mode-dependent) | router: `true`; peer, client: `false` |
//! | `timestamping/drop_future_timestamp` | bool | `false` |
//! | `queries_default_timeout` | ms | `10000` |
//! | `transport/link/tx/lease` | ms, > 0 | `10000` |
//! | `transport/link/tx/keep_alive` | integer, > 0 | `4` |
//! | `transport/link/tx/batch_size` | 1 ..= 65535 | `65535` |
//! | `transport/link/rx/max_message_size` | bytes, > 0 | `1073741824` (1 GiB) |
//! | `transport/unicast/open_timeout` | ms | `10000` |
//! | `transport/unicast/accept_timeout` | ms | `10000` |
//! | `transport/unicast/qos/enabled` | bool | `true` |
//! | `transport/unicast/lease` | Plexus alias of `transport/link/tx/lease` | — |
//!
//! *Mode-dependent* values may be given once (`true`) or per mode, as in Zenoh
//! (`{ router: true, peer: false }`); a mode left out of the object gets its default.
//!
//! `transport/unicast/lease` does not exist in Zenoh 1.10.2: it is a Plexus alias for
//! `transport/link/tx/lease`. Giving both in one document with different values is an
//! error naming both keys.
//!
//! Differences from Zenoh: every key not in the table above is rejected, including Zenoh
//! keys Plexus does not implement (the error names the full path); `null` is accepted
//! only where Zenoh's field is optional, and resets the key to its default;
//! [`Config::insert_json5`] on a section (e.g. `"connect"`) merges the given keys instead
//! of replacing the whole section; endpoint groups (`{ strategy, locators }`) are not
//! supported; retry periods must not be negative.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plexus_link::{Endpoint, EndpointError};
use plexus_transport::TransportConfig;
use plexus_transport::wire::{WhatAmI, ZenohId, ZenohIdParseError};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why a configuration could not be read or a key could not be set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid JSON5.
    #[error("{}", fmt_syntax(.origin, .location, .message))]
    Syntax {
        /// What was being parsed: `configuration` or the key whose value was parsed.
        origin: String,
        /// One-based line and column of the error, when known.
        location: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// A key that Plexus does not know.
    #[error("unknown configuration key {path:?}{}", fmt_suggestion(.suggestion))]
    UnknownKey {
        /// The full `/`-separated path of the key.
        path: String,
        /// A known key at the same level with a similar name.
        suggestion: Option<&'static str>,
    },
    /// A value of the wrong type or out of range.
    #[error("{path:?}: expected {expected}, got {got}")]
    InvalidValue {
        /// The key path (with `[index]` for a list item).
        path: String,
        /// What the key accepts.
        expected: &'static str,
        /// The value that was given.
        got: String,
    },
    /// An endpoint string that does not parse.
    #[error("{path:?}[{index}]: {source}")]
    InvalidEndpoint {
        /// The key path of the list.
        path: String,
        /// Zero-based position in the list.
        index: usize,
        /// Why the endpoint is invalid.
        source: EndpointError,
    },
    /// An `id` that is not a valid zenoh id.
    #[error("{path:?}: {source}")]
    InvalidId {
        /// The key path (`id`).
        path: String,
        /// Why the id is invalid.
        source: ZenohIdParseError,
    },
    /// Two keys for the same setting were given different values.
    #[error(
        "{first:?} ({first_value}) and {second:?} ({second_value}) set the same setting to different values"
    )]
    Conflict {
        /// The key seen first.
        first: String,
        /// Its value.
        first_value: String,
        /// The key seen second.
        second: String,
        /// Its value.
        second_value: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", .file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file holds an invalid configuration.
    #[error("configuration file {}: {source}", .file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong with its content.
        source: Box<ConfigError>,
    },
}

fn fmt_syntax(origin: &str, location: &Option<(usize, usize)>, message: &str) -> String {
    match location {
        Some((line, column)) => {
            format!("{origin}: invalid JSON5 at line {line}, column {column}: {message}")
        }
        None => format!("{origin}: invalid JSON5: {message}"),
    }
}

fn fmt_suggestion(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s:?}?)"),
        None => String::new(),
    }
}

impl ConfigError {
    /// The key path the error is about, if it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { path, .. }
            | ConfigError::InvalidValue { path, .. }
            | ConfigError::InvalidEndpoint { path, .. }
            | ConfigError::InvalidId { path, .. } => Some(path),
            ConfigError::Conflict { second, .. } => Some(second),
            ConfigError::File { source, .. } => source.path(),
            ConfigError::Syntax { .. } | ConfigError::Io { .. } => None,
        }
    }
}

/// Connection retry settings for `connect/endpoints`, resolved for the current mode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConf {
    /// Delay before the first retry.
    pub period_init: Duration,
    /// Largest delay between retries (zero: no limit).
    pub period_max: Duration,
    /// Factor applied to the delay after each failed attempt.
    pub factor: f64,
    /// How long to keep trying overall; `None` retries forever.
    pub timeout: Option<Duration>,
    /// Whether opening the session fails when the endpoints cannot be reached in time.
    pub exit_on_failure: bool,
}

impl RetryConf {
    /// The delay that follows `current`: multiplied by the factor, capped at the maximum.
    pub fn next_period(&self, current: Duration) -> Duration {
        let next = current.mul_f64(self.factor.max(1.0));
        if self.period_max.is_zero() {
            next
        } else {
            next.min(self.period_max)
        }
    }
}

/// A value given once or per mode; `None` means "use the default for that mode".
#[derive(Clone, Debug, PartialEq)]
struct ModeValues<T> {
    router: Option<T>,
    peer: Option<T>,
    client: Option<T>,
}

impl<T> Default for ModeValues<T> {
    fn default() -> Self {
        ModeValues {
            router: None,
            peer: None,
            client: None,
        }
    }
}

impl<T: Clone> ModeValues<T> {
    fn unique(v: T) -> Self {
        ModeValues {
            router: Some(v.clone()),
            peer: Some(v.clone()),
            client: Some(v),
        }
    }

    fn get(&self, mode: WhatAmI) -> Option<&T> {
        match mode {
            WhatAmI::Router => self.router.as_ref(),
            WhatAmI::Peer => self.peer.as_ref(),
            WhatAmI::Client => self.client.as_ref(),
        }
    }
}

/// Zenoh's default retry periods and factor.
const DEFAULT_PERIOD_INIT_MS: u64 = 1000;
const DEFAULT_PERIOD_MAX_MS: u64 = 4000;
const DEFAULT_PERIOD_FACTOR: f64 = 2.0;

/// Session configuration; see the [module documentation](self) for the keys.
#[derive(Clone, Debug)]
pub struct Config {
    id: Option<ZenohId>,
    mode: WhatAmI,
    connect_endpoints: ModeValues<Vec<Endpoint>>,
    connect_timeout_ms: ModeValues<i64>,
    connect_exit_on_failure: ModeValues<bool>,
    retry_period_init_ms: ModeValues<u64>,
    retry_period_max_ms: ModeValues<u64>,
    retry_factor: ModeValues<f64>,
    listen_endpoints: ModeValues<Vec<Endpoint>>,
    scouting_multicast: Option<bool>,
    timestamping: ModeValues<bool>,
    drop_future_timestamp: Option<bool>,
    queries_default_timeout: Duration,
    lease: Duration,
    keep_alive: u32,
    batch_size: u16,
    max_message_size: usize,
    open_timeout: Duration,
    accept_timeout: Duration,
    qos: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            mode: WhatAmI::Peer,
            connect_endpoints: ModeValues::default(),
            connect_timeout_ms: ModeValues::default(),
            connect_exit_on_failure: ModeValues::default(),
            retry_period_init_ms: ModeValues::default(),
            retry_period_max_ms: ModeValues::default(),
            retry_factor: ModeValues::default(),
            listen_endpoints: ModeValues::default(),
            scouting_multicast: None,
            timestamping: ModeValues::default(),
            drop_future_timestamp: None,
            queries_default_timeout: Duration::from_millis(10_000),
            lease: Duration::from_millis(10_000),
            keep_alive: 4,
            batch_size: u16::MAX,
            max_message_size: 1 << 30,
            open_timeout: Duration::from_millis(10_000),
            accept_timeout: Duration::from_millis(10_000),
            qos: true,
        }
    }
}

impl Config {
    /// Parses a JSON5 document; keys not given keep their defaults.
    pub fn from_json5(text: &str) -> Result<Config, ConfigError> {
        let root = parse(text, "configuration")?;
        let mut config = Config::default();
        config.apply("", &root)?;
        Ok(config)
    }

    /// Reads and parses a JSON5 file; errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let file = path.as_ref();
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Config::from_json5(&text).map_err(|e| ConfigError::File {
            file: file.to_path_buf(),
            source: Box::new(e),
        })
    }

    /// Sets the key at the `/`-separated path `key` to the JSON5 `value`.
    ///
    /// A section path (e.g. `"transport/link"`, or `""` for the root) takes an object
    /// whose keys are merged into the current configuration. On error the configuration
    /// is left unchanged.
    pub fn insert_json5(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let origin = if key.is_empty() {
            "configuration".to_string()
        } else {
            format!("value of {key:?}")
        };
        let value = parse(value, &origin)?;
        let mut updated = self.clone();
        updated.apply(key, &value)?;
        *self = updated;
        Ok(())
    }

    /// The defaults for peer mode.
    pub fn peer() -> Config {
        Config::default()
    }

    /// The defaults for client mode.
    pub fn client() -> Config {
        Config::default().with_mode(WhatAmI::Client)
    }

    /// The defaults for router mode.
    pub fn router() -> Config {
        Config::default().with_mode(WhatAmI::Router)
    }

    /// Every key this configuration accepts, as `/`-separated paths.
    pub fn supported_keys() -> impl Iterator<Item = &'static str> {
        KEYS.iter().map(|(k, _)| *k)
    }

    /// Returns this configuration in the given mode.
    pub fn with_mode(mut self, mode: WhatAmI) -> Config {
        self.mode = mode;
        self
    }

    /// Returns this configuration with a fixed zenoh id.
    pub fn with_id(mut self, id: ZenohId) -> Config {
        self.id = Some(id);
        self
    }

    /// Returns this configuration connecting to `endpoints` in every mode.
    pub fn with_connect(mut self, endpoints: Vec<Endpoint>) -> Config {
        self.connect_endpoints = ModeValues::unique(endpoints);
        self
    }

    /// Returns this configuration listening on `endpoints` in every mode.
    pub fn with_listen(mut self, endpoints: Vec<Endpoint>) -> Config {
        self.listen_endpoints = ModeValues::unique(endpoints);
        self
    }

    /// Returns this configuration with the given link lease (a zero lease becomes 1 ms).
    pub fn with_lease(mut self, lease: Duration) -> Config {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// Returns this configuration with timestamping on or off in every mode.
    pub fn with_timestamping(mut self, enabled: bool) -> Config {
        self.timestamping = ModeValues::unique(enabled);
        self
    }

    /// The mode (`peer` unless set).
    pub fn mode(&self) -> WhatAmI {
        self.mode
    }

    /// The configured zenoh id; `None` means a random one is chosen when the session opens.
    pub fn id(&self) -> Option<ZenohId> {
        self.id
    }

    /// The endpoints to connect to in the current mode.
    pub fn connect_endpoints(&self) -> &[Endpoint] {
        self.connect_endpoints
            .get(self.mode)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The endpoints to listen on in the current mode, with Zenoh's mode default applied.
    pub fn listen_endpoints(&self) -> Vec<Endpoint> {
        if let Some(v) = self.listen_endpoints.get(self.mode) {
            return v.clone();
        }
        let default = match self.mode {
            WhatAmI::Router => "tcp/[::]:7447",
            WhatAmI::Peer => "tcp/[::]:0",
            WhatAmI::Client => return Vec::new(),
        };
        default.parse().map(|e| vec![e]).unwrap_or_default()
    }

    /// Whether multicast scouting was asked for (Plexus does not scout); `None` if unset.
    pub fn scouting_multicast_enabled(&self) -> Option<bool> {
        self.scouting_multicast
    }

    /// Whether data is timestamped in the current mode (default: only routers).
    pub fn timestamping(&self) -> bool {
        self.timestamping
            .get(self.mode)
            .copied()
            .unwrap_or(self.mode == WhatAmI::Router)
    }

    /// Whether messages with timestamps in the future are dropped (default `false`).
    pub fn drop_future_timestamp(&self) -> bool {
        self.drop_future_timestamp.unwrap_or(false)
    }

    /// The timeout of queries that do not set one.
    pub fn queries_default_timeout(&self) -> Duration {
        self.queries_default_timeout
    }

    /// The link lease.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The connection retry settings for the current mode.
    pub fn connect_retry(&self) -> RetryConf {
        let m = self.mode;
        let timeout_ms = self
            .connect_timeout_ms
            .get(m)
            .copied()
            .unwrap_or(if m == WhatAmI::Client { 0 } else { -1 });
        RetryConf {
            period_init: Duration::from_millis(
                self.retry_period_init_ms
                    .get(m)
                    .copied()
                    .unwrap_or(DEFAULT_PERIOD_INIT_MS),
            ),
            period_max: Duration::from_millis(
                self.retry_period_max_ms
                    .get(m)
                    .copied()
                    .unwrap_or(DEFAULT_PERIOD_MAX_MS),
            ),
            factor: self
                .retry_factor
                .get(m)
                .copied()
                .unwrap_or(DEFAULT_PERIOD_FACTOR),
            timeout: u64::try_from(timeout_ms).ok().map(Duration::from_millis),
            exit_on_failure: self
                .connect_exit_on_failure
                .get(m)
                .copied()
                .unwrap_or(m == WhatAmI::Client),
        }
    }

    /// The transport settings for a process with id `zid`.
    pub fn transport_config(&self, zid: ZenohId) -> TransportConfig {
        let mut t = TransportConfig::new(zid, self.mode);
        t.lease = self.lease;
        t.keep_alive = self.keep_alive;
        t.batch_size = self.batch_size;
        t.qos = self.qos;
        t.open_timeout = self.open_timeout;
        t.accept_timeout = self.accept_timeout;
        t.max_message_size = self.max_message_size;
        t
    }

    /// Applies `value` at `path`, which is either a key or a section.
    fn apply(&mut self, path: &str, value: &J) -> Result<(), ConfigError> {
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
    ("transport/unicast/qos/enabled", |a, p, v| {
        a.config.qos = boolean(p, v)?;
        Ok(())
    }),
];

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

/// Parses JSON5 text into a tree, rejecting duplicate keys and excessive nesting.
fn parse(text: &str, origin: &str) -> Result<J, ConfigError> {
    if let Some(line) = too_deep(text) {
        return Err(ConfigError::Syntax {
            origin: origin.to_string(),
            location: Some((line, 1)),
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    json5::from_str::<J>(text).map_err(|e| {
        let json5::Error::Message { msg, location } = e;
        ConfigError::Syntax {
            origin: origin.to_string(),
            location: location.map(|l| (l.line, l.column)),
            message: msg,
        }
    })
}

/// Deepest `[`/`{` nesting accepted (the JSON5 parser recurses once per level).
const MAX_DEPTH: usize = 64;

/// The line where nesting exceeds [`MAX_DEPTH`], skipping strings and comments.
fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut depth, mut line) = (0, 0usize, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A parsed JSON5 value; objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl fmt::Display for J {
    /// A short rendering for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Bool(b) => write!(f, "{b}"),
            J::Int(i) => write!(f, "{i}"),
            J::Float(x) => write!(f, "{x}"),
            J::Str(s) if s.chars().count() > 80 => {
                let short: String = s.chars().take(77).collect();
                write!(f, "{:?}", format!("{short}..."))
            }
            J::Str(s) => write!(f, "{s:?}"),
            J::Arr(a) => write!(f, "a list of {} items", a.len()),
            J::Obj(_) => f.write_str("an object"),
        }
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON5 value")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_none<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
                J::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<J, E> {
                Ok(J::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<J, E> {
                Ok(J::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<J, E> {
                i64::try_from(u)
                    .map(J::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, x: f64) -> Result<J, E> {
                Ok(J::Float(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<J, E> {
                Ok(J::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<J, E> {
                Ok(J::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(J::Arr(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
                let mut out: Vec<(String, J)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(de::Error::custom(format!("duplicate key {k:?}")));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(J::Obj(out))
            }
        }
        d.deserialize_any(V)
    }
}
