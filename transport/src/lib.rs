//! Plexus transport layer: the Zenoh 1.x wire protocol over unicast links.
//!
//! - [`wire`]: message types and their sans-IO codec (bytes in, typed messages out).
//! - [`handshake`], [`seq`], [`defrag`]: protocol logic as plain state machines, driven
//!   with explicit inputs and times, tested without sockets; [`auth`]: usrpwd
//!   authentication inside the handshake.
//! - [`pipeline`]: the TX pipeline that packs messages into batches, with bounded
//!   per-priority queues (congestion control: `Block` and `Drop`).
//! - [`unicast`]: transports to remote processes over one or more links, with lease,
//!   keep-alive and RTT probes; they report to a [`TransportHandler`]. Producers that
//!   push beyond a queue's bound wait for its writer asynchronously
//!   ([`unicast::backpressure`]); a transport whose writer is stuck while `Block`
//!   messages wait closes as a slow consumer.
//!
//! This crate knows nothing of key expressions or routing: it moves network messages.
#![warn(missing_docs)]

pub mod auth;
pub mod defrag;
pub mod error;
pub mod event;
pub mod handshake;
pub mod lease;
pub mod multilink;
pub mod pipeline;
pub mod seq;
mod sync;
pub mod unicast;
pub mod wire;

pub use error::TransportError;
pub use event::{
    CloseCause, LinkSnapshot, PeerHandler, PushSink, TransportEvent, TransportHandler,
};
pub use pipeline::SendOptions;
pub use unicast::{QueueConfig, Transport, TransportConfig, TransportManager, alive_transports};
