#!/usr/bin/env bash
# ustack (`ustack up`) against a smoltcp server (tests/examples/smoltcp_tun_server.rs) over a real
# TUN, the Linux kernel at the other end, driven by the same Rust load client
# (tests/examples/loadgen): bulk push and pull, 64 B request/response, connections/s (RST and FIN
# close), idle connections and the server's RSS per connection, ping RTT and flood ping. Each
# stack runs alone in its own network namespace; the client runs inside it (`ip netns exec`), so
# no benchmark traffic can leave the machine. Rounds alternate the order of the stacks; the
# table shows medians and the ratio ustack/smoltcp, with the in-memory figure (bench_memory).
# Release builds. Needs root.
#
#   scripts/bench-tun.sh [ROUNDS]                        (default 5)
#   env: DURATION=3 (s per timed mode)  IDLE=2000 (idle connections)  THREADS=4 (conn clients)
#        MEMORY_MIB=1024 (bench_memory size; 0 skips it)
#
# Everything a run produced (run.log, records.tsv, table.md, server logs) stays in
# target/bench-tun/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-5}"
DURATION="${DURATION:-3}"
IDLE="${IDLE:-2000}"
THREADS="${THREADS:-4}"
MEMORY_MIB="${MEMORY_MIB:-1024}"
HOST_ADDR=198.18.0.1
[ "$(id -u)" -eq 0 ] || { echo "bench-tun: needs root (network namespaces, TUN, raw ICMP)" >&2; exit 1; }
command -v ip >/dev/null || { echo "bench-tun: needs ip (iproute2)" >&2; exit 1; }

cargo build -q --release -p ustack-apps
cargo build -q --release -p ustack-tests --example loadgen --example smoltcp_tun_server --example bench_memory
USTACK="$(pwd)/target/release/ustack"
SMOL="$(pwd)/target/release/examples/smoltcp_tun_server"
LOADGEN="$(pwd)/target/release/examples/loadgen"
MEMORY="$(pwd)/target/release/examples/bench_memory"
OUT="$(pwd)/target/bench-tun/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
RECORDS="$OUT/records.tsv"
exec > >(tee "$OUT/run.log") 2>&1

NS=""
SERVER_PID=""
STACK=""
# Stops the server this script started (by PID: SIGTERM, SIGKILL after 10 s) and deletes its
# namespace, which takes the TUN with it.
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "bench-tun: $STACK (pid $SERVER_PID) still running 10 s after SIGTERM; SIGKILL" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
    if [ -n "$NS" ]; then ip netns delete "$NS" 2>/dev/null || true; NS=""; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# $1 = ustack | smoltcp, $2 = a tag for the log name. A fresh namespace and server.
start_server() {
    STACK="$1"
    local k="${1:0:1}"
    NS="ustack-bench-$$-$k"
    local tun="ub$$$k" log="$OUT/$1-round$ROUND-$2.log"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    # The kernel side is the client: a wide ephemeral range, and no TIME-WAIT kept for its
    # sockets, so the FIN-close rate measures the server rather than the client's port supply.
    ip netns exec "$NS" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
        net.ipv4.tcp_max_tw_buckets=0
    if [ "$1" = ustack ]; then
        # All the load comes from one kernel address: lift the per-source share (default 1024,
        # issue 16) so the idle mode's connections are measured, not refused.
        ip netns exec "$NS" "$USTACK" up --tun "$tun" --host-addr "$HOST_ADDR" --mtu 1500 \
            --max-per-source 65536 >"$log" 2>&1 &
        SERVER_PID=$!
    else
        ip netns exec "$NS" "$SMOL" --tun "$tun" >"$log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 50); do ip -n "$NS" link show "$tun" >/dev/null 2>&1 && break; sleep 0.1; done
        ip -n "$NS" link set "$tun" mtu 1500 up
        ip -n "$NS" addr add "$HOST_ADDR/24" dev "$tun"
    fi
    if ! ip netns exec "$NS" "$LOADGEN" wait --port 7 --timeout 10; then
        echo "bench-tun: $1 did not come up; its log ($log):" >&2
        tail -20 "$log" >&2
        exit 1
    fi
}

# One measuring mode against the running server (whose CPU time and RSS it reads by PID); a
# failure is recorded and the rounds go on.
run() {
    echo "  $STACK $*"
    if ! ip netns exec "$NS" "$LOADGEN" "$@" --duration "$DURATION" --record "$RECORDS" \
        --stack "$STACK" --server-pid "$SERVER_PID" | sed 's/^/    /'; then
        echo "    (failed; recorded as a failed run)"
    fi
}

echo "bench-tun: $ROUNDS rounds, ${DURATION} s per timed mode, $IDLE idle connections; load $(cut -d' ' -f1-3 /proc/loadavg)"
for ROUND in $(seq 1 "$ROUNDS"); do
    if [ $((ROUND % 2)) -eq 1 ]; then order="smoltcp ustack"; else order="ustack smoltcp"; fi
    echo "round $ROUND ($order), load $(cut -d' ' -f1-3 /proc/loadavg)"
    for stack in $order; do
        start_server "$stack" main
        run push
        run pull
        run rr
        run conn --close rst --threads "$THREADS"
        run conn --close fin --threads "$THREADS"
        run ping
        run flood
        stop_server
        # Idle connections on a fresh server, so its RSS before is not what earlier modes left.
        start_server "$stack" idle
        run idle --count "$IDLE" --threads "$THREADS"
        stop_server
    done
done

if [ "$MEMORY_MIB" -gt 0 ]; then
    echo "in memory: bench_memory $MEMORY_MIB MiB x $ROUNDS"
    "$MEMORY" "$MEMORY_MIB" "$ROUNDS" "$RECORDS" | sed 's/^/  /'
fi

echo
echo "bench-tun: medians of $ROUNDS rounds (load now $(cut -d' ' -f1-3 /proc/loadavg)); records in $RECORDS"
echo
"$LOADGEN" report "$RECORDS" | tee "$OUT/table.md"
