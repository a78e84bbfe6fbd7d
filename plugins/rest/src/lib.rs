//! Monitoring for Plexus sessions, on the `plexus` API like any application:
//!
//! - [`Monitor`] follows a session's connectivity (transports, links, RTT history) and
//!   keeps its Prometheus metrics;
//! - [`AdminSpace`] serves Zenoh 1.x's remote admin space (`@/<zid>/<mode>`, its
//!   `metrics`, the closed transports, and `@/<zid>/session/**` for remote readers);
//! - [`RestServer`] is Zenoh's REST API (`GET`/`PUT`/`PATCH`/`DELETE /<key-expr>`, SSE),
//!   with a live connectivity page at `/` and `/metrics`.
//!
//! [`start`] starts what a session's configuration asks for (`adminspace/enabled`,
//! `plugins/rest/http_port`); `plexusd` calls it, and so can any peer or client. Every
//! part stops when the value that started it is dropped. It does not change what the
//! session itself does: its own `@/session/<ZID>/**` stays answered to itself only.
#![warn(missing_docs)]

use std::net::SocketAddr;

use serde_json::json;

mod admin;
mod http;
mod json;
mod metrics;
mod monitor;

pub use admin::{AdminSpace, METRICS_ENCODING};
pub use http::{MAX_BODY, RestConfig, RestServer};
pub use monitor::{Monitor, RTT_HISTORY, RttSample};

/// Why monitoring could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid.
    #[error("{key}: {reason}")]
    Config {
        /// The key path.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP server could not listen.
    #[error("REST plugin: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// A session operation failed (e.g. the session is closed).
    #[error(transparent)]
    Session(#[from] plexus::SessionError),
}

/// What [`start`] started; dropping it stops everything.
#[derive(Debug)]
pub struct Monitoring {
    monitor: Monitor,
    admin: Option<AdminSpace>,
    rest: Option<RestServer>,
}

impl Monitoring {
    /// The connectivity tracker.
    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// The admin space, if `adminspace/enabled` is true.
    pub fn admin_space(&self) -> Option<&AdminSpace> {
        self.admin.as_ref()
    }

    /// The HTTP server's address, if `plugins/rest` is configured.
    pub fn rest_addr(&self) -> Option<SocketAddr> {
        self.rest.as_ref().map(RestServer::local_addr)
    }
}

/// Starts monitoring `session` as its configuration says: the [`Monitor`] always, the
/// [`AdminSpace`] when `adminspace/enabled` is true, the [`RestServer`] when
/// `plugins/rest` is given. Other `plugins/<name>` sections are not this crate's.
pub async fn start(session: &plexus::Session) -> Result<Monitoring, Error> {
    let config = session.config();
    let rest = RestConfig::from_config(config)?;
    let monitor = Monitor::start(session);
    let plugins = match rest {
        Some(_) => json!({ "rest": { "name": "rest", "path": "__static_lib__" } }),
        None => json!({}),
    };
    let admin = if config.adminspace().enabled {
        Some(AdminSpace::serve(&monitor, plugins).await?)
    } else {
        None
    };
    let rest = match rest {
        Some(r) => Some(RestServer::serve(&monitor, &r).await?),
        None => None,
    };
    Ok(Monitoring {
        monitor,
        admin,
        rest,
    })
}
