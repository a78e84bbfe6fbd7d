//! Options applied when opening links.

use std::fmt;
use std::path::PathBuf;
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
    /// Certificates, keys and options of `tls/…` links.
    pub tls: TlsConfig,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
            so_sndbuf: None,
            so_rcvbuf: None,
            tls: TlsConfig::default(),
        }
    }
}

/// Where a PEM document (certificates or a private key) comes from.
///
/// `Debug` shows file paths but never the content of inline values, which may be keys.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file holding the PEM text (Zenoh's `transport/link/tls/<item>` keys and the
    /// endpoint config's `<item>_file`).
    File(PathBuf),
    /// The PEM text encoded in standard base64 (the `<item>_base64` keys).
    Base64(String),
    /// The PEM text itself (the endpoint config's `<item>_raw`).
    Raw(String),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
            Pem::Base64(text) => write!(f, "Base64(<{} characters>)", text.len()),
            Pem::Raw(text) => write!(f, "Raw(<{} characters>)", text.len()),
        }
    }
}

/// Settings of TLS links, with Zenoh 1.10.2's keys under `transport/link/tls/`.
///
/// An endpoint's `#config` overrides them per endpoint with Zenoh's endpoint keys:
/// `root_ca_certificate_file`, `root_ca_certificate_base64`, `root_ca_certificate_raw` (and
/// the same three forms of `listen_certificate`, `listen_private_key`,
/// `connect_certificate`, `connect_private_key`), `enable_mtls`, `verify_name_on_connect`,
/// `tls_handshake_timeout_ms`, `so_sndbuf` and `so_rcvbuf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificates that sign the peers' certificates: the server's, when connecting
    /// (added to the WebPKI roots, as Zenoh does), and the clients', when listening with
    /// mTLS (then the only roots trusted).
    pub root_ca_certificate: Option<Pem>,
    /// The certificate chain a listener presents (needed to listen).
    pub listen_certificate: Option<Pem>,
    /// The private key of `listen_certificate` (needed to listen).
    pub listen_private_key: Option<Pem>,
    /// Mutual TLS: a listener demands a client certificate signed by
    /// `root_ca_certificate`, and a connecting side presents `connect_certificate`.
    /// Both sides then speak TLS 1.3 only, as Zenoh does. Default `false`.
    pub enable_mtls: bool,
    /// The certificate chain presented when connecting with mTLS.
    pub connect_certificate: Option<Pem>,
    /// The private key of `connect_certificate`.
    pub connect_private_key: Option<Pem>,
    /// Check, when connecting, that the server's certificate names the host of the
    /// endpoint (DNS name or IP address). Default `true`; `false` still checks the chain.
    pub verify_name_on_connect: bool,
    /// Time allowed for an accepted connection's TLS handshake (Zenoh's endpoint key
    /// `tls_handshake_timeout_ms`, default 10 s). Connecting is bounded by
    /// [`LinkConfig::connect_timeout`].
    pub handshake_timeout: Duration,
    /// `SO_SNDBUF` for the TCP sockets under TLS links; the endpoint's `so_sndbuf` wins.
    pub so_sndbuf: Option<usize>,
    /// `SO_RCVBUF` for the TCP sockets under TLS links; the endpoint's `so_rcvbuf` wins.
    pub so_rcvbuf: Option<usize>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            root_ca_certificate: None,
            listen_certificate: None,
            listen_private_key: None,
            enable_mtls: false,
            connect_certificate: None,
            connect_private_key: None,
            verify_name_on_connect: true,
            handshake_timeout: Duration::from_secs(10),
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
        Self::resolve_with(
            config.tcp_nodelay,
            config.so_sndbuf,
            config.so_rcvbuf,
            endpoint,
        )
    }

    /// Merges the given defaults with the endpoint's `#config` entries.
    pub fn resolve_with(
        nodelay: bool,
        sndbuf: Option<usize>,
        rcvbuf: Option<usize>,
        endpoint: &Endpoint,
    ) -> Result<Self, EndpointError> {
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
            nodelay,
            sndbuf: size(SO_SNDBUF, sndbuf)?,
            rcvbuf: size(SO_RCVBUF, rcvbuf)?,
        })
    }
}
