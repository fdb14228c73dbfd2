//! tcpdump's relative sequence numbers: per TCP conversation, the sequence numbers of the first
//! segment seen with ACK set (normally the SYN-ACK; a later SYN starts the conversation over)
//! are kept, and later segments print theirs relative to them — `seq 1:79, ack 1` instead of
//! ten-digit numbers. The same rule as tcpdump's print-tcp.c, so both print the same numbers
//! for the same packets: the segment that sets the base still prints absolute numbers, a
//! segment without ACK (the first SYN) too, and one conversation entry serves both directions.
//!
//! Memory is bounded: at most [`MAX_CONVERSATIONS`] are remembered, the oldest forgotten first
//! (a forgotten conversation starts over at its next ACK-bearing segment).

use std::collections::{HashMap, VecDeque};
use ustack::wire::ipv4::{self, raw as ip};
use ustack::wire::{proto, SeqBase};

/// Conversations remembered at most.
pub const MAX_CONVERSATIONS: usize = 4096;

/// Both ends, lower address (then port) first, so both directions find one entry (IPv4
/// addresses in the first 4 bytes, and the version, apart).
type Key = (u8, [u8; 16], [u8; 16], u16, u16);

/// The initial numbers of each conversation seen.
#[derive(Debug, Default)]
pub struct SeqTracker {
    /// `(seq, ack)` as tcpdump's `tcp_seq_hash` keeps them: the lower end's ISN and the
    /// higher end's ISN (each from the first ACK-bearing segment).
    bases: HashMap<Key, (u32, u32)>,
    order: VecDeque<Key>,
}

impl SeqTracker {
    /// A tracker that remembers nothing yet.
    pub fn new() -> SeqTracker {
        SeqTracker::default()
    }

    /// What the TCP numbers of IPv4 packet `b` print relative to (zero: absolute), remembering
    /// the conversation's base if `b` sets it.
    pub fn base(&mut self, b: &[u8]) -> SeqBase {
        let Some((hlen, _)) = tcp_at(b) else {
            return SeqBase::default();
        };
        let Some(seg) = b.get(hlen..).filter(|s| s.len() >= 20) else {
            return SeqBase::default();
        };
        let flags = seg[13];
        if flags & 0x10 == 0 {
            return SeqBase::default();
        }
        let be32 = |i: usize| u32::from_be_bytes([seg[i], seg[i + 1], seg[i + 2], seg[i + 3]]);
        let (seq, ack) = (be32(4), be32(8));
        let (version, src, dst) = addrs(b);
        let (sp, dp) = (
            u16::from_be_bytes([seg[0], seg[1]]),
            u16::from_be_bytes([seg[2], seg[3]]),
        );
        let rev = src > dst || (src == dst && sp > dp);
        let key = if rev {
            (version, dst, src, dp, sp)
        } else {
            (version, src, dst, sp, dp)
        };
        match self.bases.get(&key) {
            Some(&(s, a)) if flags & 0x02 == 0 => {
                if rev {
                    SeqBase { seq: a, ack: s }
                } else {
                    SeqBase { seq: s, ack: a }
                }
            }
            _ => {
                let entry = if rev {
                    (ack.wrapping_sub(1), seq)
                } else {
                    (seq, ack.wrapping_sub(1))
                };
                if self.bases.insert(key, entry).is_none() {
                    self.order.push_back(key);
                    if self.order.len() > MAX_CONVERSATIONS {
                        if let Some(old) = self.order.pop_front() {
                            self.bases.remove(&old);
                        }
                    }
                }
                SeqBase::default()
            }
        }
    }
}

/// Where the TCP header of packet `b` starts, and where the packet ends by its header: an IPv4
/// first fragment, or IPv6 with TCP right after the fixed header (as tcpdump, ustack prints
/// extension headers' segments without relative numbers).
pub(crate) fn tcp_at(b: &[u8]) -> Option<(usize, usize)> {
    match b.first()? >> 4 {
        4 if b.len() >= ipv4::HEADER_LEN
            && ip::protocol(b) == proto::TCP
            && ip::frag_offset(b) == 0 =>
        {
            Some((
                ip::header_len(b).max(ipv4::HEADER_LEN),
                usize::from(ip::total_len(b)),
            ))
        }
        6 if b.len() >= 40 && b[6] == proto::TCP => {
            Some((40, 40 + usize::from(u16::from_be_bytes([b[4], b[5]]))))
        }
        _ => None,
    }
}

/// The version and both addresses of an IPv4 or IPv6 packet `tcp_at` accepted, in 16 bytes.
fn addrs(b: &[u8]) -> (u8, [u8; 16], [u8; 16]) {
    let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
    if b[0] >> 4 == 4 {
        src[..4].copy_from_slice(&b[12..16]);
        dst[..4].copy_from_slice(&b[16..20]);
        (4, src, dst)
    } else {
        src.copy_from_slice(&b[8..24]);
        dst.copy_from_slice(&b[24..40]);
        (6, src, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(src: u8, dst: u8, sp: u16, dp: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, src, 198, 18, 0, dst,
        ];
        let mut t = [0u8; 20];
        t[0..2].copy_from_slice(&sp.to_be_bytes());
        t[2..4].copy_from_slice(&dp.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        p.extend_from_slice(&t);
        p
    }

    #[test]
    fn the_first_ack_bearing_segment_sets_the_base_for_both_directions() {
        let mut t = SeqTracker::new();
        let zero = SeqBase::default();
        // SYN from the higher address: no ACK, absolute.
        assert_eq!(t.base(&seg(2, 1, 80, 40000, 5000, 0, 0x02)), zero);
        // SYN-ACK from the lower one sets the base and prints absolute.
        assert_eq!(t.base(&seg(1, 2, 40000, 80, 9000, 5001, 0x12)), zero);
        // The ACK (higher → lower, reversed): seq from 5000, ack from 9000.
        assert_eq!(
            t.base(&seg(2, 1, 80, 40000, 5001, 9001, 0x10)),
            SeqBase {
                seq: 5000,
                ack: 9000
            }
        );
        assert_eq!(
            t.base(&seg(1, 2, 40000, 80, 9001, 5079, 0x18)),
            SeqBase {
                seq: 9000,
                ack: 5000
            }
        );
        // A new SYN-ACK on the same ports starts over.
        assert_eq!(t.base(&seg(1, 2, 40000, 80, 100, 7001, 0x12)), zero);
        assert_eq!(
            t.base(&seg(2, 1, 80, 40000, 7001, 101, 0x10)),
            SeqBase {
                seq: 7000,
                ack: 100
            }
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = SeqTracker::new();
        for port in 0..(MAX_CONVERSATIONS as u16 + 10) {
            t.base(&seg(1, 2, port, 80, 1, 1, 0x10));
        }
        assert_eq!(t.bases.len(), MAX_CONVERSATIONS);
        // The first conversations were forgotten: their next segment sets a base again.
        assert_eq!(t.base(&seg(1, 2, 0, 80, 5, 5, 0x10)), SeqBase::default());
        assert_eq!(t.bases.len(), MAX_CONVERSATIONS);
        assert!(t.base(&[0x45, 0]) == SeqBase::default());
    }
}
