#!/usr/bin/env bash
# Runs every test: unit, property, scenario, simulator, interop, and end-to-end against the
# kernel. The end-to-end tests need root and /dev/net/tun; without them they skip, unless
# USTACK_REQUIRE_TUN=1 (as in CI), which turns a missing capability into a failure. Skipped tests
# are reported as skipped in the closing line, never counted as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
# The end-to-end tests run the `ustack` binary and the programs in examples/; build them first.
cargo build --workspace --bins --examples
log="$(mktemp)"
skips="$(mktemp)"
trap 'rm -f "$log" "$skips"' EXIT
export USTACK_SKIP_LOG="$skips"
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
skipped="$(wc -l < "$skips")"
if [ "$skipped" -gt 0 ]; then
    echo "skipped end-to-end tests (no TUN/netns here):"
    sed 's/^/  /' "$skips"
fi
# One closing line over every test binary (cargo prints one "test result" per binary); a skipped
# test returned early, so cargo counted it as passed: move it to the skipped column.
awk -v s="$skipped" '/^test result:/ { p += $4; f += $6 } END { printf "all tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$log"
exit "$status"
