#!/usr/bin/env bash
# Loss recovery through a real TUN: `ustack up` with the README's suggested faults serves a
# 20 MB file over HTTP to curl in a network namespace; prints the time, the goodput, the SHA-256
# check and the stack's TCP recovery counters from /stats.json. Needs root. Release build.
#
#   scripts/bench-recovery-tun.sh [USTACK_BINARY]      (default target/release/ustack)
#   env: SIZE_MB=20  FAULTS="--fault-loss 5 --fault-reorder 2 --fault-duplicate 1 --fault-in-loss 2"
#        SEED=1 (--fault-seed)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/ustack}"
SIZE_MB="${SIZE_MB:-20}"
FAULTS="${FAULTS:---fault-loss 5 --fault-reorder 2 --fault-duplicate 1 --fault-in-loss 2}"
SEED="${SEED:-1}"
[ "$(id -u)" -eq 0 ] || { echo "bench-recovery-tun: needs root" >&2; exit 1; }
[ -x "$BIN" ] || cargo build -q --release -p ustack-apps
NS="ustack-l-rec-$$"
TUN="ulr$$"
DIR="$(mktemp -d /tmp/ustack-l-rec.XXXXXX)"
PID=""
cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    ip netns delete "$NS" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/www"
head -c "$((SIZE_MB * 1000 * 1000))" /dev/urandom >"$DIR/www/big.bin"
WANT="$(sha256sum "$DIR/www/big.bin" | cut -d' ' -f1)"
ip netns add "$NS"
ip -n "$NS" link set lo up
# shellcheck disable=SC2086
ip netns exec "$NS" "$BIN" up --tun "$TUN" --http-root "$DIR/www" $FAULTS --fault-seed "$SEED" \
    >"$DIR/up.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    ip netns exec "$NS" curl -s -m 1 -o /dev/null http://198.18.0.2/ && break
    sleep 0.1
done
# The transfer's connection leaves the table when it closes: sample /stats.json meanwhile.
( i=0; while :; do
    ip netns exec "$NS" curl -s -m 2 http://198.18.0.2/stats.json >"$DIR/poll.$i.json" 2>/dev/null || true
    i=$((i + 1)); sleep 0.5
  done ) &
POLLER=$!
START=$(date +%s.%N)
ip netns exec "$NS" curl -s -m 600 -o "$DIR/got.bin" http://198.18.0.2/big.bin
END=$(date +%s.%N)
kill "$POLLER" 2>/dev/null || true
wait "$POLLER" 2>/dev/null || true
GOT="$(sha256sum "$DIR/got.bin" | cut -d' ' -f1)"
SECS=$(echo "$END - $START" | bc -l)
BYTES=$(stat -c %s "$DIR/got.bin")
printf 'time %.1f s  goodput %.0f KB/s  sha256 %s\n' "$SECS" "$(echo "$BYTES / $SECS / 1000" | bc -l)" \
    "$([ "$GOT" = "$WANT" ] && echo ok || echo MISMATCH)"
ip netns exec "$NS" curl -s -m 5 http://198.18.0.2/stats.json >"$DIR/final.json"
python3 - "$DIR" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
best = None
for f in sorted(glob.glob(os.path.join(d, "poll.*.json")), key=lambda f: int(f.split(".")[-2])):
    try:
        j = json.load(open(f))
    except Exception:
        continue
    for c in j.get("connections", j.get("tcp", {}).get("connections", [])) or []:
        s = c.get("stats", c)
        if best is None or s.get("bytes_acked", 0) >= best.get("bytes_acked", 0):
            best = s
try:
    counters = json.load(open(os.path.join(d, "final.json"))).get("counters", {})
except Exception:
    counters = {}
print("stack counters:")
for k, v in counters.items():
    if k.startswith("tcp_") and any(x in k for x in ("retrans", "timeout", "tlp", "rack", "dsack", "sack_blocks", "spurious", "undo", "recovery")):
        print(f"  {k} {v}")
print("transfer connection (last sample):")
for k, v in sorted((best or {}).items()):
    if isinstance(v, (int, float)):
        print(f"  {k} {v}")
PY
[ "$GOT" = "$WANT" ]
