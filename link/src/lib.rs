//! Plexus link layer: moves bytes between two processes.
#![warn(missing_docs)]
