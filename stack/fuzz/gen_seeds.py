#!/usr/bin/env python3
"""Writes a small seed corpus for the fuzz targets into corpus/<target>/.

corpus/ is gitignored; run this once before fuzzing (optional: libFuzzer also starts from nothing).
Records for stack_receive are [op][len: u16 BE][bytes]; see fuzz_targets/stack_receive.rs.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def rec(op, body):
    return bytes([op]) + struct.pack(">H", len(body)) + body


def wrap(proto_sel, ident=0x1234, flags_frag=0, dst_sel=0, src_sel=0, ttl=64):
    """The 8-byte WrapSpec: proto selector (0 ICMP, 1 UDP, 2 TCP), ident, flags/offset, dst, src, ttl."""
    return bytes([proto_sel]) + struct.pack(">HH", ident, flags_frag) + bytes([dst_sel, src_sel, ttl])


def icmp_echo(ident, seq, data, t=8):
    return bytes([t, 0, 0, 0]) + struct.pack(">HH", ident, seq) + data


def udp(sport, dport, data):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(sport, dport, flags, seq=1000, ack=0, data=b""):
    """A 20-byte TCP header (checksum fixed by the harness's op 2)."""
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data


def ip_header(src, dst, proto, total):
    h = bytearray(bytes([0x45, 0]) + struct.pack(">H", total) + bytes([0xab, 0xcd, 0, 0, 64, proto, 0, 0])
                  + bytes(src) + bytes(dst))
    s = sum(struct.unpack(">10H", h))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    h[10:12] = struct.pack(">H", ~s & 0xFFFF)
    return bytes(h)


US, PEER = [198, 18, 0, 2], [198, 18, 0, 1]

stack = {
    "ping": rec(2, wrap(0) + icmp_echo(0x4242, 1, b"hello ustack")),
    "ping_big": rec(2, wrap(0) + icmp_echo(0x4242, 2, bytes(range(256)) * 8)),
    "ping_broadcast": rec(2, wrap(0, dst_sel=1) + icmp_echo(1, 1, b"x")),
    "ping_from_dirbcast": rec(2, wrap(0, src_sel=1) + icmp_echo(1, 1, b"x")),
    "udp_to_7": rec(2, wrap(1) + udp(5000, 7, b"datagram")) + rec(7, b"\x10"),
    "udp_closed_port": rec(2, wrap(1) + udp(5000, 9, b"nobody home")),
    "tcp_rst_closed_port": rec(2, wrap(2) + tcp(5000, 81, 0x02)),
    "tcp_syn_80_then_accept": rec(2, wrap(2) + tcp(5000, 80, 0x02)) + rec(7, b"\x10\x00"),
    "raw_packet": rec(0, ip_header(PEER, US, 1, 28) + icmp_echo(0, 0, b"")),
    "frag_ping": rec(3, wrap(0) + bytes([2, 0, 3]) + icmp_echo(7, 7, b"fragmented" * 30)),
    "frag_ping_reversed_dup": rec(3, wrap(0) + bytes([0, 3, 1]) + icmp_echo(7, 8, b"abcdefgh" * 20)),
    "frag_udp_then_timeout": rec(3, wrap(1) + bytes([4, 4, 2]) + udp(1, 7, b"z" * 200))
    + rec(4, struct.pack(">H", 400) + b"\x01"),
    "frag_lost_then_poll_at": rec(3, wrap(1) + bytes([1, 4, 1]) + udp(1, 7, b"q" * 100)) + rec(9, b""),
    "udp_send": rec(5, struct.pack(">H", 9) + bytes([0, 1, 0]) + b"out"),
    "udp_send_fragmented": rec(5, struct.pack(">H", 9) + bytes([0, 20, 0]) + bytes(range(200))),
    "udp_send_df_too_big": rec(5, struct.pack(">H", 9) + bytes([0, 20, 1]) + bytes(range(200))),
    "echo_send_and_reply": rec(6, struct.pack(">H", 5) + bytes([0, 1]) + b"ping!")
    + rec(2, wrap(0) + icmp_echo(1, 5, b"ping!", t=0)) + rec(7, b"\x08"),
    # An ICMP port unreachable quoting the UDP datagram the stack sent from port 7 to 198.18.0.1:9.
    "port_unreach_to_socket": rec(5, struct.pack(">H", 9) + bytes([0, 1, 0]) + b"out")
    + rec(2, wrap(0) + bytes([3, 3, 0, 0, 0, 0, 0, 0]) + ip_header(US, PEER, 17, 31) + udp(7, 9, b""))
    + rec(7, b"\x08"),
    "churn": rec(8, b"\x02\x00") + rec(8, b"\x03\x00") + rec(8, b"\x00") + rec(2, wrap(1) + udp(1, 7, b"a")),
    "time": rec(4, b"\xff\xff\x01\x07"),
}

wire = {
    "ipv4_icmp": ip_header(PEER, US, 1, 28) + icmp_echo(1, 2, b""),
    "ipv4_udp": ip_header(PEER, US, 17, 31) + udp(1, 7, b"abc"),
    "wrapped_tcp": bytes([6]) + bytes(20),
    "icmp_error": bytes([1]) + bytes([3, 3, 0, 0, 0, 0, 0, 0]) + ip_header(US, PEER, 17, 28) + udp(7, 9, b""),
}

for target, seeds in (("stack_receive", stack), ("wire_parse", wire)):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed_" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {d}", file=sys.stderr)
