//! Options applied when opening links.

use std::time::Duration;

use crate::endpoint::{Endpoint, EndpointError};

/// Endpoint config key overriding [`LinkConfig::so_sndbuf`].
pub const SO_SNDBUF: &str = "so_sndbuf";
/// Endpoint config key overriding [`LinkConfig::so_rcvbuf`].
pub const SO_RCVBUF: &str = "so_rcvbuf";

/// Options for [`connect`](crate::connect) and [`listen`](crate::listen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Upper bound on establishing an outgoing link (resolution included).
    pub connect_timeout: Duration,
    /// Whether TCP sockets get `TCP_NODELAY` (default `true`).
    pub tcp_nodelay: bool,
    /// `SO_SNDBUF` for TCP sockets; the endpoint's `so_sndbuf` config wins.
    pub so_sndbuf: Option<usize>,
    /// `SO_RCVBUF` for TCP sockets; the endpoint's `so_rcvbuf` config wins.
    pub so_rcvbuf: Option<usize>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
            so_sndbuf: None,
            so_rcvbuf: None,
        }
    }
}

/// Socket options resolved from a [`LinkConfig`] and an endpoint's config.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "tcp"), allow(dead_code))]
pub(crate) struct SocketOptions {
    pub nodelay: bool,
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
}

#[cfg_attr(not(feature = "tcp"), allow(dead_code))]
impl SocketOptions {
    /// Merges the link config with the endpoint's `#config` entries.
    pub fn resolve(config: &LinkConfig, endpoint: &Endpoint) -> Result<Self, EndpointError> {
        let size = |key: &str, default: Option<usize>| -> Result<Option<usize>, EndpointError> {
            match endpoint.config().get(key) {
                None => Ok(default),
                Some(value) => match value.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(EndpointError::InvalidConfigValue {
                        endpoint: endpoint.to_string(),
                        key: key.to_owned(),
                        value: value.to_owned(),
                        reason: "expected a positive byte count",
                    }),
                },
            }
        };
        Ok(Self {
            nodelay: config.tcp_nodelay,
            sndbuf: size(SO_SNDBUF, config.so_sndbuf)?,
            rcvbuf: size(SO_RCVBUF, config.so_rcvbuf)?,
        })
    }
}
