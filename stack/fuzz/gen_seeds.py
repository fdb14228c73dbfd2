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


def spec6(proto_sel, src_sel=0, dst_sel=0, hop_limit=64, ident=0x12345678):
    """The 8 bytes of an IPv6 record (ops 11, 12, 13): proto selector (0 ICMPv6, 1 UDP, 2 TCP),
    source (0 the peer 2001:2::1), destination (0 us 2001:2::2, 1 ff02::1), hop limit, ident."""
    return bytes([proto_sel, src_sel, dst_sel, hop_limit]) + struct.pack(">I", ident)


def icmp6_echo(ident, seq, data):
    return bytes([128, 0, 0, 0]) + struct.pack(">HH", ident, seq) + data


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
    # IPv6 (op // 10 odd): the same traffic to 2001:2::2.
    "ping6": rec(12, spec6(0) + icmp6_echo(0x4242, 1, b"hello ustack")),
    "ping6_all_nodes": rec(12, spec6(0, dst_sel=1) + icmp6_echo(1, 1, b"x")),
    "udp6_to_7": rec(12, spec6(1) + udp(5000, 7, b"datagram")) + rec(7, b"\x10"),
    "udp6_closed_port": rec(12, spec6(1) + udp(5000, 9, b"nobody home")),
    "tcp6_syn_80_then_accept": rec(12, spec6(2) + tcp(5000, 80, 0x02)) + rec(7, b"\x10\x00"),
    "tcp6_rst_closed_port": rec(12, spec6(2) + tcp(5000, 81, 0x02)),
    "frag6_udp": rec(13, spec6(1) + bytes([2, 0, 3]) + udp(1, 7, b"f" * 300)) + rec(7, b"\x10"),
    "frag6_ping_reversed_dup": rec(13, spec6(0) + bytes([0, 3, 1]) + icmp6_echo(7, 8, b"abcdefgh" * 20)),
    "udp6_send_fragmented": rec(15, struct.pack(">H", 9) + bytes([0, 20]) + bytes(range(200))),
    "echo6_send": rec(16, struct.pack(">H", 5) + bytes([0, 1]) + b"ping!"),
}

wire = {
    "ipv4_icmp": ip_header(PEER, US, 1, 28) + icmp_echo(1, 2, b""),
    "ipv4_udp": ip_header(PEER, US, 17, 31) + udp(1, 7, b"abc"),
    "wrapped_tcp": bytes([6]) + bytes(20),
    "icmp_error": bytes([1]) + bytes([3, 3, 0, 0, 0, 0, 0, 0]) + ip_header(US, PEER, 17, 28) + udp(7, 9, b""),
}


def filter_seed(expr, sel=0, body=b""):
    """filter_parse input: the expression, NUL, then the packet material: byte 0 chooses the
    protocol (0 TCP, 2 UDP, 4 ICMP, 5 SCTP), 2 the IHL, 3-4 the fragment field, 5 the addresses
    (bit 0: source from bytes 6-9, bit 1: destination from 10-13, bit 2: swap), 14- the payload."""
    return expr.encode() + b"\0" + bytes([sel]) + bytes(13) + body


def filter_seed6(expr, sel=0, body=b"", ext=3):
    """filter_parse input building an IPv6 datagram (byte 5 bit 3): byte 0 the upper protocol
    (0 TCP, 2 UDP, 4 ICMPv6), byte 2 an extension header (0 hop-by-hop, 1 destination options,
    2 Fragment, else none)."""
    return expr.encode() + b"\0" + bytes([sel, 0, ext, 0, 0, 8]) + bytes(8) + body


TCP_SYN_80 = tcp(40000, 80, 0x02)
UDP_53 = udp(5353, 53, b"query")
ECHO = icmp_echo(1, 1, b"abcdefgh")

filters = {
    "empty": filter_seed("", 0, TCP_SYN_80),
    "tcp_port_host": filter_seed("tcp port 80 and host 198.18.0.1", 0, TCP_SYN_80),
    "icmp": filter_seed("icmp", 4, ECHO),
    "not_udp": filter_seed("not udp", 2, UDP_53),
    "syn_flag": filter_seed("tcp[13] & 2 != 0", 0, TCP_SYN_80),
    "tcpflags": filter_seed("tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", 0, TCP_SYN_80),
    "icmp_type": filter_seed("icmp[icmptype] = icmp-echo or icmp[icmpcode] != 0", 4, ECHO),
    "udp_dst_port_list": filter_seed("udp dst port 53 or 5353 or 123", 2, UDP_53),
    "src_dst": filter_seed("src host 198.18.0.1 and dst net 198.18.0.0/24", 0, TCP_SYN_80),
    "net_mask": filter_seed("net 10.0.0.0 mask 255.0.0.0 or src or dst net 192.168", 1, TCP_SYN_80),
    "portrange": filter_seed("tcp portrange 1-1023 and not port 22", 0, TCP_SYN_80),
    "port_names": filter_seed("port http or port domain or tcp port https", 0, TCP_SYN_80),
    "host_list_paren": filter_seed("host 198.18.0.1 and (198.18.0.2 or tcp)", 0, TCP_SYN_80),
    "arith": filter_seed("ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0", 0, TCP_SYN_80 + b"data"),
    "arith_ops": filter_seed("len - 20 > 0 and ip[8] * 2 / 3 % 5 ^ 1 >= -1 and ip[4:4] | 1 = 1", 0, TCP_SYN_80),
    "greater_less": filter_seed("greater 40 or less 28 and ip multicast", 0, TCP_SYN_80),
    "proto_names": filter_seed("ip proto \\tcp or proto gre or ip proto 50 or sctp", 5, b"x" * 12),
    "src_and_dst": filter_seed("src and dst host 198.18.0.1 or src or dst port 7", 1, UDP_53),
    "not_not": filter_seed("! (not tcp || !udp) && ip", 2, UDP_53),
    "fragment": filter_seed("udp port 53 and ip[6:2] & 0x1fff = 0", 0x3 | 0x20, UDP_53),
    "number_first": filter_seed("1 + len = 3 or (len - 20) > 0", 0, TCP_SYN_80),
    "deep": filter_seed("(" * 30 + "tcp" + ")" * 30, 0, TCP_SYN_80),
    "bad_column": filter_seed("tcp port 99999", 0, b""),
    # The first run's report (a harness bug): a constant relation after a port test decides the
    # verdict on an empty packet even though the port read is out of bounds.
    "constant_after_port": b"udp dst port 5 or 6>=6",
    "unicode": filter_seed("host \u00e9t\u00e9 or port 80", 0, b""),
    # IPv6 (byte 5 bit 3): the packet material's byte 5 is 8.
    "ip6_icmp6": filter_seed6("icmp6 and icmp6[icmp6type] = icmp6-echo or ip6 multicast", 4, ECHO),
    "ip6_host_net": filter_seed6("src host 2001:2::1 and dst net 2001:2::/64 or ::1", 0, TCP_SYN_80),
    "ip6_proto_frag": filter_seed6("ip6 proto 17 and udp port 53 or ip6 proto \\ipv6-frag", 2, UDP_53, ext=2),
    "ip6_bad_addr": filter_seed6("host 2001:2::1::2 or net 2001:2::/129", 0, b""),
}

# Control protocol lines (docs/CONTROL.md), several to an input as a client would send them.
requests = [
    b'{"v":1,"id":1,"req":"hello"}',
    b'{"v":1,"id":2,"req":"stats"}',
    b'{"v":1,"id":3,"req":"sockets"}',
    b'{"v":1,"id":4,"req":"events","interval_ms":100}',
    b'{"v":1,"id":5,"req":"ping","dst":"198.18.0.1","count":3,"size":56,"interval_ms":1000,"timeout_ms":2000,'
    b'"deadline_ms":null,"ttl":null,"flood":false}',
    b'{"v":1,"id":6,"req":"connect","transport":"tcp","addr":"198.18.0.1:8080","listen":false,"probe":false,"timeout_ms":10000}',
    b'{"v":1,"id":7,"req":"connect","transport":"udp","addr":"0.0.0.0:9000","listen":true}',
    b'{"v":1,"id":8,"req":"capture","filter":"icmp or tcp port 80","count":100,"queue":1024}',
    b'{"v":1,"id":9,"req":"trace","dst":"198.19.3.2","queries":1,"wait_ms":2000,"pmtu":true}',
]
bad_requests = [
    b'garbage', b'[1,2]', b'{"req":"stats"}', b'{"v":2,"id":42,"req":"stats"}', b'{"v":1,"req":"nonesuch"}',
    b'{"v":1,"req":"ping","dst":"not an address"}', b'{"v":1,"id":18446744073709551615,"req":"stats"}',
    b'{"v":1,"id":-1,"req":"ping","dst":"198.18.0.1","count":1e3}', b'  \t ', b'{"v":1,"id":1,"req":"hello"}\r',
]
replies = [
    b'{"v":1,"id":1,"reply":"hello","version":1,"tun":"ustack0","addr":"198.18.0.2","host_addr":"198.18.0.1","prefix_len":24,"mtu":1500,'
    b'"pid":1234,"uptime_ms":5,"requests":["hello","stats"]}',
    b'{"v":1,"id":4,"reply":"event","event":"open","state":"established","local":"198.18.0.2:80","peer":"198.18.0.1:38942"}',
    b'{"v":1,"id":4,"reply":"event","event":"drop","reason":"UdpNoSocket","count":1}',
    b'{"v":1,"id":5,"reply":"ping","event":"reply","seq":1,"from":"198.18.0.1","ttl":64,"bytes":64,"time_ms":0.057,"dup":false,"bad_data":false}',
    b'{"v":1,"id":5,"reply":"ping","event":"summary","dst":"198.18.0.1","transmitted":3,"received":2,"duplicates":0,"errors":1,"time_ms":2003,"rtt":[0.05,0.06,0.07,0.01]}',
    b'{"v":1,"id":6,"reply":"connected","local":"198.18.0.2:53151","peer":"198.18.0.1:8080"}',
    b'{"v":1,"id":4,"reply":"packet","time_us":1764634393693388,"dir":"in","len":84,"hex":"4500005441b8"}',
    b'{"v":1,"id":4,"reply":"captured","matched":2,"sent":2,"dropped":0}',
    b'{"v":1,"id":4,"reply":"trace","event":"probe","ttl":1,"probe":0,"from":"198.18.0.1","rtt_ms":0.542,"marker":null,"reached":false}',
    b'{"v":1,"id":4,"reply":"end","reason":"done","lost":0}',
    b'{"v":1,"id":9,"reply":"error","code":"bad_request","message":"for people"}',
]
control = {"req_%d" % i: line + b"\n" for i, line in enumerate(requests)}
control.update({"bad_%d" % i: line + b"\n" for i, line in enumerate(bad_requests)})
control.update({"reply_%d" % i: line + b"\n" for i, line in enumerate(replies)})
control["session"] = b"\n".join(requests) + b"\n"
control["framed"] = struct.pack(">H", 5) + b"hello" + struct.pack(">H", 0) + struct.pack(">H", 9) + b"part"

for target, seeds in (("stack_receive", stack), ("wire_parse", wire), ("filter_parse", filters),
                      ("control_proto", control)):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed_" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {d}", file=sys.stderr)
