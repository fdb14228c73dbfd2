#!/usr/bin/env bash
# Runs every test: unit, property, scenario, and end-to-end against the kernel.
# The end-to-end tests need root and /dev/net/tun; without them they skip, unless
# USTACK_REQUIRE_TUN=1 (as in CI), which turns a missing capability into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The end-to-end tests run the `ustack` binary; build it first.
cargo build --workspace --bins
cargo test --workspace "$@"
