//! `setsockopt` / `getsockopt` for what ustack has; everything else is ENOPROTOOPT.
//!
//! Buffer sizes are per stack in ustack (`Config::tcp_rx_buffer` / `tcp_tx_buffer`, set with
//! `--so_flags=rcvbuf=..,sndbuf=..`): SO_RCVBUF / SO_SNDBUF report them, and setting them is
//! accepted without effect (docs/CONFORMANCE.md lists this difference).

use crate::shim::{Endpoint, Errno, Shim};
use libc::{EINVAL, ENOPROTOOPT};
use ustack::tcp::{State, TcpInfo};
use ustack::Duration;

/// `TCP_CC_INFO` (linux/tcp.h).
const TCP_CC_INFO: i32 = 26;
/// `SO_MEMINFO` (asm-generic/socket.h).
const SO_MEMINFO: i32 = 55;

fn int_arg(val: &[u8]) -> Result<i32, Errno> {
    let b: [u8; 4] = val.get(..4).and_then(|s| s.try_into().ok()).ok_or(EINVAL)?;
    Ok(i32::from_ne_bytes(b))
}

fn int(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// Linux's `TCP_*` state numbers (include/net/tcp_states.h).
fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

fn put32(b: &mut [u8], at: usize, v: u64) {
    let v = u32::try_from(v).unwrap_or(u32::MAX);
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Bytes of `struct tcp_info` returned: more than any Linux version's struct (280 bytes in
/// 6.x), zero beyond the fields filled; the caller's `optlen` truncates it as the kernel does.
pub const TCP_INFO_LEN: usize = 512;

/// Linux's `struct tcp_info` (include/uapi/linux/tcp.h) for the fields ustack tracks; the rest
/// are zero. Counts Linux gives in segments (cwnd, ssthresh, unacked) are bytes / MSS here.
pub fn linux_tcp_info(i: &TcpInfo) -> Vec<u8> {
    let mut b = vec![0u8; TCP_INFO_LEN];
    let mss = i.smss.max(1) as u64;
    let us = |d: Option<Duration>| d.map_or(0, Duration::total_micros);
    b[0] = linux_state(i.state);
    b[2] = u8::try_from(i.stats.timeouts).unwrap_or(u8::MAX); // tcpi_retransmits
    put32(&mut b, 8, i.rto.total_micros()); // tcpi_rto
    put32(&mut b, 16, i.snd_mss as u64); // tcpi_snd_mss: the MSS less the timestamps, as Linux
    put32(&mut b, 24, (i.bytes_in_flight as u64).div_ceil(mss)); // tcpi_unacked
    put32(&mut b, 68, us(i.srtt)); // tcpi_rtt
    put32(&mut b, 72, us(i.rttvar)); // tcpi_rttvar
    put32(&mut b, 76, (i.ssthresh as u64) / mss); // tcpi_snd_ssthresh
    put32(&mut b, 80, (i.cwnd as u64) / mss); // tcpi_snd_cwnd
    put32(&mut b, 100, i.stats.retransmits); // tcpi_total_retrans
    put64(&mut b, 120, i.stats.bytes_acked); // tcpi_bytes_acked
    put64(&mut b, 128, i.stats.bytes_received); // tcpi_bytes_received
    put32(&mut b, 136, i.stats.segs_out); // tcpi_segs_out
    put32(&mut b, 140, i.stats.segs_in); // tcpi_segs_in
    put32(
        &mut b,
        144,
        i.send_queue.saturating_sub(i.bytes_in_flight) as u64,
    ); // notsent
    put32(&mut b, 228, i.snd_wnd as u64); // tcpi_snd_wnd
    put32(&mut b, 232, i.rcv_wnd as u64); // tcpi_rcv_wnd
    b
}

impl Shim {
    /// `setsockopt`.
    pub fn setsockopt(&mut self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        let conn = match self.fd(fd)?.endpoint {
            Endpoint::Conn(c) => Some(c),
            _ => None,
        };
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
                self.fd_mut(fd)?.options.reuseaddr = int_arg(val)? != 0;
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF | libc::SO_SNDBUF) => {
                int_arg(val)?;
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let on = int_arg(val)?;
                let secs = int_arg(val.get(4..).ok_or(EINVAL)?)?;
                self.fd_mut(fd)?.options.linger = (on != 0).then_some(secs);
            }
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
                let on = int_arg(val)? != 0;
                self.fd_mut(fd)?.options.keepalive = on;
                self.apply_keepalive(fd)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
                let secs = int_arg(val)?;
                if secs < 1 {
                    return Err(EINVAL);
                }
                self.fd_mut(fd)?.options.keepidle = Some(secs);
                self.apply_keepalive(fd)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
                let on = int_arg(val)? != 0;
                self.fd_mut(fd)?.options.nodelay = on;
                if let Some(c) = conn {
                    let _ = self.stack.tcp_set_nodelay(c, on);
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
                let ms = u32::try_from(int_arg(val)?).map_err(|_| EINVAL)?;
                self.fd_mut(fd)?.options.user_timeout_ms = ms;
                self.apply_conn_options(fd)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                let name = String::from_utf8_lossy(val);
                let name = name.trim_end_matches('\0');
                // Only the stack-wide algorithm is available per socket.
                let have = self.stack.config().tcp_congestion;
                let want = match name {
                    "reno" | "newreno" => ustack::tcp::congestion::Algorithm::NewReno,
                    "cubic" => ustack::tcp::congestion::Algorithm::Cubic,
                    _ => return Err(libc::ENOENT),
                };
                if want != have {
                    return Err(ENOPROTOOPT);
                }
            }
            _ => return Err(ENOPROTOOPT),
        }
        self.drain();
        Ok(())
    }

    /// Applies the per-socket options ustack has per connection (once there is one: options
    /// set before `connect`/`accept` are applied when the connection appears).
    pub fn apply_conn_options(&mut self, fd: i32) -> Result<(), Errno> {
        let f = self.fd(fd)?;
        let Endpoint::Conn(c) = f.endpoint else {
            return Ok(());
        };
        let (nodelay, ut) = (f.options.nodelay, f.options.user_timeout_ms);
        let timeout = (ut > 0).then(|| Duration::from_millis(u64::from(ut)));
        let _ = self.stack.tcp_set_nodelay(c, nodelay);
        let _ = self.stack.tcp_set_user_timeout(c, timeout);
        self.apply_keepalive(fd)
    }

    fn apply_keepalive(&mut self, fd: i32) -> Result<(), Errno> {
        let f = self.fd(fd)?;
        let Endpoint::Conn(c) = f.endpoint else {
            return Ok(());
        };
        let idle = f.options.keepalive.then(|| {
            let secs = f.options.keepidle.unwrap_or(7200);
            Duration::from_secs(u64::try_from(secs).unwrap_or(7200))
        });
        self.stack
            .tcp_set_keepalive(c, idle)
            .map_err(crate::sockets::errno_of)
    }

    /// `getsockopt`: the option's bytes.
    pub fn getsockopt(&mut self, fd: i32, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let f = self.fd(fd)?;
        let conn = match f.endpoint {
            Endpoint::Conn(c) => Some(c),
            _ => None,
        };
        let cfg = self.stack.config();
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => int(f.options.reuseaddr as i32),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int(cfg.tcp_rx_buffer as i32),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(cfg.tcp_tx_buffer as i32),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => int(f.options.keepalive as i32),
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(libc::SOCK_STREAM),
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let (on, secs) = f.options.linger.map_or((0, 0), |s| (1, s));
                [int(on), int(secs)].concat()
            }
            (libc::SOL_SOCKET, libc::SO_ERROR) => int(self.take_error(fd).unwrap_or(0)),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => int(f.options.nodelay as i32),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => int(f.options.keepidle.unwrap_or(7200)),
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => int(f.options.user_timeout_ms as i32),
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                let mss = conn.and_then(|c| self.stack.tcp_info(c)).map(|i| i.smss);
                int(mss.unwrap_or(usize::from(cfg.mtu) - 40) as i32)
            }
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                let name = match cfg.tcp_congestion {
                    ustack::tcp::congestion::Algorithm::NewReno => "reno",
                    ustack::tcp::congestion::Algorithm::Cubic => "cubic",
                };
                let mut v = name.as_bytes().to_vec();
                v.resize(16, 0);
                v
            }
            // Linux answers with 0 bytes for algorithms without extra info (Reno, CUBIC).
            (libc::IPPROTO_TCP, TCP_CC_INFO) => Vec::new(),
            (libc::SOL_SOCKET, SO_MEMINFO) => {
                let info = conn.and_then(|c| self.stack.tcp_info(c));
                let (rq, sq) = info.map_or((0, 0), |i| (i.recv_queue, i.send_queue));
                // SK_MEMINFO_{RMEM_ALLOC, RCVBUF, WMEM_ALLOC, SNDBUF, FWD_ALLOC, WMEM_QUEUED,
                // OPTMEM, BACKLOG, DROPS, ...}: what ustack tracks, the rest zero.
                let vars = [
                    rq,
                    cfg.tcp_rx_buffer,
                    sq,
                    cfg.tcp_tx_buffer,
                    0,
                    sq,
                    0,
                    0,
                    0,
                    0,
                ];
                vars.iter().flat_map(|v| int(*v as i32)).collect()
            }
            (libc::IPPROTO_TCP, libc::TCP_INFO) => {
                let c = conn.ok_or(ENOPROTOOPT)?;
                let info = self.stack.tcp_info(c).ok_or(libc::ENOTCONN)?;
                linux_tcp_info(&info)
            }
            _ => return Err(ENOPROTOOPT),
        })
    }
}
