//! The scan on the stack's loop: the [`Engine`] driven by a raw socket of the stack (its own
//! TCP or UDP port claimed, so the answers reach the scan alone and the stack adds no RST or
//! port unreachable of its own), or for `-sT` by ordinary connects. Reports [`ScanEvent`]s;
//! nothing here prints.

use super::engine::{ConnectOutcome, Engine, ScanConfig};
use super::ports::{parse_ports, top_ports};
use super::probe::{probe_packet, Probe, ProbeKind};

use super::report::host_report;
use super::state::{unreach4, unreach6};
use super::targets;
use super::timing::Timing;
use crate::daemon::jobs::guard;
use crate::daemon::proto::{Proto, ScanEvent, ScanRequest, ScanType};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tun_bridge::aio::{RawSocket, TcpStream};
use tun_bridge::{icmp_error_of, Net};
use ustack::RawOptions;

/// The top ports scanned when the request names none (nmap's `-F`; nmap's default is its top
/// 1000, of which ustack's table keeps the first 100).
pub const DEFAULT_TOP_PORTS: usize = 100;

fn bad(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m.into())
}

/// The ports a request asks for.
fn ports_of(req: &ScanRequest) -> io::Result<Vec<u16>> {
    let proto = req.scan.proto();
    match (&req.ports, req.top_ports) {
        (Some(_), Some(_)) => Err(bad("-p and --top-ports exclude each other")),
        (Some(spec), None) => parse_ports(spec, proto).map_err(bad),
        (None, n) => top_ports(n.unwrap_or(DEFAULT_TOP_PORTS), proto)
            .ok_or_else(|| bad("--top-ports must be at least 1")),
    }
}

/// The timing a request asks for.
pub fn timing_of(req: &ScanRequest) -> io::Result<Timing> {
    if req.timing > 5 {
        return Err(bad("timing template (-T) must be 0..=5"));
    }
    let mut t = Timing::template(req.timing);
    if let Some(r) = req.max_retries {
        if r > 50 {
            return Err(bad("--max-retries must be 0..=50"));
        }
        t.max_retries = r;
    }
    if let Some(rate) = req.max_rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(bad(
                "--max-rate must be a positive number of probes per second",
            ));
        }
        t.max_rate = Some(rate);
    }
    Ok(t)
}

/// Checks the request against the stack's configuration: targets (the target rule of
/// [`guard`]), ports, timing. Returns the engine's configuration (its port still 0).
pub fn validate(req: &ScanRequest, config: &ustack::Config) -> io::Result<ScanConfig> {
    let mut hosts = targets::expand(&req.targets).map_err(bad)?;
    // The stack's own addresses, inside a prefix, are left out (there is nothing to probe
    // through the TUN); named alone, refused.
    let own =
        |h: &IpAddr| *h == IpAddr::V4(config.addr) || Some(*h) == config.addr6.map(IpAddr::V6);
    if hosts.iter().all(own) {
        return Err(bad(format!("{} is the stack itself", hosts[0])));
    }
    hosts.retain(|h| !own(h));
    for &h in &hosts {
        guard::check_target(h, config, req.i_own_the_network).map_err(|e| bad(e.to_string()))?;
        if h.is_multicast() || h.is_unspecified() || matches!(h, IpAddr::V4(a) if a.is_broadcast())
        {
            return Err(bad(format!("{h}: not a unicast address")));
        }
    }
    let ports = match req.scan {
        ScanType::Ping => Vec::new(),
        _ => ports_of(req)?,
    };
    let cfg = ScanConfig {
        scan: req.scan,
        hosts,
        ports,
        timing: timing_of(req)?,
        src4: Some(config.addr),
        src6: config.addr6,
        sport: 0,
        secret: secret(),
    };
    // The engine's own checks (work bound, families), before anything opens.
    Engine::new(cfg.clone()).map_err(bad)?;
    Ok(cfg)
}

/// A fresh secret from the OS (std's hasher keys come from it).
fn secret() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5ca9);
    h.finish()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the scan of `req` on the loop of `net`, reporting to `emit` as it goes.
pub async fn scan(net: &Net, req: ScanRequest, mut emit: impl FnMut(ScanEvent)) -> io::Result<()> {
    let config = net.with_stack(|s| s.config().clone());
    let mut cfg = validate(&req, &config)?;
    let net = &net.owned_by("scan");
    let raw = match req.scan {
        ScanType::Connect => None,
        _ => {
            let sock = RawSocket::open(net, RawOptions::default())?;
            let protocol = match req.scan.proto() {
                Proto::Udp => ustack::wire::proto::UDP,
                Proto::Tcp => ustack::wire::proto::TCP,
            };
            cfg.sport = sock.claim(protocol, 0)?;
            Some(sock)
        }
    };
    let mut engine = Engine::new(cfg.clone()).map_err(bad)?;
    emit(ScanEvent::Start {
        scan: req.scan,
        hosts: cfg.hosts.len(),
        ports: cfg.ports.len(),
        from: [cfg.src4.map(IpAddr::V4), cfg.src6.map(IpAddr::V6)]
            .into_iter()
            .flatten()
            .collect(),
        unix_time: unix_now(),
    });
    let started = Instant::now();
    drive(net, &mut engine, raw.as_ref()).await?;
    let mut up = 0;
    for i in 0..cfg.hosts.len() {
        let is_up = engine.host_up(i).is_some();
        up += usize::from(is_up);
        // Host discovery reports the hosts that answered, as nmap -sn prints them.
        if req.scan == ScanType::Ping && !is_up {
            continue;
        }
        if let Some(ev) = host_report(&engine, i) {
            emit(ev);
        }
    }
    emit(ScanEvent::Done {
        hosts: cfg.hosts.len(),
        up,
        elapsed_s: started.elapsed().as_secs_f64(),
        probes: engine.probes_sent(),
    });
    Ok(())
}

/// The source address of a probe to `dst`.
fn src_for(cfg: &ScanConfig, dst: IpAddr) -> Option<IpAddr> {
    match dst {
        IpAddr::V4(_) => cfg.src4.map(IpAddr::V4),
        IpAddr::V6(_) => cfg.src6.map(IpAddr::V6),
    }
}

async fn send(raw: Option<&RawSocket>, cfg: &ScanConfig, p: &Probe) -> io::Result<()> {
    let (Some(raw), Some(src)) = (raw, src_for(cfg, p.dst)) else {
        return Ok(());
    };
    match probe_packet(p, src) {
        Some(pkt) => raw.send(&pkt).await,
        None => Ok(()),
    }
}

/// Sends, receives and waits until the engine is done.
async fn drive(net: &Net, engine: &mut Engine, raw: Option<&RawSocket>) -> io::Result<()> {
    let cfg = engine.config().clone();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Probe, Option<ConnectOutcome>)>();
    let mut buf = vec![0u8; 65_536];
    // std and tokio clocks agree (tokio's wraps std's); the engine keeps std's.
    let now = || Instant::now().into_std();
    loop {
        while let Some(r) = engine.poll_reset() {
            send(raw, &cfg, &r).await?;
        }
        while let Some(p) = engine.poll_probe(now()) {
            if p.kind == ProbeKind::Connect {
                spawn_connect(net, p, engine.timeout(), tx.clone());
            } else {
                send(raw, &cfg, &p).await?;
            }
        }
        if engine.is_done() {
            return Ok(());
        }
        let wake = engine
            .poll_at()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = recv(raw, &mut buf) => {
                let n = r?;
                engine.on_packet(now(), &buf[..n]);
            }
            Some((p, outcome)) = rx.recv() => {
                if let Some(o) = outcome {
                    engine.on_connect(now(), &p, o);
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// The next packet copy; never ready without a raw socket.
async fn recv(raw: Option<&RawSocket>, buf: &mut [u8]) -> io::Result<usize> {
    match raw {
        Some(r) => r.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// `-sT`: one connect through the stack's TCP, reset at once if it succeeds (nmap closes its
/// connect scans the same way, with SO_LINGER 0). A connect still pending after `wait` is
/// dropped (which closes it); the engine's own timer retries.
fn spawn_connect(
    net: &Net,
    p: Probe,
    wait: Duration,
    tx: mpsc::UnboundedSender<(Probe, Option<ConnectOutcome>)>,
) {
    let n = net.clone();
    net.spawn(async move {
        let remote = SocketAddr::new(p.dst, p.dport);
        let r = tokio::time::timeout(wait, TcpStream::connect(&n, remote)).await;
        let outcome = match r {
            Ok(Ok(stream)) => {
                let _ = stream.abort();
                Some(ConnectOutcome::Open)
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                Some(ConnectOutcome::Refused)
            }
            Ok(Err(e)) => icmp_error_of(&e).and_then(|ie| {
                let reason = match (ie.is_v6(), ie.icmp_type) {
                    (false, 3) => unreach4(ie.code)?,
                    (true, 1) => unreach6(ie.code)?,
                    _ => return None,
                };
                Some(ConnectOutcome::Unreach(reason, ie.from == p.dst))
            }),
            Err(_) => None,
        };
        let _ = tx.send((p, outcome));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> ustack::Config {
        ustack::Config {
            addr: std::net::Ipv4Addr::new(198, 18, 0, 2),
            prefix_len: 24,
            addr6: Some("2001:2::2".parse().unwrap()),
            ..ustack::Config::default()
        }
    }

    fn req(targets: &[&str]) -> ScanRequest {
        ScanRequest::new(
            targets.iter().map(|t| t.to_string()).collect(),
            ScanType::Syn,
        )
    }

    #[test]
    fn requests_are_checked_before_anything_is_sent() {
        let c = stack();
        let ok = validate(&req(&["198.18.0.1", "2001:2::1"]), &c).unwrap();
        assert_eq!(ok.ports.len(), DEFAULT_TOP_PORTS);
        assert_eq!(ok.timing, Timing::template(3));
        // The stack's own address is left out of a prefix, refused alone.
        let p = validate(&req(&["198.18.0.0/30"]), &c).unwrap();
        assert_eq!(p.hosts.len(), 3);
        assert!(validate(&req(&["198.18.0.2"]), &c).is_err());
        // The target rule, and --i-own-the-network.
        let far = req(&["192.0.2.1"]);
        let e = validate(&far, &c).unwrap_err().to_string();
        assert!(e.contains(guard::OWN_FLAG), "{e}");
        let owned = ScanRequest {
            i_own_the_network: true,
            ..far
        };
        assert!(validate(&owned, &c).is_ok());
        for bad in [
            ScanRequest {
                ports: Some("80".into()),
                top_ports: Some(10),
                ..req(&["198.18.0.1"])
            },
            ScanRequest {
                top_ports: Some(0),
                ..req(&["198.18.0.1"])
            },
            ScanRequest {
                timing: 6,
                ..req(&["198.18.0.1"])
            },
            ScanRequest {
                max_retries: Some(51),
                ..req(&["198.18.0.1"])
            },
            ScanRequest {
                max_rate: Some(-1.0),
                ..req(&["198.18.0.1"])
            },
            req(&["224.0.0.1"]),
            req(&["198.18.0.0/8"]),
        ] {
            assert!(validate(&bad, &c).is_err(), "{bad:?}");
        }
        // No IPv6 on the stack: an IPv6 target is refused.
        let v4only = ustack::Config {
            addr6: None,
            ..stack()
        };
        assert!(validate(&req(&["2001:2::1"]), &v4only).is_err());
    }

    #[test]
    fn options_reach_the_timing() {
        let r = ScanRequest {
            timing: 4,
            max_retries: Some(1),
            max_rate: Some(50.0),
            ..req(&["198.18.0.1"])
        };
        let t = timing_of(&r).unwrap();
        assert_eq!((t.level, t.max_retries, t.max_rate), (4, 1, Some(50.0)));
        assert_eq!(t.interval(), Duration::from_millis(20));
    }
}
