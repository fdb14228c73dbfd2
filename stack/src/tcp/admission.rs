//! Whether a new passive connection gets a slot (issue 16, finding 4): the connection table and
//! each remote address's share of it.
//!
//! A SYN cookie (RFC 4987 §3.6) lets the stack answer a SYN without state, but the connection
//! still needs a slot when the final ACK comes. So a cookie is only sent while the *half-open*
//! queue is full and the table has room; when the table itself is full, or the source already
//! holds `Config::tcp_max_per_source` connections, the SYN (or a cookie's ACK that arrives after
//! the table filled) is refused at once: with an RST when `Config::tcp_abort_on_overflow` is
//! on (the default), so the client fails fast instead of believing it is connected, or with
//! no answer (the client retransmits its SYN and gives up after its retries).

use super::TcpLayer;
use crate::config::Config;
use crate::stats::DropReason;
use crate::wire::tcp::TcpSegment;
use std::net::{IpAddr, SocketAddr};

impl TcpLayer {
    /// Why a new passive connection from `src` cannot have a slot now, if it cannot.
    pub(super) fn no_room_for(&self, cfg: &Config, src: IpAddr) -> Option<DropReason> {
        if self.open >= cfg.tcp_max_connections {
            Some(DropReason::TcpTooManyConnections)
        } else if self.per_source.get(&source_key(src)).copied().unwrap_or(0) as usize
            >= cfg.tcp_max_per_source
        {
            Some(DropReason::TcpSourceLimit)
        } else {
            None
        }
    }

    /// Refuses a segment that would open a connection there is no room for (see the module
    /// docs): an RST unless `tcp_abort_on_overflow` is off. Returns the reason to count.
    pub(super) fn refuse_overflow(
        &mut self,
        cfg: &Config,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpSegment<'_>,
        reason: DropReason,
    ) -> DropReason {
        if cfg.tcp_abort_on_overflow {
            self.reset_for(local, remote, seg);
        }
        reason
    }

    /// A passive connection from `src` took a slot.
    pub(super) fn source_opened(&mut self, src: IpAddr) {
        *self.per_source.entry(source_key(src)).or_insert(0) += 1;
    }

    /// A passive connection from `src` gave its slot back.
    pub(super) fn source_closed(&mut self, src: IpAddr) {
        let key = source_key(src);
        if let Some(n) = self.per_source.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&key);
            }
        }
    }
}

/// What `Config::tcp_max_per_source` counts per: an IPv4 address, or an IPv6 address's /64 —
/// one end site's subnet (RFC 6177), since any host holds a /64 and can source from all of it
/// (as Linux's per-prefix limits do; counting single IPv6 addresses would limit nothing).
pub(super) fn source_key(src: IpAddr) -> IpAddr {
    match src {
        IpAddr::V4(_) => src,
        IpAddr::V6(a) => {
            let s = a.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}
