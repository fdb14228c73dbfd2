#!/usr/bin/env bash
# TCP throughput over a real TUN, the Linux kernel at the other end: ustack (`ustack up`) against
# a smoltcp server built from the same tests crate (tests/examples/smoltcp_tun_server.rs), each in
# a fresh network namespace, same kernel-side tools. Prints every run and the medians, and the
# ratio ustack / smoltcp. Release builds. Needs root.
#
#   sudo scripts/bench-tun.sh [MIB_PER_RUN] [RUNS]      (defaults 256 and 5)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${1:-256}"
RUNS="${2:-5}"
[ "$(id -u)" -eq 0 ] || { echo "bench-tun: needs root" >&2; exit 1; }

cargo build -q --release -p ustack-apps
cargo build -q --release -p ustack-tests --example smoltcp_tun_server
USTACK="$(pwd)/target/release/ustack"
SMOL="$(pwd)/target/release/examples/smoltcp_tun_server"

NS=""
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$NS" ]; then ip netns delete "$NS" 2>/dev/null || true; fi
    SERVER_PID=""; NS=""
}
trap cleanup EXIT

start() { # $1 = ustack | smoltcp
    NS="ustack-bench-$$-$1"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    if [ "$1" = ustack ]; then
        ip netns exec "$NS" "$USTACK" up >/dev/null 2>&1 &
        SERVER_PID=$!
    else
        ip netns exec "$NS" "$SMOL" ustack0 198.18.0.2 >/dev/null 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 50); do ip -n "$NS" link show ustack0 >/dev/null 2>&1 && break; sleep 0.1; done
        ip -n "$NS" link set ustack0 mtu 1500 up
        ip -n "$NS" addr add 198.18.0.1/24 dev ustack0
    fi
    for _ in $(seq 1 100); do
        ip netns exec "$NS" nc -z -w 1 198.18.0.2 9 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench-tun: $1 did not come up" >&2; exit 1
}

# Prints MB/s of one transfer: $1 = up (kernel -> stack, port 9) | down (stack -> kernel, 19).
transfer() {
    local t0 t1 bytes=$((MIB * 1048576))
    local got
    sleep 0.5 # let the previous connection finish closing (smoltcp serves one per socket)
    t0=$(date +%s.%N)
    if [ "$1" = up ]; then
        ip netns exec "$NS" sh -c "head -c $bytes /dev/zero | nc -N 198.18.0.2 9 >/dev/null"
        got=$bytes
    else
        for attempt in 1 2 3; do
            got=$(ip netns exec "$NS" sh -c "nc 198.18.0.2 19 </dev/null | head -c $bytes | wc -c") || true
            [ "$got" = "$bytes" ] && break
            echo "bench-tun: $1 attempt $attempt moved $got bytes; retrying" >&2
            sleep 1
            t0=$(date +%s.%N)
        done
    fi
    t1=$(date +%s.%N)
    if [ "$got" != "$bytes" ]; then
        echo "bench-tun: $1 transfer moved $got of $bytes bytes" >&2
        exit 1
    fi
    echo "$t0 $t1 $bytes" | awk '{ printf "%.1f\n", $3 / ($2 - $1) / 1e6 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A RESULT
for stack in ustack smoltcp; do
    start "$stack"
    for dir in up down; do
        runs=""
        for _ in $(seq 1 "$RUNS"); do runs="$runs $(transfer "$dir")"; done
        med=$(echo "$runs" | tr ' ' '\n' | grep . | median)
        RESULT["$stack-$dir"]="$med"
        echo "$stack $dir ${MIB} MiB x $RUNS: MB/s$runs  median $med"
    done
    cleanup
done

echo
echo "median MB/s          ustack   smoltcp   ustack/smoltcp"
for dir in up down; do
    u="${RESULT[ustack-$dir]}"; s="${RESULT[smoltcp-$dir]}"
    echo "$dir $u $s" | awk '{ printf "%-18s %8s %9s   %.2f\n", ($1 == "up" ? "kernel -> stack" : "stack -> kernel"), $2, $3, $2 / $3 }'
done
