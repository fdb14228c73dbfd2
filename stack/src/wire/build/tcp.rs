//! The TCP header (RFC 9293 §3.1) and its options (RFC 9293 §3.2, RFC 7323, RFC 2018).

use super::ip::{nibble, setter};
use super::{BuildError, Ctx};
use crate::wire::proto;
use crate::wire::tcp::{flags, TcpOptions, HEADER_LEN};

/// Largest options area: the data offset counts 15 words, 5 of them the fixed header.
const MAX_OPTIONS: usize = 40;

/// One TCP option, emitted in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOpt {
    /// End of Option List (kind 0).
    Eol,
    /// No-Operation (kind 1).
    Nop,
    /// Maximum Segment Size (kind 2, length 4; RFC 9293 §3.7.1).
    Mss(u16),
    /// Window Scale shift (kind 3, length 3; RFC 7323 §2).
    WScale(u8),
    /// SACK Permitted (kind 4, length 2; RFC 2018 §2).
    SackPermitted,
    /// SACK blocks `(left, right)` (kind 5, length 2 + 8n; RFC 2018 §3).
    Sack(Vec<(u32, u32)>),
    /// Timestamps (kind 8, length 10; RFC 7323 §3).
    Timestamps {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// Any kind, with its length octet counting kind, length and `data` (a total beyond 255
    /// is refused).
    Raw {
        /// The kind octet.
        kind: u8,
        /// What follows the length octet.
        data: Vec<u8>,
    },
    /// Any kind with the length octet as given, whatever `data` holds: a malformed option.
    Malformed {
        /// The kind octet.
        kind: u8,
        /// The length octet.
        len: u8,
        /// What follows the length octet.
        data: Vec<u8>,
    },
    /// Bytes emitted as they are.
    Bytes(Vec<u8>),
}

impl TcpOpt {
    fn emit(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        let mut tlv = |kind: u8, data: &[u8]| {
            let len = u8::try_from(data.len() + 2).map_err(|_| {
                BuildError::new(
                    "tcp.options",
                    format!("option {kind} of {} bytes exceeds 255", data.len() + 2),
                )
            })?;
            out.extend_from_slice(&[kind, len]);
            out.extend_from_slice(data);
            Ok(())
        };
        match self {
            TcpOpt::Eol => out.push(0),
            TcpOpt::Nop => out.push(1),
            TcpOpt::Mss(m) => tlv(2, &m.to_be_bytes())?,
            TcpOpt::WScale(s) => tlv(3, &[*s])?,
            TcpOpt::SackPermitted => tlv(4, &[])?,
            TcpOpt::Sack(blocks) => {
                let data: Vec<u8> = blocks
                    .iter()
                    .flat_map(|(l, r)| l.to_be_bytes().into_iter().chain(r.to_be_bytes()))
                    .collect();
                tlv(5, &data)?;
            }
            TcpOpt::Timestamps { val, ecr } => {
                let mut data = val.to_be_bytes().to_vec();
                data.extend_from_slice(&ecr.to_be_bytes());
                tlv(8, &data)?;
            }
            TcpOpt::Raw { kind, data } => tlv(*kind, data)?,
            TcpOpt::Malformed { kind, len, data } => {
                out.extend_from_slice(&[*kind, *len]);
                out.extend_from_slice(data);
            }
            TcpOpt::Bytes(b) => out.extend_from_slice(b),
        }
        Ok(())
    }
}

/// Flags from letters: scapy's `FSRPAUEC` (`E` ECE 0x40, `C` CWR 0x80), hping3's `X` (0x40)
/// and `Y` (0x80), and `.` for ACK as tcpdump prints it. Any other letter is refused.
///
/// ```
/// use ustack::wire::build::{flags, tcp_flags};
/// assert_eq!(tcp_flags("SA").unwrap(), flags::SYN | flags::ACK);
/// assert_eq!(tcp_flags("FPU").unwrap(), 0x29);
/// assert_eq!(tcp_flags("XY").unwrap(), flags::ECE | flags::CWR);
/// assert_eq!(tcp_flags("Q").unwrap_err().field, "tcp.flags");
/// ```
pub fn tcp_flags(letters: &str) -> Result<u8, BuildError> {
    letters.chars().try_fold(0u8, |acc, c| {
        let bit = match c.to_ascii_uppercase() {
            'F' => flags::FIN,
            'S' => flags::SYN,
            'R' => flags::RST,
            'P' => flags::PSH,
            'A' | '.' => flags::ACK,
            'U' => flags::URG,
            'E' | 'X' => flags::ECE,
            'C' | 'W' | 'Y' => flags::CWR,
            _ => {
                return Err(BuildError::new(
                    "tcp.flags",
                    format!("unknown flag letter {c:?} (FSRPAUEC, X, Y)"),
                ))
            }
        };
        Ok(acc | bit)
    })
}

/// A TCP header. Unset: ports 20 → 80, seq and ack 0, flags SYN, window 8192, urgent pointer 0,
/// no options; the data offset comes from the emitted options, the checksum is computed under
/// the pseudo-header of the IP layer below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcp {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: Option<u8>,
    reserved: u8,
    data_offset: Option<u8>,
    window: u16,
    checksum: Option<u16>,
    urg_ptr: u16,
    options: Vec<TcpOpt>,
    raw_options: bool,
}

impl Default for Tcp {
    fn default() -> Tcp {
        Tcp {
            sport: 20,
            dport: 80,
            seq: 0,
            ack: 0,
            flags: None,
            reserved: 0,
            data_offset: None,
            window: 8192,
            checksum: None,
            urg_ptr: 0,
            options: Vec::new(),
            raw_options: false,
        }
    }
}

impl Tcp {
    /// A header with every field at its default.
    pub fn new() -> Tcp {
        Tcp::default()
    }

    setter! {
        /// Source port.
        sport: u16 => sport;
        /// Destination port.
        dport: u16 => dport;
        /// Sequence number.
        seq: u32 => seq;
        /// Acknowledgment number (the ACK flag is separate: [`Tcp::ack_flag`]).
        ack: u32 => ack;
        /// All eight flag bits (see [`flags`](super::flags); 0 sends none).
        flags: u8 => flags = Some;
        /// The four reserved bits after the data offset (values above 15 are refused).
        reserved: u8 => reserved;
        /// The data offset nibble instead of the emitted header's length in words.
        data_offset: u8 => data_offset = Some;
        /// Window.
        window: u16 => window;
        /// Urgent pointer.
        urg_ptr: u16 => urg_ptr;
        /// The checksum instead of the computed one.
        checksum: u16 => checksum = Some;
        /// Emits options beyond 40 bytes (the data offset then stays 15) and without padding
        /// them to a multiple of 4.
        raw_options: bool => raw_options;
    }

    fn flag(mut self, bit: u8) -> Tcp {
        // The first flag named replaces the default SYN.
        self.flags = Some(self.flags.unwrap_or(0) | bit);
        self
    }

    /// Sets SYN (the flag setters add to each other; the first replaces the default SYN).
    #[must_use]
    pub fn syn(self) -> Tcp {
        self.flag(flags::SYN)
    }
    /// Sets FIN.
    #[must_use]
    pub fn fin(self) -> Tcp {
        self.flag(flags::FIN)
    }
    /// Sets RST.
    #[must_use]
    pub fn rst(self) -> Tcp {
        self.flag(flags::RST)
    }
    /// Sets PSH.
    #[must_use]
    pub fn psh(self) -> Tcp {
        self.flag(flags::PSH)
    }
    /// Sets ACK.
    #[must_use]
    pub fn ack_flag(self) -> Tcp {
        self.flag(flags::ACK)
    }
    /// Sets URG.
    #[must_use]
    pub fn urg(self) -> Tcp {
        self.flag(flags::URG)
    }
    /// Sets ECE (0x40, hping3's X).
    #[must_use]
    pub fn ece(self) -> Tcp {
        self.flag(flags::ECE)
    }
    /// Sets CWR (0x80, hping3's Y).
    #[must_use]
    pub fn cwr(self) -> Tcp {
        self.flag(flags::CWR)
    }

    /// The options, in order (replacing any set before). Padded with EOL to a multiple of 4
    /// bytes unless `raw_options`; more than 40 bytes are refused unless `raw_options`.
    #[must_use]
    pub fn options(mut self, opts: impl IntoIterator<Item = TcpOpt>) -> Tcp {
        self.options = opts.into_iter().collect();
        self
    }

    /// Appends one option.
    #[must_use]
    pub fn option(mut self, opt: TcpOpt) -> Tcp {
        self.options.push(opt);
        self
    }

    /// Appends the options the stack itself sends, laid out as it lays them out
    /// ([`TcpOptions::emit`], Linux's order).
    #[must_use]
    pub fn stack_options(self, opts: &TcpOptions) -> Tcp {
        let mut area = vec![0; opts.emitted_len()];
        opts.emit(&mut area);
        self.option(TcpOpt::Bytes(area))
    }

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        let mut area = Vec::new();
        for o in &self.options {
            o.emit(&mut area)?;
        }
        // RFC 9293 §3.1: the data offset is 4 bits of 32-bit words, so at most 40 bytes of
        // options, and the area ends on a word (padded with zeros: EOL).
        if area.len() > MAX_OPTIONS && !self.raw_options {
            return Err(BuildError::new(
                "tcp.options",
                format!(
                    "{} bytes of options exceed 40 (raw_options(true) sends them anyway)",
                    area.len()
                ),
            ));
        }
        if !self.raw_options {
            area.resize(area.len().next_multiple_of(4), 0);
        }
        let header_len = HEADER_LEN + area.len();
        let offset = match self.data_offset {
            Some(v) => nibble("tcp.data_offset", v)?,
            None => header_len.div_ceil(4).min(15) as u8,
        };
        let reserved = nibble("tcp.reserved", self.reserved)?;
        let mut out = Vec::with_capacity(header_len + upper.len());
        out.extend_from_slice(&self.sport.to_be_bytes());
        out.extend_from_slice(&self.dport.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        out.push((offset << 4) | reserved);
        out.push(self.flags.unwrap_or(flags::SYN));
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.urg_ptr.to_be_bytes());
        out.extend_from_slice(&area);
        out.extend_from_slice(&upper);
        // RFC 9293 §3.1: the checksum covers pseudo-header, header and data.
        let sum = match self.checksum {
            Some(c) => c,
            None => ctx.transport_sum("tcp.checksum", proto::TCP, &out)?,
        };
        out[16..18].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}
