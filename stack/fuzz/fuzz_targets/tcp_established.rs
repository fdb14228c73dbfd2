//! Drives an ESTABLISHED connection with fuzzer-chosen sequences of segments (any flags;
//! sequence, ACK, window, timestamps and SACK blocks near the interesting edges), app calls and
//! time jumps, and checks invariants after every step.
//!
//! Setup: a `Stack` with small limits (and an IPv6 address) listens on port 80; the peer
//! 198.18.0.1:40000 — or [2001:2::1]:40000 when bit 3 of the first input byte is set — opens a
//! connection with the options the first input byte selects (timestamps, SACK, window scale)
//! and the app accepts it. Then the input is a sequence of 12-byte records (`op` first):
//!
//! | `op % 8` | action |
//! |---|---|
//! | 0, 1 | a segment from the peer (see [`Harness::segment`]) |
//! | 2 | the app sends `n` bytes of its pattern |
//! | 3 | the app reads up to `n` bytes |
//! | 4 | advance the clock by a u16 of ms (×1000 when flagged) and `handle_timeout` |
//! | 5 | jump to `poll_at()` and `handle_timeout` |
//! | 6 | `tcp_shutdown`, `tcp_close`, `tcp_abort` or keepalive/nodelay, by a selector |
//! | 7 | the peer ACKs everything the stack sent, with a window from the record |
//!
//! Invariants after every record: no panic; every emitted packet is TCP from port 80 to the
//! peer, parses, and its payload is exactly the app's pattern at that sequence offset (the
//! stack sends only what the app wrote, at the right place); the bytes the app reads are the
//! peer's stream in order, never twice (the peer's payload at stream offset k is always
//! `peer_byte(k)`); the state only moves along RFC 9293's diagram; queues stay within the
//! configured buffers; the connection table within its limits; and after `handle_timeout(now)`
//! `poll_at()` is `None` or later than `now` and never absurdly far (timers are finite).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ustack::tcp::{ConnHandle, State};
use ustack::wire::checksum;
use ustack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ustack::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use ustack::wire::tcp::{flags, SeqNumber, TcpOptions, TcpSegment};
use ustack::{Config, Duration, Instant, Stack};

const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const PORT: u16 = 80;
const PEER_PORT: u16 = 40_000;
const PEER_ISN: u32 = 0xfffe_0000; // wraps soon: sequence arithmetic is exercised
const RX: usize = 16 * 1024;
const TX: usize = 16 * 1024;

fn config() -> Config {
    Config {
        tcp_rx_buffer: RX,
        tcp_tx_buffer: TX,
        tcp_max_connections: 8,
        tcp_ooo_max_ranges: 8,
        tcp_ooo_max_ranges_total: 16,
        tcp_max_time_wait: 4,
        tcp_msl: Duration::from_secs(2),
        tcp_user_timeout: Duration::from_secs(30),
        addr6: Some(US6),
        ..Config::default()
    }
}

/// The peer's byte at stream offset `k` (modulo 2^32, like sequence numbers).
fn peer_byte(k: u64) -> u8 {
    (u64::from(k as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// The app's byte at stream offset `k` (modulo 2^32).
fn app_byte(k: u64) -> u8 {
    (u64::from(k as u32).wrapping_mul(0xD1B5_4A32_D192_ED03) >> 56) as u8 ^ 0x5a
}

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([byte(b, i), byte(b, i + 1)])
}

/// A 32-bit offset "near the edges": small deltas either way, window-sized jumps, or anything.
fn delta(sel: u8, raw: u16, window: u32) -> u32 {
    let small = u32::from(raw % 64);
    match sel % 8 {
        0 => 0,
        1 => small,
        2 => small.wrapping_neg(),
        3 => window.wrapping_add(small).wrapping_sub(32),
        4 => window.wrapping_neg().wrapping_add(small),
        5 => u32::from(raw),
        6 => u32::from(raw).wrapping_neg(),
        _ => u32::from(raw) << 16 | u32::from(raw),
    }
}

/// One step of RFC 9293 §3.3.2 figure 5 (any state may also go to CLOSED).
fn step_legal(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (SynReceived, Established)
            | (Established, FinWait1)
            | (Established, CloseWait)
            | (FinWait1, FinWait2)
            | (FinWait1, Closing)
            | (FinWait1, TimeWait)
            | (FinWait2, TimeWait)
            | (Closing, TimeWait)
            | (CloseWait, LastAck)
    )
}

/// Whether `to` is reachable from `from` in the diagram: one record may cause several steps
/// (a FIN arrives and our queued FIN leaves: ESTABLISHED -> CLOSE-WAIT -> LAST-ACK).
fn legal(from: State, to: State) -> bool {
    use State::*;
    const ALL: [State; 9] = [
        SynReceived,
        Established,
        FinWait1,
        FinWait2,
        CloseWait,
        Closing,
        LastAck,
        TimeWait,
        Closed,
    ];
    if from == to || to == Closed {
        return true;
    }
    let mut reach = vec![from];
    let mut i = 0;
    while i < reach.len() {
        let s = reach[i];
        for &t in &ALL {
            if step_legal(s, t) && !reach.contains(&t) {
                reach.push(t);
            }
        }
        i += 1;
    }
    reach.contains(&to)
}

/// `tcp` (checksum done) from `src` to `dst` behind an IPv4 or IPv6 header.
fn ip_packet(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut pkt = vec![0u8; 20 + tcp.len()];
            Ipv4Repr {
                src,
                dst,
                protocol: 6,
                ttl: 64,
                ident: 1,
                dont_fragment: true,
                more_fragments: false,
                frag_offset: 0,
                payload_len: tcp.len(),
            }
            .emit(&mut pkt);
            pkt[20..].copy_from_slice(tcp);
            pkt
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut pkt = vec![0u8; ipv6::HEADER_LEN + tcp.len()];
            Ipv6Repr {
                src,
                dst,
                next_header: 6,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
                payload_len: tcp.len(),
            }
            .emit(&mut pkt);
            pkt[ipv6::HEADER_LEN..].copy_from_slice(tcp);
            pkt
        }
        _ => unreachable!("one family per run"),
    }
}

/// (source, destination, protocol, payload) of a packet the stack emitted: valid IPv4 or IPv6
/// with no extension headers (the stack sends TCP right behind the fixed header).
fn ip_parts(pkt: &[u8]) -> (IpAddr, IpAddr, u8, &[u8]) {
    if pkt[0] >> 4 == 6 {
        let ip = Ipv6Packet::parse(pkt).expect("valid IPv6");
        (
            ip.src().into(),
            ip.dst().into(),
            ip.next_header(),
            ip.payload(),
        )
    } else {
        let ip = Ipv4Packet::parse(pkt).expect("valid IPv4");
        (
            ip.src().into(),
            ip.dst().into(),
            ip.protocol(),
            ip.payload(),
        )
    }
}

struct Harness {
    stack: Stack,
    /// The peer's address and ours: IPv4 or IPv6.
    peer: IpAddr,
    us: IpAddr,
    now: Instant,
    /// The connection (set once accepted).
    conn: Option<ConnHandle>,
    /// Peer's next sequence number (its own stream: seq = PEER_ISN + 1 + offset).
    peer_nxt: u32,
    /// Peer's TSval clock and the last TSval seen from the stack.
    tsval: u32,
    ts_recent: u32,
    ts: bool,
    /// Our ISS and the highest sequence the stack has sent.
    iss: u32,
    snd_max: u32,
    /// App stream: bytes written, bytes read (next expected peer offset).
    app_written: u64,
    app_read: u64,
    state: Option<State>,
    buf: Vec<u8>,
}

impl Harness {
    fn new(setup: u8) -> Option<Harness> {
        let mut stack = Stack::new(config(), Instant::from_millis(1_000)).ok()?;
        let l = stack.tcp_listen(PORT, 4).ok()?;
        let ts = setup & 1 != 0;
        let opts = TcpOptions {
            mss: Some(536 + u16::from(setup >> 4) * 64),
            window_scale: (setup & 2 != 0).then_some(setup >> 5),
            sack_permitted: setup & 4 != 0,
            timestamps: ts.then_some((1_000, 0)),
            sack_blocks: [None; 4],
        };
        let (peer, us): (IpAddr, IpAddr) = if setup & 8 != 0 {
            (PEER6.into(), US6.into())
        } else {
            (PEER.into(), US.into())
        };
        let mut hs = Harness {
            stack,
            peer,
            us,
            now: Instant::from_millis(1_000),
            conn: None,
            peer_nxt: PEER_ISN,
            tsval: 1_000,
            ts_recent: 0,
            ts,
            iss: 0,
            snd_max: 0,
            app_written: 0,
            app_read: 0,
            state: None,
            buf: vec![0; 1500],
        };
        hs.send_raw(PEER_ISN, 0, flags::SYN, 65535, opts, &[]);
        let synack = hs.drain().into_iter().next()?;
        hs.iss = synack.0;
        hs.snd_max = synack.0.wrapping_add(1);
        hs.peer_nxt = PEER_ISN.wrapping_add(1);
        let o = TcpOptions {
            timestamps: ts.then_some((hs.tsval, hs.ts_recent)),
            ..TcpOptions::default()
        };
        hs.send_raw(hs.peer_nxt, hs.snd_max, flags::ACK, 4096, o, &[]);
        hs.drain();
        hs.conn = Some(hs.stack.tcp_accept(l).ok()?);
        hs.state = hs.stack.tcp_state(hs.h());
        assert_eq!(hs.state, Some(State::Established));
        Some(hs)
    }

    fn h(&self) -> ConnHandle {
        self.conn.expect("accepted in new()")
    }

    fn send_raw(&mut self, seq: u32, ack: u32, f: u8, win: u16, o: TcpOptions, data: &[u8]) {
        let mut opts = vec![0u8; o.emitted_len()];
        o.emit(&mut opts);
        let hlen = 20 + opts.len();
        let mut tcp = vec![0u8; hlen + data.len()];
        tcp[0..2].copy_from_slice(&PEER_PORT.to_be_bytes());
        tcp[2..4].copy_from_slice(&PORT.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = ((hlen / 4) as u8) << 4;
        tcp[13] = f;
        tcp[14..16].copy_from_slice(&win.to_be_bytes());
        tcp[20..hlen].copy_from_slice(&opts);
        tcp[hlen..].copy_from_slice(data);
        let c = checksum::transport(self.peer, self.us, 6, &tcp);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let pkt = ip_packet(self.peer, self.us, &tcp);
        self.stack.receive(self.now, &pkt);
    }

    /// Drains and checks every packet; returns (seq, flags) of each.
    fn drain(&mut self) -> Vec<(u32, u8)> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let Some(n) = self.stack.poll_transmit(self.now, &mut self.buf) else {
                return out;
            };
            assert!(n <= 1500);
            let (src, dst, protocol, payload) = ip_parts(&self.buf[..n]);
            assert_eq!((src, dst, protocol), (self.us, self.peer, 6));
            let seg = TcpSegment::parse(src, dst, payload).expect("valid TCP");
            assert_eq!(seg.src_port, PORT);
            if seg.dst_port != PEER_PORT {
                continue;
            }
            if let Some((val, _)) = seg.options.timestamps {
                self.ts_recent = val;
            }
            if self.iss != 0 && !seg.payload.is_empty() {
                // The payload is the app's pattern at its stream offset.
                let off = seg.seq.0.wrapping_sub(self.iss.wrapping_add(1));
                let off = u64::from(off);
                assert!(
                    off + seg.payload.len() as u64 <= self.app_written,
                    "sent unwritten data"
                );
                for (i, &b) in seg.payload.iter().enumerate() {
                    assert_eq!(
                        b,
                        app_byte(off + i as u64),
                        "payload at offset {}",
                        off + i as u64
                    );
                }
            }
            let end = seg.seq.add(seg.seg_len()).0;
            if self.iss != 0 && SeqNumber(end).gt(SeqNumber(self.snd_max)) {
                self.snd_max = end;
            }
            out.push((seg.seq.0, seg.flags.0));
        }
        panic!("poll_transmit never returns None");
    }

    /// A segment from the peer. Record: [op, flags, seq sel, ack sel, raw16, win16, ts sel, len,
    /// sack sel, extra].
    fn segment(&mut self, r: &[u8]) {
        let f = byte(r, 1);
        let raw = be16(r, 4);
        let seq = self
            .peer_nxt
            .wrapping_add(delta(byte(r, 2), raw, RX as u32));
        let ack = self.snd_max.wrapping_add(delta(byte(r, 3), raw, TX as u32));
        let win = be16(r, 6);
        let ts_sel = byte(r, 8);
        let mut o = TcpOptions::default();
        if self.ts && ts_sel % 4 != 3 {
            let val = match ts_sel % 4 {
                0 => self.tsval,
                1 => self.tsval.wrapping_add(u32::from(raw)),
                _ => self.tsval.wrapping_sub(u32::from(raw)),
            };
            o.timestamps = Some((val, self.ts_recent));
            if ts_sel % 4 == 1 && ts_sel & 0x80 != 0 {
                self.tsval = val; // the peer's clock really moved on
            }
        }
        let sack = byte(r, 10);
        if sack != 0 {
            let l = self.snd_max.wrapping_sub(u32::from(sack) * 16);
            o.sack_blocks[0] = Some((SeqNumber(l), SeqNumber(l.wrapping_add(u32::from(sack)))));
        }
        let len = usize::from(byte(r, 9)) * 8;
        let start = u64::from(seq.wrapping_sub(PEER_ISN.wrapping_add(1)));
        let data: Vec<u8> = (0..len as u64).map(|i| peer_byte(start + i)).collect();
        self.send_raw(seq, ack, f, win, o, &data);
        // The peer's own stream advances when it sends in-order data (it never sends bytes at
        // an offset twice with different content: the pattern is fixed by offset).
        if seq == self.peer_nxt && f & flags::SYN == 0 {
            self.peer_nxt = seq.wrapping_add(len as u32);
        }
    }

    fn read(&mut self, n: usize) {
        let mut b = vec![0u8; n.max(1)];
        if let Ok(got) = self.stack.tcp_recv(self.h(), &mut b) {
            for &x in &b[..got] {
                assert_eq!(
                    x,
                    peer_byte(self.app_read),
                    "delivered out of order or twice"
                );
                self.app_read += 1;
            }
        }
    }

    fn check(&mut self) {
        let st = self.stack.tcp_state(self.h());
        if let (Some(from), Some(to)) = (self.state, st) {
            assert!(legal(from, to), "illegal transition {from} -> {to}");
        }
        if st.is_some() || self.state.is_none() {
            self.state = st;
        }
        if let Some(info) = self.stack.tcp_info(self.h()) {
            assert!(info.recv_queue <= RX && info.send_queue <= TX);
        }
        let (conns, half_open) = self.stack.tcp_counts();
        assert!(conns <= 8 + 4 && half_open <= 8);
        self.stack.handle_timeout(self.now);
        if let Some(at) = self.stack.poll_at() {
            assert!(at > self.now, "a timer due now survived handle_timeout");
            assert!(
                at <= self.now + Duration::from_secs(3600),
                "timer too far: {at}"
            );
        }
        self.drain();
    }

    fn step(&mut self, r: &[u8]) {
        match byte(r, 0) % 8 {
            0 | 1 => self.segment(r),
            2 => {
                let n = usize::from(be16(r, 1) % 4096);
                let data: Vec<u8> = (0..n as u64)
                    .map(|i| app_byte(self.app_written + i))
                    .collect();
                if let Ok(k) = self.stack.tcp_send(self.h(), &data) {
                    self.app_written += k as u64;
                }
            }
            3 => self.read(usize::from(be16(r, 1))),
            4 => {
                let ms = u64::from(be16(r, 1));
                let ms = if byte(r, 3) & 1 != 0 { ms * 1000 } else { ms };
                self.now += Duration::from_millis(ms);
                self.stack.handle_timeout(self.now);
            }
            5 => {
                if let Some(at) = self.stack.poll_at() {
                    if at > self.now {
                        self.now = at;
                    }
                    self.stack.handle_timeout(self.now);
                }
            }
            6 => match byte(r, 1) % 5 {
                0 => {
                    let _ = self.stack.tcp_shutdown(self.h());
                }
                1 => {
                    let _ = self.stack.tcp_close(self.h());
                }
                2 => {
                    let _ = self.stack.tcp_abort(self.h());
                }
                3 => {
                    let _ = self.stack.tcp_set_nodelay(self.h(), byte(r, 2) & 1 != 0);
                }
                _ => {
                    let idle = (byte(r, 2) & 1 != 0).then(|| Duration::from_secs(1));
                    let _ = self.stack.tcp_set_keepalive(self.h(), idle);
                }
            },
            _ => {
                let o = TcpOptions {
                    timestamps: self.ts.then_some((self.tsval, self.ts_recent)),
                    ..TcpOptions::default()
                };
                let (seq, ack, win) = (self.peer_nxt, self.snd_max, be16(r, 1));
                self.send_raw(seq, ack, flags::ACK, win, o, &[]);
            }
        }
        self.drain();
        self.check();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut h) = Harness::new(byte(data, 0)) else {
        return;
    };
    for r in data.get(1..).unwrap_or(&[]).chunks(12).take(2000) {
        h.step(r);
    }
    // Everything ends: an hour later, timers have run their course.
    h.now += Duration::from_secs(3600);
    h.stack.handle_timeout(h.now);
    h.drain();
    h.check();
});
