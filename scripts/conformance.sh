#!/usr/bin/env bash
# Conformance: real packetdrill drives ustack (through the shim in tests/conformance) in virtual
# time. Builds the shim and runner, then the runner builds packetdrill from a copy of its source
# and runs every script of the given suite directories or single scripts (default: the FreeBSD
# and Linux suites) inside a network namespace it creates, one line per script and a closing
# `conformance: N passed, N failed, N unsupported`. Shell lines in scripts never run against the
# machine (see docs/CONFORMANCE.md).
#
#   USTACK_CONFORMANCE_DIR=DIR scripts/conformance.sh [--expect FILE] [--markdown FILE]
#       [--profile none] [--packetdrill SRC] [--suites DIR] [SUITE|SCRIPT]...
# DIR holds packetdrill/ (google/packetdrill's gtests/net/packetdrill), linux/ (its
# gtests/net/tcp) and freebsd/ (freebsd-net/tcp-testsuite's state-event-engine and
# rcv-data-segments); none is part of this repository: docs/CONFORMANCE.md, "Getting the
# suites", says how to get them, and the runner says so too when one is missing.
# Needs root (ip netns), gcc, make, bison, flex, patch.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
# USTACK_NETNS_PREFIX (as for the e2e tests) names the namespace when set.
ns="${USTACK_NETNS_PREFIX:-ustack-}conf-$$"
# The runner deletes its namespace itself; this catches an interrupted run.
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
cargo build --quiet -p ustack-conformance
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec_status=0
"$target/debug/ustack-conformance" --repo "$repo" --shim "$target/debug/libustack_conformance.so" \
    --netns "$ns" "$@" || exec_status=$?
exit "$exec_status"
