#!/usr/bin/env bash
# The ustack demo: builds ustack, brings it up on a TUN device inside a fresh network namespace,
# and talks to it from the kernel side — ping (small, fragmented, flood), UDP echo, a closed
# port — then shows ustack's own view: its packet capture and its counters.
#
# Needs root (for `ip netns` and /dev/net/tun). Touches nothing outside the namespace it creates,
# and removes it on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

NS="ustack-demo-$$"
WORK="$(mktemp -d /tmp/ustack-demo.XXXXXX)"
UP_PID=""

cleanup() {
    if [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null; then
        kill -TERM "$UP_PID" 2>/dev/null || true
        wait "$UP_PID" 2>/dev/null || true
    fi
    ip netns delete "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root (ip netns, /dev/net/tun); try: sudo $0" >&2
    exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_ns() { ip netns exec "$NS" "$@"; }

step "building ustack"
cargo build -q -p ustack-apps
BIN="$(pwd)/target/debug/ustack"

step "creating network namespace $NS and starting: ustack up --pcap capture.pcap"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$BIN" up --pcap "$WORK/capture.pcap" >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 1 100); do
    ip -n "$NS" -4 addr show dev ustack0 2>/dev/null | grep -q 198.18.0.1 && break
    sleep 0.1
done
cat "$WORK/up.out"

step "ping 198.18.0.2 (5 requests)"
in_ns ping -c 5 -i 0.2 198.18.0.2

step "ping -s 4000: fragmented on the way in, reassembled by ustack, fragmented on the way out"
in_ns ping -c 3 -i 0.2 -s 4000 198.18.0.2

step "ping -s 65507: the largest ICMP echo IPv4 can carry (45 fragments each way)"
in_ns ping -c 2 -i 0.5 -s 65507 198.18.0.2

step "ping -f -c 2000: flood"
in_ns ping -f -c 2000 198.18.0.2 | tail -n 2

step "UDP echo on port 7"
printf 'hello, ustack\n' | in_ns nc -u -w 1 198.18.0.2 7

step "UDP to a closed port (9999): ustack answers ICMP port unreachable (see the capture below)"
printf 'x' | in_ns nc -u -w 1 198.18.0.2 9999 || true

step "TCP: curl http://198.18.0.2/ (HTTP/1.1 served by ustack's own TCP)"
in_ns curl -sS -o /dev/null -w 'HTTP %{http_code}, %{size_download} bytes in %{time_total}s\n' http://198.18.0.2/

step "TCP: 4 MiB through the echo service (port 7) with nc, compared by SHA-256"
head -c 4194304 /dev/urandom >"$WORK/blob"
in_ns nc -N 198.18.0.2 7 <"$WORK/blob" >"$WORK/blob.back"
sha256sum "$WORK/blob" "$WORK/blob.back" | sed "s|$WORK/||"

step "TCP: the live connection table (/stats) while a connection is open"
in_ns sh -c 'sleep 2 | nc -N 198.18.0.2 9 & sleep 0.5; curl -sS http://198.18.0.2/stats | head -n 12; wait'

step "ustack ping from inside the stack to the kernel (its own TUN, in another namespace)"
NS2="${NS}-b"
ip netns add "$NS2"
trap 'ip netns delete "$NS2" 2>/dev/null || true; cleanup' EXIT
ip netns exec "$NS2" "$BIN" ping -c 3 -i 0.2 198.18.0.1 2>/dev/null
ip netns delete "$NS2"

step "stopping ustack (SIGTERM, as Ctrl-C) — its counters:"
kill -TERM "$UP_PID"
wait "$UP_PID" || true
UP_PID=""
sed -n "/ustack stopped/,\$ p" "$WORK/up.out"

if command -v tcpdump >/dev/null; then
    step "the first packets of capture.pcap, read back with tcpdump -r"
    tcpdump -nn -r "$WORK/capture.pcap" 2>/dev/null | head -n 8 || true
    step "the ICMP errors ustack sent (tcpdump -r capture.pcap 'icmp[0] = 3')"
    tcpdump -nn -r "$WORK/capture.pcap" 'icmp[0] = 3' 2>/dev/null
fi
step "demo done"
