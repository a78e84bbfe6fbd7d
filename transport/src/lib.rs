//! Plexus transport layer: the Zenoh 1.x wire protocol over unicast links.
#![warn(missing_docs)]
