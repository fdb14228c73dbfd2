//! `ustack up`: the stack on a TUN interface, answering ping and serving UDP echo.

use crate::net::NetArgs;
use clap::Args;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// Options of `ustack up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub net: NetArgs,
}

pub fn run(args: UpArgs) -> io::Result<ExitCode> {
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(io::Error::other)?;

    let bridge = args.net.start()?;
    let stop = Arc::new(AtomicBool::new(false));
    let echo = crate::udp_echo::spawn(&bridge, 7, stop.clone())?;

    let n = &args.net;
    println!("ustack is up on {} (MTU {})", bridge.tun_name(), n.mtu);
    println!("  kernel side  {}/{}", n.host_addr, n.prefix_len);
    println!("  stack        {}", n.addr);
    println!("  serving      ICMP echo, UDP echo on port 7");
    if let Some(p) = &n.pcap {
        println!("  pcap         {}", p.display());
    }
    println!("try:");
    println!("  ping {}", n.addr);
    println!("  ping -s 4000 {}        # fragmented both ways", n.addr);
    println!("  echo hello | nc -u -w1 {} 7", n.addr);
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
    let stats = bridge.stats();
    let _ = echo.join();
    let result = bridge.shutdown();
    println!("\nustack stopped; counters:\n{stats}");
    result.map(|()| ExitCode::SUCCESS)
}
