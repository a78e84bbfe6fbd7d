//! The transport layer's error type.

use std::time::Duration;

use crate::handshake::HandshakeError;
use crate::wire::{DecodeError, ZenohId};

/// What went wrong in the transport layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The link layer failed (bad endpoint, refused connection, I/O).
    #[error(transparent)]
    Link(#[from] plexus_link::LinkError),
    /// The handshake with the remote process failed.
    #[error("handshake with {endpoint} failed: {source}")]
    Handshake {
        /// The remote end of the link.
        endpoint: String,
        /// Why.
        #[source]
        source: HandshakeError,
    },
    /// The handshake did not finish in time.
    #[error("handshake with {endpoint} timed out after {after:?}")]
    HandshakeTimedOut {
        /// The remote end of the link.
        endpoint: String,
        /// How long we waited.
        after: Duration,
    },
    /// The remote process sent bytes that are not a valid message.
    #[error("malformed input from {endpoint}: {source}")]
    Malformed {
        /// The remote end of the link.
        endpoint: String,
        /// What could not be decoded.
        #[source]
        source: DecodeError,
    },
    /// The transport was closed.
    #[error("transport to {zid} is closed")]
    Closed {
        /// The remote process.
        zid: ZenohId,
    },
    /// The manager was shut down.
    #[error("the transport manager is closed")]
    ManagerClosed,
    /// A link was refused by a limit (`max_sessions`, `max_links`) or because it did
    /// not prove that it comes from the process of the transport it would join.
    #[error("refused a link with {zid} ({reason}): {detail}")]
    Refused {
        /// The remote process.
        zid: ZenohId,
        /// The reason sent in CLOSE.
        reason: crate::wire::transport::CloseReason,
        /// Which limit, and its value.
        detail: String,
    },
    /// A new link to a live transport authenticated as another user than the transport.
    #[error(
        "a link from {zid} authenticated as `{link_user}`, but its transport belongs to \
         `{transport_user}`: refused"
    )]
    AuthMismatch {
        /// The remote process.
        zid: ZenohId,
        /// The user the new link proved.
        link_user: String,
        /// The user of the live transport.
        transport_user: String,
    },
}
