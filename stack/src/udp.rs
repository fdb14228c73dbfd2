//! UDP (RFC 768): demultiplexing arriving datagrams to their socket (else ICMP port unreachable,
//! RFC 1122 §4.1.3.1) and the UDP socket API of [`Stack`].

use crate::socket::{BindError, Delivery, Kind, Queued, RecvError, SendError, SocketHandle};
use crate::stack::{Arrival, Stack};
use crate::stats::DropReason;
use crate::wire::icmp;
use crate::wire::ipv4::{HEADER_LEN, MAX_DATAGRAM};
use crate::wire::proto;
use crate::wire::udp::{self, UdpPacket};
use std::net::{IpAddr, SocketAddr};

impl Stack {
    pub(crate) fn udp_input(&mut self, a: Arrival<'_>, payload: &[u8]) {
        if self.udp_deliver(a.src.into(), a.dst.into(), payload) == Some(DropReason::UdpNoSocket) {
            // RFC 1122 §4.1.3.1: a datagram for a port with no listener SHOULD get port unreachable.
            self.send_icmp_error(
                a,
                payload,
                icmp::types::DEST_UNREACHABLE,
                icmp::unreach::PORT,
                [0; 4],
            );
        }
    }

    /// Checks a UDP datagram (IPv4 or IPv6) and queues it on the socket bound to its port —
    /// UDP sockets take both families. Returns the reason it was dropped (counted here), so the
    /// caller can answer "no socket" with its own family's port unreachable.
    pub(crate) fn udp_deliver(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
    ) -> Option<DropReason> {
        let d = match UdpPacket::parse(src, dst, payload) {
            Ok(d) => d,
            Err(r) => {
                self.drop_packet(r);
                return Some(r);
            }
        };
        // A port a raw socket claimed: no delivery, no port unreachable (socket::raw).
        if self.raw_claims(proto::UDP, d.dst_port) {
            return None;
        }
        let mut data = self.pool.take(d.payload.len());
        data.extend_from_slice(d.payload);
        let item = Queued::Udp {
            from: SocketAddr::new(src, d.src_port),
            data,
        };
        let reason = match self.sockets.deliver(Kind::Udp { port: d.dst_port }, item) {
            Delivery::Queued => {
                self.stats.udp_rx_datagrams += 1;
                return None;
            }
            Delivery::Full(q) => (q, DropReason::UdpQueueFull),
            Delivery::NoSocket(q) => (q, DropReason::UdpNoSocket),
        };
        self.refuse(reason.0, reason.1);
        Some(reason.1)
    }

    /// Binds a UDP socket to `port` (0 picks a free ephemeral port).
    pub fn udp_bind(&mut self, port: u16) -> Result<SocketHandle, BindError> {
        let port = if port == 0 {
            self.ephemeral_port(|s, p| !s.sockets.is_taken(Kind::Udp { port: p }))
                .ok_or(BindError::NoFreePort)?
        } else {
            port
        };
        self.sockets.open(Kind::Udp { port })
    }

    /// The local port of a UDP socket.
    pub fn udp_local_port(&self, h: SocketHandle) -> Option<u16> {
        match self.sockets.get(h)?.kind {
            Kind::Udp { port } => Some(port),
            Kind::Echo { .. } | Kind::Raw => None,
        }
    }

    /// Queues one UDP datagram to `dst`.
    pub fn udp_send_to(
        &mut self,
        h: SocketHandle,
        payload: &[u8],
        dst: impl Into<SocketAddr>,
    ) -> Result<(), SendError> {
        let dst: SocketAddr = dst.into();
        let s = self.sockets.get(h).ok_or(SendError::InvalidHandle)?;
        let Kind::Udp { port } = s.kind else {
            return Err(SendError::InvalidHandle);
        };
        let (df, ttl) = (s.dont_fragment, s.ttl);
        if dst.ip().is_unspecified() || dst.port() == 0 {
            return Err(SendError::BadDestination);
        }
        let src = self.local_ip(dst.ip()).ok_or(SendError::BadDestination)?;
        let len = udp::HEADER_LEN + payload.len();
        self.check_queue(dst.ip(), len, df)
            .inspect_err(|e| self.note_refused(h, e))?;
        let mut buf = self.pool.take_zeroed(len);
        udp::emit(&mut buf, src, dst.ip(), port, dst.port(), payload);
        let ports = (u32::from(port) << 16) | u32::from(dst.port());
        self.queue_from_socket(dst.ip(), proto::UDP, (df, ttl), ports, buf)
            .inspect_err(|e| self.note_refused(h, e))?;
        self.stats.udp_tx_datagrams += 1;
        Ok(())
    }

    /// Receives one UDP datagram into `buf` (truncating, like `recv`), returning the datagram's
    /// full length and its source. A pending ICMP error is reported first, once; on a socket
    /// with [`Stack::udp_set_recv_errors`] every error comes in order with the datagrams.
    pub fn udp_recv_from(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), RecvError> {
        let s = self.sockets.get_mut(h).ok_or(RecvError::InvalidHandle)?;
        if !matches!(s.kind, Kind::Udp { .. }) {
            return Err(RecvError::InvalidHandle);
        }
        if let Some(e) = s.error.take() {
            return Err(RecvError::Icmp(e));
        }
        match self.sockets.pop(h) {
            Some(Queued::Udp { from, data }) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                let len = data.len();
                self.pool.give(data);
                Ok((len, from))
            }
            Some(Queued::UdpError { error }) => Err(RecvError::Icmp(error)),
            Some(_) | None => Err(RecvError::WouldBlock),
        }
    }

    /// Queues every ICMP error about this socket's datagrams in order with the datagrams (true),
    /// instead of keeping only the latest unread one (false, the default) — Linux's
    /// `IP_RECVERR`. A traceroute with several probes out needs each answer. Errors count
    /// against `Config::socket_rx_queue_datagrams`; past it they are dropped and counted.
    pub fn udp_set_recv_errors(&mut self, h: SocketHandle, on: bool) -> Result<(), SendError> {
        let s = self.sockets.get_mut(h).ok_or(SendError::InvalidHandle)?;
        if !matches!(s.kind, Kind::Udp { .. }) {
            return Err(SendError::InvalidHandle);
        }
        s.recv_errors = on;
        Ok(())
    }

    /// The largest UDP payload that fits one datagram (65535 − 20 − 8).
    pub const MAX_UDP_PAYLOAD: usize = MAX_DATAGRAM - HEADER_LEN - udp::HEADER_LEN;
}
