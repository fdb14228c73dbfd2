//! One-connection modes: bulk push into discard, bulk pull from chargen, request/response on
//! echo; and the socket helpers the other modes share.

use crate::{Common, Done, Outcome};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use ustack_apps::services::classic::chargen_cycle;
use ustack_tests::bench::{percentile, Better, Metric};

/// Bytes per read or write call of the bulk modes.
const CHUNK: usize = 256 << 10;

/// Connects with a timeout and sets read and write timeouts; the error names the address.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

/// SO_LINGER with a zero timeout: closing the socket sends RST and leaves no TIME-WAIT.
pub fn set_linger_zero(s: &TcpStream) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid fd and a pointer to a correctly sized `linger` for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A socket error with what was being done, and a hint when it is a timeout.
pub fn fail(what: &str, e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("{what}: timed out ({e})"),
        _ => format!("{what}: {e}"),
    }
}

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e9
}

/// Reads until the peer's FIN; any data is an error (discard and echo-after-EOF send nothing).
fn expect_eof(s: &mut TcpStream, what: &str) -> Result<(), String> {
    let mut sink = [0u8; 4096];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(n) => return Err(format!("{what}: server sent {n} unexpected bytes")),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(&format!("{what}: waiting for the server's FIN"), &e)),
        }
    }
}

pub fn push_metrics() -> Vec<Metric> {
    vec![Metric::new(
        "push_gbps",
        "kernel → stack bulk (push into discard), Gbit/s",
        Better::Higher,
    )]
}

pub fn push(c: &Common, port: u16, max_bytes: u64) -> Outcome {
    let addr = SocketAddr::from((c.addr, port));
    let mut s = connect(addr, c.timeout()).map_err(|e| fail(&format!("connect {addr}"), &e))?;
    let buf = vec![0u8; CHUNK];
    let t0 = Instant::now();
    let until = t0 + c.duration();
    let mut sent = 0u64;
    while sent < max_bytes && Instant::now() < until {
        let want = (max_bytes - sent).min(CHUNK as u64) as usize;
        match s.write(&buf[..want]) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(&format!("write after {sent} bytes"), &e)),
        }
    }
    s.shutdown(Shutdown::Write)
        .map_err(|e| fail("shutdown", &e))?;
    // The discard server closes after reading our FIN: its FIN means every byte reached it.
    expect_eof(&mut s, "push")?;
    let secs = t0.elapsed().as_secs_f64();
    let detail = format!("{sent} bytes in {secs:.2} s, server's FIN after the last byte");
    Ok(Done {
        values: vec![gbps(sent, secs)],
        detail,
        work: sent as f64 / 1e9,
    })
}

pub fn pull_metrics() -> Vec<Metric> {
    vec![Metric::new(
        "pull_gbps",
        "stack → kernel bulk (pull from chargen), Gbit/s",
        Better::Higher,
    )]
}

/// Compares a chunk with the chargen stream at `pos` (an offset into one cycle); advances it.
fn check_chargen(doubled: &[u8], cycle_len: usize, pos: &mut usize, mut chunk: &[u8]) -> bool {
    while !chunk.is_empty() {
        let n = chunk.len().min(cycle_len);
        if chunk[..n] != doubled[*pos..*pos + n] {
            return false;
        }
        *pos = (*pos + n) % cycle_len;
        chunk = &chunk[n..];
    }
    true
}

pub fn pull(c: &Common, port: u16, max_bytes: u64, verify: bool) -> Outcome {
    let addr = SocketAddr::from((c.addr, port));
    let mut s = connect(addr, c.timeout()).map_err(|e| fail(&format!("connect {addr}"), &e))?;
    let cycle = chargen_cycle();
    let doubled = [cycle.as_slice(), cycle.as_slice()].concat();
    let mut pos = 0usize;
    let mut buf = vec![0u8; CHUNK];
    let t0 = Instant::now();
    let until = t0 + c.duration();
    let mut got = 0u64;
    while got < max_bytes && Instant::now() < until {
        let want = (max_bytes - got).min(CHUNK as u64) as usize;
        let n = match s.read(&mut buf[..want]) {
            Ok(0) => return Err(format!("server closed after {got} bytes")),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(&format!("read after {got} bytes"), &e)),
        };
        if verify && !check_chargen(&doubled, cycle.len(), &mut pos, &buf[..n]) {
            return Err(format!(
                "byte stream differs from chargen's within bytes {got}..{}",
                got + n as u64
            ));
        }
        got += n as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    // Reset rather than FIN: chargen would go on sending into a closed socket anyway.
    let _ = set_linger_zero(&s);
    let checked = if verify {
        "each one checked against the chargen stream"
    } else {
        "not checked"
    };
    let detail = format!("{got} bytes in {secs:.2} s, {checked}");
    Ok(Done {
        values: vec![gbps(got, secs)],
        detail,
        work: got as f64 / 1e9,
    })
}

pub fn rr_metrics(size: usize) -> Vec<Metric> {
    let l = |what: &str| format!("{size} B request/response on echo, {what}");
    vec![
        Metric::new("rr_rate", l("round trips/s"), Better::Higher),
        Metric::new("rr_p50_us", l("p50 latency, µs"), Better::Lower),
        Metric::new("rr_p99_us", l("p99 latency, µs"), Better::Lower),
    ]
}

pub fn rr(c: &Common, port: u16, size: usize) -> Outcome {
    if size < 8 {
        return Err("--size must be at least 8 (the request carries its number)".into());
    }
    let addr = SocketAddr::from((c.addr, port));
    let mut s = connect(addr, c.timeout()).map_err(|e| fail(&format!("connect {addr}"), &e))?;
    s.set_nodelay(true).map_err(|e| fail("nodelay", &e))?;
    let mut req: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut resp = vec![0u8; size];
    let mut lat_us: Vec<f64> = Vec::new();
    let t0 = Instant::now();
    let until = t0 + c.duration();
    let mut n = 0u64;
    while Instant::now() < until {
        req[..8].copy_from_slice(&n.to_be_bytes());
        let t = Instant::now();
        s.write_all(&req)
            .map_err(|e| fail(&format!("request {n}: write"), &e))?;
        s.read_exact(&mut resp)
            .map_err(|e| fail(&format!("request {n}: read"), &e))?;
        lat_us.push(t.elapsed().as_secs_f64() * 1e6);
        if resp != req {
            return Err(format!("request {n}: the echo differs from the request"));
        }
        n += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    s.shutdown(Shutdown::Write)
        .map_err(|e| fail("shutdown", &e))?;
    expect_eof(&mut s, "rr")?;
    if n == 0 {
        return Err("no request completed".into());
    }
    lat_us.sort_by(f64::total_cmp);
    let p = |q| percentile(&lat_us, q).unwrap_or(f64::NAN);
    let detail = format!("{n} round trips in {secs:.2} s, each echo checked");
    Ok(Done {
        values: vec![n as f64 / secs, p(50.0), p(99.0)],
        detail,
        work: n as f64,
    })
}

/// Tries to connect until it works or `timeout` passes.
pub fn wait(addr: Ipv4Addr, port: u16, timeout: Duration) -> Result<(), String> {
    let sa = SocketAddr::from((addr, port));
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(&sa, left.clamp(Duration::from_millis(10), timeout)) {
            Ok(s) => {
                let _ = set_linger_zero(&s);
                return Ok(());
            }
            Err(e) if Instant::now() >= until => {
                return Err(format!("{sa} did not accept within {timeout:?}: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargen_check_follows_the_stream_across_chunks() {
        let cycle = chargen_cycle();
        let doubled = [cycle.as_slice(), cycle.as_slice()].concat();
        let stream: Vec<u8> = cycle
            .iter()
            .cycle()
            .take(3 * cycle.len() + 100)
            .copied()
            .collect();
        let mut pos = 0;
        for chunk in stream.chunks(1000) {
            assert!(check_chargen(&doubled, cycle.len(), &mut pos, chunk));
        }
        let mut bad = stream.clone();
        bad[cycle.len() + 5] ^= 1;
        let mut pos = 0;
        assert!(!bad
            .chunks(777)
            .all(|ch| check_chargen(&doubled, cycle.len(), &mut pos, ch)));
    }
}
