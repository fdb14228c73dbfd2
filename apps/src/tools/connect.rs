//! `ustack connect`: netcat from inside the stack. `HOST PORT` (or `HOST:PORT`) connects, `-l`
//! listens on the stack, `-u` uses UDP, `-z` only probes. It attaches to the stack running on
//! `--tun` (the socket lives in that daemon, relayed over the control socket), or brings up its
//! own only when none runs. stdin goes to the peer, the peer to stdout; at the end of stdin it
//! half-closes (FIN) and keeps reading until the peer closes.
//!
//! As netcat (OpenBSD's, Debian's `netcat-openbsd`): failures are said only with `-v`; `-z`
//! takes port lists and ranges (`20-23,80`) and exits 0 if any port answered, else 1; a
//! command line that cannot work exits 2 with nothing started.

use crate::daemon::client::error_of;
use crate::daemon::proto::{
    frame, unframe, Body, ConnectRequest, ErrorCode, Framed, Request, Transport,
};
use crate::tools::net::{NetArgs, Session};
use clap::Args;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

/// Options of `ustack connect` (netcat's letters).
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Where to connect: HOST PORT or HOST:PORT (with -l: [ADDR] PORT to listen on).
    #[arg(value_name = "HOST[:PORT]")]
    target: String,
    /// The port, if not in HOST:PORT; with -z a list of ports and ranges, e.g. 20-23,80.
    #[arg(value_name = "PORT")]
    port: Option<String>,
    /// Listen on the stack for one peer instead of connecting.
    #[arg(short = 'l', long = "listen")]
    listen: bool,
    /// UDP instead of TCP.
    #[arg(short = 'u', long = "udp")]
    udp: bool,
    /// Only see whether the port answers; send nothing.
    #[arg(short = 'z')]
    probe: bool,
    /// Seconds to wait for the handshake (listening: for the peer; default: forever).
    #[arg(short = 'w', long = "timeout")]
    timeout: Option<f64>,
    /// IPv4 only (netcat's -4): the host must be an IPv4 address.
    #[arg(short = '4', conflicts_with = "v6")]
    v4: bool,
    /// IPv6 only (netcat's -6): the host must be an IPv6 address.
    #[arg(short = '6')]
    v6: bool,
    /// Report the connection and its end on stderr.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// The daemon's replies (listening, connected, error) as JSON lines: on stdout with -z,
    /// else on stderr.
    #[arg(long)]
    json: bool,
    /// The stack to run on (attached by `--tun`, or one of its own).
    #[command(flatten)]
    pub net: NetArgs,
}

fn invalid(m: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, m)
}

impl ConnectArgs {
    /// The host and ports from `HOST PORT`, `HOST:PORT`, or (listening) `PORT`; more than one
    /// port only with `-z`.
    fn targets(&self) -> io::Result<(IpAddr, Vec<u16>)> {
        let t = self.target.as_str();
        let form = || {
            invalid(format!(
                "'{t}': expected HOST PORT, HOST:PORT or [HOST]:PORT with an IPv4 or IPv6 \
                 address (listening: PORT)"
            ))
        };
        // A bare IPv6 address holds colons of its own: it takes its port as a separate word,
        // or in brackets ([2001:2::1]:80), as nc and curl write it.
        let bare6 = t.parse::<std::net::Ipv6Addr>().is_ok();
        let bracketed = t.strip_prefix('[').and_then(|r| r.split_once("]:"));
        let (host, spec) = match (bracketed, t.rsplit_once(':'), self.port.as_deref()) {
            (Some((h, p)), _, None) => (
                h.parse::<std::net::Ipv6Addr>().map_err(|_| form())?.into(),
                p,
            ),
            (None, _, Some(p)) if bare6 => (t.parse().map_err(|_| form())?, p),
            (None, Some((h, p)), None) if !bare6 => (h.parse().map_err(|_| form())?, p),
            (None, None, Some(p)) => (t.parse().map_err(|_| form())?, p),
            (None, None, None) if self.listen => (IpAddr::from([0, 0, 0, 0]), t),
            _ => return Err(form()),
        };
        // netcat's -4/-6: an address of the other family is refused (ustack resolves no names,
        // so there is nothing to choose between). A listener takes both families either way.
        if !(self.listen && host.is_unspecified()) {
            if self.v4 && host.is_ipv6() {
                return Err(invalid(format!("'{t}': not an IPv4 address (-4)")));
            }
            if self.v6 && host.is_ipv4() {
                return Err(invalid(format!("'{t}': not an IPv6 address (-6)")));
            }
        }
        let ports = parse_ports(spec).map_err(invalid)?;
        if ports.len() > 1 && !self.probe {
            return Err(invalid(format!(
                "'{spec}': several ports only with -z (a scan)"
            )));
        }
        Ok((host, ports))
    }

    /// The one address of a connection or a listener.
    fn addr(&self) -> io::Result<SocketAddr> {
        let (host, ports) = self.targets()?;
        Ok(SocketAddr::new(host, ports[0]))
    }

    fn request(&self) -> io::Result<ConnectRequest> {
        let timeout_ms = match self.timeout {
            Some(t) if t.is_finite() && t > 0.0 => (t * 1000.0) as u64,
            Some(_) => return Err(invalid("bad -w value".into())),
            None if self.listen => u64::MAX / 4,
            None => 10_000,
        };
        Ok(ConnectRequest {
            transport: if self.udp {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            addr: self.addr()?,
            listen: self.listen,
            probe: self.probe,
            timeout_ms,
        })
    }
}

/// `N`, `A-B` and comma-separated lists of them, in the order given (as nc: `20-23,80`).
fn parse_ports(spec: &str) -> Result<Vec<u16>, String> {
    let port = |s: &str| match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("'{s}': not a port (1-65535)")),
    };
    let mut out = Vec::new();
    for item in spec.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (port(a)?, port(b)?);
                if a > b {
                    return Err(format!("'{item}': reversed range"));
                }
                out.extend(a..=b);
            }
            None => out.push(port(item)?),
        }
    }
    Ok(out)
}

/// `ustack connect`: a TCP or UDP session from the stack (stdin → peer → stdout), or with `-z`
/// a port scan; exit codes as netcat's.
pub fn run(args: ConnectArgs) -> io::Result<ExitCode> {
    if args.probe {
        return scan(&args);
    }
    let req = args.request()?;
    let proto = if args.udp { "udp" } else { "tcp" };
    let mut session = args.net.attach_or_start()?;
    let id = session.client.send(&Request::Connect(req.clone()))?;
    // Until the relay starts, Ctrl-C half-closes: the daemon gives up the attempt.
    let closer = session.client.closer()?;
    ctrlc::set_handler(move || {
        let _ = closer.shutdown(Shutdown::Both);
    })
    .map_err(io::Error::other)?;
    let dest = req.addr;
    let peer;
    loop {
        let Some(reply) = session.client.next_reply()? else {
            eprintln!("ustack connect: interrupted");
            let _ = session.close();
            return Ok(ExitCode::from(130));
        };
        if reply.id != id && reply.id != 0 {
            continue;
        }
        if args.json {
            // The control replies (listening, connected, error) as JSON: on stdout for a
            // probe, which has no data; on stderr otherwise, beside the data.
            let line = serde_json::to_string(&reply.body).map_err(io::Error::other)?;
            if args.probe {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
        match reply.body {
            Body::Listening(l) if args.verbose => {
                eprintln!("Listening on {} {} ({proto})", l.local.ip(), l.local.port())
            }
            Body::Connected(c) => {
                peer = c.peer;
                if args.verbose && args.listen {
                    eprintln!("Connection received on {} {}", c.peer.ip(), c.peer.port());
                } else if args.verbose {
                    eprintln!(
                        "ustack connect: connected to {} from {} ({proto})",
                        c.peer, c.local
                    );
                }
                break;
            }
            Body::Error(e) => {
                let what = if args.listen {
                    "listen on"
                } else {
                    "connect to"
                };
                if args.verbose {
                    eprintln!(
                        "ustack connect: {what} {} port {} ({proto}) failed: {}",
                        dest.ip(),
                        dest.port(),
                        failure(&e)
                    );
                }
                let _ = session.close();
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
    }
    relay(session, args.udp, args.verbose, peer)
}

/// An ICMP error about a datagram sent, as the error `nc -u` sees (RFC 1122 §4.1.3.3: UDP
/// passes it to the application).
fn icmp_failure(icmp_type: u8, code: u8) -> io::Error {
    use ustack::wire::icmp::{types, unreach};
    let kind = match (icmp_type, code) {
        (types::DEST_UNREACHABLE, unreach::PORT | unreach::PROTOCOL) => {
            ErrorKind::ConnectionRefused
        }
        (types::DEST_UNREACHABLE, unreach::NET) => ErrorKind::NetworkUnreachable,
        (types::DEST_UNREACHABLE, _) => ErrorKind::HostUnreachable,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, IcmpFailure { icmp_type, code })
}

/// An ICMP error reported on a UDP relay.
#[derive(Debug)]
struct IcmpFailure {
    icmp_type: u8,
    code: u8,
}

impl std::fmt::Display for IcmpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.icmp_type, self.code) {
            (3, 3) => "Connection refused (ICMP port unreachable)",
            (3, 2) => "Connection refused (ICMP protocol unreachable)",
            (3, 0) => "Network is unreachable (ICMP)",
            (3, _) => "No route to host (ICMP unreachable)",
            (11, _) => "Time exceeded (ICMP)",
            _ => "ICMP error",
        };
        write!(f, "{what}, type {} code {}", self.icmp_type, self.code)
    }
}

impl std::error::Error for IcmpFailure {}

/// netcat's words for a failure.
fn failure(e: &crate::daemon::proto::ErrorReply) -> String {
    match e.code {
        ErrorCode::NetworkUnreachable => "Network is unreachable".to_string(),
        ErrorCode::ConnectionRefused => "Connection refused".to_string(),
        ErrorCode::TimedOut => "Connection timed out".to_string(),
        _ => error_of(e).to_string(),
    }
}

/// `-z`: probes each port in turn on one control connection, saying (with `-v`) what each
/// did as netcat does; exit 0 if any answered, else 1.
fn scan(args: &ConnectArgs) -> io::Result<ExitCode> {
    if args.listen {
        return Err(invalid("-z and -l together: nothing to probe".into()));
    }
    let (host, ports) = args.targets()?;
    let base = args.request()?;
    let proto = if args.udp { "udp" } else { "tcp" };
    let mut session = args.net.attach_or_start()?;
    let mut any = false;
    for port in ports {
        let req = ConnectRequest {
            addr: SocketAddr::new(host, port),
            ..base.clone()
        };
        let id = session.client.send(&Request::Connect(req))?;
        loop {
            let Some(reply) = session.client.next_reply()? else {
                let _ = session.close();
                return Ok(ExitCode::from(if any { 0 } else { 1 }));
            };
            if reply.id != id {
                continue;
            }
            if args.json {
                let line = serde_json::to_string(&reply.body).map_err(io::Error::other)?;
                println!("{line}");
            }
            match reply.body {
                Body::Connected(_) => {
                    any = true;
                    if args.verbose {
                        eprintln!(
                            "Connection to {host} {port} port [{proto}/{}] succeeded!",
                            service_name(port, proto)
                        );
                    }
                }
                Body::Error(e) => {
                    if args.verbose {
                        eprintln!(
                            "ustack connect: connect to {host} port {port} ({proto}) failed: {}",
                            failure(&e)
                        );
                    }
                    break;
                }
                Body::End(_) => break,
                _ => {}
            }
        }
    }
    let _ = session.close();
    Ok(ExitCode::from(if any { 0 } else { 1 }))
}

/// The port's name in /etc/services, or `*` (what netcat prints).
fn service_name(port: u16, proto: &str) -> String {
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    let want = format!("{port}/{proto}");
    services
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            (w.next()? == want).then(|| name.to_string())
        })
        .unwrap_or_else(|| "*".into())
}

/// Copies stdin to the relay and the relay to stdout; `peer` names the other end in messages.
fn relay(session: Session, udp: bool, verbose: bool, peer: SocketAddr) -> io::Result<ExitCode> {
    let (session, stream, early) = session.into_raw();
    let writer = {
        let stream = stream.try_clone()?;
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || stdin_to(stream, udp))?
    };
    let received = peer_to_stdout(&stream, early, udp);
    // The peer's FIN only ends its direction (RFC 9293 §3.6, half-close): stdin goes on until
    // it ends; then our FIN follows the data. UDP has no FIN: the peer never "closes".
    let code = match received {
        Ok(n) => {
            let _ = writer.join();
            if verbose {
                eprintln!("ustack connect: {peer} closed the connection ({n} bytes received)");
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            eprintln!("ustack connect: interrupted");
            ExitCode::from(130)
        }
        Err(e) => {
            // An ICMP error on UDP is said only with -v, as nc; a broken relay always.
            let icmp = e
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<IcmpFailure>().is_some());
            if verbose || !icmp {
                eprintln!("ustack connect: connection to {peer}: {e}");
            }
            ExitCode::from(1)
        }
    };
    drop(stream);
    session.close()?;
    Ok(code)
}

/// stdin → the relay: raw bytes (TCP, then a half-close) or one framed datagram per read (UDP).
fn stdin_to(mut stream: UnixStream, udp: bool) -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 65507];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return stream.shutdown(Shutdown::Write);
        }
        if udp {
            stream.write_all(&frame(&buf[..n]))?;
        } else {
            stream.write_all(&buf[..n])?;
        }
    }
}

/// The relay → stdout, until end of stream; returns the payload bytes received.
fn peer_to_stdout(mut stream: &UnixStream, early: Vec<u8>, udp: bool) -> io::Result<u64> {
    let mut stdout = io::stdout().lock();
    let mut pending = early;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mut done = 0;
        if udp {
            while let Some((f, rest)) = unframe(&pending[done..]) {
                match f {
                    Framed::Datagram(d) => {
                        stdout.write_all(d)?;
                        total += d.len() as u64;
                    }
                    Framed::IcmpError { icmp_type, code } => {
                        stdout.flush()?;
                        return Err(icmp_failure(icmp_type, code));
                    }
                }
                done = pending.len() - rest.len();
            }
        } else {
            stdout.write_all(&pending)?;
            total += pending.len() as u64;
            done = pending.len();
        }
        stdout.flush()?;
        pending.drain(..done);
        match stream.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::net::SocketAddrV4;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: ConnectArgs,
    }

    fn addr(argv: &[&str]) -> io::Result<std::net::SocketAddr> {
        let mut v = vec!["t"];
        v.extend_from_slice(argv);
        T::try_parse_from(v)
            .map_err(|e| invalid(e.to_string()))?
            .a
            .addr()
    }

    #[test]
    fn host_port_forms() {
        let want: SocketAddrV4 = "198.18.0.1:8080".parse().unwrap();
        assert_eq!(
            addr(&["198.18.0.1", "8080"]).unwrap(),
            std::net::SocketAddr::V4(want)
        );
        assert_eq!(
            addr(&["198.18.0.1:8080"]).unwrap(),
            std::net::SocketAddr::V4(want)
        );
        assert_eq!(
            addr(&["-l", "9000"]).unwrap(),
            "0.0.0.0:9000".parse().unwrap()
        );
        assert!(addr(&["198.18.0.1"]).is_err());
        assert!(addr(&["example.com", "80"]).is_err());
        assert!(addr(&["198.18.0.1:0"]).is_err());
        assert!(
            addr(&["198.18.0.1", "20-23"]).is_err(),
            "a range only with -z"
        );
        assert_eq!(
            addr(&["-z", "198.18.0.1", "20-23"]).unwrap(),
            "198.18.0.1:20".parse().unwrap()
        );
        // IPv6: a bare address with its port apart, or in brackets.
        let want6: std::net::SocketAddr = "[2001:2::1]:8080".parse().unwrap();
        assert_eq!(addr(&["2001:2::1", "8080"]).unwrap(), want6);
        assert_eq!(addr(&["[2001:2::1]:8080"]).unwrap(), want6);
        assert!(addr(&["2001:2::1"]).is_err());
        assert!(
            addr(&["2001:2::1:8080"]).is_err(),
            "ambiguous without brackets"
        );
        assert!(addr(&["[2001:2::zz]:80"]).is_err());
        // netcat's -4 / -6.
        assert_eq!(addr(&["-6", "2001:2::1", "8080"]).unwrap(), want6);
        assert!(addr(&["-6", "198.18.0.1", "8080"]).is_err());
        assert!(addr(&["-4", "[2001:2::1]:8080"]).is_err());
        assert!(addr(&["-4", "198.18.0.1", "8080"]).is_ok());
        assert!(addr(&["-6", "-l", "9000"]).is_ok(), "a listener takes both");
    }

    #[test]
    fn port_lists_and_ranges_as_netcat() {
        assert_eq!(parse_ports("22").unwrap(), vec![22]);
        assert_eq!(parse_ports("20-23,80").unwrap(), vec![20, 21, 22, 23, 80]);
        assert_eq!(parse_ports("65535").unwrap(), vec![65535]);
        assert_eq!(parse_ports("5-5").unwrap(), vec![5]);
        for bad in ["23-20", "0", "65536", "70000", "a", "1-", "-3", "1,,2", ""] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
        assert!(parse_ports("23-20").unwrap_err().contains("reversed"));
    }
}
