#!/usr/bin/env bash
# `ustack scan -sS` against nmap -T4 (issue 18 part 4's benchmark; not a test): a two-link
# `ustack lab` with the stack in its host namespace; far listens on 22, 80 and 443 and drops
# 100-199 (nftables); each round scans ports 1-1000 of far with `ustack scan -sS -T4` from the
# stack and `nmap -sS -T4 -Pn -n` from the host namespace's kernel, alternating which goes
# first, and checks both print the same "Not shown" line. Prints each tool's own elapsed time
# per round and the medians.
#
#   scripts/bench-scan.sh [ROUNDS]           (default 5)
#   env: USTACK=path (default: the release build)  PORTS=1-1000
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-5}"
PORTS="${PORTS:-1-1000}"
[ "$(id -u)" -eq 0 ] || { echo "bench-scan: needs root" >&2; exit 1; }
for t in ip nmap nft python3; do
    command -v "$t" >/dev/null || { echo "bench-scan: needs $t" >&2; exit 1; }
done
if [ -z "${USTACK:-}" ]; then
    cargo build -q --release -p ustack-apps
    USTACK="$(pwd)/target/release/ustack"
fi
LAB="bscan$$"
FAR=198.19.2.2
"$USTACK" lab up --name "$LAB" --hops 2 --up --no-server >/dev/null 2>&1 &
LAB_PID=$!
trap 'kill $LAB_PID 2>/dev/null; wait $LAB_PID 2>/dev/null; "$USTACK" lab down --name "$LAB" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do ip netns list | grep -q "^$LAB-far" && ip netns exec "$LAB-host" "$USTACK" ss >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$LAB-far" sh -c 'nohup python3 -c "
import socket, threading
s = []
for p in (22, 80, 443):
    x = socket.socket(); x.bind((\"0.0.0.0\", p)); x.listen(64); s.append(x)
threading.Event().wait()" >/dev/null 2>&1 &'
printf 'table inet bscan {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport 100-199 drop\n }\n}\n' \
    | ip netns exec "$LAB-far" nft -f -
sleep 0.5
ours=(); theirs=()
run_ours() {
    local out; out=$(ip netns exec "$LAB-host" "$USTACK" scan -sS -T4 -p "$PORTS" "$FAR")
    echo "$out" | grep '^Not shown' >"/tmp/$LAB.ours"
    ours+=("$(echo "$out" | sed -n 's/.*scanned in \([0-9.]*\) seconds/\1/p')")
}
run_nmap() {
    local out; out=$(ip netns exec "$LAB-host" nmap -sS -T4 -Pn -n -p "$PORTS" "$FAR")
    echo "$out" | grep '^Not shown' >"/tmp/$LAB.nmap"
    theirs+=("$(echo "$out" | sed -n 's/.*scanned in \([0-9.]*\) seconds/\1/p')")
}
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then run_ours; run_nmap; else run_nmap; run_ours; fi
    cmp -s "/tmp/$LAB.ours" "/tmp/$LAB.nmap" || { echo "round $r: the results differ:"; cat "/tmp/$LAB.ours" "/tmp/$LAB.nmap"; }
    printf 'round %d: ustack scan %ss  nmap -T4 %ss\n' "$r" "${ours[-1]}" "${theirs[-1]}"
done
rm -f "/tmp/$LAB.ours" "/tmp/$LAB.nmap"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(median "${ours[@]}"); m2=$(median "${theirs[@]}")
printf 'median over %d rounds, ports %s of %s: ustack scan -sS %ss, nmap -sS -T4 %ss (ratio %s)\n' \
    "$ROUNDS" "$PORTS" "$FAR" "$m1" "$m2" "$(awk -v a="$m1" -v b="$m2" 'BEGIN {printf "%.2f", (a > 0 ? b / a : 0)}')"
