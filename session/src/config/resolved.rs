//! The configuration's values, and the settings they resolve to in the current mode
//! (mode-dependent keys, Zenoh's defaults).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plexus_link::{Endpoint, TlsConfig};
use plexus_transport::auth::UsrPwd;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{QueueConfig, TransportConfig};

use super::error::ConfigError;
use crate::linkstate::weight::{RttWeightConfig, StaticWeights};

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
pub(super) struct ModeValues<T> {
    pub(super) router: Option<T>,
    pub(super) peer: Option<T>,
    pub(super) client: Option<T>,
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
    pub(super) fn unique(v: T) -> Self {
        ModeValues {
            router: Some(v.clone()),
            peer: Some(v.clone()),
            client: Some(v),
        }
    }

    pub(super) fn get(&self, mode: WhatAmI) -> Option<&T> {
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

/// A secret string, shown as `***` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Secret(pub(super) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Session configuration; see the [module documentation](crate::config) for the keys.
#[derive(Clone, Debug)]
pub struct Config {
    pub(super) id: Option<ZenohId>,
    pub(super) mode: WhatAmI,
    pub(super) connect_endpoints: ModeValues<Vec<Endpoint>>,
    pub(super) connect_timeout_ms: ModeValues<i64>,
    pub(super) connect_exit_on_failure: ModeValues<bool>,
    pub(super) retry_period_init_ms: ModeValues<u64>,
    pub(super) retry_period_max_ms: ModeValues<u64>,
    pub(super) retry_factor: ModeValues<f64>,
    pub(super) listen_endpoints: ModeValues<Vec<Endpoint>>,
    pub(super) scouting_multicast: Option<bool>,
    pub(super) timestamping: ModeValues<bool>,
    pub(super) drop_future_timestamp: Option<bool>,
    pub(super) queries_default_timeout: Duration,
    /// `routing/router/linkstate/transport_weights`: our weight per neighbouring router.
    pub(super) transport_weights: StaticWeights,
    /// `routing/router/linkstate/rtt_weights` (beyond Zenoh): link weights that follow RTTs.
    pub(super) rtt_weights: RttWeightConfig,
    pub(super) lease: Duration,
    pub(super) keep_alive: u32,
    pub(super) batch_size: u16,
    pub(super) max_message_size: usize,
    pub(super) open_timeout: Duration,
    pub(super) accept_timeout: Duration,
    pub(super) accept_pending: usize,
    pub(super) max_sessions: usize,
    pub(super) max_links: usize,
    pub(super) qos: bool,
    pub(super) queue: QueueConfig,
    pub(super) metadata: serde_json::Value,
    pub(super) adminspace: AdminSpaceConf,
    pub(super) plugins: serde_json::Map<String, serde_json::Value>,
    pub(super) tls: TlsConfig,
    pub(super) usrpwd_user: Option<String>,
    pub(super) usrpwd_password: Option<Secret>,
    pub(super) usrpwd_dictionary_file: Option<PathBuf>,
    pub(super) access_control: super::access_control::AclConf,
}

/// The `adminspace` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminSpaceConf {
    /// Serve the admin space (`adminspace/enabled`, default `false`).
    pub enabled: bool,
    /// Remote sessions may query it (`adminspace/permissions/read`, default `true`).
    pub read: bool,
    /// Configuration changes through the admin space are accepted
    /// (`adminspace/permissions/write`, default `false`; Plexus applies `metadata` only).
    pub write: bool,
    /// How many closed transports are remembered (`adminspace/max_closed_transports`,
    /// default 1000; a Plexus extension).
    pub max_closed_transports: usize,
}

impl Default for AdminSpaceConf {
    fn default() -> Self {
        AdminSpaceConf {
            enabled: false,
            read: true,
            write: false,
            max_closed_transports: 1000,
        }
    }
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
            transport_weights: StaticWeights::default(),
            rtt_weights: RttWeightConfig::default(),
            lease: Duration::from_millis(10_000),
            keep_alive: 4,
            batch_size: u16::MAX,
            max_message_size: 1 << 30,
            open_timeout: Duration::from_millis(10_000),
            accept_timeout: Duration::from_millis(10_000),
            accept_pending: plexus_transport::unicast::DEFAULT_ACCEPT_PENDING,
            max_sessions: plexus_transport::unicast::DEFAULT_MAX_SESSIONS,
            max_links: plexus_transport::unicast::DEFAULT_MAX_LINKS,
            qos: true,
            queue: QueueConfig::default(),
            metadata: serde_json::Value::Null,
            adminspace: AdminSpaceConf::default(),
            plugins: serde_json::Map::new(),
            tls: TlsConfig::default(),
            usrpwd_user: None,
            usrpwd_password: None,
            usrpwd_dictionary_file: None,
            access_control: Default::default(),
        }
    }
}

impl Config {
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

    /// Routers: the weights of the links to the neighbours listed in
    /// `routing/router/linkstate/transport_weights` (Zenoh's key).
    pub(crate) fn transport_weights(&self) -> &StaticWeights {
        &self.transport_weights
    }

    /// `routing/router/linkstate/rtt_weights` (a Plexus key): whether and how link
    /// weights follow measured RTTs.
    pub(crate) fn rtt_weights(&self) -> &RttWeightConfig {
        &self.rtt_weights
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

    /// The `metadata` value (`null` unless set), shown in the admin space.
    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// The `adminspace` settings.
    pub fn adminspace(&self) -> AdminSpaceConf {
        self.adminspace
    }

    /// The configuration of plugin `name` (the `plugins/<name>` section), if given.
    pub fn plugin(&self, name: &str) -> Option<&serde_json::Value> {
        self.plugins.get(name)
    }

    /// The names of the plugins that have a `plugins/<name>` section.
    pub fn plugin_names(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    /// The TLS settings of `tls/…` links.
    pub fn tls(&self) -> &TlsConfig {
        &self.tls
    }

    /// The usrpwd settings, reading the dictionary file; `None` when usrpwd is off.
    pub fn usrpwd(&self) -> Result<Option<UsrPwd>, ConfigError> {
        const SECTION: &str = "transport/auth/usrpwd";
        let credentials = match (&self.usrpwd_user, &self.usrpwd_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.0.clone())),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    path: SECTION.into(),
                    reason: "`user` and `password` go together: give both or neither".into(),
                });
            }
        };
        let dictionary = match &self.usrpwd_dictionary_file {
            None => Default::default(),
            Some(file) => {
                let path = format!("{SECTION}/dictionary_file");
                let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid {
                    path: path.clone(),
                    reason: format!("cannot read {}: {e}", file.display()),
                })?;
                UsrPwd::parse_dictionary(&text).map_err(|e| ConfigError::Invalid {
                    path,
                    reason: format!("{}: {e}", file.display()),
                })?
            }
        };
        if credentials.is_none() && dictionary.is_empty() {
            return Ok(None);
        }
        UsrPwd::new(credentials, dictionary)
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                path: SECTION.into(),
                reason: e.to_string(),
            })
    }

    /// The `access_control` section as given (`crate::acl::AclPolicy::compile` makes the
    /// policy of it).
    pub(crate) fn access_control(&self) -> &super::access_control::AclConf {
        &self.access_control
    }

    /// The transport settings for a process with id `zid` (reads the usrpwd dictionary
    /// file, if one is configured).
    pub fn transport_config(&self, zid: ZenohId) -> Result<TransportConfig, ConfigError> {
        let mut t = TransportConfig::new(zid, self.mode);
        t.lease = self.lease;
        t.keep_alive = self.keep_alive;
        t.batch_size = self.batch_size;
        t.qos = self.qos;
        t.open_timeout = self.open_timeout;
        t.accept_timeout = self.accept_timeout;
        t.accept_pending = self.accept_pending;
        t.max_sessions = self.max_sessions;
        t.max_links = self.max_links;
        t.max_message_size = self.max_message_size;
        t.queue = self.queue.clone();
        t.link.tls = self.tls.clone();
        t.auth = self.usrpwd()?.map(Arc::new);
        Ok(t)
    }
}
