//! TCP options (RFC 9293 §3.1, §3.7.1; RFC 7323; RFC 2018): the one walk over an options area
//! ([`options`], in wire order, as tcpdump -v shows them), the options ustack understands
//! ([`TcpOptions`], built from that walk) and their emission.

use super::{be32, SeqNumber};
use core::fmt;

/// Largest options area: the data offset is 4 bits of 32-bit words, so 60 - 20 bytes.
const MAX_OPTIONS_LEN: usize = 40;

/// Option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Options ustack understands. Unknown options are skipped; malformed ones end parsing (keeping
/// what was parsed before).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2, length 4; RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift (kind 3, length 3; RFC 7323 §2), as received: the connection caps it
    /// at 14 (RFC 7323 §2.3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, length 2; RFC 2018 §2).
    pub sack_permitted: bool,
    /// Timestamps (kind 8, length 10; RFC 7323 §3): `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks (kind 5, length 2 + 8n, n in 1..=4; RFC 2018 §3): `(left, right)` edges in the
    /// order received.
    pub sack_blocks: [Option<(SeqNumber, SeqNumber)>; 4],
}

/// One option of an options area, in wire order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0): the walk ends.
    Eol,
    /// No-Operation (kind 1).
    Nop,
    /// Maximum segment size (kind 2, length 4).
    Mss(u16),
    /// Window scale shift (kind 3, length 3).
    WindowScale(u8),
    /// SACK permitted (kind 4, length 2).
    SackPermitted,
    /// SACK (kind 5, length 2 + 8n): the blocks' bytes, 8 per block (n may be anything on the
    /// wire; [`TcpOptions`] takes 1 to 4).
    Sack(&'a [u8]),
    /// Timestamps (kind 8, length 10).
    Timestamps {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// A kind ustack does not know, or a known kind with the wrong length: skipped by its length.
    Unknown {
        /// The kind octet.
        kind: u8,
        /// What follows the length octet.
        data: &'a [u8],
    },
    /// A length octet missing, below 2 or reaching past the area: the walk ends here.
    Malformed {
        /// The kind octet.
        kind: u8,
    },
}

/// Walks an options area in wire order; the walk ends after EOL or a malformed length.
pub fn options(area: &[u8]) -> Options<'_> {
    Options { rest: area }
}

/// The iterator of [`options`].
#[derive(Clone, Debug)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = TcpOption<'a>;

    fn next(&mut self) -> Option<TcpOption<'a>> {
        let (&k, after) = self.rest.split_first()?;
        // RFC 9293 §3.1: End of Option List and No-Operation are single octets.
        match k {
            kind::EOL => {
                self.rest = &[];
                return Some(TcpOption::Eol);
            }
            kind::NOP => {
                self.rest = after;
                return Some(TcpOption::Nop);
            }
            _ => {}
        }
        // RFC 9293 §3.1: every other option has a length octet counting kind and length.
        // RFC 9293 §3.7.1 / RFC 1122 §4.2.2.5: be prepared for illegal option lengths without
        // crashing; a length that cannot be right (< 2, or past the area) leaves no reliable
        // way to find the next option, so the walk stops there.
        let len = after.first().map_or(0, |&l| usize::from(l));
        if len < 2 || len > self.rest.len() {
            self.rest = &[];
            return Some(TcpOption::Malformed { kind: k });
        }
        let body = &self.rest[2..len];
        self.rest = &self.rest[len..];
        Some(match (k, len) {
            (kind::MSS, 4) => TcpOption::Mss(u16::from_be_bytes([body[0], body[1]])),
            (kind::WINDOW_SCALE, 3) => TcpOption::WindowScale(body[0]),
            (kind::SACK_PERMITTED, 2) => TcpOption::SackPermitted,
            (kind::TIMESTAMPS, 10) => TcpOption::Timestamps {
                val: be32(&body[0..4]),
                ecr: be32(&body[4..8]),
            },
            // RFC 2018 §3: length 2 + 8n.
            (kind::SACK, _) if body.len().is_multiple_of(8) => TcpOption::Sack(body),
            _ => TcpOption::Unknown {
                kind: k,
                data: body,
            },
        })
    }
}

/// tcpdump -v's spelling: `mss 1460`, `sackOK`, `TS val 1 ecr 0`, `nop`, `wscale 7`,
/// `sack 1 {100:200}`, `unknown-30`, `bad opt 2`.
impl fmt::Display for TcpOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TcpOption::Eol => f.write_str("eol"),
            TcpOption::Nop => f.write_str("nop"),
            TcpOption::Mss(m) => write!(f, "mss {m}"),
            TcpOption::WindowScale(s) => write!(f, "wscale {s}"),
            TcpOption::SackPermitted => f.write_str("sackOK"),
            TcpOption::Sack(b) => {
                write!(f, "sack {} ", b.len() / 8)?;
                for block in b.chunks_exact(8) {
                    write!(f, "{{{}:{}}}", be32(&block[0..4]), be32(&block[4..8]))?;
                }
                Ok(())
            }
            TcpOption::Timestamps { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            TcpOption::Unknown { kind, .. } => write!(f, "unknown-{kind}"),
            TcpOption::Malformed { kind } => write!(f, "bad opt {kind}"),
        }
    }
}

/// Parses the options area into the options ustack understands.
///
/// Never fails: an option whose length byte is < 2 or overruns the area ends parsing; an option
/// with a wrong length for its kind (e.g. MSS with length 3) is skipped by its length. EOL (0)
/// ends; NOP (1) skips.
pub fn parse_options(area: &[u8]) -> TcpOptions {
    let mut opts = TcpOptions::default();
    for option in options(area) {
        match option {
            TcpOption::Mss(m) => opts.mss = Some(m),
            TcpOption::WindowScale(s) => opts.window_scale = Some(s),
            TcpOption::SackPermitted => opts.sack_permitted = true,
            TcpOption::Timestamps { val, ecr } => opts.timestamps = Some((val, ecr)),
            // RFC 2018 §3: 40 bytes of option space hold at most 4 blocks.
            TcpOption::Sack(body) if (8..=32).contains(&body.len()) => {
                let mut blocks = [None; 4];
                for (slot, b) in blocks.iter_mut().zip(body.chunks_exact(8)) {
                    *slot = Some((SeqNumber(be32(&b[0..4])), SeqNumber(be32(&b[4..8]))));
                }
                opts.sack_blocks = blocks;
            }
            // Unknown kinds, and known kinds with the wrong length, are skipped by their length.
            _ => {}
        }
    }
    opts
}

impl TcpOptions {
    /// Bytes taken by everything but the SACK blocks (each piece is already 4-aligned).
    fn fixed_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        n += match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            n += 4;
        }
        n
    }

    /// How many SACK blocks are emitted: as many as fit in 40 bytes after the other options.
    fn emitted_sack_blocks(&self) -> usize {
        let have = self.sack_blocks.iter().flatten().count();
        let room = MAX_OPTIONS_LEN.saturating_sub(self.fixed_len());
        // 2 NOPs + kind + length, then 8 bytes per block.
        let fit = room.saturating_sub(4) / 8;
        have.min(fit)
    }

    /// Bytes these options take when emitted, padded to a multiple of 4 (<= 40). SACK blocks are
    /// emitted only as many as fit in 40 bytes after the others.
    pub fn emitted_len(&self) -> usize {
        let blocks = self.emitted_sack_blocks();
        let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        // Every piece is laid out 4-aligned already, so no further padding is needed.
        self.fixed_len() + sack
    }

    /// Writes them (Linux-like layout: MSS; then SACK-permitted + timestamps as `4,2,8,10,...` or
    /// `1,1,8,10,...`; window scale as `1,3,3,ws`; SACK blocks as `1,1,5,len,...`), padding with
    /// NOP/EOL to `emitted_len`. Returns `emitted_len`.
    ///
    /// # Panics
    /// If `buf` is shorter than `emitted_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let total = self.emitted_len();
        let mut w = Writer {
            buf: &mut buf[..total],
            pos: 0,
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            w.put(&[kind::MSS, 4, m[0], m[1]]);
        }
        match (self.sack_permitted, self.timestamps) {
            (sack, Some((val, ecr))) => {
                if sack {
                    w.put(&[kind::SACK_PERMITTED, 2]);
                } else {
                    w.put(&[kind::NOP, kind::NOP]);
                }
                w.put(&[kind::TIMESTAMPS, 10]);
                w.put(&val.to_be_bytes());
                w.put(&ecr.to_be_bytes());
            }
            (true, None) => w.put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws]);
        }
        let blocks = self.emitted_sack_blocks();
        if blocks > 0 {
            w.put(&[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * blocks) as u8]);
            for &(left, right) in self.sack_blocks.iter().flatten().take(blocks) {
                w.put(&left.0.to_be_bytes());
                w.put(&right.0.to_be_bytes());
            }
        }
        // Every piece above is 4-aligned, so nothing is left; pad defensively with EOL regardless.
        w.buf[w.pos..].fill(kind::EOL);
        total
    }
}

/// A cursor over an options area being written.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_keeps_wire_order_and_stops_at_a_bad_length() {
        let area = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, 5, 10, 0, 0, 0, 1, 0,
            0, 0, 2, 30, 3, 9, 2, 9, 9,
        ];
        let shown: Vec<String> = options(&area).map(|o| o.to_string()).collect();
        assert_eq!(
            shown,
            [
                "mss 1460",
                "sackOK",
                "TS val 1 ecr 0",
                "nop",
                "wscale 7",
                "sack 1 {1:2}",
                "unknown-30",
                "bad opt 2"
            ]
        );
        let o = parse_options(&area);
        assert_eq!(
            (o.mss, o.window_scale, o.timestamps),
            (Some(1460), Some(7), Some((1, 0)))
        );
        assert!(o.sack_permitted);
        assert_eq!(o.sack_blocks[0], Some((SeqNumber(1), SeqNumber(2))));
        assert_eq!(options(&[0, 2, 4, 5]).collect::<Vec<_>>(), [TcpOption::Eol]);
    }
}
