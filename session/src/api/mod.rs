//! The API: the handles users hold — [`Session`](session::Session), publishers,
//! subscribers, queryables, `get` and its replies, liveliness, and the session's info.
//!
//! One declaration pattern serves every kind: `Session::declare_*` (or `get`,
//! `liveliness().…`) returns a [`Builder`](builder::Builder) holding the key, the
//! options of its kind and a handler; awaiting it declares through the routing layer
//! and gives a [`Declared`](declared::Declared) handle that undeclares on drop (a
//! `Publisher` keeps its own route cache, so it is a handle of its own).
//!
//! Each file declares one kind of thing (its `Session` method, its options and what
//! awaiting makes). Every handle works through the routing layer (`crate::routing`) of
//! the session's runtime (`crate::runtime`); nothing below imports this module.
//!
//! Rooms: `session.rs` (the handle, open/close) is used by all the others;
//! `builder.rs` and `declared.rs` are the pattern; `query.rs` is the query a queryable
//! receives (used by `queryable.rs`).

pub(crate) mod builder;
pub(crate) mod declared;
pub(crate) mod get;
pub(crate) mod info;
pub(crate) mod liveliness;
pub(crate) mod publisher;
pub(crate) mod query;
pub(crate) mod queryable;
pub(crate) mod session;
pub(crate) mod subscriber;
