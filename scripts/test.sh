#!/usr/bin/env bash
# Runs every test: unit, property, scenario, simulator, interop, and end-to-end against the
# kernel. The end-to-end tests need root and /dev/net/tun; without them they skip, unless
# USTACK_REQUIRE_TUN=1 (as in CI), which turns a missing capability into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The end-to-end tests run the `ustack` binary; build it first.
cargo build --workspace --bins
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo prints one "test result" per binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
