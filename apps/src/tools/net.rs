//! Command-line options shared by every command that brings up a TUN-backed stack.

use crate::daemon::capture::CaptureHub;
use crate::daemon::pcap::PcapTap;
use crate::daemon::proto::{Body, Request};
use crate::daemon::{self as control, client::Client};
use clap::Args;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use tun_bridge::{Bridge, BridgeConfig, LogTap, Tap};
use ustack::tcp::State;

/// The stack's IPv6 address by default (a /64 of the benchmarking prefix 2001:2::/48,
/// RFC 5180).
pub const DEFAULT_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
/// The kernel side's IPv6 address by default.
pub const DEFAULT_HOST_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);

/// Where and how the stack's interface is set up.
#[derive(Debug, Args, Clone)]
pub struct NetArgs {
    /// Name of the TUN device: the running stack to attach to, or the one to create.
    #[arg(long = "tun", default_value = "ustack0")]
    pub tun: String,
    /// Address of the kernel (host) side of the TUN.
    #[arg(long, default_value = "198.18.0.1")]
    pub host_addr: Ipv4Addr,
    /// Address of the stack itself.
    #[arg(long, default_value = "198.18.0.2")]
    pub addr: Ipv4Addr,
    /// Insist on IPv6 (the default): the stack and the kernel side get IPv6 addresses too
    /// (2001:2::2 and 2001:2::1, a /64 of the benchmarking prefix 2001:2::/48, RFC 5180), and
    /// a setup that cannot carry it (an MTU below 1280, no IPv6 in the kernel) is refused
    /// instead of falling back to IPv4 only.
    #[arg(long, conflicts_with = "no_ipv6")]
    pub ipv6: bool,
    /// IPv4 only: no IPv6 address on the stack or the kernel side.
    #[arg(long, conflicts_with_all = ["addr6", "host_addr6"])]
    pub no_ipv6: bool,
    /// The stack's IPv6 address (implies --ipv6).
    #[arg(long, value_name = "ADDR")]
    pub addr6: Option<Ipv6Addr>,
    /// The kernel side's IPv6 address, in the same /64 as --addr6 (implies --ipv6).
    #[arg(long, value_name = "ADDR")]
    pub host_addr6: Option<Ipv6Addr>,
    /// Prefix length of the link between them.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u8).range(0..=30))]
    pub prefix_len: u8,
    /// MTU of the link (the stack fragments larger datagrams).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(68..))]
    pub mtu: u16,
    /// TTL of the datagrams the stack sends.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u8).range(1..))]
    pub ttl: u8,
    /// Write every packet in and out to this pcap file (open with Wireshark or `tcpdump -r`).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Print one decoded line per packet, in and out, and every TCP state transition, RTO and
    /// retransmission.
    #[arg(long)]
    pub trace: bool,
    /// Fault injection: percent of the stack's outgoing packets to drop (for loss-recovery
    /// experiments; `tc netem` on the TUN covers the other direction).
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub fault_loss: f64,
    /// Fault injection: percent of outgoing packets sent after the next one.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub fault_reorder: f64,
    /// Fault injection: percent of outgoing packets sent twice.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub fault_duplicate: f64,
    /// Fault injection on incoming packets (kernel → stack), percent dropped before the stack
    /// sees them: like `tc netem loss` on the TUN, for kernels without netem.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub fault_in_loss: f64,
    /// Fault injection: percent of incoming packets delivered after the next one.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub fault_in_reorder: f64,
    /// Fault injection: percent of incoming packets delivered twice.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub fault_in_duplicate: f64,
    /// Seed of the fault injectors (same seed, same faults).
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// The stack's tuning flags (buffers, congestion control, timers …).
    #[command(flatten)]
    pub tune: crate::tools::tune::TuneArgs,
}

/// Longest wait, before stopping a tool's own stack, for its connections to finish closing.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The stack a tool works on, through a control connection: a running daemon's (found by
/// `--tun`), or — only when none runs — one this tool brought up itself, served on a
/// socketpair so that the tool runs the same job and reads the same replies either way.
#[derive(Debug)]
pub struct Session {
    /// The control connection.
    pub client: Client,
    /// The bridge this tool started (None: attached to a daemon).
    own: Option<Bridge>,
}

impl Session {
    /// Stops the stack this tool started, if it started one (see [`OwnStack::close`]).
    pub fn close(self) -> io::Result<()> {
        drop(self.client);
        OwnStack(self.own).close()
    }

    /// Runs streaming request `req` to its end: Ctrl-C half-closes the connection (the job
    /// stops where it is and sends `end`), each event's body goes to `each`, an error or lost
    /// events are told on stderr as `ustack TOOL: …`; then the session closes. Exit code 0
    /// once `end` came, 2 otherwise.
    pub fn follow(
        mut self,
        tool: &str,
        req: &Request,
        mut each: impl FnMut(Body) -> io::Result<()>,
    ) -> io::Result<std::process::ExitCode> {
        let closer = self.client.closer()?;
        ctrlc::set_handler(move || {
            let _ = closer.shutdown(std::net::Shutdown::Write);
        })
        .map_err(io::Error::other)?;
        let id = self.client.send(req)?;
        let mut code = std::process::ExitCode::from(2);
        while let Some(reply) = self.client.next_reply()? {
            if reply.id != id && reply.id != 0 {
                continue;
            }
            match reply.body {
                Body::Error(e) => {
                    eprintln!("ustack {tool}: {}", e.message);
                    break;
                }
                Body::Lost(l) => {
                    eprintln!("ustack {tool}: {} events lost (output too slow)", l.count)
                }
                Body::End(_) => {
                    code = std::process::ExitCode::SUCCESS;
                    break;
                }
                body => each(body)?,
            }
        }
        self.close()?;
        Ok(code)
    }

    /// After `connected`: the raw relay stream and the bytes already read past the reply.
    pub fn into_raw(self) -> (OwnStack, std::os::unix::net::UnixStream, Vec<u8>) {
        let (stream, early) = self.client.into_raw();
        (OwnStack(self.own), stream, early)
    }
}

/// The stack a tool brought up itself, if any.
#[derive(Debug)]
pub struct OwnStack(Option<Bridge>);

impl OwnStack {
    /// Stops it — after its TCP connections have finished closing (at most `CLOSE_WAIT`), so
    /// that the last ACK leaves before the device goes away instead of a reset.
    pub fn close(self) -> io::Result<()> {
        let Some(bridge) = self.0 else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        while std::time::Instant::now() < deadline {
            let closing = bridge.with_stack(|s| {
                s.tcp_connections()
                    .any(|c| !matches!(c.state, State::TimeWait | State::Closed))
            });
            if !closing.unwrap_or(false) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        bridge.shutdown()
    }
}

impl NetArgs {
    /// Attaches to the stack running on `--tun`, or brings one up (see [`Session`]).
    pub fn attach_or_start(&self) -> io::Result<Session> {
        self.attach_or_start_checked(|| Ok(()))
    }

    /// As [`NetArgs::attach_or_start`], running `check` first when no stack runs: a request
    /// its own stack would refuse (an address it will not have) fails before anything starts.
    pub fn attach_or_start_checked(
        &self,
        check: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<Session> {
        if let Some(client) = control::client::attach(&self.tun)? {
            if self.pcap.is_some() || self.trace || self.faults_given() || self.tune.any() {
                log::warn!(
                    "attached to the stack running on {}: --pcap, --trace, --fault-* and the \
                     tuning flags apply only to a stack of one's own and are ignored",
                    self.tun
                );
            }
            log::debug!("attached to the stack running on {}", self.tun);
            return Ok(Session { client, own: None });
        }
        check()?;
        let (bridge, capture) = self.start()?;
        let info = control::DaemonInfo {
            tun: bridge.tun_name().to_string(),
            host_addr: self.host_addr,
            capture: Some(capture),
        };
        let stream = control::pair(&bridge.handle(), info)?;
        Ok(Session {
            client: Client::new(stream)?,
            own: Some(bridge),
        })
    }

    /// Whether IPv6 was asked for explicitly (`--ipv6`, `--addr6`, `--host-addr6`): then a
    /// setup that cannot carry it is refused rather than run IPv4-only.
    fn ipv6_insisted(&self) -> bool {
        self.ipv6 || self.addr6.is_some() || self.host_addr6.is_some()
    }

    /// Why IPv6 is off although not refused by `--no-ipv6`, if it is: a link below 1280
    /// (RFC 8200 §5; Linux turns IPv6 off on such a device) or a kernel without IPv6. With
    /// IPv6 insisted on, these are errors instead (`ipv6_addrs`).
    pub fn ipv6_off_because(&self) -> Option<String> {
        if self.no_ipv6 {
            return None;
        }
        if self.mtu < 1280 {
            return Some(format!("MTU {} is below IPv6's minimum of 1280", self.mtu));
        }
        if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
            return Some("the kernel has no IPv6 (no /proc/sys/net/ipv6)".into());
        }
        None
    }

    /// The stack's and the kernel side's IPv6 addresses — IPv6 is on unless `--no-ipv6`, or
    /// the link cannot carry it and it was not insisted on (`ipv6_off_because`); refused when
    /// they are not two different unicast addresses of one /64.
    pub fn ipv6_addrs(&self) -> io::Result<Option<(Ipv6Addr, Ipv6Addr)>> {
        if self.no_ipv6 {
            return Ok(None);
        }
        if let Some(why) = self.ipv6_off_because() {
            if !self.ipv6_insisted() {
                return Ok(None);
            }
            let hint = "or drop --ipv6/--addr6/--host-addr6";
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{why}: IPv6 cannot run here ({hint})"),
            ));
        }
        let stack = self.addr6.unwrap_or(DEFAULT_ADDR6);
        let host = self.host_addr6.unwrap_or(DEFAULT_HOST_ADDR6);
        let refuse = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        for a in [stack, host] {
            if a.is_multicast() || a.is_unspecified() || a.is_loopback() {
                return refuse(format!("{a} is not a unicast IPv6 address"));
            }
        }
        if stack == host {
            return refuse("--addr6 and --host-addr6 must differ".into());
        }
        if stack.segments()[..4] != host.segments()[..4] {
            return refuse(format!(
                "--addr6 {stack} is outside {host}/64, the kernel side's prefix: the kernel \
                 would not route to it"
            ));
        }
        Ok(Some((stack, host)))
    }

    fn faults_given(&self) -> bool {
        [
            self.fault_loss,
            self.fault_reorder,
            self.fault_duplicate,
            self.fault_in_loss,
            self.fault_in_reorder,
            self.fault_in_duplicate,
        ]
        .iter()
        .any(|&v| v != 0.0)
    }

    /// Creates the TUN, configures the host side and starts the stack, with the daemon's
    /// capture hub installed as one of its taps (returned, for the control server to serve).
    pub fn start(&self) -> io::Result<(Bridge, CaptureHub)> {
        tun_bridge::host::check_setup(&self.tun, self.host_addr, self.prefix_len, self.addr)?;
        let v6 = self.ipv6_addrs()?;
        let capture = CaptureHub::new();
        let mut taps: Vec<Box<dyn Tap>> = vec![capture.tap()];
        if let Some(p) = &self.pcap {
            taps.push(Box::new(PcapTap::create(p)?));
        }
        if self.trace {
            taps.push(Box::new(LogTap::stdout()));
        }
        for (name, v) in [
            ("--fault-loss", self.fault_loss),
            ("--fault-reorder", self.fault_reorder),
            ("--fault-duplicate", self.fault_duplicate),
            ("--fault-in-loss", self.fault_in_loss),
            ("--fault-in-reorder", self.fault_in_reorder),
            ("--fault-in-duplicate", self.fault_in_duplicate),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} must be a percentage in 0..=100"),
                ));
            }
        }
        let mut config = BridgeConfig {
            tun_name: self.tun.clone(),
            host_addr: self.host_addr,
            host_addr6: v6.map(|(_, host)| host),
            configure_host: true,
            stack: ustack::Config {
                addr: self.addr,
                addr6: v6.map(|(stack, _)| stack),
                prefix_len: self.prefix_len,
                mtu: self.mtu,
                ttl: self.ttl,
                tcp_mem_max: tun_bridge::host::tcp_mem_default(),
                ..ustack::Config::default()
            },
            // The bridge draws the secret and seed from the OS (refusing to start without).
            entropy: tun_bridge::Entropy::FromOs,
            faults: tun_bridge::FaultConfig {
                loss: self.fault_loss / 100.0,
                reorder: self.fault_reorder / 100.0,
                duplicate: self.fault_duplicate / 100.0,
                seed: self.fault_seed,
            },
            faults_in: tun_bridge::FaultConfig {
                loss: self.fault_in_loss / 100.0,
                reorder: self.fault_in_reorder / 100.0,
                duplicate: self.fault_in_duplicate / 100.0,
                seed: self.fault_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed,
            },
        };
        self.tune.apply(&mut config.stack);
        Ok((Bridge::start(config, taps)?, capture))
    }
}
