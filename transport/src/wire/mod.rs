//! The Zenoh 1.x wire format (protocol version 0x09), sans-IO.
//!
//! Types for every message Plexus exchanges and their codecs: bytes in, typed messages
//! out, no sockets and no runtime. Three layers nest on the wire: transport messages
//! ([`transport`]) carry network messages ([`network`]), which carry zenoh message
//! bodies ([`zenoh`]).

pub mod core;
pub mod linkstate;
pub mod network;
pub mod transport;
pub mod zenoh;

pub use self::core::*;
