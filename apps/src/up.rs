//! `ustack up`: the stack on a TUN interface, answering ping and serving UDP echo and the TCP
//! services (echo, discard, chargen, HTTP).

use crate::http::Site;
use crate::net::NetArgs;
use crate::server;
use clap::Args;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// Options of `ustack up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Serve the files under this directory over HTTP (port 80) besides the built-in pages.
    #[arg(long, value_name = "DIR")]
    pub http_root: Option<PathBuf>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Starts the HTTP service as a task on the loop (temporary wiring until the services move
/// onto the loop together).
fn start_http(
    bridge: &tun_bridge::Bridge,
    root: Option<PathBuf>,
    addr: std::net::Ipv4Addr,
) -> io::Result<()> {
    bridge.handle().block_on(move |net| async move {
        let listener = tun_bridge::aio::TcpListener::bind(&net, 80, 64)
            .map_err(|e| io::Error::new(e.kind(), format!("http: listening on port 80: {e}")))?;
        let site = std::rc::Rc::new(Site::new(root.as_deref(), addr, net.clone())?);
        tokio::task::spawn_local(crate::http::run(listener, site));
        Ok(())
    })?
}

/// Starts the TCP services; returns their accept threads.
fn tcp_services(
    bridge: &Arc<tun_bridge::Bridge>,
    stop: &Arc<AtomicBool>,
) -> io::Result<Vec<std::thread::JoinHandle<()>>> {
    let services: [(
        &'static str,
        u16,
        Option<std::time::Duration>,
        server::Handler,
    ); 3] = [
        ("echo", 7, None, Arc::new(crate::services::echo)),
        ("discard", 9, None, Arc::new(crate::services::discard)),
        ("chargen", 19, None, Arc::new(crate::services::chargen)),
    ];
    let mut threads = Vec::new();
    for (name, port, idle, handler) in services {
        match server::spawn(bridge, name, port, stop.clone(), idle, handler) {
            Ok(t) => threads.push(t),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for t in threads {
                    let _ = t.join();
                }
                return Err(e);
            }
        }
    }
    Ok(threads)
}

pub fn run(args: UpArgs) -> io::Result<ExitCode> {
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(io::Error::other)?;

    let bridge = Arc::new(args.net.start()?);
    let stop = Arc::new(AtomicBool::new(false));
    start_http(&bridge, args.http_root.clone(), args.net.addr)?;
    let echo = crate::udp_echo::spawn(&bridge, 7, stop.clone())?;
    let tcp = match tcp_services(&bridge, &stop) {
        Ok(t) => t,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            let _ = echo.join();
            return Err(e);
        }
    };

    let n = &args.net;
    println!("ustack is up on {} (MTU {})", bridge.tun_name(), n.mtu);
    println!("  kernel side  {}/{}", n.host_addr, n.prefix_len);
    println!("  stack        {}", n.addr);
    println!("  serving      ICMP echo, UDP echo on port 7");
    println!("               TCP echo 7, discard 9, chargen 19, HTTP 80");
    if let Some(r) = &args.http_root {
        println!("  http root    {}", r.display());
    }
    if let Some(p) = &n.pcap {
        println!("  pcap         {}", p.display());
    }
    println!("try:");
    println!("  ping {}", n.addr);
    println!("  ping -s 4000 {}        # fragmented both ways", n.addr);
    println!("  echo hello | nc -u -w1 {} 7", n.addr);
    println!(
        "  curl http://{}/  and  curl http://{}/stats",
        n.addr, n.addr
    );
    println!("  echo hello | nc -N {} 7          # TCP echo", n.addr);
    println!("  nc -N {} 9 < /etc/services       # discard", n.addr);
    println!("  nc {} 19 | head -5               # chargen", n.addr);
    println!("Ctrl-C to stop.");

    // Wait for Ctrl-C / SIGTERM, or for the loop to die on a device error.
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(500)) {
            Ok(()) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if bridge.is_running() => {}
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    // Every service thread notices `stop` within a tick and ends its connections.
    for t in tcp {
        let _ = t.join();
    }
    let stats = bridge.stats();
    let result = match Arc::try_unwrap(bridge) {
        Ok(b) => b.shutdown(),
        Err(_) => Ok(()), // cannot happen: only the threads joined above held it
    };
    println!("\nustack stopped; counters:\n{stats}");
    result.map(|()| ExitCode::SUCCESS)
}
