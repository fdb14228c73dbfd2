//! The socket table of [`Stack`] as `ss` lists it: TCP listeners and UDP sockets (connections
//! are [`Stack::tcp_connections`]). For diagnostics, not per packet: each call is O(sockets).

use super::Stack;
use crate::socket::UdpSocketInfo;
use crate::tcp::ListenerInfo;

impl Stack {
    /// Every TCP listener with its backlog and accept queue.
    pub fn tcp_listeners(&self) -> impl Iterator<Item = ListenerInfo> + '_ {
        self.tcp.listener_infos()
    }

    /// Every bound UDP socket with its receive queue.
    pub fn udp_sockets(&self) -> impl Iterator<Item = UdpSocketInfo> + '_ {
        self.sockets.udp_infos()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Instant, Stack};

    #[test]
    fn lists_listeners_and_udp_sockets() {
        let mut s = Stack::new(Config::default(), Instant::ZERO).unwrap();
        assert_eq!(s.tcp_listeners().count(), 0);
        s.tcp_listen(80, 5).unwrap();
        s.udp_bind(7).unwrap();
        let l: Vec<_> = s.tcp_listeners().collect();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].port, l[0].backlog, l[0].queued), (80, 5, 0));
        let u: Vec<_> = s.udp_sockets().collect();
        assert_eq!(u.len(), 1);
        assert_eq!(
            (u[0].port, u[0].queued_datagrams, u[0].queued_bytes),
            (7, 0, 0)
        );
    }
}
