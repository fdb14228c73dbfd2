//! ICMP echo: RTT of spaced pings, and the flood rate (a new request as soon as a reply is back).
//!
//! A raw socket of our own rather than iputils `ping`: `ping` reports only min/avg/max/mdev (no
//! p50/p99), its flood mode prints per packet and paces itself on its own rules, and its output
//! would need parsing. The raw socket needs root, which the benchmark has; in the benchmark's
//! namespace nobody else sends echo requests, and replies are matched by identifier, sequence
//! and payload.

use crate::{Common, Done, Outcome};
use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};
use ustack_tests::bench::{percentile, Better, Metric};

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: type 8, code 0, identifier, sequence, payload.
fn echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The sequence number of an IPv4 datagram if it is a valid echo reply to `id` with `payload`.
fn parse_reply(pkt: &[u8], id: u16, payload: &[u8]) -> Option<u16> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    let icmp = pkt.get(ihl..)?;
    if icmp.len() < 8 || icmp[0] != 0 || icmp[1] != 0 || checksum(icmp) != 0 {
        return None;
    }
    let got_id = u16::from_be_bytes([icmp[4], icmp[5]]);
    (got_id == id && &icmp[8..] == payload).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

struct RawIcmp {
    fd: OwnedFd,
    dst: libc::sockaddr_in,
}

impl RawIcmp {
    fn open(dst: Ipv4Addr, recv_timeout: Duration) -> io::Result<RawIcmp> {
        // SAFETY: plain socket(2); the fd is owned from here on.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: recv_timeout.as_secs() as libc::time_t,
            tv_usec: recv_timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: valid fd, pointer to a timeval of the size given.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let dst = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        Ok(RawIcmp { fd, dst })
    }

    fn send(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: valid fd; buffer and address pointers with their lengths.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&self.dst as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// One datagram (IP header included); WouldBlock when the receive timeout passes.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: valid fd and a writable buffer of the given length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + 3) as u8).collect()
}

fn ident() -> u16 {
    (std::process::id() & 0xffff) as u16
}

fn open(c: &Common, recv_timeout: Duration) -> Result<RawIcmp, String> {
    RawIcmp::open(c.addr, recv_timeout).map_err(|e| format!("raw ICMP socket (root needed): {e}"))
}

pub fn ping_metrics(size: usize, interval: Duration) -> Vec<Metric> {
    let ms = interval.as_millis();
    let l = |q: &str| format!("ping RTT {q} ({size} B payload, {ms} ms apart), µs");
    vec![
        Metric::new("ping_p50_us", l("p50"), Better::Lower),
        Metric::new("ping_p99_us", l("p99"), Better::Lower),
    ]
}

/// Waits for the reply to `seq` until `until`; false if it did not come.
fn await_reply(
    sock: &RawIcmp,
    id: u16,
    seq: u16,
    data: &[u8],
    until: Instant,
) -> Result<bool, String> {
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        match sock.recv(&mut buf) {
            Ok(n) if parse_reply(&buf[..n], id, data) == Some(seq) => return Ok(true),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    Ok(false)
}

pub fn ping(c: &Common, count: usize, interval: Duration, size: usize) -> Outcome {
    let sock = open(c, Duration::from_millis(50))?;
    let (id, data) = (ident(), payload(size));
    let mut rtt_us = Vec::with_capacity(count);
    let mut lost = 0usize;
    for i in 0..count {
        let seq = i as u16;
        let t = Instant::now();
        sock.send(&echo_request(id, seq, &data))
            .map_err(|e| format!("send: {e}"))?;
        if await_reply(&sock, id, seq, &data, t + c.timeout())? {
            rtt_us.push(t.elapsed().as_secs_f64() * 1e6);
        } else {
            lost += 1;
            if lost > count / 10 + 2 {
                return Err(format!("{lost} of {} pings unanswered", i + 1));
            }
        }
        std::thread::sleep(interval);
    }
    if rtt_us.is_empty() {
        return Err("no reply".into());
    }
    rtt_us.sort_by(f64::total_cmp);
    let p = |q| percentile(&rtt_us, q).unwrap_or(f64::NAN);
    let detail = format!(
        "{} of {count} replied ({lost} lost), payload checked",
        rtt_us.len()
    );
    Ok(Done {
        values: vec![p(50.0), p(99.0)],
        detail,
        work: rtt_us.len() as f64,
    })
}

pub fn flood_metrics(window: usize, size: usize) -> Vec<Metric> {
    vec![Metric::new(
        "flood_rate",
        format!("flood ping, {window} outstanding ({size} B payload), replies/s"),
        Better::Higher,
    )]
}

pub fn flood(c: &Common, window: usize, size: usize) -> Outcome {
    let sock = open(c, Duration::from_millis(20))?;
    let (id, data) = (ident(), payload(size));
    let mut outstanding: HashMap<u16, Instant> = HashMap::new();
    let (mut seq, mut replies, mut lost) = (0u16, 0u64, 0u64);
    let mut buf = [0u8; 65536];
    let t0 = Instant::now();
    let until = t0 + c.duration();
    let mut last_reply = t0;
    // A request without a reply for this long counts as lost and frees its window slot.
    let give_up = Duration::from_millis(500);
    while Instant::now() < until {
        while outstanding.len() < window.max(1) {
            sock.send(&echo_request(id, seq, &data))
                .map_err(|e| format!("send: {e}"))?;
            outstanding.insert(seq, Instant::now());
            seq = seq.wrapping_add(1);
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                if let Some(s) = parse_reply(&buf[..n], id, &data) {
                    if outstanding.remove(&s).is_some() {
                        replies += 1;
                        last_reply = Instant::now();
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                let now = Instant::now();
                let before = outstanding.len();
                outstanding.retain(|_, sent| now.duration_since(*sent) < give_up);
                lost += (before - outstanding.len()) as u64;
                if now.duration_since(last_reply) > c.timeout() {
                    return Err(format!(
                        "no reply for {:?} ({replies} replies, {lost} lost)",
                        c.timeout()
                    ));
                }
            }
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let detail = format!(
        "{replies} replies in {secs:.2} s, {lost} requests lost, {} in flight at the end",
        outstanding.len()
    );
    Ok(Done {
        values: vec![replies as f64 / secs],
        detail,
        work: replies as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_checksum_verifies_and_reply_parses() {
        let data = payload(56);
        let req = echo_request(0x1234, 7, &data);
        assert_eq!(checksum(&req), 0);
        // The same bytes as a reply (type 0), behind a 20-byte IP header.
        let mut icmp = req.clone();
        icmp[0] = 0;
        icmp[2..4].copy_from_slice(&[0, 0]);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut pkt = vec![0x45; 1];
        pkt.extend_from_slice(&[0; 19]);
        pkt.extend_from_slice(&icmp);
        assert_eq!(parse_reply(&pkt, 0x1234, &data), Some(7));
        assert_eq!(parse_reply(&pkt, 0x1235, &data), None);
        assert_eq!(parse_reply(&pkt, 0x1234, &payload(55)), None);
        let mut bad = pkt.clone();
        bad[30] ^= 0xff;
        assert_eq!(parse_reply(&bad, 0x1234, &data), None);
    }
}
