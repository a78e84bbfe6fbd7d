//! Plexus transport layer: the Zenoh 1.x wire protocol over unicast links.
//!
//! [`wire`] holds the message types and their sans-IO codec.
#![warn(missing_docs)]

pub mod wire;
