//! TCP headers (RFC 9293 §3.1): the options ustack understands, a checked parse that maps every
//! malformation to a [`DropReason`] and keeps the flags as they arrived ([`Flags`], with
//! `ack: Option<SeqNumber>`), and a [`TcpRepr`] that emits a header with its checksum from a typed
//! [`Control`], so impossible flag combinations cannot be sent. Sequence numbers and timestamps
//! ([`SeqNumber`], [`TsVal`]) live in `wire::seq`.

pub use super::seq::{SeqNumber, TsVal};
use super::{checksum, proto};
use crate::stats::DropReason;
use std::net::IpAddr;

mod options;
pub use options::{options, parse_options, Options, TcpOption, TcpOptions};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// TCP header flag bits (RFC 9293 §3.1, RFC 3168 §23.2 for ECE/CWR).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN-Echo (RFC 3168).
    pub const ECE: u8 = 0x40;
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: u8 = 0x80;
}

/// The flag bits of a segment as it arrived: every combination, including ones no sender should
/// build (SYN+FIN is seen here so it can be dropped and counted, RFC 9293 §3.10.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// SYN set.
    pub fn syn(self) -> bool {
        self.has(flags::SYN)
    }

    /// FIN set.
    pub fn fin(self) -> bool {
        self.has(flags::FIN)
    }

    /// RST set.
    pub fn rst(self) -> bool {
        self.has(flags::RST)
    }

    /// PSH set.
    pub fn psh(self) -> bool {
        self.has(flags::PSH)
    }
}

/// The one control function a segment we emit performs (RFC 9293 §3.1, §3.5): at most one of
/// SYN, FIN and RST, so SYN+FIN, SYN+RST or RST+FIN cannot be built. ACK is not here: it is
/// `TcpRepr::ack` being `Some`; PSH is `TcpRepr::psh`, since a FIN may carry it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Control {
    /// Data or a pure ACK.
    #[default]
    None,
    /// Synchronize sequence numbers (SYN, or SYN-ACK with an ACK).
    Syn,
    /// No more data from us.
    Fin,
    /// Reset.
    Rst,
}

impl Control {
    /// The header bit of this control function (0 for `None`).
    fn bits(self) -> u8 {
        match self {
            Control::None => 0,
            Control::Syn => flags::SYN,
            Control::Fin => flags::FIN,
            Control::Rst => flags::RST,
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Fields of a TCP header read in place, for displays that show a segment whatever its checksum
/// (tcpdump -v): each returns 0 on a slice too short for it.
pub mod raw {
    /// Header length from the data offset, bytes.
    pub fn header_len(seg: &[u8]) -> usize {
        seg.get(12).map_or(0, |b| usize::from(b >> 4) * 4)
    }

    /// The checksum field.
    pub fn checksum(seg: &[u8]) -> u16 {
        seg.get(16..18)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// A validated TCP segment (checksum verified against the IPv4 pseudo-header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number (SEG.SEQ).
    pub seq: SeqNumber,
    /// Acknowledgment number (SEG.ACK): `Some` exactly when the ACK flag is set (without it the
    /// field means nothing, RFC 9293 §3.1).
    pub ack: Option<SeqNumber>,
    /// Flag bits as they arrived (see [`flags`]), ACK included.
    pub flags: Flags,
    /// Window field, unscaled (SEG.WND as sent).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options ustack understands.
    pub options: TcpOptions,
    /// Data after the header.
    pub payload: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Validates `bytes` (the IP payload) as a TCP segment from `src` to `dst`.
    ///
    /// Errors: fewer than 20 bytes → [`DropReason::TcpTooShort`]; data offset < 5 or beyond the
    /// segment → [`DropReason::TcpBadHeaderLength`]; checksum → [`DropReason::TcpBadChecksum`].
    pub fn parse(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        bytes: &'a [u8],
    ) -> Result<Self, DropReason> {
        if bytes.len() < HEADER_LEN {
            return Err(DropReason::TcpTooShort);
        }
        // RFC 9293 §3.1: Data Offset is the header length in 32-bit words; at least 5.
        let header_len = usize::from(bytes[12] >> 4) * 4;
        if header_len < HEADER_LEN || header_len > bytes.len() {
            return Err(DropReason::TcpBadHeaderLength);
        }
        // RFC 9293 §3.1: the checksum covers pseudo-header, header and data and is mandatory
        // (unlike UDP, a zero field is not special). RFC 9293 §3.10.7: a bad checksum is dropped.
        if checksum::transport(src.into(), dst.into(), proto::TCP, bytes) != 0 {
            return Err(DropReason::TcpBadChecksum);
        }
        // RFC 9293 §3.1: the reserved bits (low nibble of byte 12) are ignored on receipt.
        let flags = Flags(bytes[13]);
        Ok(TcpSegment {
            src_port: u16::from_be_bytes([bytes[0], bytes[1]]),
            dst_port: u16::from_be_bytes([bytes[2], bytes[3]]),
            seq: SeqNumber(be32(&bytes[4..8])),
            ack: flags
                .has(flags::ACK)
                .then(|| SeqNumber(be32(&bytes[8..12]))),
            flags,
            window: u16::from_be_bytes([bytes[14], bytes[15]]),
            urgent: u16::from_be_bytes([bytes[18], bytes[19]]),
            options: parse_options(&bytes[HEADER_LEN..header_len]),
            payload: &bytes[header_len..],
        })
    }

    /// SYN flag set.
    pub fn syn(&self) -> bool {
        self.flags.syn()
    }

    /// FIN flag set.
    pub fn fin(&self) -> bool {
        self.flags.fin()
    }

    /// RST flag set.
    pub fn rst(&self) -> bool {
        self.flags.rst()
    }

    /// PSH flag set.
    pub fn psh(&self) -> bool {
        self.flags.psh()
    }

    /// Sequence space the segment occupies: payload + SYN + FIN (RFC 9293 §3.4 SEG.LEN).
    pub fn seg_len(&self) -> usize {
        self.payload.len() + usize::from(self.syn()) + usize::from(self.fin())
    }
}

/// A segment to emit (smoltcp's `Repr` shape): only well-formed flag combinations can be
/// expressed — one [`Control`], ACK exactly when there is an acknowledgment number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number: `Some` sets the ACK flag; `None` sends a zero field.
    pub ack: Option<SeqNumber>,
    /// SYN, FIN, RST or none of them.
    pub control: Control,
    /// PSH (RFC 9293 §3.9.1): the segment ends what the app wrote so far.
    pub psh: bool,
    /// Window field, already scaled down.
    pub window: u16,
    /// Options to emit.
    pub options: TcpOptions,
}

impl TcpRepr {
    /// Header length: 20 plus the emitted options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.emitted_len()
    }

    /// The flag byte this segment is sent with.
    pub fn flags(&self) -> Flags {
        let ack = if self.ack.is_some() { flags::ACK } else { 0 };
        let psh = if self.psh { flags::PSH } else { 0 };
        Flags(self.control.bits() | ack | psh)
    }

    /// Writes the header and the checksum over pseudo-header + header + payload. The payload
    /// (`payload_len` bytes) must already be in `buf[header_len()..header_len() + payload_len]`.
    /// Returns `header_len() + payload_len`.
    ///
    /// # Panics
    /// If `buf` is shorter than `header_len() + payload_len`.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        payload_len: usize,
    ) -> usize {
        let header_len = self.header_len();
        let len = header_len + payload_len;
        let d = &mut buf[..len];
        d[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        d[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        d[4..8].copy_from_slice(&self.seq.0.to_be_bytes());
        d[8..12].copy_from_slice(&self.ack.unwrap_or_default().0.to_be_bytes());
        // RFC 9293 §3.1: data offset in words; reserved bits zero.
        d[12] = ((header_len / 4) as u8) << 4;
        d[13] = self.flags().0;
        d[14..16].copy_from_slice(&self.window.to_be_bytes());
        d[16..18].copy_from_slice(&[0, 0]);
        d[18..20].copy_from_slice(&[0, 0]);
        self.options.emit(&mut d[HEADER_LEN..header_len]);
        let c = checksum::transport(src.into(), dst.into(), proto::TCP, d);
        d[16..18].copy_from_slice(&c.to_be_bytes());
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn all_options() -> TcpOptions {
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((0xdead_beef, 0x0102_0304)),
            sack_blocks: [None; 4],
        }
    }

    #[test]
    fn round_trip_with_all_options() {
        let mut opts = all_options();
        opts.sack_blocks = [
            Some((SeqNumber(100), SeqNumber(200))),
            Some((SeqNumber(u32::MAX - 1), SeqNumber(3))),
            None,
            None,
        ];
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNumber(0xfeed_f00d),
            ack: Some(SeqNumber(12345)),
            control: Control::Syn,
            psh: false,
            window: 65535,
            options: opts,
        };
        // MSS 4 + SACK-perm/TS 12 + WS 4 = 20; 2 SACK blocks fit in the remaining 20.
        assert_eq!(repr.header_len(), 60);
        let mut buf = [0u8; 80];
        let hl = repr.header_len();
        buf[hl..hl + 5].copy_from_slice(b"hello");
        let n = repr.emit(&mut buf, A, B, 5);
        assert_eq!(n, 65);
        let seg = TcpSegment::parse(A, B, &buf[..n]).unwrap();
        assert_eq!(seg.src_port, 40000);
        assert_eq!(seg.dst_port, 80);
        assert_eq!(seg.seq, repr.seq);
        assert_eq!(seg.ack, repr.ack);
        assert_eq!(seg.flags, repr.flags());
        assert_eq!(seg.flags, Flags(flags::SYN | flags::ACK));
        assert!(seg.syn() && seg.ack.is_some() && !seg.fin() && !seg.rst() && !seg.psh());
        assert_eq!(seg.window, 65535);
        assert_eq!(seg.urgent, 0);
        assert_eq!(seg.options, opts);
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.seg_len(), 6);
        // Checked against the wrong pseudo-header, it fails.
        assert_eq!(
            TcpSegment::parse(A, Ipv4Addr::new(198, 18, 0, 3), &buf[..n]).unwrap_err(),
            DropReason::TcpBadChecksum
        );
    }

    #[test]
    fn option_layouts() {
        let mut buf = [0u8; 40];
        let o = TcpOptions {
            sack_permitted: true,
            ..Default::default()
        };
        assert_eq!(o.emit(&mut buf), 4);
        assert_eq!(&buf[..4], &[1, 1, 4, 2]);
        let o = TcpOptions {
            timestamps: Some((1, 2)),
            ..Default::default()
        };
        assert_eq!(o.emit(&mut buf), 12);
        assert_eq!(&buf[..12], &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        let n = all_options().emit(&mut buf);
        assert_eq!(n, 20);
        assert_eq!(
            &buf[..20],
            &[2, 4, 5, 180, 4, 2, 8, 10, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 1, 3, 3, 7]
        );
        assert_eq!(TcpOptions::default().emitted_len(), 0);
        assert_eq!(parse_options(&buf[..n]), all_options());
    }

    #[test]
    fn etherparse_agrees() {
        let mut opts = all_options();
        opts.sack_blocks[0] = Some((SeqNumber(5), SeqNumber(9)));
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNumber(3),
            ack: Some(SeqNumber(4)),
            control: Control::None,
            psh: true,
            window: 1000,
            options: opts,
        };
        for payload in [&b""[..], b"x", b"odd length payload"] {
            let mut buf = [0u8; 100];
            let hl = repr.header_len();
            buf[hl..hl + payload.len()].copy_from_slice(payload);
            let n = repr.emit(&mut buf, A, B, payload.len());
            let h = etherparse::TcpHeaderSlice::from_slice(&buf[..n]).unwrap();
            assert_eq!(usize::from(h.data_offset()) * 4, hl);
            let expect = h
                .calc_checksum_ipv4_raw(A.octets(), B.octets(), payload)
                .unwrap();
            assert_eq!(h.checksum(), expect);
            assert_eq!(h.sequence_number(), 3);
            assert_eq!(h.acknowledgment_number(), 4);
            assert!(h.ack() && h.psh() && !h.syn());
            use etherparse::TcpOptionElement as E;
            let elems: Vec<_> = h.options_iterator().map(|e| e.unwrap()).collect();
            assert!(elems.contains(&E::MaximumSegmentSize(1460)));
            assert!(elems.contains(&E::WindowScale(7)));
            assert!(elems.contains(&E::SelectiveAcknowledgementPermitted));
            assert!(elems.contains(&E::Timestamp(0xdead_beef, 0x0102_0304)));
            assert!(elems.contains(&E::SelectiveAcknowledgement((5, 9), [None; 3])));
        }
    }

    #[test]
    fn timestamps_and_four_sack_blocks_cap_to_three() {
        let o = TcpOptions {
            timestamps: Some((1, 2)),
            sack_blocks: [
                Some((SeqNumber(1), SeqNumber(2))),
                Some((SeqNumber(3), SeqNumber(4))),
                Some((SeqNumber(5), SeqNumber(6))),
                Some((SeqNumber(7), SeqNumber(8))),
            ],
            ..Default::default()
        };
        assert_eq!(o.emitted_len(), 40);
        let mut buf = [0u8; 40];
        assert_eq!(o.emit(&mut buf), 40);
        assert_eq!(&buf[12..16], &[1, 1, 5, 26]);
        let p = parse_options(&buf);
        assert_eq!(p.timestamps, Some((1, 2)));
        assert_eq!(p.sack_blocks[..3], o.sack_blocks[..3]);
        assert_eq!(p.sack_blocks[3], None);
        // Without other options all four fit: 4 + 32 = 36.
        let o4 = TcpOptions {
            sack_blocks: o.sack_blocks,
            ..Default::default()
        };
        assert_eq!(o4.emitted_len(), 36);
        assert_eq!(o4.emit(&mut buf), 36);
        assert_eq!(parse_options(&buf[..36]).sack_blocks, o.sack_blocks);
        // With every other option 20 bytes remain: two blocks (4 + 16).
        let mut full = all_options();
        full.sack_blocks = o.sack_blocks;
        assert_eq!(full.emitted_len(), 40);
    }

    #[test]
    fn malformed_options_survive() {
        // Length 0 ends parsing, keeping what came before.
        let p = parse_options(&[2, 4, 1, 0, 3, 0, 4, 2]);
        assert_eq!(p.mss, Some(256));
        assert!(!p.sack_permitted);
        // Length 1 ends parsing.
        let p = parse_options(&[4, 2, 8, 1, 0, 0]);
        assert!(p.sack_permitted);
        assert_eq!(p.timestamps, None);
        // Overrun ends parsing.
        let p = parse_options(&[1, 3, 3, 9, 8, 10, 0, 0, 0, 1]);
        assert_eq!(p.window_scale, Some(9));
        assert_eq!(p.timestamps, None);
        // A lone kind byte at the very end (no length).
        let p = parse_options(&[1, 1, 1, 2]);
        assert_eq!(p, TcpOptions::default());
        // MSS with length 3 is skipped by its length; what follows is still read.
        let p = parse_options(&[2, 3, 5, 4, 2, 0]);
        assert_eq!(p.mss, None);
        assert!(p.sack_permitted);
        // Truncated SACK (length not 2 + 8n) is skipped; overrunning SACK ends parsing.
        let p = parse_options(&[5, 6, 0, 0, 0, 1, 3, 3, 2, 0]);
        assert_eq!(p.sack_blocks, [None; 4]);
        assert_eq!(p.window_scale, Some(2));
        let p = parse_options(&[5, 10, 0, 0, 0, 1, 0, 0]);
        assert_eq!(p.sack_blocks, [None; 4]);
        // Five SACK blocks (length 42) is not a legal SACK option: skipped by its length.
        let mut area = vec![5, 42];
        area.extend((0..40).map(|i| i as u8));
        area.extend([4, 2]);
        let p = parse_options(&area);
        assert_eq!(p.sack_blocks, [None; 4]);
        assert!(p.sack_permitted);
        // Unknown option kinds are skipped.
        let p = parse_options(&[30, 4, 9, 9, 3, 3, 14, 0]);
        assert_eq!(p.window_scale, Some(14));
        // EOL ends even if bytes follow.
        let p = parse_options(&[0, 4, 2]);
        assert!(!p.sack_permitted);
        // Exhaustive: every 3-byte area parses without panicking.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in [0u8, 1, 2, 3, 255] {
                    let _ = parse_options(&[a, b, c]);
                }
            }
        }
    }

    #[test]
    fn bad_segments() {
        let repr = TcpRepr {
            src_port: 5,
            dst_port: 6,
            control: Control::Rst,
            options: all_options(),
            ..Default::default()
        };
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf, A, B, 0);
        assert!(TcpSegment::parse(A, B, &buf[..n]).is_ok());
        assert_eq!(
            TcpSegment::parse(A, B, &buf[..19]).unwrap_err(),
            DropReason::TcpTooShort
        );
        let mut b = buf;
        b[12] = 4 << 4;
        assert_eq!(
            TcpSegment::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::TcpBadHeaderLength
        );
        b[12] = 15 << 4;
        assert_eq!(
            TcpSegment::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::TcpBadHeaderLength
        );
        let mut b = buf;
        b[n - 1] ^= 0x40;
        assert_eq!(
            TcpSegment::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::TcpBadChecksum
        );
        // A zero checksum field is not "no checksum" (RFC 9293 §3.1).
        let mut b = buf;
        b[16] = 0;
        b[17] = 0;
        assert_eq!(
            TcpSegment::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::TcpBadChecksum
        );
        // Reserved bits are ignored on receipt (the checksum must still match, so fix it up).
        let mut b = buf;
        b[12] |= 0x0f;
        b[16] = 0;
        b[17] = 0;
        let c = checksum::pseudo(A, B, proto::TCP, &b[..n]);
        b[16..18].copy_from_slice(&c.to_be_bytes());
        let seg = TcpSegment::parse(A, B, &b[..n]).unwrap();
        assert!(seg.rst());
        assert_eq!(seg.seg_len(), 0);
    }
}
