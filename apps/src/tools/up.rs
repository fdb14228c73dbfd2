//! `ustack up`: the stack on a TUN interface, answering ping and serving UDP echo and the TCP
//! services (echo, discard, chargen, HTTP) as tasks on its event loop.

use crate::daemon as control;
use crate::services::classic::{self, Classic};
use crate::services::guard::{CutCounters, Limits};
use crate::services::http::{Options as HttpOptions, Site};
use crate::services::serve::{accept_loop, handler};
use crate::services::udp_echo::EchoCounters;
use crate::tools::net::NetArgs;
use crate::tools::up_netns::UpNetns;
use clap::{Args, ValueEnum};
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tun_bridge::aio::{TcpListener, UdpSocket};
use tun_bridge::Net;
use ustack::filter::fw::{Firewall, DEFAULT_CONNTRACK_MAX};

/// A service `ustack up` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Service {
    /// TCP echo (RFC 862), port 7.
    Echo,
    /// TCP discard (RFC 863), port 9.
    Discard,
    /// TCP character generator (RFC 864), port 19.
    Chargen,
    /// HTTP/1.1, port 80.
    Http,
    /// UDP echo (RFC 862), port 7.
    UdpEcho,
}

impl Service {
    const ALL: [Service; 5] = [
        Service::Echo,
        Service::Discard,
        Service::Chargen,
        Service::Http,
        Service::UdpEcho,
    ];

    fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Discard => "discard",
            Service::Chargen => "chargen",
            Service::Http => "http",
            Service::UdpEcho => "udp-echo",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Service::Echo | Service::UdpEcho => 7,
            Service::Discard => 9,
            Service::Chargen => 19,
            Service::Http => 80,
        }
    }
}

/// `NAME=PORT`, for `--port`.
#[derive(Debug, Clone, Copy)]
pub struct PortOverride {
    service: Service,
    port: u16,
}

fn parse_port_override(s: &str) -> Result<PortOverride, String> {
    let (name, port) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected NAME=PORT, e.g. http=8080"))?;
    let service = Service::from_str(name, true).map_err(|_| {
        let names: Vec<_> = Service::ALL.iter().map(|s| s.name()).collect();
        format!("'{name}': not a service (one of {})", names.join(", "))
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}': not a port number"))?;
    if port == 0 {
        return Err("port 0 cannot be listened on".into());
    }
    Ok(PortOverride { service, port })
}

/// Options of `ustack up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Serve the files under this directory over HTTP besides the built-in pages.
    #[arg(long, value_name = "DIR")]
    pub http_root: Option<PathBuf>,
    /// Let HTTP `/stats` and `/stats.json` name every connection's peer address and port
    /// (by default anyone on the network sees counters and states, no peers).
    #[arg(long)]
    pub public_stats: bool,
    /// Which services to run (comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub services: Option<Vec<Service>>,
    /// Move a service to another port, e.g. `--port http=8080` (repeatable).
    #[arg(long = "port", value_name = "NAME=PORT", value_parser = parse_port_override)]
    pub ports: Vec<PortOverride>,
    /// At exit, print the counters as one JSON object (the control protocol's `stats` reply,
    /// plus the UDP echo service's own counters) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Accept queue length of every TCP service.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub backlog: usize,
    /// echo, discard, chargen: close a connection on which the client sent nothing for this
    /// long while the service waited for it.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// echo, discard, chargen: abort (RST) a connection whose client acknowledged nothing of
    /// what it is owed for this long (its window closed, or it stopped reading).
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,
    /// Run inside network namespace NAME, created if missing (and then deleted at exit): the
    /// TUN, its routes and the control socket are made there; clients run with
    /// `ip netns exec NAME …`. Needs root.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Load this firewall rule set (docs/FIREWALL.md) before the services start; one that does
    /// not parse stops `up` with its line and column (exit 2). Change it live with
    /// `ustack filter`.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Where the stack's interface is and how it is set up.
    #[command(flatten)]
    pub net: NetArgs,
}

/// The services to run and their ports.
fn plan(args: &UpArgs) -> io::Result<Vec<(Service, u16)>> {
    let chosen = args
        .services
        .clone()
        .unwrap_or_else(|| Service::ALL.to_vec());
    let mut plan: Vec<(Service, u16)> = Vec::new();
    for s in chosen {
        if !plan.iter().any(|(x, _)| *x == s) {
            plan.push((s, s.default_port()));
        }
    }
    for o in &args.ports {
        match plan.iter_mut().find(|(s, _)| *s == o.service) {
            Some(entry) => entry.1 = o.port,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "--port {}={}: that service is not running",
                        o.service.name(),
                        o.port
                    ),
                ))
            }
        }
    }
    Ok(plan)
}

/// What the services are started with.
struct Setup {
    plan: Vec<(Service, u16)>,
    http: HttpOptions,
    backlog: usize,
    echo_counters: Arc<EchoCounters>,
    classic: Classic,
    key: u64,
}

/// Binds every TCP and UDP service on the loop and spawns its task.
fn start_services(net: &Net, setup: &Setup) -> io::Result<()> {
    for &(service, port) in &setup.plan {
        // Its sockets are the service's in `ustack ss -p`.
        let net = &net.owned_by(service.name());
        let bind_err = |e: io::Error| {
            io::Error::new(e.kind(), format!("{}: port {port}: {e}", service.name()))
        };
        if service == Service::UdpEcho {
            let sock = UdpSocket::bind(net, port).map_err(bind_err)?;
            tokio::task::spawn_local(crate::services::udp_echo::run(
                sock,
                setup.echo_counters.clone(),
                setup.key,
            ));
            continue;
        }
        let listener = TcpListener::bind(net, port, setup.backlog).map_err(bind_err)?;
        if service == Service::Http {
            let addr = net.with_stack(|s| s.config().addr);
            let site = Rc::new(Site::new(&setup.http, addr.into(), net.clone())?);
            tokio::task::spawn_local(crate::services::http::run(listener, site));
            continue;
        }
        let c = setup.classic.clone();
        let h = match service {
            Service::Echo => handler(move |s| classic::echo(s, c.clone())),
            Service::Discard => handler(move |s| classic::discard(s, c.clone())),
            _ => handler(move |s| classic::chargen(s, c.clone())),
        };
        tokio::task::spawn_local(accept_loop(service.name(), listener, h));
    }
    Ok(())
}

fn print_banner(
    bridge: &tun_bridge::Bridge,
    args: &UpArgs,
    plan: &[(Service, u16)],
    control: &std::path::Path,
    netns: Option<&UpNetns>,
) {
    let n = &args.net;
    println!("ustack is up on {} (MTU {})", bridge.tun_name(), n.mtu);
    // Every client line below runs inside the namespace, if there is one.
    let x = netns.map_or(String::new(), |ns| format!("ip netns exec {} ", ns.name()));
    if let Some(ns) = netns {
        let fate = if ns.created() {
            "created; deleted at exit"
        } else {
            "existing; kept at exit"
        };
        println!("  netns        {} ({fate})", ns.name());
    }
    println!("  kernel side  {}/{}", n.host_addr, n.prefix_len);
    println!("  stack        {}", n.addr);
    // (Already checked by `start`.)
    let v6 = n.ipv6_addrs().ok().flatten();
    match (v6, n.ipv6_off_because()) {
        (Some((stack6, host6)), _) => {
            println!("  IPv6         kernel side {host6}/64, stack {stack6}");
        }
        (None, Some(why)) => println!("  IPv6         off: {why}"),
        (None, None) => println!("  IPv6         off (--no-ipv6)"),
    }
    let list: Vec<String> = plan
        .iter()
        .map(|(s, p)| format!("{} {p}", s.name()))
        .collect();
    println!("  serving      ICMP echo; {}", list.join(", "));
    if let Some(r) = &args.http_root {
        println!("  http root    {}", r.display());
    }
    if let Some(p) = &n.pcap {
        println!("  pcap         {}", p.display());
    }
    println!("  control      {}", control.display());
    println!("try:");
    let a = n.addr;
    // A pipeline runs inside the namespace as one `sh -c '…'`.
    let piped = |cmd: String| match netns {
        Some(_) => format!("{x}sh -c '{cmd}'"),
        None => cmd,
    };
    println!("  {x}ping {a}");
    println!("  {x}ping -s 4000 {a}        # fragmented both ways");
    if let Some((stack6, _)) = v6 {
        println!("  {x}ping -6 {stack6}");
    }
    for &(s, p) in plan {
        match s {
            Service::UdpEcho => println!("  {}", piped(format!("echo hello | nc -u -w1 {a} {p}"))),
            Service::Http => {
                println!("  {x}curl http://{a}:{p}/  and  {x}curl http://{a}:{p}/stats")
            }
            Service::Echo => println!(
                "  {}          # TCP echo",
                piped(format!("echo hello | nc -N {a} {p}"))
            ),
            Service::Discard => println!(
                "  {}       # discard",
                piped(format!("nc -N {a} {p} < /etc/services"))
            ),
            Service::Chargen => println!("  {x}nc {a} {p} | head -5               # chargen"),
        }
    }
    if let Some((stack6, _)) = v6 {
        // Every service listens on both families: one IPv6 line of each kind is enough.
        for &(s, p) in plan {
            match s {
                Service::Http => println!("  {x}curl -6 'http://[{stack6}]:{p}/'"),
                Service::Echo => println!(
                    "  {}          # TCP echo over IPv6",
                    piped(format!("echo hello | nc -6 -N {stack6} {p}"))
                ),
                _ => {}
            }
        }
    }
    if netns.is_some() {
        println!("  {x}ustack ss --tun {}", bridge.tun_name());
    }
    println!("Ctrl-C to stop.");
}

/// `ustack up`: brings up the stack with its services and the control socket, prints the
/// banner, and runs until Ctrl-C / SIGTERM; then prints the counters.
pub fn run(args: UpArgs) -> io::Result<ExitCode> {
    let plan = plan(&args)?;
    let firewall = match &args.rules {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
            match Firewall::parse(&text, DEFAULT_CONNTRACK_MAX) {
                Ok(fw) => Some(fw),
                Err(e) => {
                    eprintln!("ustack up: {}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        None => None,
    };
    // First of all, before any thread starts: every thread made later is born inside. Dropped
    // last (declared first), after the stack is gone.
    let netns = args.netns.as_deref().map(UpNetns::enter).transpose()?;
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(io::Error::other)?;
    control::refuse_if_served(&args.net.tun)?;
    let (bridge, capture) = args.net.start()?;
    if firewall.is_some() {
        bridge.with_stack(move |s| s.set_firewall(firewall))?;
    }
    let bridge = Arc::new(bridge);
    let echo_counters = Arc::new(EchoCounters::default());
    let classic = Classic {
        limits: Limits {
            idle: Duration::from_secs(args.idle_timeout),
            stall: Duration::from_secs(args.stall_timeout),
            ..Classic::default().limits
        },
        cuts: Arc::default(),
    };
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    {
        let setup = Setup {
            plan: plan.clone(),
            http: HttpOptions {
                root: args.http_root.clone(),
                public_stats: args.public_stats,
            },
            backlog: args.backlog,
            echo_counters: echo_counters.clone(),
            classic: classic.clone(),
            key: tun_bridge::entropy::os_key()?,
        };
        bridge.spawn(move |net| async move {
            let _ = ready_tx.send(start_services(&net, &setup));
        })?;
    }
    ready_rx
        .recv()
        .map_err(|_| io::Error::other("the event loop stopped while starting services"))??;
    let info = control::DaemonInfo {
        tun: bridge.tun_name().to_string(),
        host_addr: args.net.host_addr,
        capture: Some(capture),
    };
    let control = control::serve(&bridge, info)?;
    print_banner(&bridge, &args, &plan, control.path(), netns.as_ref());

    // Wait for Ctrl-C / SIGTERM, or for the loop to die on a device error.
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(()) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if bridge.is_running() => {}
            Err(_) => break,
        }
    }
    // Stop at once, whatever the connections do: the loop drops every task (closing its
    // connections), sends the resulting FIN/RST, and closes the device.
    let stats = bridge
        .with_stack(|s| (s.stats().clone(), control::stats_reply(s)))
        .ok();
    drop(control);
    let result = match Arc::try_unwrap(bridge) {
        Ok(b) => b.shutdown(),
        Err(b) => {
            b.handle().stop();
            Ok(())
        }
    };
    print_counters(stats, &echo_counters, &classic.cuts, args.json);
    result.map(|()| ExitCode::SUCCESS)
}

/// The counters at exit: the table, or (`--json`) one JSON object.
fn print_counters(
    stats: Option<(ustack::Stats, control::proto::StatsReply)>,
    echo: &EchoCounters,
    cuts: &CutCounters,
    json: bool,
) {
    let (stalled, too_slow, idle) = cuts.get();
    // (None if the loop had already died: default counters, `null` in JSON.)
    let (table, reply) = match stats {
        Some((t, r)) => (t, Some(r)),
        None => (ustack::Stats::default(), None),
    };
    let refused = echo.refused_reflector.load(Ordering::Relaxed);
    let limited = echo.rate_limited.load(Ordering::Relaxed);
    if json {
        let v = serde_json::json!({
            "stats": reply,
            "udp_echo": { "refused_reflector": refused, "rate_limited": limited },
            "classic_cuts": { "stalled": stalled, "too_slow": too_slow, "idle": idle },
        });
        println!("{v}");
        return;
    }
    println!("\nustack stopped; counters:\n{table}");
    if refused + limited > 0 {
        println!("udp echo: {refused} refused (reflector source port), {limited} rate-limited");
    }
    if stalled + too_slow + idle > 0 {
        println!(
            "echo/discard/chargen: {stalled} aborted (client took nothing), {too_slow} aborted \
             (client below the minimum rate), {idle} closed (idle)"
        );
    }
}
