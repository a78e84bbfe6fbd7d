//! Routing: where declarations, publications and queries go between this session and
//! the processes it has transports to.
//!
//! Every transport gets a *face*. Subscriptions are declared to faces (as `D_SUBSCRIBER`
//! with the full key) according to the mode:
//! - client: only this session's subscribers, to its router or peer;
//! - peer: this session's subscribers and those of attached clients, to every face;
//! - router: every subscriber, to every face other than the one it came from.
//!
//! Data follows the same rule in reverse: a publication goes to the local subscribers
//! it matches (in-process, no serialisation) and to the faces whose declared
//! subscribers intersect its key; a client sends every publication to its router.
//! Queryables and liveliness tokens are declared along the same lines, and queries go
//! to the queryables (local, or behind faces) that match.
//!
//! This layer knows faces, key expressions and network messages, and nothing of the
//! handles users hold: `crate::api` is built on it, never the reverse. It reaches the
//! application through callbacks it defines (`SampleCallback`, `ReplyCallback`,
//! `QueryCallback`) and the remote processes through their faces, which send through a
//! `FaceSender`: the transport in production, a recording fake in the unit tests, so
//! that routing is tested without sockets (`tests.rs`).
//!
//! Rooms (each file uses only those above it in this list):
//! - `callbacks.rs`, `convert.rs`: callback types; samples ⇄ PUT/DEL bodies and timestamps;
//! - `sender.rs`: the `FaceSender` trait the routing layer sends through;
//!   `transport.rs`: the transport-backed sender (congestion control is the transport's);
//!   `fake.rs` (tests only): a sender that records;
//! - `declarations.rs`: the ref-counted declaration table (what was declared to a face,
//!   under which id, for how many sources; also the publishers' keys);
//! - `face.rs`: a face, what was declared over it, its sender (`FaceTx`), `Route`, `Source`,
//!   and the helpers that build control messages;
//! - `query_exec.rs`: a query in flight and where its replies go;
//!   `pending.rs`: our queries waiting for faces to answer;
//! - `tables.rs`: the subscriber, queryable and liveliness tables;
//! - `dispatcher.rs`: the `Dispatcher` (tables, faces, routing generation), who forwards
//!   to whom, network messages from faces, faces opening and closing, and the timeout
//!   that ends every query of ours;
//! - `pubsub.rs`, `queries.rs`, `liveliness.rs`, `keyexprs.rs`: each kind of declaration,
//!   and the routes of publications (computed, cached, invalidated, delivered);
//! - `counts.rs`: counts of the declarations, for monitoring.
//!
//! Between routers (`mesh.rs`): routers exchange link states, build one graph and one
//! shortest-path tree per router, and send each other *sourced* declarations along
//! those trees; publications and queries follow the tree of the router they entered the
//! mesh at. `Dispatcher::forwards` never sends to another router: those hops are added
//! to routes from the mesh's tables.

#[cfg(test)]
mod acl_tests;
mod callbacks;
pub(crate) mod clock;
mod convert;
mod counts;
mod declarations;
mod dispatcher;
mod face;
#[cfg(test)]
mod fake;
mod keyexprs;
mod limits;
mod liveliness;
mod mesh;
mod mesh_declare;
#[cfg(test)]
mod mesh_tests;
mod mesh_weights;
mod pending;
mod pubsub;
mod queries;
mod query_exec;
mod sender;
mod tables;
#[cfg(test)]
mod tests;
mod transport;

pub(crate) use convert::to_wire_ts;
pub use counts::Declarations;
pub(crate) use dispatcher::Dispatcher;
pub(crate) use face::{Face, FaceTx, Route, Source};
pub(crate) use pubsub::{LastRoute, with_backpressure};
pub(crate) use queries::Dispatch;
pub(crate) use query_exec::{QueryExec, QueryInner};
pub(crate) use tables::LocalQueryable;
pub(crate) use transport::TransportTx;
