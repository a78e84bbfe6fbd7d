//! Plexus: a pub/sub/query session runtime speaking the Zenoh 1.x wire protocol.
#![warn(missing_docs)]
pub mod config;
pub mod key_expr;

pub use config::{Config, ConfigError};
