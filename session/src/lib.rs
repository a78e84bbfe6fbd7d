//! Plexus: a pub/sub/query session runtime speaking the Zenoh 1.x wire protocol.
//!
//! [`open`] a [`Session`] from a [`Config`], then publish with [`Session::put`] and
//! subscribe with [`Session::declare_subscriber`]. Key expressions follow Zenoh's
//! semantics ([`key_expr`]). Sessions in peer, client and router modes interoperate with
//! Zenoh 1.10.2 processes over the Zenoh 1.x wire protocol.
#![warn(missing_docs)]

pub mod admin;
pub mod config;
pub mod encoding;
pub mod error;
pub mod ext;
pub mod handlers;
pub mod key_expr;
mod linkstate;
pub mod query;
pub mod sample;
mod session;

pub use admin::{ConnectivityEvent, LinkInfo, SessionInfo, TransportInfo};
pub use config::{Config, ConfigError};
pub use encoding::Encoding;
pub use error::SessionError;
pub use handlers::{FifoChannel, IntoHandler, RingChannel};
pub use key_expr::OwnedKeyExpr;
pub use plexus_transport::wire::{WhatAmI, ZenohId};
pub use query::{ConsolidationMode, Query, QueryTarget, Queryable, Reply, ReplyError};
pub use sample::{CongestionControl, Locality, Priority, Reliability, Sample, SampleKind};
pub use session::liveliness::{
    Liveliness, LivelinessGetBuilder, LivelinessSubscriber, LivelinessSubscriberBuilder,
    LivelinessToken,
};
pub use session::{Publisher, PutBuilder, Session, Subscriber, SubscriberBuilder, open};
