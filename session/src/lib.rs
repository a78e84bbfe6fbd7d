//! Plexus: a pub/sub/query session runtime speaking the Zenoh 1.x wire protocol.
//!
//! [`open`] a [`Session`] from a [`Config`], then publish with [`Session::put`] and
//! subscribe with [`Session::declare_subscriber`]. Every declaration follows one
//! pattern ([`declaration`]): a builder, awaited, gives a handle that undeclares when
//! dropped. Key expressions follow Zenoh's
//! semantics ([`key_expr`]). Sessions in peer, client and router modes interoperate with
//! Zenoh 1.10.2 processes over the Zenoh 1.x wire protocol.
//!
//! Inside, the crate has two rooms with one arrow between them: `api/` (the handles users
//! hold) is built on `routing/` (faces, the subscription/queryable/token tables, routes),
//! which never uses the api. `runtime/` joins routing to the transports and holds the
//! admin space; `config/`, `key_expr/`, `sample`, `reply`, `selector`, `encoding`,
//! `handlers` and `sync` (the poison-ignoring locks) are shared data and helpers. The
//! public modules below are views onto those rooms.
#![warn(missing_docs)]

mod acl;
mod api;
pub mod config;
pub mod encoding;
pub mod error;
pub mod ext;
pub mod handlers;
pub mod key_expr;
mod linkstate;
mod reply;
mod routing;
mod runtime;
pub mod sample;
mod selector;
mod sync;

pub mod admin {
    //! The admin space: this session's connectivity as data.
    //!
    //! Resources, under two layouts (the spec's `@/session/<ZID>/…` with upper-case zids,
    //! and Zenoh 1.x's `@/<zid>/session/…` with lower-case zids):
    //! - `…/transport/unicast/<remote_zid>`: a [`TransportInfo`] as JSON;
    //! - `…/transport/unicast/<remote_zid>/link/<link_id>`: a [`LinkInfo`] as JSON.
    //!
    //! A session-local queryable answers from the live transport table, and every
    //! transport and link opening or closing is published to the session's own
    //! subscribers (never on the wire). [`SessionInfo`] (from [`crate::Session::info`])
    //! gives the same data typed, and [`ConnectivityEvent`]s as they happen.

    pub use crate::api::info::SessionInfo;
    pub use crate::routing::Declarations;
    pub use crate::runtime::admin::{
        ClosedTransportInfo, ConnectivityEvent, LinkEnds, LinkInfo, MAX_REMEMBERED_LINKS,
        PriorityRange, TransportCounters, TransportInfo,
    };
}

pub mod query {
    //! Queries: queryables, `get`, selectors, replies and consolidation.
    //!
    //! [`crate::Session::get`] sends a query for a [`Selector`] to the queryables (local
    //! and remote) that match its key and returns the replies through a handler; a
    //! [`Queryable`] receives [`Query`]s and answers them with [`Query::reply`] (or
    //! [`Query::reply_err`]). A query ends when every target has finished, or at its
    //! timeout.

    pub use crate::api::get::GetBuilder;
    pub use crate::api::query::{Query, ReplyBuilder, ReplyErrBuilder};
    pub use crate::api::queryable::{Queryable, QueryableBuilder};
    pub use crate::reply::{ConsolidationMode, QueryTarget, Reply, ReplyError};
    pub use crate::selector::Selector;
}

pub mod declaration {
    //! The one declaration pattern behind every `declare_*`, `get` and liveliness call.
    //!
    //! A [`Builder`] holds the key, the options of its kind and (for kinds that deliver
    //! something) a handler set with `.callback()` or `.with()`; awaiting it declares,
    //! and gives a [`Declared`] handle that undeclares when dropped (or a reply handler,
    //! for queries; or a [`crate::Publisher`]). The names users see
    //! ([`crate::SubscriberBuilder`], [`crate::Subscriber`], …) are aliases of these
    //! types; the options types below are what each kind's setters fill in.

    pub use crate::api::builder::{Builder, Delivers, Resolve};
    pub use crate::api::declared::{Declared, Kind, kind};
    pub use crate::api::get::GetOptions;
    pub use crate::api::liveliness::{
        LivelinessGetOptions, LivelinessSubscriberOptions, TokenOptions,
    };
    pub use crate::api::publisher::PublisherOptions;
    pub use crate::api::queryable::QueryableOptions;
    pub use crate::api::subscriber::SubscriberOptions;
    pub use crate::ext::QueryingSubscriberOptions;
}

pub mod time {
    //! Time: the hybrid-logical-clock timestamps samples carry (`uhlc`'s types).

    pub use uhlc::{ID as TimestampId, NTP64, Timestamp};
}

pub use admin::{ClosedTransportInfo, ConnectivityEvent, LinkInfo, SessionInfo, TransportInfo};
pub use api::liveliness::{
    Liveliness, LivelinessGetBuilder, LivelinessSubscriber, LivelinessSubscriberBuilder,
    LivelinessToken, LivelinessTokenBuilder,
};
pub use api::publisher::{Publisher, PublisherBuilder, PutBuilder};
pub use api::session::{Session, open};
pub use api::subscriber::{Subscriber, SubscriberBuilder};
pub use bytes::Bytes;
pub use config::{AdminSpaceConf, Config, ConfigError};
pub use encoding::Encoding;
pub use error::SessionError;
pub use handlers::{FifoChannel, IntoHandler, RingChannel};
pub use key_expr::OwnedKeyExpr;
pub use plexus_link::{Endpoint, Locator};
pub use plexus_transport::wire::{WhatAmI, ZenohId};
pub use query::{ConsolidationMode, Query, QueryTarget, Queryable, Reply, ReplyError, Selector};
pub use sample::{CongestionControl, Locality, Priority, Reliability, Sample, SampleKind};
pub use time::Timestamp;
