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
//! | `transport/unicast/accept_pending` | integer ≥ 1: handshakes of accepted links in progress at once; more are closed at once | `100` |
//! | `transport/unicast/max_sessions` | integer ≥ 1: transports open at once; a handshake for one more is refused | `1000` |
//! | `transport/unicast/max_links` | integer ≥ 1: accepted links per transport; above 1, joining links must prove their process (multilink extension) | `1` |
//! | `transport/unicast/qos/enabled` | bool | `true` |
//! | `transport/unicast/lease` | Plexus alias of `transport/link/tx/lease` | — |
//! | `transport/link/tx/queue/size/<priority>` | batches, 1 ..= 16, per priority (`control`, `real_time`, `interactive_high`, `interactive_low`, `data_high`, `data`, `data_low`, `background`) | `16` (Zenoh: `2`) |
//! | `transport/link/tx/queue/congestion_control/drop/wait_before_drop` | µs, negative = forever | `1000` |
//! | `transport/link/tx/queue/congestion_control/drop/max_wait_before_drop_fragments` | µs, negative = forever | `50000` |
//! | `transport/link/tx/queue/congestion_control/block/wait_before_close` | µs, negative = never | `5000000` |
//! | `transport/link/tx/queue/batching/enabled` | bool: a link's writer holds a batch back while producers keep adding to it | `true` |
//! | `transport/link/tx/queue/batching/time_limit` | ms: the longest it holds one back (sooner when the batch is full or the producers stop) | `1` |
//! | `metadata` | any JSON value, shown in the admin space (`@/<zid>/<mode>`) | `null` |
//! | `adminspace/enabled` | bool: serve the admin space (`@/<zid>/<mode>/**`) | `false` (`plexusd` forces `true`, as `zenohd` does) |
//! | `adminspace/permissions/read` | bool: remote sessions may query it | `true` |
//! | `adminspace/permissions/write` | bool: remote puts on `@/<zid>/<mode>/config/metadata` change it (the only key Plexus changes at runtime) | `false` |
//! | `adminspace/max_closed_transports` | integer ≥ 0: closed transports remembered (Plexus extension) | `1000` |
//! | `plugins/<name>/…` | any JSON: the configuration of plugin `<name>` (e.g. `plugins/rest/http_port`) | none |
//! | `transport/link/tls/root_ca_certificate` | PEM file path | unset |
//! | `transport/link/tls/listen_certificate` | PEM file path | unset |
//! | `transport/link/tls/listen_private_key` | PEM file path | unset |
//! | `transport/link/tls/enable_mtls` | bool | `false` |
//! | `transport/link/tls/connect_certificate` | PEM file path | unset |
//! | `transport/link/tls/connect_private_key` | PEM file path | unset |
//! | `transport/link/tls/verify_name_on_connect` | bool | `true` |
//! | `transport/link/tls/<item>_base64` | the PEM text in base64, instead of `<item>`'s file | unset |
//! | `transport/link/tls/close_link_on_expiration` | `false` only (not implemented) | `false` |
//! | `transport/link/tls/so_sndbuf`, `so_rcvbuf` | bytes, > 0 | system default |
//! | `transport/auth/usrpwd/user` | string (with `password`) | unset |
//! | `transport/auth/usrpwd/password` | string (with `user`) | unset |
//! | `transport/auth/usrpwd/dictionary_file` | path of a `user:password` file | unset |
//! | `access_control/enabled` | bool | `false` |
//! | `access_control/default_permission` | `"allow"` or `"deny"` | `"deny"` |
//! | `access_control/rules` | list of `{ id, messages, flows, permission, key_exprs }` | unset |
//! | `access_control/subjects` | list of `{ id, usernames, cert_common_names, interfaces, link_protocols, zids }` | unset |
//! | `access_control/policies` | list of `{ id, rules, subjects }` | unset |
//!
//! *Mode-dependent* values may be given once (`true`) or per mode, as in Zenoh
//! (`{ router: true, peer: false }`); a mode left out of the object gets its default.
//!
//! With `timestamping/enabled`, a session stamps its own publications and, before
//! delivering or forwarding them, the PUTs, DELs and query replies it receives without a
//! timestamp, with its HLC (id = its zid); a received timestamp is kept and updates the
//! clock, unless it is more than the clock's maximum drift (500 ms, `UHLC_MAX_DELTA_MS`)
//! ahead: then it is replaced by the session's own, or with
//! `timestamping/drop_future_timestamp` the message is dropped. Zenoh 1.10.2 does the same
//! for PUTs; stamping DELs and replies goes beyond it.
//!
//! `transport/unicast/lease` does not exist in Zenoh 1.10.2: it is a Plexus alias for
//! `transport/link/tx/lease`. Giving both in one document with different values is an
//! error naming both keys. `adminspace/max_closed_transports` does not exist in Zenoh
//! either: it bounds the history of closed transports that
//! [`crate::SessionInfo::closed_transports`] and the admin space give (0 keeps none). The
//! `adminspace` and `plugins` keys are read by whatever serves them (`plexusd`, or the
//! `plexus-plugin-rest` library in an application): opening a session does not start an
//! admin space or a plugin by itself. Plugin sections are free-form, as in Zenoh; each
//! plugin checks its own.
//!
//! TLS keys take effect on `tls/…` endpoints (see [`plexus_link::TlsConfig`] for their
//! meaning and the per-endpoint `#config` overrides); each PEM item is given by file or
//! by `_base64`, not both. With usrpwd configured (credentials or a dictionary), every
//! peer that connects to this process must authenticate against the dictionary, and the
//! credentials are presented on the links this process opens, as in Zenoh; the dictionary
//! file is read when the session opens. Passwords and inline keys never appear in `Debug`
//! output or errors.
//!
//! The queue sizes count the finished batches that may wait per priority before congestion
//! control applies (Plexus writes every waiting batch at once, so it counts only those
//! waiting, not the one being written; its default of 16 is Zenoh's maximum). A `Block`
//! message that finds its queue full makes its producer wait for the link's writer; a
//! writer that makes no progress for `wait_before_close` while one waits closes its
//! transport as a slow consumer. A `Drop` message's producer waits at most
//! `wait_before_drop` (`max_wait_before_drop_fragments` after a message cut into
//! fragments); then later `Drop` messages to that queue are dropped at once, and counted,
//! until the writer frees it.
//!
//! Differences from Zenoh: every key not in the table above is rejected, including Zenoh
//! keys Plexus does not implement (the error names the full path); `null` is accepted
//! only where Zenoh's field is optional, and resets the key to its default;
//! [`Config::insert_json5`] on a section (e.g. `"connect"`) merges the given keys instead
//! of replacing the whole section; endpoint groups (`{ strategy, locators }`) are not
//! supported; retry periods must not be negative.

use std::path::Path;
use std::time::Duration;

use plexus_link::Endpoint;
use plexus_transport::wire::{WhatAmI, ZenohId};

pub(crate) mod access_control;
mod error;
mod json;
mod keys;
mod resolved;

pub use error::ConfigError;
pub use resolved::{AdminSpaceConf, Config, RetryConf};

use json::parse;
use resolved::ModeValues;

impl Config {
    /// Parses a JSON5 document; keys not given keep their defaults.
    pub fn from_json5(text: &str) -> Result<Config, ConfigError> {
        Config::default().with_json5(text)
    }

    /// Reads and parses a JSON5 file; errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::default().with_file(path)
    }

    /// This configuration with the keys of a JSON5 document set over it: keys the
    /// document does not give keep their values here (e.g. `Config::router()`'s mode).
    pub fn with_json5(mut self, text: &str) -> Result<Config, ConfigError> {
        let root = parse(text, "configuration")?;
        self.apply("", &root)?;
        // A whole document must hold together (policies naming known rules and subjects).
        self.access_control().check()?;
        Ok(self)
    }

    /// [`Config::with_json5`] with the document read from a file; errors name the file.
    pub fn with_file(self, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let file = path.as_ref();
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        self.with_json5(&text).map_err(|e| ConfigError::File {
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
        keys::names()
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

    /// Returns this configuration with these TLS settings.
    pub fn with_tls(mut self, tls: plexus_link::TlsConfig) -> Config {
        self.tls = tls;
        self
    }

    /// Returns this configuration authenticating as `user` with `password` on the links
    /// it opens (`transport/auth/usrpwd/user` and `password`).
    pub fn with_usrpwd(mut self, user: &str, password: &str) -> Config {
        self.usrpwd_user = Some(user.to_owned());
        self.usrpwd_password = Some(resolved::Secret(password.to_owned()));
        self
    }

    /// Returns this configuration letting in the users of the `user:password` file at
    /// `path` (`transport/auth/usrpwd/dictionary_file`).
    pub fn with_usrpwd_dictionary(mut self, path: impl Into<std::path::PathBuf>) -> Config {
        self.usrpwd_dictionary_file = Some(path.into());
        self
    }

    /// Returns this configuration with timestamping on or off in every mode.
    pub fn with_timestamping(mut self, enabled: bool) -> Config {
        self.timestamping = ModeValues::unique(enabled);
        self
    }
}
