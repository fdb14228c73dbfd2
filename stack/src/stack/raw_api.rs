//! The raw socket API of [`Stack`]: send packets the stack did not build, receive copies of
//! what arrives, claim ports (the rules are in [`crate::socket::raw`]).

use super::Stack;
use crate::ip::egress;
use crate::ip::fragment::QueueError;
use crate::socket::raw::RawState;
use crate::socket::{
    BindError, Delivery, Kind, Queued, RawInfo, RawIpv4, RawOptions, RecvError, SendError,
    SocketHandle,
};
use crate::wire::ipv4::{HEADER_LEN, MAX_DATAGRAM};
use crate::wire::proto;

impl Stack {
    /// Opens a raw socket receiving copies of the arriving packets `options` selects.
    pub fn raw_open(&mut self, options: RawOptions) -> Result<SocketHandle, BindError> {
        let h = self.sockets.open(Kind::Raw)?;
        if let Some(s) = self.sockets.get_mut(h) {
            s.raw = Some(Box::new(RawState {
                options,
                ..RawState::default()
            }));
        }
        Ok(h)
    }

    /// Claims local `port` of `protocol` (TCP or UDP) for raw socket `h`: segments and
    /// datagrams to it, and ICMP errors quoting what we sent from it, go to `h` alone and the
    /// stack sends no RST or port unreachable of its own. Port 0 picks a free ephemeral port.
    /// Returns the port. `AddrInUse` if a listener, connection or UDP socket (or another
    /// claim) holds it; `Invalid` for another protocol or a handle that is not a raw socket.
    pub fn raw_claim(
        &mut self,
        h: SocketHandle,
        protocol: u8,
        port: u16,
    ) -> Result<u16, BindError> {
        if !matches!(protocol, proto::TCP | proto::UDP) || self.raw_state(h).is_none() {
            return Err(BindError::Invalid);
        }
        let port = match port {
            0 => self
                .ephemeral_port(|s, p| s.claimable(protocol, p))
                .ok_or(BindError::NoFreePort)?,
            p if self.claimable(protocol, p) => p,
            _ => return Err(BindError::AddrInUse),
        };
        self.sockets.raw.claim(protocol, port, h);
        if let Some(r) = self.sockets.get_mut(h).and_then(|s| s.raw.as_mut()) {
            r.claims.push((protocol, port));
        }
        Ok(port)
    }

    /// Whether nothing uses `port` of `protocol` (O(connections) for TCP: a claim is rare).
    fn claimable(&self, protocol: u8, port: u16) -> bool {
        port != 0
            && self.sockets.raw.claimed(protocol, port).is_none()
            && match protocol {
                proto::TCP => !self.tcp.port_in_use(port),
                _ => !self.sockets.is_taken(Kind::Udp { port }),
            }
    }

    /// Sends `packet` — a whole IPv4 or IPv6 packet, header included — exactly as given:
    /// wrong checksums, lengths, flags and fragment offsets go out as they are. It is never
    /// fragmented: `NeedsFragmentation` if longer than the MTU (send fragments you built);
    /// `MessageTooLong` if empty or longer than 65,535 bytes. The kernel's side of a TUN reads
    /// the version from the first nibble and drops what is neither 4 nor 6.
    pub fn raw_send(&mut self, h: SocketHandle, packet: &[u8]) -> Result<(), SendError> {
        if self.raw_state(h).is_none() {
            return Err(SendError::InvalidHandle);
        }
        if packet.is_empty() || packet.len() > MAX_DATAGRAM {
            return Err(SendError::MessageTooLong);
        }
        let mut buf = self.pool.take(packet.len());
        buf.extend_from_slice(packet);
        self.queue_raw(h, buf)
    }

    /// Sends `payload` behind an IPv4 header the stack writes from `fields`, filling only the
    /// fields left `None` (see [`RawIpv4`]) — like a Linux raw socket without `IP_HDRINCL`,
    /// but every field can be set, wrong ones included. Never fragmented (set `more_fragments`
    /// and `frag_offset` to send fragments of your own).
    pub fn raw_send_ipv4(
        &mut self,
        h: SocketHandle,
        fields: RawIpv4,
        payload: &[u8],
    ) -> Result<(), SendError> {
        if self.raw_state(h).is_none() {
            return Err(SendError::InvalidHandle);
        }
        if HEADER_LEN + payload.len() > MAX_DATAGRAM {
            return Err(SendError::MessageTooLong);
        }
        let src = fields.src.unwrap_or(self.config.addr);
        let ident = match fields.ident {
            Some(i) => i,
            None => self.egress.ident(src, fields.dst, fields.protocol),
        };
        let ttl = fields.ttl.unwrap_or(self.egress.default_ttl());
        let mut buf = self.pool.take_zeroed(HEADER_LEN + payload.len());
        egress::write_raw_header(&mut buf, &fields, (src, ident, ttl), payload.len());
        buf[HEADER_LEN..].copy_from_slice(payload);
        self.queue_raw(h, buf)
    }

    fn queue_raw(&mut self, h: SocketHandle, buf: Vec<u8>) -> Result<(), SendError> {
        let mtu = self.config.mtu;
        match self.tx.push_raw(buf, mtu) {
            Ok(()) => {
                self.stats.raw_tx_packets += 1;
                if let Some(r) = self.sockets.get_mut(h).and_then(|s| s.raw.as_mut()) {
                    r.sent += 1;
                }
                Ok(())
            }
            Err((e, buf)) => {
                self.pool.give(buf);
                let e = match e {
                    QueueError::Full => SendError::QueueFull,
                    QueueError::TooBig => SendError::MessageTooLong,
                    QueueError::NeedsFragmentation => SendError::NeedsFragmentation { mtu },
                };
                self.note_refused(h, &e);
                Err(e)
            }
        }
    }

    /// Receives the next packet copy into `buf` (truncated to it); returns the packet's whole
    /// length.
    pub fn raw_recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        if self.raw_state(h).is_none() {
            return Err(RecvError::InvalidHandle);
        }
        match self.sockets.pop(h) {
            Some(Queued::Raw { data }) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                let len = data.len();
                self.pool.give(data);
                Ok(len)
            }
            Some(other) => {
                if let Some(b) = other.into_buffer() {
                    self.pool.give(b);
                }
                Err(RecvError::WouldBlock)
            }
            None => Err(RecvError::WouldBlock),
        }
    }

    /// A raw socket's counters and claims.
    pub fn raw_info(&self, h: SocketHandle) -> Option<RawInfo> {
        let r = self.raw_state(h)?;
        Some(RawInfo {
            received: r.received,
            dropped: r.dropped,
            sent: r.sent,
            claims: r.claims.clone(),
        })
    }

    fn raw_state(&self, h: SocketHandle) -> Option<&RawState> {
        self.sockets.get(h)?.raw.as_deref()
    }

    /// Copies an arriving packet (IP-validated, not yet reassembled) to every raw socket that
    /// wants it. O(raw sockets) — a number the local user chooses, not the sender.
    pub(crate) fn raw_copy(&mut self, protocol: Option<u8>, packet: &[u8]) {
        if self.sockets.raw.is_empty() {
            return;
        }
        // By index: delivering never opens or closes a socket, and no list is copied per packet.
        for i in 0..self.sockets.raw.members().len() {
            let h = self.sockets.raw.members()[i];
            let wants = self
                .raw_state(h)
                .is_some_and(|r| r.options.wants(protocol, packet));
            if !wants {
                continue;
            }
            let mut data = self.pool.take(packet.len());
            data.extend_from_slice(packet);
            match self.sockets.deliver_raw(h, Queued::Raw { data }) {
                Delivery::Queued => self.stats.raw_copies += 1,
                Delivery::Full(q) | Delivery::NoSocket(q) => {
                    self.stats.raw_copies_dropped += 1;
                    if let Some(b) = q.into_buffer() {
                        self.pool.give(b);
                    }
                }
            }
        }
    }

    /// Whether a packet to local `port` of `protocol` belongs to a raw socket's claim (then it
    /// is counted as claimed and the caller does nothing more with it).
    pub(crate) fn raw_claims(&mut self, protocol: u8, port: u16) -> bool {
        let claimed = self.sockets.raw.claimed(protocol, port).is_some();
        if claimed {
            self.stats.raw_claimed += 1;
        }
        claimed
    }
}
