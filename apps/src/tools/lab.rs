//! `ustack lab up|down|list`: a small multi-hop network to study, built from namespaces chained
//! by veth pairs with the kernel forwarding between them, IPv4 and IPv6 on every link unless
//! `--no-ipv6` (see [`plan`] for the address plan): per-link MTUs, optional netem delay/loss
//! where the kernel has it, and a far-end server. `ustack trace` through it shows real hops,
//! `--pmtu` sees real fragmentation-needed errors, and ICMP errors come from real routers. `lab up` stays in the foreground and removes
//! everything when it ends (Ctrl-C, SIGTERM); `lab down` removes leftovers.

mod note;
mod ops;
pub mod plan;
mod server;
mod stack;

use clap::{Args, Subcommand};
use plan::{Family, Plan, STACK, STACK6, STUDY, TUN_HOST, TUN_HOST6};
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of `ustack lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build the lab and keep it until Ctrl-C / SIGTERM, then remove it.
    Up(UpArgs),
    /// Remove a lab (its namespaces, links, processes inside, state file).
    Down(NameArg),
    /// Show the labs that exist.
    List,
    /// The far-end server (started by `lab up` inside the far namespace).
    #[command(hide = true)]
    Serve,
}

#[derive(Debug, Args)]
struct NameArg {
    /// Lab name: prefixes every namespace (`<name>-host`, `<name>-r1`, …, `<name>-far`).
    #[arg(long, default_value = plan::DEFAULT_NAME)]
    name: String,
}

#[derive(Debug, Args)]
struct UpArgs {
    #[command(flatten)]
    name: NameArg,
    /// MTU of each link, host side first; the number of links follows the list (576..=9000;
    /// 1280 or more unless --no-ipv6: IPv6's minimum link MTU).
    #[arg(long, value_name = "MTU,MTU,...", conflicts_with = "hops")]
    mtu_path: Option<String>,
    /// Number of links (all 1500) when --mtu-path is not given.
    #[arg(long, default_value_t = 3)]
    hops: usize,
    /// One-way delay per link in milliseconds (needs netem in the kernel).
    #[arg(long, value_name = "MS")]
    delay: Option<u32>,
    /// Loss per link in percent (needs netem in the kernel).
    #[arg(long, value_name = "PCT")]
    loss: Option<f64>,
    /// An IPv4-only lab: no IPv6 addresses, routes or forwarding on its links (which may
    /// then be narrower than 1280), and `--up` starts the stack with `--no-ipv6`.
    #[arg(long)]
    no_ipv6: bool,
    /// Do not start the far-end server.
    #[arg(long)]
    no_server: bool,
    /// Also run `ustack up --tun TUN` (`--ipv6`, or `--no-ipv6` with --no-ipv6) in the host namespace
    /// (stopped with the lab).
    #[arg(long)]
    up: bool,
    /// The TUN of the stack in the host namespace.
    #[arg(long, default_value = "ustack0")]
    tun: String,
}

/// `ustack lab up|down|list`: builds, removes or lists the labs (chains of namespaces; see
/// [`plan`]).
pub fn run(args: LabArgs) -> io::Result<ExitCode> {
    let r = match args.command {
        LabCommand::Up(a) => match checked(&a) {
            Ok(plan) => up(a, plan),
            Err(e) => {
                // Bad input: refused before anything is made.
                eprintln!("ustack lab: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        LabCommand::Down(a) => ops::down(&a.name).map(|removed| {
            if removed.is_empty() {
                println!("lab {}: nothing to remove", a.name);
            } else {
                println!("lab {}: removed {}", a.name, removed.join(" "));
            }
        }),
        LabCommand::List => list(),
        LabCommand::Serve => return server::serve().map(|()| ExitCode::SUCCESS),
    };
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("ustack lab: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The plan `lab up`'s options ask for, or why they cannot work.
fn checked(a: &UpArgs) -> Result<Plan, String> {
    let mtus = match &a.mtu_path {
        Some(s) => plan::parse_mtus(s)?,
        None => vec![1500; a.hops],
    };
    if a.loss.is_some_and(|l| !(0.0..=100.0).contains(&l)) {
        return Err("--loss must be a percentage in 0..=100".into());
    }
    Plan::new(&a.name.name, &mtus, !a.no_ipv6)
}

fn up(a: UpArgs, plan: Plan) -> Result<(), String> {
    if plan.ipv6 && !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        return Err("this kernel has no IPv6 (no /proc/sys/net/ipv6): use --no-ipv6".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(|e| e.to_string())?;
    let shaping = ops::Shaping {
        delay_ms: a.delay,
        loss_pct: a.loss,
    };
    let mut lab = ops::Lab::up(plan, &shaping, !a.no_server)?;
    if let Some(note) = &lab.shaping_note {
        eprintln!("ustack lab: {note}");
    }
    let stack_log = if a.up {
        Some(lab.start_stack(&a.tun)?)
    } else {
        None
    };
    describe(&lab, &a.tun, stack_log.as_deref());
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("lab {}: removing", lab.plan.name);
    drop(lab);
    Ok(())
}

/// `A` or `A B`: an address in each family the lab carries.
fn both(v4: impl std::fmt::Display, v6: impl std::fmt::Display, ipv6: bool) -> String {
    if ipv6 {
        format!("{v4} {v6}")
    } else {
        v4.to_string()
    }
}

/// Prints the lab's map and how to use it; the last line is `lab NAME ready`.
fn describe(lab: &ops::Lab, tun: &str, stack_log: Option<&std::path::Path>) {
    let p = &lab.plan;
    let six = p.ipv6;
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "lab {}:", p.name);
    let _ = writeln!(
        out,
        "  stack {} ⇄ TUN ⇄ {} ({}, forwards)",
        both(STACK, STACK6, six),
        p.host_ns(),
        both(TUN_HOST, TUN_HOST6, six)
    );
    for l in &p.links {
        let near = &p.nodes[l.index - 1].ns;
        let far = &p.nodes[l.index].ns;
        let (n6, f6) = (l.near_in(Family::V6), l.far_in(Family::V6));
        let _ = writeln!(
            out,
            "  link {}: {near} {} ⇄ {} {far}, mtu {}",
            l.index,
            both(l.near(), n6, six),
            both(l.far(), f6, six),
            l.mtu
        );
    }
    let far: Vec<String> = p.far_addrs().iter().map(|a| a.to_string()).collect();
    let _ = writeln!(
        out,
        "  far end {} in {}: TCP/UDP echo on {}, HTTP on {}",
        far.join(" "),
        p.far_ns(),
        server::ECHO_PORT,
        server::HTTP_PORT
    );
    for s in STUDY {
        let v4 = Plan::study_addr(s.id, Family::V4);
        let _ = writeln!(out, "  {v4}: {}", s.v4);
        if six {
            let _ = writeln!(out, "  {}: {}", Plan::study_addr(s.id, Family::V6), s.v6);
        }
    }
    if !six {
        let _ = writeln!(out, "  IPv4 only (--no-ipv6)");
    }
    if let Some(note) = &lab.shaping_note {
        let _ = writeln!(out, "  note: {note}");
    }
    let host = p.host_ns();
    match stack_log {
        Some(log) => {
            let _ = writeln!(
                out,
                "  ustack up runs in {host} on {tun} (output in {})",
                log.display()
            );
        }
        None if six => {
            let _ = writeln!(
                out,
                "  run the stack: ip netns exec {host} ustack up --ipv6   (with --no-ipv6 the \
                 stack has no IPv6: the links carry it, {host} does not route {STACK6})"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  run the stack: ip netns exec {host} ustack up --no-ipv6"
            );
        }
    }
    let _ = writeln!(out, "try:");
    let _ = writeln!(
        out,
        "  ip netns exec {} curl http://{STACK}/     (the far end reaching the stack)",
        p.far_ns()
    );
    if six {
        let _ = writeln!(
            out,
            "  ip netns exec {} ping -6 {STACK6}          (the stack answers IPv6 echo)",
            p.far_ns()
        );
    }
    let _ = writeln!(
        out,
        "  ip netns exec {host} ustack trace {}      (or with --pmtu, -I, -T -p 80)",
        p.far_addr()
    );
    let _ = writeln!(out, "lab {} ready (Ctrl-C removes it)", p.name);
    let _ = out.flush();
}

fn list() -> Result<(), String> {
    let labs = ops::list()?;
    if labs.is_empty() {
        println!("no labs");
    }
    for l in labs {
        let info = l
            .state
            .map(|s| s.lines().collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|| "no state file (left over? `ustack lab down`)".into());
        println!("{}: {} [{info}]", l.name, l.namespaces.join(" "));
        let host = format!("{}-host", l.name);
        if l.namespaces.contains(&host) {
            match stack::tuns(&host) {
                Ok(tuns) if tuns.is_empty() => println!("  stack: none running in {host}"),
                Ok(tuns) => {
                    for t in tuns {
                        println!("  stack: {}", t.describe());
                    }
                }
                Err(e) => println!("  stack: {e}"),
            }
        }
    }
    Ok(())
}
