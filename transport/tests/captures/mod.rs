//! Where the real Zenoh 1.10.2 wire captures are: `$PLEXUS_SHARED/wire-captures`, else
//! `shared/wire-captures` in the nearest directory above the crate that has one (CI
//! always has `shared/` beside the clone).
//!
//! A replay test without its captures fails, naming where it looked: it never passes
//! silently.

// Each test crate that declares `mod captures;` uses only part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The directory of the wire captures; panics when it is missing.
pub fn dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = match std::env::var_os("PLEXUS_SHARED") {
        Some(shared) => PathBuf::from(shared).join("wire-captures"),
        None => manifest
            .ancestors()
            .map(|a| a.join("shared/wire-captures"))
            .find(|d| d.is_dir())
            .unwrap_or_else(|| manifest.join("../../shared/wire-captures")),
    };
    assert!(
        dir.is_dir(),
        "the wire captures are missing: {} is not a directory (put the shared directory \
         beside the repository, or set PLEXUS_SHARED to it)",
        dir.display()
    );
    dir
}

/// The text of the capture `name` (e.g. `pubsub.jsonl`); panics when it is missing.
pub fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the capture {}: {e}", path.display()))
}
