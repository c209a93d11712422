#!/usr/bin/env bash
# run-qemu.sh — the one command to build and boot foliomove in QEMU. The runner is the Rust
# program in xtask/, run as `cargo xtask` (.cargo/config.toml) from the repository, in the
# caller's directory. `./run-qemu.sh --help` for everything.
command -v cargo >/dev/null 2>&1 || { echo "run-qemu.sh: cargo not found: install Rust (rustup) first" >&2; exit 8; }
export FOLIOMOVE_CWD=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 8
cargo build -q --release -p xtask || { echo "run-qemu.sh: the runner (xtask/) did not build" >&2; exit 8; }
exec cargo xtask "$@"
