//! UDP echo (RFC 862) as a task on the loop: every datagram is sent back to where it came from —
//! except where that would make the stack a reflector (finding 12 of the hardening review):
//!
//! - never to a well-known reflector or amplifier port (echo, discard, daytime, qotd, chargen,
//!   time, DNS, NTP, SNMP, SSDP, memcached, …), so two reflectors cannot be made to ping-pong
//!   through us, and a spoofed source cannot aim us at such a service;
//! - at most [`PER_SOURCE_RATE`] datagrams per second per source address (burst
//!   [`PER_SOURCE_BURST`]), tracked in a fixed table of token buckets indexed by a hash of the
//!   address: bounded memory and O(1) per datagram, whatever the number of sources.
//!
//! Refusals are counted and logged at debug.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::time::Instant;
use tun_bridge::aio::UdpSocket;

/// Source ports never answered: services that answer (or amplify) whatever reaches them.
pub const REFLECTOR_PORTS: [u16; 14] =
    [0, 7, 9, 13, 17, 19, 37, 53, 111, 123, 137, 161, 1900, 11211];

/// Sustained echoes per second to one source address.
pub const PER_SOURCE_RATE: f64 = 1000.0;
/// Burst of echoes one source address may get at once.
pub const PER_SOURCE_BURST: f64 = 1000.0;
/// Token buckets in the table (sources hash into them; a collision shares a bucket).
const BUCKETS: usize = 1024;

/// Counters of the UDP echo service.
#[derive(Debug, Default)]
pub struct EchoCounters {
    /// Datagrams echoed.
    pub echoed: AtomicU64,
    /// Refused: the source port is a reflector's.
    pub refused_reflector: AtomicU64,
    /// Refused: the source went over its rate.
    pub rate_limited: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    owner: IpAddr,
    tokens: f64,
    at: Instant,
}

/// Fixed-size per-source token buckets.
#[derive(Debug)]
pub struct SourceLimiter {
    buckets: Vec<Option<Bucket>>,
    key: u64,
}

impl SourceLimiter {
    /// A limiter whose hash is keyed by `key` (so a sender cannot pick colliding addresses).
    pub fn new(key: u64) -> SourceLimiter {
        SourceLimiter {
            buckets: vec![None; BUCKETS],
            key,
        }
    }

    fn index(&self, ip: IpAddr) -> usize {
        let folded = match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            // An IPv6 sender is limited per /64 (it holds all of it, RFC 6177).
            IpAddr::V6(a) => (u128::from(a) >> 64) as u64,
        };
        let mut x = folded ^ self.key;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        (x % BUCKETS as u64) as usize
    }

    /// Takes one token for `ip` at `now`; false if it has none left.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let i = self.index(ip);
        let b = self.buckets[i].get_or_insert(Bucket {
            owner: ip,
            tokens: PER_SOURCE_BURST,
            at: now,
        });
        if b.owner != ip {
            // Another source had this slot: start afresh (the table forgets, it never grows).
            *b = Bucket {
                owner: ip,
                tokens: PER_SOURCE_BURST,
                at: now,
            };
        }
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * PER_SOURCE_RATE).min(PER_SOURCE_BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether a datagram from `from` may be echoed (the port rule; the rate is separate).
pub fn may_reflect_to(from: SocketAddr) -> bool {
    !REFLECTOR_PORTS.contains(&from.port())
}

/// Serves UDP echo on `sock` until the loop stops.
pub async fn run(sock: UdpSocket, counters: Arc<EchoCounters>, key: u64) {
    let mut buf = vec![0u8; 65536];
    let mut limiter = SourceLimiter::new(key);
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return,
            Err(e) => {
                // An ICMP error about an earlier echo: nothing to do but note it.
                log::debug!("udp echo: {e}");
                continue;
            }
        };
        if !may_reflect_to(from) {
            counters.refused_reflector.fetch_add(1, Ordering::Relaxed);
            log::debug!("udp echo: not reflecting to {from} (a reflector's port)");
            continue;
        }
        if !limiter.allow(from.ip(), Instant::now()) {
            counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            log::debug!("udp echo: {} over its rate", from.ip());
            continue;
        }
        match sock.send_to(&buf[..n], from).await {
            Ok(_) => {
                counters.echoed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => log::debug!("udp echo: reply to {from} failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;

    #[test]
    fn reflector_ports_are_refused() {
        let ip = Ipv4Addr::new(198, 18, 0, 1);
        for port in [7, 19, 53, 123, 0] {
            assert!(
                !may_reflect_to(std::net::SocketAddr::V4(SocketAddrV4::new(ip, port))),
                "{port}"
            );
        }
        assert!(may_reflect_to(std::net::SocketAddr::V4(SocketAddrV4::new(
            ip, 40000
        ))));
    }

    #[test]
    fn one_source_is_limited_to_its_burst_then_its_rate() {
        let mut l = SourceLimiter::new(7);
        let a = Ipv4Addr::new(198, 18, 0, 1);
        let b = Ipv4Addr::new(198, 18, 0, 9);
        let t0 = Instant::now();
        let allowed = (0..5000)
            .filter(|_| l.allow(std::net::IpAddr::V4(a), t0))
            .count();
        assert_eq!(allowed, PER_SOURCE_BURST as usize);
        // Another source is not affected by the first one's flood (unless they collide).
        if l.index(std::net::IpAddr::V4(a)) != l.index(std::net::IpAddr::V4(b)) {
            assert!(l.allow(std::net::IpAddr::V4(b), t0));
        }
        // A second later the first source has earned its rate again.
        let t1 = t0 + Duration::from_secs(1);
        let allowed = (0..5000)
            .filter(|_| l.allow(std::net::IpAddr::V4(a), t1))
            .count();
        assert_eq!(allowed, PER_SOURCE_RATE as usize);
    }
}
