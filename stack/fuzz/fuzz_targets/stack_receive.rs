//! Drives a whole `ustack::Stack` with a fuzzer-chosen sequence of packets, clock steps and app
//! calls, and checks after every step that what it emits is well formed and that every limit in
//! `Config` holds.
//!
//! Input: a sequence of records `[op: u8][len: u16 BE][len bytes]` (a short final record takes
//! what is left). `op % 10` selects:
//!
//! | op | action |
//! |----|--------|
//! | 0  | `receive` the bytes as they are (a raw IPv4 packet) |
//! | 1  | wrap the bytes in a valid IPv4 header (see [`WrapSpec`]) and `receive` it |
//! | 2  | as 1, and also fix up the ICMP checksum, UDP length + checksum, or TCP checksum of the payload |
//! | 3  | as 2, then cut the datagram into fragments (unit, order, duplicates, loss chosen by the input) |
//! | 4  | advance the clock by a u16 of milliseconds (×100 when a flag is set), `handle_timeout` |
//! | 5  | `udp_send_to` from the port-7 socket, the bytes (optionally repeated) as payload |
//! | 6  | `echo_send` from the ident-1 echo socket |
//! | 7  | drain `udp_recv_from`, `echo_recv`, `poll_event`; `tcp_accept` on the port-80 listener, echo back what each connection `tcp_recv`s (optionally `tcp_close`) |
//! | 8  | socket churn: toggle DF, or close and reopen one of the sockets |
//! | 9  | jump the clock to `poll_at()` exactly and `handle_timeout` |
//!
//! With `(op / 10)` odd (ops 11, 12, 13, 15, 16, ...) records 1, 2, 3, 5 and 6 speak IPv6
//! instead (the stack has `Config::addr6`; `stack_receive/v6.rs`): a packet wrapped in an IPv6
//! header (2 and 3 also fix the upper-layer checksum under the IPv6 pseudo-header; 3 cuts it
//! behind Fragment headers), UDP and echo sent to IPv6 destinations. The TCP listener takes
//! both families.
//!
//! After every record `poll_transmit` is drained into a 1500-byte buffer and the invariants in
//! [`Checker`] are asserted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddrV4};
use ustack::tcp::{ConnHandle, ListenHandle};
use ustack::wire::checksum;
use ustack::wire::icmp::{self, IcmpMessage};
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::TcpSegment;
use ustack::wire::udp::UdpPacket;
use ustack::{Config, Duration, EchoEvent, Instant, RecvError, SocketHandle, Stack};

#[path = "stack_receive/v6.rs"]
mod v6;

const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const UDP_PORT: u16 = 7;
const ECHO_IDENT: u16 = 1;
const TCP_PORT: u16 = 80;
const BUF: usize = 1500;

fn config() -> Config {
    Config {
        // Small limits so that the fuzzer can reach them with inputs of a few KiB.
        reassembly_max_bytes: 256 * 1024,
        reassembly_max_datagrams: 64,
        socket_rx_queue_datagrams: 8,
        socket_rx_queue_bytes: 64 * 1024,
        addr6: Some(v6::US6),
        ..Config::default()
    }
}

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([byte(b, i), byte(b, i + 1)])
}

/// Picks a destination for a received packet: mostly us, sometimes broadcast/multicast/elsewhere.
fn dst_addr(sel: u8) -> Ipv4Addr {
    match sel {
        1 => Ipv4Addr::BROADCAST,
        2 => Ipv4Addr::new(198, 18, 0, 255), // directed broadcast of 198.18.0.2/24
        3 => Ipv4Addr::new(224, 0, 0, 1),
        4 => Ipv4Addr::new(198, 18, 0, 99), // not us
        _ => US,
    }
}

/// Picks a source for a received packet: mostly the peer, sometimes a martian.
fn src_addr(sel: u8) -> Ipv4Addr {
    match sel {
        1 => Ipv4Addr::new(198, 18, 0, 255), // our subnet's directed broadcast
        2 => US,
        3 => Ipv4Addr::UNSPECIFIED,
        4 => Ipv4Addr::new(127, 0, 0, 1),
        5 => Ipv4Addr::new(10, 9, 8, 7),
        6 => Ipv4Addr::new(224, 1, 2, 3),
        7 => Ipv4Addr::new(240, 0, 0, 1),
        _ => PEER,
    }
}

/// Destinations the harness sends to: always unicast and never us.
fn send_dst(sel: u8) -> Ipv4Addr {
    match sel % 4 {
        0 => PEER,
        1 => Ipv4Addr::new(198, 18, 0, 77),
        2 => Ipv4Addr::new(10, 1, 2, 3),
        _ => Ipv4Addr::new(203, 0, 113, 9),
    }
}

/// The first 8 bytes of a wrapping record.
struct WrapSpec {
    protocol: u8,
    ident: u16,
    /// Flags and fragment offset, raw (reserved bit, DF, MF, 13-bit offset).
    flags_frag: u16,
    dst: Ipv4Addr,
    src: Ipv4Addr,
    ttl: u8,
}

impl WrapSpec {
    const LEN: usize = 8;

    fn read(b: &[u8]) -> WrapSpec {
        let p = byte(b, 0);
        WrapSpec {
            protocol: match p % 4 {
                0 => 1,
                1 => 17,
                2 => 6,
                _ => p >> 2,
            },
            ident: be16(b, 1),
            flags_frag: be16(b, 3),
            dst: dst_addr(byte(b, 5)),
            src: src_addr(byte(b, 6)),
            ttl: byte(b, 7),
        }
    }
}

fn ipv4_packet(w: &WrapSpec, flags_frag: u16, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(65535 - 20)];
    let mut p = Vec::with_capacity(20 + payload.len());
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&w.ident.to_be_bytes());
    p.extend_from_slice(&flags_frag.to_be_bytes());
    p.extend_from_slice(&[w.ttl, w.protocol, 0, 0]);
    p.extend_from_slice(&w.src.octets());
    p.extend_from_slice(&w.dst.octets());
    let c = checksum::internet(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Makes the transport checksum (and UDP length) right, so the payload gets past its parser.
fn fix_transport(w: &WrapSpec, payload: &mut [u8]) {
    match w.protocol {
        1 if payload.len() >= 4 => {
            payload[2..4].fill(0);
            let c = checksum::internet(payload);
            payload[2..4].copy_from_slice(&c.to_be_bytes());
        }
        17 if payload.len() >= 8 => {
            let len = payload.len() as u16;
            payload[4..6].copy_from_slice(&len.to_be_bytes());
            payload[6..8].fill(0);
            let c = checksum::pseudo(w.src, w.dst, 17, payload);
            let c = if c == 0 { 0xffff } else { c };
            payload[6..8].copy_from_slice(&c.to_be_bytes());
        }
        6 if payload.len() >= 20 => {
            payload[16..18].fill(0);
            let c = checksum::pseudo(w.src, w.dst, 6, payload);
            payload[16..18].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// `data` repeated `times` times, capped at `max` bytes.
fn repeated(data: &[u8], times: u8, max: usize) -> Vec<u8> {
    let times = usize::from(times % 32).max(1);
    let mut v = Vec::with_capacity((data.len() * times).min(max));
    for _ in 0..times {
        v.extend_from_slice(data);
    }
    v.truncate(max);
    v
}

/// A datagram the stack emitted, put back together from its fragments.
struct Datagram {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    payload: Vec<u8>,
}

/// Outbound checks. Every packet from `poll_transmit`:
/// - is at most the MTU (1500) and fits the buffer; parses with `Ipv4Packet::parse` (valid
///   header checksum) and its total length equals the number of bytes written;
/// - comes from our address with our TTL, and goes to a unicast host (never broadcast, directed
///   broadcast, multicast, 0.0.0.0, a martian, or ourselves);
/// - if a fragment: DF clear, fragments of one datagram leave in order and back to back,
///   non-final fragments carry a multiple of 8 bytes.
///
/// Every whole datagram: ICMP checksums verify; ICMP errors are at most 576 bytes and quote a
/// datagram that was sent to us, by the host the error goes to, as a first fragment, and that
/// was not itself an ICMP error (RFC 1122 §3.2.2); UDP parses with a non-zero checksum.
struct Checker {
    cfg: Config,
    partial: Option<(u16, u8, Datagram)>,
    done: Vec<Datagram>,
}

impl Checker {
    fn packet(&mut self, pkt: &[u8]) {
        let cfg = &self.cfg;
        assert!(
            pkt.len() <= usize::from(cfg.mtu) && pkt.len() <= BUF,
            "packet over MTU"
        );
        if pkt.first().is_some_and(|b| b >> 4 == 6) {
            return v6::check_packet6(pkt, cfg.mtu, cfg.addr6.expect("addr6 set"));
        }
        let ip = match Ipv4Packet::parse(pkt) {
            Ok(ip) => ip,
            Err(e) => panic!("emitted packet does not parse: {e:?}: {pkt:02x?}"),
        };
        assert_eq!(
            ip.header_bytes().len() + ip.payload().len(),
            pkt.len(),
            "total length != bytes written"
        );
        assert_eq!(ip.src(), cfg.addr, "source is not our address");
        assert_eq!(ip.ttl(), cfg.ttl);
        let dst = ip.dst();
        let o = dst.octets();
        assert!(
            !(dst.is_unspecified()
                || dst.is_broadcast()
                || Some(dst) == cfg.directed_broadcast()
                || dst.is_multicast()
                || dst.is_loopback()
                || o[0] == 0
                || o[0] >= 240
                || dst == cfg.addr),
            "packet sent to non-unicast or own address {dst}"
        );

        let off = ip.frag_offset();
        let mf = ip.more_fragments();
        if off == 0 && !mf {
            assert!(
                self.partial.is_none(),
                "whole datagram inside another's fragments"
            );
            self.done.push(Datagram {
                src: ip.src(),
                dst,
                protocol: ip.protocol(),
                payload: ip.payload().to_vec(),
            });
            return;
        }
        assert!(!ip.dont_fragment(), "fragment with DF set");
        if mf {
            assert_eq!(
                ip.payload().len() % 8,
                0,
                "non-final fragment not a multiple of 8"
            );
            assert!(!ip.payload().is_empty(), "empty non-final fragment");
        }
        if off == 0 {
            assert!(
                self.partial.is_none(),
                "new datagram before previous finished"
            );
            self.partial = Some((
                ip.ident(),
                ip.protocol(),
                Datagram {
                    src: ip.src(),
                    dst,
                    protocol: ip.protocol(),
                    payload: Vec::new(),
                },
            ));
        }
        let (ident, proto, d) = self.partial.as_mut().expect("fragment without its first");
        assert_eq!((*ident, *proto, d.dst), (ip.ident(), ip.protocol(), dst));
        assert_eq!(off, d.payload.len(), "fragments out of order or with a gap");
        d.payload.extend_from_slice(ip.payload());
        assert!(20 + d.payload.len() <= 65535);
        if !mf {
            let (_, _, d) = self.partial.take().unwrap();
            self.done.push(d);
        }
    }

    fn datagram(&self, d: &Datagram) {
        match d.protocol {
            1 => {
                let m = IcmpMessage::parse(&d.payload)
                    .unwrap_or_else(|e| panic!("emitted ICMP does not parse: {e:?}"));
                if let IcmpMessage::Error { quote, .. } = m {
                    assert!(20 + d.payload.len() <= 576, "ICMP error over 576 bytes");
                    assert!(quote.len() >= 20, "ICMP error quotes less than a header");
                    let qih = usize::from(quote[0] & 0x0f) * 4;
                    assert_eq!(quote[0] >> 4, 4);
                    let q_off = u16::from_be_bytes([quote[6], quote[7]]) & 0x1fff;
                    assert_eq!(q_off, 0, "ICMP error about a non-initial fragment");
                    let q_src = Ipv4Addr::new(quote[12], quote[13], quote[14], quote[15]);
                    let q_dst = Ipv4Addr::new(quote[16], quote[17], quote[18], quote[19]);
                    assert_eq!(
                        q_dst, self.cfg.addr,
                        "ICMP error about a datagram not for us"
                    );
                    assert_eq!(q_src, d.dst, "ICMP error not sent to the quoted source");
                    if quote[9] == 1 {
                        if let Some(&t) = quote.get(qih) {
                            assert!(!icmp::is_error(t), "ICMP error about an ICMP error");
                        }
                    }
                }
            }
            17 => {
                assert!(d.payload.len() >= 8);
                assert_ne!(u16::from_be_bytes([d.payload[6], d.payload[7]]), 0);
                if let Err(e) = UdpPacket::parse(d.src, d.dst, &d.payload) {
                    panic!("emitted UDP does not parse: {e:?}");
                }
            }
            6 => {
                if let Err(e) = TcpSegment::parse(d.src, d.dst, &d.payload) {
                    panic!("emitted TCP does not parse: {e:?}");
                }
            }
            p => panic!("emitted protocol {p}"),
        }
    }
}

struct Harness {
    stack: Stack,
    checker: Checker,
    start: Instant,
    now_us: u64,
    udp: SocketHandle,
    echo: SocketHandle,
    listener: ListenHandle,
    conns: Vec<ConnHandle>,
    udp_df: bool,
    buf: Vec<u8>,
}

impl Harness {
    fn new() -> Harness {
        let cfg = config();
        let start = Instant::from_micros(1_000_000);
        let mut stack = Stack::new(cfg.clone(), start).expect("config is valid");
        let udp = stack.udp_bind(UDP_PORT).expect("bind 7");
        let echo = stack.echo_open(Some(ECHO_IDENT)).expect("echo 1");
        let listener = stack.tcp_listen(TCP_PORT, 4).expect("listen 80");
        Harness {
            stack,
            checker: Checker {
                cfg,
                partial: None,
                done: Vec::new(),
            },
            start,
            now_us: 1_000_000,
            udp,
            echo,
            listener,
            conns: Vec::new(),
            udp_df: false,
            buf: vec![0; BUF],
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.now_us)
    }

    fn receive(&mut self, pkt: &[u8]) {
        let now = self.now();
        self.stack.receive(now, pkt);
    }

    /// Drains `poll_transmit` and checks everything; returns the whole datagrams emitted.
    fn drain_and_check(&mut self) -> Vec<Datagram> {
        let now = self.now();
        let mut n_packets = 0usize;
        while let Some(n) = self.stack.poll_transmit(now, &mut self.buf) {
            assert!(n <= self.buf.len());
            n_packets += 1;
            assert!(n_packets <= 1_000_000, "poll_transmit never returns None");
            self.checker.packet(&self.buf[..n]);
        }
        assert!(
            !self.stack.has_transmit(),
            "has_transmit after poll_transmit returned None"
        );
        assert!(self.checker.partial.is_none(), "datagram left half emitted");
        let done = std::mem::take(&mut self.checker.done);
        for d in &done {
            self.checker.datagram(d);
        }

        let cfg = &self.checker.cfg;
        assert_eq!(self.stack.tx_queue_len(), 0);
        assert!(self.stack.tx_queue_len() <= cfg.tx_queue_datagrams);
        assert!(
            self.stack.reassembly_bytes() <= cfg.reassembly_max_bytes,
            "reassembly holds {} > {}",
            self.stack.reassembly_bytes(),
            cfg.reassembly_max_bytes
        );
        assert!(self.stack.reassembly_in_progress() <= cfg.reassembly_max_datagrams);
        assert!(self.stack.socket_count() <= cfg.max_sockets);
        if self.stack.reassembly_in_progress() == 0 {
            assert_eq!(
                self.stack.reassembly_bytes(),
                0,
                "bytes held with nothing in reassembly"
            );
        } else {
            assert!(
                self.stack.poll_at().is_some(),
                "reassembly in progress with no timer"
            );
        }
        // ICMP error rate: burst + rate × elapsed, since the bucket starts full at `start`.
        let elapsed = self.now().saturating_since(self.start).total_micros();
        let sent = self.stack.stats().icmp_errors_sent;
        let allowed_micro =
            u64::from(cfg.icmp_error_burst) * 1_000_000 + u64::from(cfg.icmp_error_rate) * elapsed;
        assert!(
            sent.saturating_mul(1_000_000) <= allowed_micro,
            "{sent} ICMP errors sent in {elapsed} µs exceeds the rate limit"
        );
        done
    }

    fn timeout(&mut self) {
        let now = self.now();
        self.stack.handle_timeout(now);
        if let Some(at) = self.stack.poll_at() {
            assert!(at > now, "poll_at {at:?} not after handle_timeout({now:?})");
        }
    }

    fn step(&mut self, op: u8, b: &[u8]) {
        // Set when the step is one well-formed echo request to us: exactly its reply must leave.
        let mut expect_reply: Option<(u16, u16, Vec<u8>)> = None;
        if (op / 10) % 2 == 1 && matches!(op % 10, 1 | 2 | 3 | 5 | 6) {
            self.step6(op % 10, b);
            self.drain_and_check();
            return;
        }
        match op % 10 {
            0 => self.receive(b),
            1 | 2 => {
                let w = WrapSpec::read(b);
                let mut payload = b.get(WrapSpec::LEN..).unwrap_or(&[]).to_vec();
                if op % 10 == 2 {
                    fix_transport(&w, &mut payload);
                    if w.protocol == 1
                        && w.dst == US
                        && (w.src == PEER || w.src == Ipv4Addr::new(10, 9, 8, 7))
                        && w.flags_frag & 0x3fff == 0
                        && payload.len() >= 8
                        && payload[0] == 8
                        && payload[1] == 0
                    {
                        expect_reply =
                            Some((be16(&payload, 4), be16(&payload, 6), payload[8..].to_vec()));
                    }
                }
                let pkt = ipv4_packet(&w, w.flags_frag, &payload);
                self.receive(&pkt);
            }
            3 => {
                // [wrap spec: 8][unit: 1][mode: 1][repeat: 1][payload...]
                let w = WrapSpec::read(b);
                let unit = (usize::from(byte(b, 8) % 64) + 1) * 8;
                let mode = byte(b, 9);
                let body = b.get(WrapSpec::LEN + 3..).unwrap_or(&[]);
                let mut payload = repeated(body, byte(b, 10), 65535 - 20);
                fix_transport(&w, &mut payload);
                let mut frags: Vec<Vec<u8>> = Vec::new();
                let mut off = 0;
                loop {
                    let end = (off + unit).min(payload.len());
                    let mf = end < payload.len();
                    // Keep the input's DF/reserved bits only when mode asks for it.
                    let extra = if mode & 0x10 != 0 {
                        w.flags_frag & 0xc000
                    } else {
                        0
                    };
                    let ff = extra | if mf { 0x2000 } else { 0 } | (off / 8) as u16;
                    frags.push(ipv4_packet(&w, ff, &payload[off..end]));
                    off = end;
                    if !mf {
                        break;
                    }
                }
                if mode & 1 != 0 {
                    frags.reverse();
                }
                if mode & 2 != 0 && !frags.is_empty() {
                    let first = frags[0].clone();
                    frags.push(first);
                }
                if mode & 4 != 0 && frags.len() > 1 {
                    frags.remove(frags.len() / 2);
                }
                if mode & 8 != 0 && frags.len() > 2 {
                    let n = frags.len();
                    frags.swap(0, n / 2);
                }
                for f in &frags {
                    self.receive(f);
                }
            }
            4 => {
                let mut ms = u64::from(be16(b, 0));
                if byte(b, 2) & 1 != 0 {
                    ms *= 100;
                }
                self.now_us += ms * 1000 + u64::from(byte(b, 3));
                self.timeout();
            }
            5 => {
                // [port: 2][dst sel: 1][repeat: 1][flags: 1][payload...]
                let port = be16(b, 0);
                let dst = SocketAddrV4::new(send_dst(byte(b, 2)), port);
                let payload = repeated(b.get(5..).unwrap_or(&[]), byte(b, 3), 70_000);
                let df = byte(b, 4) & 1 != 0;
                if df != self.udp_df && self.stack.is_open(self.udp) {
                    self.stack.set_dont_fragment(self.udp, df).unwrap();
                    self.udp_df = df;
                }
                let r = self.stack.udp_send_to(self.udp, &payload, dst);
                if r.is_ok() {
                    assert!(payload.len() <= Stack::MAX_UDP_PAYLOAD);
                    assert!(!self.udp_df || payload.len() + 28 <= 1500);
                    assert!(port != 0);
                }
            }
            6 => {
                // [seq: 2][dst sel: 1][repeat: 1][data...]
                let seq = be16(b, 0);
                let data = repeated(b.get(4..).unwrap_or(&[]), byte(b, 3), 70_000);
                let r = self
                    .stack
                    .echo_send(self.echo, send_dst(byte(b, 2)), seq, &data);
                if r.is_ok() {
                    assert!(20 + 8 + data.len() <= 65535);
                }
            }
            7 => {
                let mut rb = vec![0u8; usize::from(byte(b, 0)) * 8];
                for _ in 0..10_000 {
                    match self.stack.udp_recv_from(self.udp, &mut rb) {
                        Ok((len, from)) => {
                            assert!(len <= Stack::MAX_UDP_PAYLOAD);
                            assert!(from.ip() != US && from.ip() != v6::US6);
                        }
                        Err(RecvError::WouldBlock | RecvError::InvalidHandle) => break,
                        Err(_) => {}
                    }
                }
                for _ in 0..10_000 {
                    match self.stack.echo_recv(self.echo, &mut rb) {
                        Ok(EchoEvent::Reply { len, .. }) => assert!(len <= 65535),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                assert!(!self.stack.can_recv(self.echo) || !self.stack.is_open(self.echo));
                // TCP: accept what the listener has, and echo back what each connection received.
                while self.conns.len() < 16 {
                    match self.stack.tcp_accept(self.listener) {
                        Ok(c) => self.conns.push(c),
                        Err(_) => break,
                    }
                }
                for &c in &self.conns {
                    if let Ok(n) = self.stack.tcp_recv(c, &mut rb) {
                        assert!(n <= rb.len());
                        let _ = self.stack.tcp_send(c, &rb[..n]);
                    }
                    if byte(b, 1) & 1 != 0 {
                        let _ = self.stack.tcp_close(c);
                    }
                }
                for _ in 0..10_000 {
                    if self.stack.poll_event().is_none() {
                        break;
                    }
                }
            }
            8 => match byte(b, 0) % 4 {
                0 => {
                    self.udp_df = !self.udp_df;
                    let _ = self.stack.set_dont_fragment(self.udp, self.udp_df);
                }
                1 => {
                    let _ = self.stack.set_dont_fragment(self.echo, byte(b, 1) & 1 != 0);
                }
                2 => {
                    assert!(self.stack.close(self.udp) || !self.stack.is_open(self.udp));
                    assert!(!self.stack.close(self.udp), "double close succeeded");
                    if byte(b, 1) & 1 == 0 {
                        self.udp = self.stack.udp_bind(UDP_PORT).expect("rebind 7");
                        self.udp_df = false;
                    }
                }
                _ => {
                    self.stack.close(self.echo);
                    if byte(b, 1) & 1 == 0 {
                        self.echo = self.stack.echo_open(Some(ECHO_IDENT)).expect("reopen echo");
                    }
                }
            },
            _ => {
                if let Some(at) = self.stack.poll_at() {
                    let at = at.total_micros();
                    // poll_at may be in the past only if we have not yet handled it.
                    self.now_us = self.now_us.max(at);
                }
                self.timeout();
            }
        }
        let done = self.drain_and_check();
        if let Some((ident, seq, data)) = expect_reply {
            let replies: Vec<_> = done
                .iter()
                .filter(|d| d.protocol == 1 && d.payload.first() == Some(&0))
                .collect();
            assert_eq!(
                replies.len(),
                1,
                "echo request got {} replies",
                replies.len()
            );
            let r = &replies[0].payload;
            assert_eq!(
                (be16(r, 4), be16(r, 6)),
                (ident, seq),
                "reply ident/seq differ"
            );
            assert!(r[8..] == data[..], "reply data differs from request");
        }
    }
}

impl Harness {
    /// The IPv6 records (see the module docs).
    fn step6(&mut self, op: u8, b: &[u8]) {
        // [protocol: 1][src sel: 1][dst sel: 1][hop limit: 1][ident: 4] for 1, 2, 3
        let (protocol, src, dst) = (
            v6::protocol6(byte(b, 0)),
            v6::src6(byte(b, 1)),
            v6::dst6(byte(b, 2)),
        );
        let hop_limit = byte(b, 3);
        match op {
            1 | 2 => {
                let mut payload = b.get(8..).unwrap_or(&[]).to_vec();
                if op == 2 {
                    v6::fix_transport6(src, dst, protocol, &mut payload);
                }
                self.receive(&v6::packet6(src, dst, protocol, hop_limit, &payload));
            }
            3 => {
                // [spec: 8][unit: 1][mode: 1][repeat: 1][payload...]
                let ident = u32::from_be_bytes([byte(b, 4), byte(b, 5), byte(b, 6), byte(b, 7)]);
                let unit = (usize::from(byte(b, 8) % 64) + 1) * 8;
                let mode = byte(b, 9);
                let mut payload = repeated(b.get(11..).unwrap_or(&[]), byte(b, 10), 65535 - 8);
                v6::fix_transport6(src, dst, protocol, &mut payload);
                let mut frags = v6::fragments6(src, dst, protocol, ident, unit, &payload);
                if mode & 1 != 0 {
                    frags.reverse();
                }
                if mode & 2 != 0 {
                    let first = frags[0].clone();
                    frags.push(first);
                }
                if mode & 4 != 0 && frags.len() > 1 {
                    frags.remove(frags.len() / 2);
                }
                for f in &frags {
                    self.receive(f);
                }
            }
            5 => {
                // [port: 2][dst sel: 1][repeat: 1][payload...]
                let port = be16(b, 0);
                let dst = std::net::SocketAddr::new(v6::send_dst6(byte(b, 2)).into(), port);
                let payload = repeated(b.get(4..).unwrap_or(&[]), byte(b, 3), 70_000);
                if self.stack.udp_send_to(self.udp, &payload, dst).is_ok() {
                    assert!(port != 0 && payload.len() <= Stack::MAX_UDP_PAYLOAD);
                }
            }
            _ => {
                // [seq: 2][dst sel: 1][repeat: 1][data...]
                let data = repeated(b.get(4..).unwrap_or(&[]), byte(b, 3), 70_000);
                let dst = v6::send_dst6(byte(b, 2));
                let _ = self.stack.echo_send(self.echo, dst, be16(b, 0), &data);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut h = Harness::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let op = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let body = &rest[3..];
        let len = len.min(body.len());
        h.step(op, &body[..len]);
        rest = &body[len..];
    }
    // Finally let every timer run out: reassembly must empty.
    h.now_us += Duration::from_secs(3600).total_micros();
    h.timeout();
    h.drain_and_check();
    assert_eq!(h.stack.reassembly_in_progress(), 0);
    assert_eq!(h.stack.reassembly_bytes(), 0);
});
