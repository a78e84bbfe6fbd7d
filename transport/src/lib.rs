//! Plexus transport layer: the Zenoh 1.x wire protocol over unicast links.
//!
//! [`wire`] holds the message types and their sans-IO codec; [`handshake`] establishes
//! links, [`seq`] orders frames and [`defrag`] reassembles fragmented messages.
#![warn(missing_docs)]

pub mod defrag;
pub mod handshake;
pub mod seq;
pub mod wire;
