//! The session layer's error type.

use crate::key_expr::KeyExprError;

/// What went wrong in a session operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A key expression was invalid.
    #[error(transparent)]
    KeyExpr(#[from] KeyExprError),
    /// The configuration was invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The transport layer failed (listen, connect, send).
    #[error(transparent)]
    Transport(#[from] plexus_transport::TransportError),
    /// A reply's key does not intersect the query's key.
    #[error("reply key {reply:?} does not intersect the query's key {query:?}")]
    ReplyKeyMismatch {
        /// The reply's key.
        reply: String,
        /// The query's key.
        query: String,
    },
    /// The session was closed.
    #[error("the session is closed")]
    Closed,
}

impl From<std::convert::Infallible> for SessionError {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}
