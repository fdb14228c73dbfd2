//! The ICMP echo socket API of [`Stack`] (ping out of the stack; RFC 792, RFC 1122 §3.2.2.6).

use super::Stack;
use crate::socket::{BindError, EchoEvent, Kind, Queued, RecvError, SendError, SocketHandle};
use crate::wire::proto;
use crate::wire::{icmp, icmpv6};
use std::net::IpAddr;

impl Stack {
    /// Opens an ICMP echo socket with identifier `ident` (None picks a free one).
    pub fn echo_open(&mut self, ident: Option<u16>) -> Result<SocketHandle, BindError> {
        let ident = match ident {
            Some(i) => i,
            None => self
                .ephemeral_port(|s, i| !s.sockets.is_taken(Kind::Echo { ident: i }))
                .ok_or(BindError::NoFreePort)?,
        };
        self.sockets.open(Kind::Echo { ident })
    }

    /// The identifier of an echo socket.
    pub fn echo_ident(&self, h: SocketHandle) -> Option<u16> {
        match self.sockets.get(h)?.kind {
            Kind::Echo { ident } => Some(ident),
            Kind::Udp { .. } | Kind::Raw => None,
        }
    }

    /// Queues an echo request to `dst` with sequence `seq` and `data`.
    ///
    /// To an IPv6 destination this is an ICMPv6 echo request (RFC 4443 §4.1) from
    /// `Config::addr6` (`BadDestination` without one); replies and errors of both families
    /// come back on the same socket.
    pub fn echo_send(
        &mut self,
        h: SocketHandle,
        dst: impl Into<IpAddr>,
        seq: u16,
        data: &[u8],
    ) -> Result<(), SendError> {
        let dst: IpAddr = dst.into();
        let s = self.sockets.get(h).ok_or(SendError::InvalidHandle)?;
        let Kind::Echo { ident } = s.kind else {
            return Err(SendError::InvalidHandle);
        };
        let (df, ttl) = (s.dont_fragment, s.ttl);
        if dst.is_unspecified() {
            return Err(SendError::BadDestination);
        }
        let src = self.local_ip(dst).ok_or(SendError::BadDestination)?;
        let len = icmp::HEADER_LEN + data.len();
        self.check_queue(dst, len, df)
            .inspect_err(|e| self.note_refused(h, e))?;
        let mut buf = self.pool.take_zeroed(len);
        let protocol = match (src, dst) {
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let request = icmpv6::types::ECHO_REQUEST;
                icmpv6::emit_echo(&mut buf, (src, dst), request, (ident, seq), data);
                proto::ICMPV6
            }
            _ => {
                icmp::emit_echo(&mut buf, false, ident, seq, data);
                proto::ICMP
            }
        };
        self.queue_from_socket(dst, protocol, (df, ttl), 0, buf)
            .inspect_err(|e| self.note_refused(h, e))?;
        self.stats.icmp_echo_sent += 1;
        Ok(())
    }

    /// Receives the next reply (its data copied into `buf`, truncated) or error on an echo socket.
    pub fn echo_recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<EchoEvent, RecvError> {
        match self.sockets.get(h).map(|s| s.kind) {
            Some(Kind::Echo { .. }) => {}
            _ => return Err(RecvError::InvalidHandle),
        }
        match self.sockets.pop(h) {
            Some(Queued::Echo {
                from,
                seq,
                ttl,
                data,
            }) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                let len = data.len();
                self.pool.give(data);
                Ok(EchoEvent::Reply {
                    from,
                    seq,
                    ttl,
                    len,
                })
            }
            Some(Queued::EchoError { error, seq }) => Ok(EchoEvent::Error { error, seq }),
            Some(Queued::Udp { .. } | Queued::UdpError { .. } | Queued::Raw { .. }) | None => {
                Err(RecvError::WouldBlock)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Instant, Stack};
    use std::net::Ipv4Addr;

    #[test]
    fn a_socket_ttl_replaces_the_configured_one() {
        let mut s = Stack::new(Config::default(), Instant::ZERO).unwrap();
        let h = s.echo_open(None).unwrap();
        let dst = Ipv4Addr::new(198, 18, 0, 1);
        let mut buf = [0u8; 1500];
        let mut ttl_of_next = |s: &mut Stack| {
            s.echo_send(h, dst, 1, b"x").unwrap();
            let n = s.poll_transmit(Instant::ZERO, &mut buf).unwrap();
            assert!(n > 20);
            buf[8]
        };
        assert_eq!(ttl_of_next(&mut s), Config::default().ttl);
        // TTL 0 cannot be asked for: `set_ttl` takes a NonZeroU8 (RFC 1122 §3.2.1.7).
        s.set_ttl(h, std::num::NonZeroU8::new(3)).unwrap();
        assert_eq!(ttl_of_next(&mut s), 3);
        s.set_ttl(h, None).unwrap();
        assert_eq!(ttl_of_next(&mut s), Config::default().ttl);
    }
}
