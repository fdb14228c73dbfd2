//! Egress: a bounded queue of datagrams waiting for `poll_transmit`, cut into fragments on the way
//! out (RFC 791 §3.2, "Fragmentation"), and a pool that recycles their buffers.
//!
//! A datagram is queued whole, with its transport header already written; `poll_transmit` emits
//! one packet per call — the whole datagram if it fits the MTU, else the next fragment — so no
//! per-fragment buffer is ever allocated. IPv6 datagrams are cut the same way, by their source
//! only, each fragment behind a Fragment header (RFC 8200 §4.5).

use crate::wire::ipv4::{HEADER_LEN, MAX_DATAGRAM};
use crate::wire::ipv6;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Recycled payload buffers, so steady-state traffic allocates nothing per packet.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    /// Buffers kept for reuse; more are freed.
    const KEEP: usize = 256;
    /// Buffers larger than this are freed rather than kept, so one 64 KiB datagram does not pin memory.
    const KEEP_CAPACITY: usize = 16 * 1024;

    /// An empty buffer with room for at least `len` bytes.
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut v) => {
                v.clear();
                v.reserve_exact(len);
                v
            }
            None => Vec::with_capacity(len),
        }
    }

    /// A buffer of exactly `len` zero bytes.
    pub(crate) fn take_zeroed(&mut self, len: usize) -> Vec<u8> {
        let mut v = self.take(len);
        v.resize(len, 0);
        v
    }

    /// Buffers kept for reuse, and the bytes they hold (at most `KEEP` × `KEEP_CAPACITY`).
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.free.len(), self.free.iter().map(Vec::capacity).sum())
    }

    pub(crate) fn give(&mut self, v: Vec<u8>) {
        if self.free.len() < Self::KEEP && v.capacity() <= Self::KEEP_CAPACITY {
            self.free.push(v);
        }
    }
}

/// The header fields of a queued datagram, by version.
#[derive(Clone, Copy, Debug)]
enum Header {
    V4(OutHeader),
    V6(OutHeader6),
    /// A whole packet from a raw socket, header included, sent as given.
    Raw,
}

/// One datagram waiting to leave.
#[derive(Debug)]
struct OutDatagram {
    /// Its header fields; every fragment's header is written from them.
    header: Header,
    /// The IP payload: transport header and data.
    data: Vec<u8>,
    /// Bytes of `data` already emitted (fragments so far).
    sent: usize,
}

/// Why a datagram could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// Over the configured datagram or byte limit.
    Full,
    /// Larger than 65535 bytes with its header.
    TooBig,
    /// DF set and larger than the MTU.
    NeedsFragmentation,
}

/// Result of emitting one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Emitted {
    pub(crate) len: usize,
    /// True for a fragment (the datagram did not fit the MTU).
    pub(crate) fragment: bool,
    /// True when this packet finished its datagram.
    pub(crate) last: bool,
}

/// The bounded transmit queue.
#[derive(Debug)]
pub(crate) struct TxQueue {
    queue: VecDeque<OutDatagram>,
    bytes: usize,
    max_datagrams: usize,
    max_bytes: usize,
}

/// Fields of a datagram to queue (payload passed separately).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutHeader {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) protocol: u8,
    pub(crate) ttl: u8,
    pub(crate) ident: u16,
    pub(crate) dont_fragment: bool,
}

/// Fields of an IPv6 datagram to queue (payload passed separately).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutHeader6 {
    pub(crate) src: Ipv6Addr,
    pub(crate) dst: Ipv6Addr,
    /// The upper-layer protocol (the stack adds no extension header but Fragment).
    pub(crate) next_header: u8,
    pub(crate) hop_limit: u8,
    /// RFC 6437: the same for every packet of a flow.
    pub(crate) flow_label: u32,
    /// The Fragment header's identification, used if the datagram must be cut.
    pub(crate) ident: u32,
    /// The path MTU towards `dst` (RFC 8201): the datagram is cut to it if the link's is
    /// larger.
    pub(crate) path_mtu: u16,
}

/// Bytes of an IPv6 Fragment header.
const FRAG6_LEN: usize = 8;

/// Writes the IPv6 header of the packet carrying `chunk` bytes at `offset` of the datagram
/// (behind a Fragment header if `fragment`); returns where the data goes.
fn write_header6(
    buf: &mut [u8],
    h: &OutHeader6,
    offset: usize,
    more: bool,
    chunk: usize,
    fragment: bool,
) -> usize {
    let frag_len = if fragment { FRAG6_LEN } else { 0 };
    ipv6::Ipv6Repr {
        src: h.src,
        dst: h.dst,
        next_header: if fragment {
            ipv6::next::FRAGMENT
        } else {
            h.next_header
        },
        hop_limit: h.hop_limit,
        traffic_class: 0,
        flow_label: h.flow_label,
        payload_len: frag_len + chunk,
    }
    .emit(buf);
    if fragment {
        // RFC 8200 §4.5: next header, reserved, offset in 8-byte units with the M flag, ident.
        let f = &mut buf[ipv6::HEADER_LEN..ipv6::HEADER_LEN + FRAG6_LEN];
        f[0] = h.next_header;
        f[1] = 0;
        let word = (offset as u16 & 0xfff8) | u16::from(more);
        f[2..4].copy_from_slice(&word.to_be_bytes());
        f[4..8].copy_from_slice(&h.ident.to_be_bytes());
    }
    ipv6::HEADER_LEN + frag_len
}

impl TxQueue {
    pub(crate) fn new(max_datagrams: usize, max_bytes: usize) -> Self {
        TxQueue {
            queue: VecDeque::new(),
            bytes: 0,
            max_datagrams,
            max_bytes,
        }
    }

    /// Whether a datagram with `len` payload bytes would be accepted (checked before building
    /// it), over IPv6 if `v6`.
    pub(crate) fn check(
        &self,
        len: usize,
        dont_fragment: bool,
        mtu: u16,
        v6: bool,
    ) -> Result<(), QueueError> {
        // IPv4: 65535 bytes with the header (RFC 791); IPv6: a payload length of at most
        // 65535 bytes, no jumbograms (RFC 8200 §3, RFC 2675).
        let (header, max) = if v6 {
            (ipv6::HEADER_LEN, ipv6::HEADER_LEN + usize::from(u16::MAX))
        } else {
            (HEADER_LEN, MAX_DATAGRAM)
        };
        if header + len > max {
            return Err(QueueError::TooBig);
        }
        // RFC 791 §3.2 / RFC 1122 §3.3.3: a datagram with DF set is never fragmented; over IPv6
        // the socket's IPV6_DONTFRAG (RFC 3542 §11.2) asks the same of the source.
        if dont_fragment && header + len > usize::from(mtu) {
            return Err(QueueError::NeedsFragmentation);
        }
        self.room(len)
    }

    /// Whether the queue's limits leave room for `len` more payload bytes.
    fn room(&self, len: usize) -> Result<(), QueueError> {
        if self.queue.len() >= self.max_datagrams || self.bytes + len > self.max_bytes {
            return Err(QueueError::Full);
        }
        Ok(())
    }

    /// Queues `data` (the whole IP payload). On error the buffer is handed back.
    pub(crate) fn push(
        &mut self,
        h: OutHeader,
        data: Vec<u8>,
        mtu: u16,
    ) -> Result<(), (QueueError, Vec<u8>)> {
        if let Err(e) = self.check(data.len(), h.dont_fragment, mtu, false) {
            return Err((e, data));
        }
        self.bytes += data.len();
        self.queue.push_back(OutDatagram {
            header: Header::V4(h),
            data,
            sent: 0,
        });
        Ok(())
    }

    /// Queues an IPv6 datagram's payload (the upper-layer packet). IPv6 has no DF: the source
    /// fragments what does not fit the MTU (RFC 8200 §5). On error the buffer is handed back.
    pub(crate) fn push6(
        &mut self,
        h: OutHeader6,
        data: Vec<u8>,
    ) -> Result<(), (QueueError, Vec<u8>)> {
        // No jumbograms (RFC 2675): the payload length field bounds a datagram.
        if let Err(e) = self.check(data.len(), false, 0, true) {
            return Err((e, data));
        }
        self.bytes += data.len();
        self.queue.push_back(OutDatagram {
            header: Header::V6(h),
            data,
            sent: 0,
        });
        Ok(())
    }

    /// Queues a whole packet as given (a raw socket's): never fragmented, so it must fit the
    /// MTU. On error the buffer is handed back.
    pub(crate) fn push_raw(
        &mut self,
        packet: Vec<u8>,
        mtu: u16,
    ) -> Result<(), (QueueError, Vec<u8>)> {
        if packet.len() > usize::from(mtu) {
            return Err((QueueError::NeedsFragmentation, packet));
        }
        if let Err(e) = self.room(packet.len()) {
            return Err((e, packet));
        }
        self.bytes += packet.len();
        self.queue.push_back(OutDatagram {
            header: Header::Raw,
            data: packet,
            sent: 0,
        });
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Payload bytes queued (never above the configured byte limit).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Emits the next packet into `buf`, fragmenting to fit `min(mtu, buf.len())`.
    /// Finished datagrams' buffers go back to `pool`. Returns None when the queue is empty or
    /// `buf` cannot hold even a minimal fragment (the caller's bug; nothing is lost).
    pub(crate) fn emit(
        &mut self,
        mtu: u16,
        buf: &mut [u8],
        pool: &mut BufferPool,
    ) -> Option<Emitted> {
        let d = self.queue.front_mut()?;
        let mtu = match &d.header {
            Header::V4(_) => mtu,
            Header::V6(h) => mtu.min(h.path_mtu),
            Header::Raw => return self.emit_raw(buf, pool),
        };
        let limit = usize::from(mtu).min(buf.len());
        let remaining = d.data.len() - d.sent;
        let (hlen, frag_len) = match d.header {
            Header::V6(_) => (ipv6::HEADER_LEN, FRAG6_LEN),
            Header::V4(_) | Header::Raw => (HEADER_LEN, 0),
        };
        let (chunk, fragment, more) = if d.sent == 0 && hlen + remaining <= limit {
            (remaining, false, false)
        } else {
            // RFC 791 §3.2, RFC 8200 §4.5: every fragment but the last carries a multiple of 8
            // data bytes.
            let per_fragment = (limit.checked_sub(hlen + frag_len)?) & !7;
            if per_fragment == 0 {
                return None;
            }
            if remaining <= per_fragment {
                (remaining, true, false)
            } else {
                (per_fragment, true, true)
            }
        };
        let at = match &d.header {
            Header::V4(h) => {
                super::egress::write_header(buf, h, d.sent, more, chunk);
                HEADER_LEN
            }
            Header::V6(h) => write_header6(buf, h, d.sent, more, chunk, fragment),
            Header::Raw => return None,
        };
        buf[at..at + chunk].copy_from_slice(&d.data[d.sent..d.sent + chunk]);
        d.sent += chunk;
        let last = d.sent == d.data.len();
        if last {
            if let Some(done) = self.queue.pop_front() {
                self.bytes -= done.data.len();
                pool.give(done.data);
            }
        }
        Some(Emitted {
            len: at + chunk,
            fragment,
            last,
        })
    }
}

impl TxQueue {
    /// Emits the raw packet at the head whole (it was checked against the MTU when queued);
    /// one that does not fit the caller's `buf` stays queued (the caller's bug).
    fn emit_raw(&mut self, buf: &mut [u8], pool: &mut BufferPool) -> Option<Emitted> {
        let len = self.queue.front()?.data.len();
        if len > buf.len() {
            return None;
        }
        let d = self.queue.pop_front()?;
        buf[..len].copy_from_slice(&d.data);
        self.bytes -= len;
        pool.give(d.data);
        Some(Emitted {
            len,
            fragment: false,
            last: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Packet;
    use std::net::Ipv4Addr;

    fn header(df: bool) -> OutHeader {
        OutHeader {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: Ipv4Addr::new(198, 18, 0, 1),
            protocol: 17,
            ttl: 64,
            ident: 42,
            dont_fragment: df,
        }
    }

    #[test]
    fn ipv6_datagrams_go_whole_or_in_fragments_behind_a_fragment_header() {
        use crate::wire::ipv6::{walk, Ipv6Packet, Walk};
        let h6 = OutHeader6 {
            src: "2001:2::2".parse().unwrap(),
            dst: "2001:2::1".parse().unwrap(),
            next_header: 17,
            hop_limit: 64,
            flow_label: 0x5_4321,
            ident: 0xfeed_f00d,
            path_mtu: 1500,
        };
        let mut q = TxQueue::new(10, 1 << 20);
        let mut pool = BufferPool::default();
        let mut buf = [0u8; 1500];
        // Whole: 40 + 1240 fits 1280.
        q.push6(h6, vec![7; 1240]).unwrap();
        let e = q.emit(1280, &mut buf, &mut pool).unwrap();
        assert_eq!((e.len, e.fragment, e.last), (1280, false, true));
        let p = Ipv6Packet::parse(&buf[..e.len]).unwrap();
        assert_eq!(
            (p.next_header(), p.flow_label(), p.payload().len()),
            (17, 0x5_4321, 1240)
        );
        // Cut: every fragment within 1280, offsets in order, M on all but the last.
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 13) as u8).collect();
        q.push6(h6, data.clone()).unwrap();
        let mut got = Vec::new();
        while let Some(e) = q.emit(1280, &mut buf, &mut pool) {
            assert!(e.fragment && e.len <= 1280);
            let p = Ipv6Packet::parse(&buf[..e.len]).unwrap();
            let (Ok(Walk::Upper {
                fragment: Some(f),
                at,
                protocol: 17,
                ..
            })
            | Ok(Walk::LaterFragment { fragment: f, at })) = walk(&p)
            else {
                panic!("{:?}", walk(&p))
            };
            assert_eq!(
                (f.offset, f.ident, f.more),
                (got.len(), 0xfeed_f00d, !e.last)
            );
            got.extend_from_slice(&buf[at..e.len]);
            if e.last {
                break;
            }
        }
        assert_eq!(got, data);
        assert!(q.is_empty());
    }

    #[test]
    fn fragments_cover_the_datagram_exactly() {
        let mut q = TxQueue::new(10, 1 << 20);
        let mut pool = BufferPool::default();
        let data: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
        q.push(header(false), data.clone(), 1500).unwrap();
        let mut buf = [0u8; 1500];
        let mut got = vec![0u8; data.len()];
        let mut n = 0;
        while let Some(e) = q.emit(1500, &mut buf, &mut pool) {
            assert!(e.fragment && e.len <= 1500);
            let p = Ipv4Packet::parse(&buf[..e.len]).unwrap();
            assert_eq!(p.ident(), 42);
            assert_eq!(p.more_fragments(), !e.last);
            if !e.last {
                assert_eq!(p.payload().len() % 8, 0);
            }
            got[p.frag_offset()..p.frag_offset() + p.payload().len()].copy_from_slice(p.payload());
            n += 1;
        }
        assert_eq!(n, 3); // 1480 + 1480 + 1040
        assert_eq!(got, data);
        assert!(q.is_empty());
    }

    #[test]
    fn small_datagram_is_one_packet_and_df_is_honoured() {
        let mut q = TxQueue::new(10, 1 << 20);
        let mut pool = BufferPool::default();
        q.push(header(true), vec![1; 1480], 1500).unwrap();
        let mut buf = [0u8; 2000];
        let e = q.emit(1500, &mut buf, &mut pool).unwrap();
        assert_eq!(
            e,
            Emitted {
                len: 1500,
                fragment: false,
                last: true
            }
        );
        assert!(Ipv4Packet::parse(&buf[..1500]).unwrap().dont_fragment());
        let err = q.push(header(true), vec![1; 1481], 1500).unwrap_err();
        assert_eq!(err.0, QueueError::NeedsFragmentation);
    }

    #[test]
    fn limits_are_enforced() {
        let mut q = TxQueue::new(2, 100);
        q.push(header(false), vec![0; 60], 1500).unwrap();
        assert_eq!(
            q.push(header(false), vec![0; 60], 1500).unwrap_err().0,
            QueueError::Full
        );
        q.push(header(false), vec![0; 40], 1500).unwrap();
        assert_eq!(
            q.push(header(false), vec![], 1500).unwrap_err().0,
            QueueError::Full
        );
        assert_eq!(q.check(65516, false, 1500, false), Err(QueueError::TooBig));
        assert_eq!(q.check(65536, false, 1500, true), Err(QueueError::TooBig));
    }

    #[test]
    fn largest_datagram_fragments() {
        let mut q = TxQueue::new(2, 1 << 20);
        let mut pool = BufferPool::default();
        q.push(header(false), vec![9; 65515], 576).unwrap();
        let mut buf = [0u8; 576];
        let mut total = 0;
        while let Some(e) = q.emit(576, &mut buf, &mut pool) {
            total += e.len - HEADER_LEN;
        }
        assert_eq!(total, 65515);
    }
}
