//! Shared helpers for Plexus's example programs and integration tests.
