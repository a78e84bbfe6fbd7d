//! The API: the handles users hold — [`Session`](session::Session), publishers,
//! subscribers, queryables, `get` and its replies, liveliness, and the session's info.
//!
//! Each file declares one kind of thing (with its `Session::declare_*`/`put`/`get`
//! method, its builder and its handle). Every handle works through the routing layer
//! (`crate::routing`) of the session's runtime (`crate::runtime`); nothing below imports
//! this module.
//!
//! Rooms: `session.rs` (the handle, open/close) is used by all the others;
//! `undeclarer.rs` undeclares a handle when it is dropped; `query.rs` is the query a
//! queryable receives (used by `queryable.rs`).

pub(crate) mod get;
pub(crate) mod info;
pub(crate) mod liveliness;
pub(crate) mod publisher;
pub(crate) mod query;
pub(crate) mod queryable;
pub(crate) mod session;
pub(crate) mod subscriber;
mod undeclarer;
