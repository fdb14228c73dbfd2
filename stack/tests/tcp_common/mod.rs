//! A fake TCP peer for scenario tests: hand-built segments in, parsed segments out, virtual time.
//!
//! [`Peer`] drives one [`Stack`] from 198.18.0.1. [`Seg`] builds a segment with every field
//! settable (raw option bytes too, for malformed options); [`Out`] is a parsed segment the stack
//! emitted. `Peer` remembers the peer's own sequence state (`seq`, `ack`) and its timestamp clock
//! so most tests only say what is special about a segment.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

use ustack::tcp::{ConnHandle, ListenHandle, State};
use ustack::wire::checksum;
use ustack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ustack::wire::tcp::{flags, SeqNumber, TcpOptions, TcpSegment};
use ustack::{Config, Duration, Instant, Stack};

/// The stack's address (`Config::default()`).
pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The fake peer.
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Where the clock starts.
pub const T0: Instant = Instant::from_millis(1_000);
/// The port the stack listens on in passive-open tests.
pub const PORT: u16 = 80;
/// The peer's port.
pub const PEER_PORT: u16 = 40_000;
/// The peer's initial sequence number.
pub const PEER_ISN: u32 = 1_000;
/// The peer's first TSval.
pub const PEER_TS: u32 = 100;
/// TCP protocol number.
pub const TCP: u8 = 6;

/// `SYN|ACK|FIN|RST` — the control bits tests compare (PSH varies with buffering).
pub const CTL: u8 = flags::SYN | flags::ACK | flags::FIN | flags::RST;

/// The test configuration: defaults with a pinned secret and seed, and MSL 1 s.
pub fn config() -> Config {
    Config {
        secret: *b"tcp-states-test!",
        seed: 0x7e57,
        tcp_msl: Duration::from_secs(1),
        ..Config::default()
    }
}

/// [`config`] with the loss-recovery mechanisms off (RACK-TLP, undo, PRR, HyStart++): the
/// RFC 5681 / 6298 / 6675 sender that peers without SACK, or with them switched off, get.
pub fn classic_config() -> Config {
    Config {
        tcp_recovery: ustack::tcp::recovery::RecoveryConfig::classic(),
        ..config()
    }
}

/// Deterministic test data: `rand`'s xoshiro256++ (a named portable generator: the same bytes on
/// every platform and `rand` 0.10 release) seeded with `seed`.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut data = vec![0; len];
    Xoshiro256PlusPlus::seed_from_u64(seed.into()).fill_bytes(&mut data);
    data
}

/// A segment to send to the stack.
#[derive(Clone, Debug)]
pub struct Seg {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: TcpOptions,
    /// Raw bytes for the options area (padded with EOL to a multiple of 4); overrides `options`.
    pub raw_options: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl Seg {
    /// A segment from `PEER:src_port` to `US:dst_port`, window 65535, no options, no data.
    pub fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flag_bits: u8) -> Seg {
        Seg {
            src: PEER,
            dst: US,
            src_port,
            dst_port,
            seq,
            ack,
            flags: flag_bits,
            window: 65535,
            options: TcpOptions::default(),
            raw_options: None,
            payload: Vec::new(),
        }
    }
    pub fn seq(mut self, s: u32) -> Seg {
        self.seq = s;
        self
    }
    pub fn ack(mut self, a: u32) -> Seg {
        self.ack = a;
        self
    }
    pub fn flags(mut self, f: u8) -> Seg {
        self.flags = f;
        self
    }
    pub fn win(mut self, w: u16) -> Seg {
        self.window = w;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Seg {
        self.payload = d.to_vec();
        self
    }
    pub fn opts(mut self, o: TcpOptions) -> Seg {
        self.options = o;
        self
    }
    pub fn raw_opts(mut self, o: &[u8]) -> Seg {
        self.raw_options = Some(o.to_vec());
        self
    }
    pub fn ts(mut self, val: u32, ecr: u32) -> Seg {
        self.options.timestamps = Some((val, ecr));
        self
    }
    pub fn no_ts(mut self) -> Seg {
        self.options.timestamps = None;
        self
    }
    /// SACK blocks `(left, right)`.
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Seg {
        let mut b = [None; 4];
        for (slot, &(l, r)) in b.iter_mut().zip(blocks) {
            *slot = Some((SeqNumber(l), SeqNumber(r)));
        }
        self.options.sack_blocks = b;
        self
    }

    /// The IPv4 packet.
    pub fn build(&self) -> Vec<u8> {
        let opts: Vec<u8> = match &self.raw_options {
            Some(raw) => {
                let mut v = raw.clone();
                while v.len() % 4 != 0 {
                    v.push(0);
                }
                v
            }
            None => {
                let mut v = vec![0u8; self.options.emitted_len()];
                self.options.emit(&mut v);
                v
            }
        };
        assert!(opts.len() <= 40, "options too long");
        let hlen = 20 + opts.len();
        let mut tcp = vec![0u8; hlen + self.payload.len()];
        tcp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        tcp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        tcp[4..8].copy_from_slice(&self.seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&self.ack.to_be_bytes());
        tcp[12] = ((hlen / 4) as u8) << 4;
        tcp[13] = self.flags;
        tcp[14..16].copy_from_slice(&self.window.to_be_bytes());
        tcp[20..hlen].copy_from_slice(&opts);
        tcp[hlen..].copy_from_slice(&self.payload);
        let c = checksum::pseudo(self.src, self.dst, TCP, &tcp);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut pkt = vec![0u8; 20 + tcp.len()];
        Ipv4Repr {
            src: self.src,
            dst: self.dst,
            protocol: TCP,
            ttl: 64,
            ident: 0x1234,
            dont_fragment: true,
            more_fragments: false,
            frag_offset: 0,
            payload_len: tcp.len(),
        }
        .emit(&mut pkt);
        pkt[20..].copy_from_slice(&tcp);
        pkt
    }
}

/// A segment the stack emitted, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    /// IP packet length.
    pub ip_len: usize,
}

impl Out {
    /// The control bits (SYN/ACK/FIN/RST), without PSH.
    pub fn ctl(&self) -> u8 {
        self.flags & CTL
    }
    pub fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }
    /// Sequence space occupied.
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags & flags::SYN != 0)
            + u32::from(self.flags & flags::FIN != 0)
    }
    /// SEQ + LEN.
    pub fn end(&self) -> u32 {
        self.seq.wrapping_add(self.seg_len())
    }
    /// SACK blocks as plain numbers.
    pub fn sack(&self) -> Vec<(u32, u32)> {
        self.options
            .sack_blocks
            .iter()
            .flatten()
            .map(|(l, r)| (l.0, r.0))
            .collect()
    }
    /// Whether this is a pure ACK (no data, no SYN/FIN/RST).
    pub fn is_pure_ack(&self) -> bool {
        self.ctl() == flags::ACK && self.payload.is_empty()
    }
}

/// Parses an emitted IPv4 packet as TCP, if it is one.
pub fn parse_out(pkt: &[u8]) -> Option<Out> {
    let ip = Ipv4Packet::parse(pkt).expect("stack emitted a bad IPv4 packet");
    if ip.protocol() != TCP {
        return None;
    }
    assert_eq!(ip.src(), US);
    assert!(ip.dont_fragment(), "TCP segments carry DF");
    let seg = TcpSegment::parse(ip.src(), ip.dst(), ip.payload())
        .expect("stack emitted a bad TCP segment");
    Some(Out {
        dst: ip.dst(),
        src_port: seg.src_port,
        dst_port: seg.dst_port,
        seq: seg.seq.0,
        // We send a zero field without ACK; the test sees it as 0.
        ack: seg.ack.map_or(0, |a| a.0),
        flags: seg.flags.0,
        window: seg.window,
        options: seg.options,
        payload: seg.payload.to_vec(),
        ip_len: pkt.len(),
    })
}

/// The fake peer and the stack it talks to.
#[derive(Debug)]
pub struct Peer {
    pub stack: Stack,
    pub now: Instant,
    /// The peer's port.
    pub port: u16,
    /// The stack's port.
    pub us_port: u16,
    /// The peer's next sequence number.
    pub seq: u32,
    /// What the peer acknowledges (the stack's next sequence number as the peer knows it).
    pub ack: u32,
    /// The stack's ISN, once seen.
    pub iss: u32,
    /// The peer's TSval; `seg()` adds timestamps when set.
    pub tsval: Option<u32>,
    /// Latest TSval seen from the stack (what the peer echoes).
    pub ts_recent: u32,
    /// The window field the peer advertises.
    pub wnd: u16,
    /// Non-TCP packets the stack emitted.
    pub other: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl Peer {
    /// A fresh stack with `cfg`, its clock at [`T0`].
    pub fn new(cfg: Config) -> Peer {
        let mtu = usize::from(cfg.mtu);
        Peer {
            stack: Stack::new(cfg, T0).expect("valid config"),
            now: T0,
            port: PEER_PORT,
            us_port: PORT,
            seq: PEER_ISN,
            ack: 0,
            iss: 0,
            tsval: None,
            ts_recent: 0,
            wnd: 65535,
            other: Vec::new(),
            buf: vec![0; mtu.max(1500)],
        }
    }

    /// A segment from the peer's current state: SEQ = `seq`, ACK = `ack`, window `wnd`, and
    /// timestamps `(tsval, ts_recent)` if the peer uses them.
    pub fn seg(&self, flag_bits: u8) -> Seg {
        let mut s = Seg::new(self.port, self.us_port, self.seq, self.ack, flag_bits).win(self.wnd);
        if let Some(v) = self.tsval {
            s = s.ts(v, self.ts_recent);
        }
        s
    }

    /// Feeds a segment at `now` and returns everything the stack sends in response.
    pub fn send(&mut self, s: Seg) -> Vec<Out> {
        self.stack.receive(self.now, &s.build());
        self.drain()
    }

    /// Feeds raw bytes (e.g. an ICMP packet) at `now` and drains.
    pub fn send_raw(&mut self, pkt: &[u8]) -> Vec<Out> {
        self.stack.receive(self.now, pkt);
        self.drain()
    }

    /// Sends `data` at the peer's `seq` (ACK|PSH) and advances `seq`.
    pub fn send_data(&mut self, data: &[u8]) -> Vec<Out> {
        let s = self.seg(flags::ACK | flags::PSH).data(data);
        self.seq = self.seq.wrapping_add(data.len() as u32);
        self.send(s)
    }

    /// A pure ACK of `ack` (updating the peer's `ack`).
    pub fn send_ack(&mut self, ack: u32) -> Vec<Out> {
        self.ack = ack;
        let s = self.seg(flags::ACK);
        self.send(s)
    }

    /// Everything the stack has to send now.
    pub fn drain(&mut self) -> Vec<Out> {
        let mut outs = Vec::new();
        let mut guard = 0;
        while let Some(n) = self.stack.poll_transmit(self.now, &mut self.buf) {
            guard += 1;
            assert!(guard < 100_000, "poll_transmit never returns None");
            let pkt = self.buf[..n].to_vec();
            match parse_out(&pkt) {
                Some(o) => {
                    if let Some((val, _)) = o.options.timestamps {
                        self.ts_recent = val;
                    }
                    outs.push(o);
                }
                None => self.other.push(pkt),
            }
        }
        outs
    }

    /// Advances the clock by `d`, running timers, and drains.
    pub fn tick(&mut self, d: Duration) -> Vec<Out> {
        self.now += d;
        self.stack.handle_timeout(self.now);
        self.drain()
    }

    /// Jumps to the stack's next timer (if it is not later than `limit`), runs it and drains.
    /// Returns `None` if no timer is due by `limit`.
    pub fn fire(&mut self, limit: Instant) -> Option<(Instant, Vec<Out>)> {
        let at = self.stack.poll_at()?;
        if at > limit {
            return None;
        }
        if at > self.now {
            self.now = at;
        }
        self.stack.handle_timeout(self.now);
        Some((self.now, self.drain()))
    }

    /// Runs timers until one produces output (or `limit` passes): the time and the output.
    pub fn next_output(&mut self, limit: Instant) -> Option<(Instant, Vec<Out>)> {
        for _ in 0..10_000 {
            let (t, outs) = self.fire(limit)?;
            if !outs.is_empty() {
                return Some((t, outs));
            }
        }
        panic!("timers keep firing without output");
    }

    /// Runs every timer up to `t`, collecting output, and leaves the clock at `t`.
    pub fn run_until(&mut self, t: Instant) -> Vec<Out> {
        let mut all = Vec::new();
        for _ in 0..100_000 {
            match self.fire(t) {
                Some((_, outs)) => all.extend(outs),
                None => break,
            }
        }
        if t > self.now {
            self.now = t;
            self.stack.handle_timeout(t);
            all.extend(self.drain());
        }
        all
    }

    /// The options a modern peer puts on its SYN: MSS 1460, wscale 7, SACK-permitted, TS.
    pub fn full_syn_options() -> TcpOptions {
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((PEER_TS, 0)),
            sack_blocks: [None; 4],
        }
    }

    /// Reads everything the app can read now.
    pub fn read_all(&mut self, h: ConnHandle) -> Vec<u8> {
        let mut got = Vec::new();
        let mut b = vec![0u8; 65536];
        while let Ok(n) = self.stack.tcp_recv(h, &mut b) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
        got
    }

    /// The connection's state.
    pub fn state(&self, h: ConnHandle) -> Option<State> {
        self.stack.tcp_state(h)
    }
}

/// An established connection through a listener (passive open) with every option negotiated:
/// the peer's MSS 1460, wscale 7, SACK, timestamps; its final ACK advertises `wnd << 7` bytes.
#[derive(Debug)]
pub struct Passive {
    pub p: Peer,
    pub l: ListenHandle,
    pub h: ConnHandle,
    /// The SYN-ACK the stack sent.
    pub synack: Out,
}

/// Opens a connection passively with full options; the peer then advertises `wnd` (scaled by 7).
pub fn passive_full(cfg: Config, wnd: u16) -> Passive {
    passive_with(cfg, Peer::full_syn_options(), wnd)
}

/// Opens a connection passively, the peer's SYN carrying `opts` (timestamps, if any, are then
/// used by the peer on every segment).
pub fn passive_with(cfg: Config, opts: TcpOptions, wnd: u16) -> Passive {
    passive_after(cfg, opts, wnd, Duration::ZERO)
}

/// [`passive_with`], the peer's final ACK arriving `rtt` after the SYN-ACK (the stack's first
/// RTT sample).
pub fn passive_after(cfg: Config, opts: TcpOptions, wnd: u16, rtt: Duration) -> Passive {
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let syn = p.seg(flags::SYN).ack(0).opts(opts).win(65535);
    let outs = p.send(syn);
    assert_eq!(outs.len(), 1, "one SYN-ACK: {outs:?}");
    let synack = outs[0].clone();
    assert_eq!(synack.ctl(), flags::SYN | flags::ACK);
    p.iss = synack.seq;
    p.seq = PEER_ISN + 1;
    p.ack = synack.seq.wrapping_add(1);
    p.tsval = opts.timestamps.map(|(v, _)| v);
    p.wnd = wnd;
    p.now += rtt;
    let outs = p.send(p.seg(flags::ACK));
    assert!(outs.is_empty(), "nothing answers the final ACK: {outs:?}");
    let h = p.stack.tcp_accept(l).expect("accepted");
    assert_eq!(p.state(h), Some(State::Established));
    Passive { p, l, h, synack }
}

impl Passive {
    /// Sends `data` and has the peer acknowledge everything that went out, one round trip of
    /// `rtt` at a time, until nothing more is sent (at most 100 rounds): a warmed-up sender
    /// with an RTT estimate and a grown cwnd.
    pub fn send_acked_in_rounds(&mut self, data: &[u8], rtt: Duration) {
        assert_eq!(self.p.stack.tcp_send(self.h, data), Ok(data.len()));
        let mut outs = self.p.drain();
        for _ in 0..100 {
            let Some(top) = outs.last().map(|o| o.end()) else {
                break;
            };
            self.p.now += rtt;
            outs = self.p.send_ack(top);
        }
    }
}

/// Opens a connection passively with no options at all on the SYN.
pub fn passive_plain(cfg: Config, wnd: u16) -> Passive {
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let outs = p.send(p.seg(flags::SYN).ack(0));
    assert_eq!(outs.len(), 1, "one SYN-ACK: {outs:?}");
    let synack = outs[0].clone();
    p.iss = synack.seq;
    p.seq = PEER_ISN + 1;
    p.ack = synack.seq.wrapping_add(1);
    p.wnd = wnd;
    let outs = p.send(p.seg(flags::ACK));
    assert!(outs.is_empty(), "{outs:?}");
    let h = p.stack.tcp_accept(l).expect("accepted");
    Passive { p, l, h, synack }
}

/// Starts an active open to `PEER:PORT`; returns the peer (with `us_port` and `iss` learned),
/// the handle and the SYN.
pub fn active_syn(cfg: Config) -> (Peer, ConnHandle, Out) {
    let mut p = Peer::new(cfg);
    let h = p.stack.tcp_connect(SocketAddrV4::new(PEER, PORT)).unwrap();
    let outs = p.drain();
    assert_eq!(outs.len(), 1, "one SYN: {outs:?}");
    let syn = outs[0].clone();
    assert_eq!(syn.ctl(), flags::SYN);
    assert_eq!(syn.dst, PEER);
    assert_eq!(syn.dst_port, PORT);
    p.port = PORT;
    p.us_port = syn.src_port;
    p.iss = syn.seq;
    (p, h, syn)
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Full-sized payload with timestamps: MSS 1460 − 12 option bytes (RFC 6691, RFC 7323 §3).
pub const SEG: usize = 1448;

/// Sends exactly ten full segments; returns their sequence numbers.
///
/// First grows cwnd past ten segments with a fully acknowledged warm-up transfer, so that these
/// tests do not depend on the initial window (tested on its own in tcp_sending.rs).
pub fn ten_segments(x: &mut Passive) -> Vec<u32> {
    let warm = pattern(40 * SEG, 99);
    assert_eq!(x.p.stack.tcp_send(x.h, &warm), Ok(warm.len()));
    let mut outs = x.p.drain();
    for _ in 0..100 {
        let Some(top) = outs.last().map(|o| o.end()) else {
            break;
        };
        outs = x.p.send_ack(top);
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.send_queue, 0, "warm-up finished: {info:?}");
    assert!(info.cwnd >= 11 * SEG, "warm-up grew cwnd: {info:?}");
    let data = pattern(10 * SEG, 10);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10);
    outs.iter().map(|o| o.seq).collect()
}

/// A SYN with an MSS option from `src:port` (ISN `isn`) to `US:PORT`; returns the answers.
pub fn syn_from(p: &mut Peer, src: Ipv4Addr, port: u16, isn: u32) -> Vec<Out> {
    let mss = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    let mut s = Seg::new(port, PORT, isn, 0, flags::SYN).opts(mss);
    s.src = src;
    p.send(s)
}

/// A full handshake from `src:port` to the listener `l` on `PORT`; returns the accepted handle.
pub fn connect_from(p: &mut Peer, l: ListenHandle, src: Ipv4Addr, port: u16) -> ConnHandle {
    let isn = 5_000 + u32::from(port);
    let outs = syn_from(p, src, port, isn);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), flags::SYN | flags::ACK, "{outs:?}");
    let mut ack = Seg::new(port, PORT, isn + 1, outs[0].seq.wrapping_add(1), flags::ACK);
    ack.src = src;
    assert!(p.send(ack).is_empty());
    p.stack.tcp_accept(l).expect("accepted")
}
