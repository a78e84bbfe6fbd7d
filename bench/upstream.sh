#!/usr/bin/env bash
# Builds Zenoh's own z_pub_thr, z_sub_thr, z_ping and z_pong the way Zenoh's workspace
# builds them (its release profile, its lockfile, its examples crate with its default
# features), but against the published zenoh 1.10.2 that the twins in bench/ use, and
# Zenoh's router zenohd 1.10.2 as published (its own lockfile, default features) with
# the same release profile, for `bench/run.sh --upstream <dir>`: the check that the
# twins are an honest baseline.
#
#   bench/upstream.sh <zenoh checkout> [<target dir>]
#
# <zenoh checkout>: a work tree of https://github.com/eclipse-zenoh/zenoh (any recent
# main: its examples and lockfile; it is edited in place, so use a throwaway copy).
# The edits: the workspace keeps only its examples crate, `zenoh` and `zenoh-ext` come
# from crates.io at =1.10.2, and rust-toolchain.toml goes (the same compiler as Plexus).
# Prints the directory to pass to --upstream.
set -euo pipefail
checkout=$(cd "$1" && pwd)
target=${2:-$checkout/target}
cd "$checkout"
python3 - <<'EOF'
import re
s = open("Cargo.toml").read()
start = s.index("members = [")
end = s.index("]", start)
s = s[:start] + 'members = [\n  "examples",\n' + s[end:]
s, n1 = re.subn(r'^zenoh = \{[^}]*\}', 'zenoh = { version = "=1.10.2", default-features = false }', s, flags=re.M)
s, n2 = re.subn(r'^zenoh-ext = \{[^}]*\}', 'zenoh-ext = { version = "=1.10.2", default-features = false }', s, flags=re.M)
assert n1 == 1 and n2 == 1, "the workspace's zenoh and zenoh-ext dependencies were not found"
open("Cargo.toml", "w").write(s)
EOF
rm -f rust-toolchain.toml rust-toolchain
grep -A6 '^\[profile.release\]' Cargo.toml >&2
cargo build --release -p zenoh-examples --target-dir "$target" \
    --example z_pub_thr --example z_sub_thr --example z_ping --example z_pong >&2
# A published package's manifest carries no profile (Zenoh's workspace sets it), so the
# workspace's release profile is given to `cargo install` through the environment.
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_PROFILE_RELEASE_PANIC=abort CARGO_TARGET_DIR="$target" \
    cargo install zenohd --version =1.10.2 --locked --force --root "$target/zenohd" >&2
cp "$target/zenohd/bin/zenohd" "$target/release/examples/zenohd"
echo "$target/release/examples"
