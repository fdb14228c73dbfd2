#!/usr/bin/env bash
# What a capture costs the stack: `ustack up` (release) under request/response load, alone,
# with one `ustack capture -w FILE` client attached, and — as the reference — with the kernel's
# own `tcpdump -w FILE` on the same TUN. Two loads: wrk -c100 against the HTTP service (the
# issue's measurement) and loadgen's 64 B echo request/response. Each round starts a fresh stack
# in its own namespace, the clients run inside it, and the three cases alternate their order
# from round to round. Prints medians and the ratio to the case without capture.
#
#   scripts/bench-capture.sh [ROUNDS]         (default 3)
#   env: DURATION=5 (s per run)  CONNS=100 (wrk connections)  USTACK=path (default release build)
#
# Everything a run produced stays in target/bench-capture/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-100}"
[ "$(id -u)" -eq 0 ] || { echo "bench-capture: needs root" >&2; exit 1; }
for t in ip wrk tcpdump; do
    command -v "$t" >/dev/null || { echo "bench-capture: needs $t" >&2; exit 1; }
done
if [ -z "${USTACK:-}" ]; then
    cargo build -q --release -p ustack-apps
    USTACK="$(pwd)/target/release/ustack"
fi
cargo build -q --release -p ustack-tests --example loadgen
LOADGEN="$(pwd)/target/release/examples/loadgen"
OUT="$(pwd)/target/bench-capture/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
RECORDS="$OUT/records.tsv"
: >"$RECORDS"
exec > >(tee "$OUT/run.log") 2>&1

NS="ustack-bcap-$$"
TUN="ubc$$"
SERVER_PID=""
CAP_PID=""
stop_all() {
    for p in "$CAP_PID" "$SERVER_PID"; do
        [ -n "$p" ] || continue
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    CAP_PID=""
    SERVER_PID=""
    ip netns delete "$NS" 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

start_stack() {
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip netns exec "$NS" "$USTACK" up --tun "$TUN" --mtu 1500 --max-per-source 65536 \
        >"$OUT/up-$1.log" 2>&1 &
    SERVER_PID=$!
    ip netns exec "$NS" "$LOADGEN" wait --port 80 --timeout 10
}

# $1 = none | ustack | tcpdump: who captures.
start_capture() {
    case "$1" in
        none) ;;
        ustack)
            ip netns exec "$NS" "$USTACK" capture -i "$TUN" -w "$OUT/cap.pcap" \
                2>"$OUT/capture-$2.log" &
            CAP_PID=$!
            ;;
        tcpdump)
            ip netns exec "$NS" tcpdump -i "$TUN" -w "$OUT/cap.pcap" 2>"$OUT/tcpdump-$2.log" &
            CAP_PID=$!
            ;;
    esac
    sleep 1
}

stop_capture() {
    if [ -n "$CAP_PID" ]; then
        kill -INT "$CAP_PID" 2>/dev/null || true
        wait "$CAP_PID" 2>/dev/null || true
        CAP_PID=""
        tail -3 "$OUT/$1-$2.log" | sed 's/^/      /'
    fi
    rm -f "$OUT/cap.pcap"
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RECORDS"; }

for ROUND in $(seq 1 "$ROUNDS"); do
    case $((ROUND % 3)) in
        1) order="none ustack tcpdump" ;;
        2) order="ustack tcpdump none" ;;
        0) order="tcpdump none ustack" ;;
    esac
    echo "round $ROUND ($order), load $(cut -d' ' -f1-3 /proc/loadavg)"
    for who in $order; do
        start_stack "$who-$ROUND"
        start_capture "$who" "$ROUND"
        rps=$(ip netns exec "$NS" wrk -t1 -c"$CONNS" -d"${DURATION}s" http://198.18.0.2/ \
            | awk '/Requests\/sec/ {print $2}')
        echo "  $who wrk -c$CONNS: $rps requests/s"
        record wrk "$who" "$rps"
        rr=$(ip netns exec "$NS" "$LOADGEN" rr --duration "$DURATION" --json \
            | grep -o '"rr_rate":[0-9.]*' | cut -d: -f2)
        echo "  $who loadgen rr: $rr round trips/s"
        record rr "$who" "$rr"
        [ "$who" = none ] || stop_capture "$([ "$who" = ustack ] && echo capture || echo tcpdump)" "$ROUND"
        stop_all
    done
done

echo
echo "bench-capture: medians of $ROUNDS rounds (load now $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| load | no capture | ustack capture -w | ratio | kernel tcpdump -w | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
for load in wrk rr; do
    med() { awk -v l="$load" -v w="$1" '$1==l && $2==w {print $3}' "$RECORDS" | sort -n \
        | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
    n=$(med none); u=$(med ustack); t=$(med tcpdump)
    awk -v l="$load" -v n="$n" -v u="$u" -v t="$t" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.2f | %.0f | %.2f |\n", l, n, u, (n>0?u/n:0), t, (n>0?t/n:0) }'
done
