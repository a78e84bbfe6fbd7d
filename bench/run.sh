#!/usr/bin/env bash
# Builds everything in release and runs the full benchmark (about ten minutes): Plexus
# against Zenoh 1.10.2 over loopback. Rewrites BENCHMARKS.md and bench/throughput.png.
# Extra arguments go to the runner (`bench/run.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
# The router memory measurement holds 1,000 client sockets in one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec cargo run --release --manifest-path bench/Cargo.toml --locked --bin run -- "$@"
