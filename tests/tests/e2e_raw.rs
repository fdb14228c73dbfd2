//! End to end: the `raw` control request (issue 18) — a SYN the stack did not build, sent as
//! given from a claimed port to the kernel, whose SYN-ACK comes back to the raw socket; the
//! kernel retransmits it, which it would not do had the stack answered with an RST (RFC 9293
//! §3.10.7.3: an RST in SYN-RECEIVED ends the attempt). A closed port answers RST-ACK.
//! Destinations outside the stack's prefix and the lab ranges are refused before anything is
//! sent.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::net::{SocketAddrV4, TcpListener};
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::TcpSegment;
use ustack_tests::control::RawControl;
use ustack_tests::e2e::{counter, Up, HOST_ADDR, STACK_ADDR};
use ustack_tests::kclient::syn_packet;
use ustack_tests::netns::{tun_available, NetNs};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The replies of one `raw` request, until its `end`.
fn raw_request(ns: &NetNs, request: serde_json::Value) -> Vec<serde_json::Value> {
    let mut c = RawControl::connect(ns);
    c.send(&request.to_string());
    let mut out = Vec::new();
    while let Some(line) = c.line() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let last = v["reply"] == "end" || v["reply"] == "error";
        out.push(v);
        if last {
            break;
        }
    }
    out
}

/// (flags, ack, source port, destination port) of each TCP copy among `replies`.
fn tcp_copies(replies: &[serde_json::Value]) -> Vec<(u8, u32, u16, u16)> {
    replies
        .iter()
        .filter(|r| r["reply"] == "packet")
        .map(|r| {
            let bytes = unhex(r["hex"].as_str().unwrap());
            let ip = Ipv4Packet::parse(&bytes).expect("a valid IPv4 copy");
            let seg = TcpSegment::parse(ip.src(), ip.dst(), ip.payload()).expect("valid TCP");
            let ack = u32::from_be_bytes(ip.payload()[8..12].try_into().unwrap());
            (ip.payload()[13], ack, seg.src_port, seg.dst_port)
        })
        .collect()
}

#[test]
fn a_raw_syn_gets_its_syn_ack_and_the_stack_sends_no_rst_of_its_own() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("raw");
    let up = Up::start(&ns, &[]);
    let listener = ns.run(|| TcpListener::bind((HOST_ADDR, 0)).unwrap());
    let open = listener.local_addr().unwrap().port();
    let claimed = 45_678;
    let syn = syn_packet(
        SocketAddrV4::new(STACK_ADDR, claimed),
        SocketAddrV4::new(HOST_ADDR, open),
        1000,
        7,
    );
    let replies = raw_request(
        &ns,
        serde_json::json!({"v":1,"id":1,"req":"raw","protocol":6,
            "filter": format!("tcp and src port {open}"),
            "claim":[{"protocol":6,"port":claimed}], "send":[hex(&syn)],
            "count":2, "timeout_ms":5000}),
    );
    assert_eq!(replies[0]["reply"], "raw_open", "{replies:?}");
    assert_eq!(replies[0]["claims"][0]["port"], claimed);
    let copies = tcp_copies(&replies);
    // SYN-ACK (0x12) acknowledging our SYN, twice: the kernel retransmitted it, so it saw no
    // RST from the stack.
    assert_eq!(
        copies,
        vec![(0x12, 1001, open, claimed), (0x12, 1001, open, claimed)],
        "{replies:?}"
    );
    let done = replies.iter().find(|r| r["reply"] == "raw_done").unwrap();
    assert_eq!(
        (done["sent"].as_u64(), done["received"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(replies.last().unwrap()["reason"], "count");

    // A closed port: the kernel's RST-ACK (0x14) comes back the same way.
    let closed = {
        let l = ns.run(|| TcpListener::bind((HOST_ADDR, 0)).unwrap());
        l.local_addr().unwrap().port()
    };
    let syn = syn_packet(
        SocketAddrV4::new(STACK_ADDR, claimed + 1),
        SocketAddrV4::new(HOST_ADDR, closed),
        5000,
        8,
    );
    let replies = raw_request(
        &ns,
        serde_json::json!({"v":1,"id":2,"req":"raw","protocol":6,
            "filter": format!("tcp and src port {closed}"),
            "send":[hex(&syn)], "count":1, "timeout_ms":5000}),
    );
    assert_eq!(
        tcp_copies(&replies),
        vec![(0x14, 5001, closed, claimed + 1)],
        "{replies:?}"
    );
    drop(listener);
    let out = up.stop();
    assert!(counter(&out, "raw_claimed") >= 2, "{out}");
    assert!(counter(&out, "raw_tx_packets") == 2, "{out}");
}

#[test]
fn destinations_outside_the_prefix_and_the_lab_ranges_are_refused() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rawno");
    let up = Up::start(&ns, &[]);
    let syn = syn_packet(
        SocketAddrV4::new(STACK_ADDR, 40_000),
        SocketAddrV4::new([192, 0, 2, 1].into(), 80),
        1,
        1,
    );
    let replies = raw_request(
        &ns,
        serde_json::json!({"v":1,"id":1,"req":"raw","send":[hex(&syn)]}),
    );
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["reply"], "error");
    let msg = replies[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("192.0.2.1 is outside") && msg.contains("--i-own-the-network"),
        "{msg}"
    );
    let bad = serde_json::json!({"v":1,"id":2,"req":"raw","send":["4500zz"]});
    assert!(raw_request(&ns, bad)[0]["message"]
        .as_str()
        .unwrap()
        .contains("not hex"));
    let out = up.stop();
    assert_eq!(counter(&out, "raw_tx_packets"), 0, "{out}");
}

#[test]
fn over_ipv6_a_built_syn_gets_the_kernels_syn_ack() {
    use std::net::Ipv6Addr;
    use ustack::wire::build::{Ipv6, Tcp};
    use ustack::wire::ipv6::Ipv6Packet;
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("raw6");
    let up = Up::start(&ns, &[]);
    ustack_tests::e2e::wait_host_addr6(&ns);
    let (me, host): (Ipv6Addr, Ipv6Addr) =
        ("2001:2::2".parse().unwrap(), "2001:2::1".parse().unwrap());
    let listener = ns.run(move || TcpListener::bind((host, 0)).unwrap());
    let open = listener.local_addr().unwrap().port();
    let syn = Ipv6::new().src(me).dst(host) / Tcp::new().sport(45_000).dport(open).seq(77).syn();
    let replies = raw_request(
        &ns,
        serde_json::json!({"v":1,"id":1,"req":"raw","protocol":6,
            "filter": format!("ip6 and tcp and src port {open}"),
            "claim":[{"protocol":6,"port":45_000}], "send":[hex(&syn.build().unwrap())],
            "count":1, "timeout_ms":5000}),
    );
    let copy = replies
        .iter()
        .find(|r| r["reply"] == "packet")
        .unwrap_or_else(|| panic!("{replies:?}"));
    let bytes = unhex(copy["hex"].as_str().unwrap());
    let ip = Ipv6Packet::parse(&bytes).unwrap();
    let seg = TcpSegment::parse(ip.src(), ip.dst(), ip.payload()).unwrap();
    assert_eq!(
        (seg.src_port, seg.dst_port, ip.payload()[13]),
        (open, 45_000, 0x12)
    );
    assert_eq!(
        u32::from_be_bytes(ip.payload()[8..12].try_into().unwrap()),
        78
    );
    drop(listener);
    up.stop();
}
