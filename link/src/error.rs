//! The error type of the link layer.

use std::io;
use std::time::Duration;

use crate::endpoint::EndpointError;

/// Why a link operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The endpoint string or one of its parts is invalid.
    #[error(transparent)]
    InvalidEndpoint(#[from] EndpointError),
    /// The endpoint names a protocol this build does not support.
    #[error("unsupported protocol `{protocol}` in endpoint `{endpoint}` (supported: {supported})")]
    UnsupportedProtocol {
        /// The endpoint being opened.
        endpoint: String,
        /// The unknown protocol.
        protocol: String,
        /// The protocols compiled in, comma separated.
        supported: String,
    },
    /// The remote side refused the connection.
    #[error("connection refused by `{endpoint}`")]
    ConnectionRefused {
        /// The endpoint that refused.
        endpoint: String,
    },
    /// The operation did not complete in time.
    #[error("{operation} `{endpoint}` timed out after {after:?}")]
    TimedOut {
        /// What was attempted, e.g. `connect to`.
        operation: &'static str,
        /// The endpoint concerned.
        endpoint: String,
        /// The time limit that expired.
        after: Duration,
    },
    /// The address is already in use by another listener.
    #[error("cannot listen on `{endpoint}`: address already in use")]
    AddressInUse {
        /// The endpoint that could not be bound.
        endpoint: String,
    },
    /// The peer closed the link.
    #[error("link `{endpoint}` closed by peer")]
    ClosedByPeer {
        /// The remote locator of the link.
        endpoint: String,
    },
    /// A datagram larger than the link MTU was written.
    #[error("cannot send {size} bytes on `{endpoint}`: larger than the MTU of {mtu} bytes")]
    TooLarge {
        /// The remote locator of the link.
        endpoint: String,
        /// Size of the rejected write.
        size: usize,
        /// MTU of the link.
        mtu: u16,
    },
    /// The TLS layer failed or refused the peer (bad certificate, unknown CA, alert
    /// from the peer, protocol error).
    #[error("TLS with `{endpoint}` failed: {reason}")]
    Tls {
        /// The endpoint or remote locator concerned.
        endpoint: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// The TLS configuration (certificates, keys, options) cannot be used.
    #[error("bad TLS configuration for `{endpoint}`: {reason}")]
    TlsConfig {
        /// The endpoint being opened or listened on.
        endpoint: String,
        /// What is wrong, naming the configuration key.
        reason: String,
    },
    /// Any other I/O failure, with the operation and endpoint it concerns.
    #[error("{operation} `{endpoint}` failed: {source}")]
    Io {
        /// What was attempted, e.g. `bind`, `read from`.
        operation: &'static str,
        /// The endpoint or locator concerned.
        endpoint: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl LinkError {
    /// Classifies an I/O error into the most specific variant.
    pub(crate) fn io(operation: &'static str, endpoint: impl ToString, source: io::Error) -> Self {
        let endpoint = endpoint.to_string();
        match source.kind() {
            io::ErrorKind::ConnectionRefused => LinkError::ConnectionRefused { endpoint },
            io::ErrorKind::AddrInUse => LinkError::AddressInUse { endpoint },
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => LinkError::ClosedByPeer { endpoint },
            _ => LinkError::Io {
                operation,
                endpoint,
                source,
            },
        }
    }
}
