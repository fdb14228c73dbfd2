//! `ustack ss`: the running stack's sockets, like `ss -tuai` (read through the control socket,
//! so it works when the stack's own services do not answer).

use crate::daemon::client::{self, Client};
use crate::daemon::proto::{Body, Request, SocketsReply, StatsReply};
use crate::tools::ss_format::{print_sockets, print_summary, Services};
use clap::Args;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `ustack ss` (a subset of iproute2's `ss`, same letters).
#[derive(Debug, Args)]
pub struct SsArgs {
    /// TCP sockets.
    #[arg(short = 't', long = "tcp")]
    pub tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,
    /// Listening (and unconnected UDP) sockets only.
    #[arg(short = 'l', long = "listening")]
    pub listening: bool,
    /// Listening and non-listening sockets.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Numeric ports (no service names from /etc/services).
    #[arg(short = 'n', long = "numeric")]
    pub numeric: bool,
    /// TCP internals: rto, rtt, mss, cwnd, counters, rates.
    #[arg(short = 'i', long = "info")]
    pub info: bool,
    /// Summary: socket counts by kind and state.
    #[arg(short = 's', long = "summary")]
    pub summary: bool,
    /// Redraw every SECS seconds until Ctrl-C.
    #[arg(short = 'w', long = "watch", value_name = "SECS")]
    pub watch: Option<f64>,
    /// Print JSON (the control protocol's `sockets` / `stats` replies, filtered).
    #[arg(long)]
    pub json: bool,
    /// TUN device of the stack to inspect.
    #[arg(long = "tun", default_value = "ustack0")]
    pub tun: String,
    /// A state filter, as in ss: `state established`, `state time-wait`, `state connected`...
    /// (repeatable: `state syn-sent state syn-recv`).
    #[arg(value_name = "FILTER", num_args = 0..)]
    pub filter: Vec<String>,
}

/// The states a filter keeps.
#[derive(Debug, Clone, Default)]
pub struct StateFilter {
    states: Vec<&'static str>,
}

const ALL_STATES: [&str; 11] = [
    "established",
    "syn-sent",
    "syn-recv",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "close",
    "close-wait",
    "last-ack",
    "listen",
    "closing",
];

impl StateFilter {
    /// Parses `state NAME [state NAME ...]`.
    pub fn parse(words: &[String]) -> Result<Option<StateFilter>, String> {
        if words.is_empty() {
            return Ok(None);
        }
        let mut f = StateFilter::default();
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if w != "state" {
                return Err(format!("'{w}': only `state NAME` filters are understood"));
            }
            let name = it.next().ok_or("`state` needs a name")?;
            f.states.extend(expand(name)?);
        }
        Ok(Some(f))
    }

    /// Whether sockets in state `s` are kept.
    pub fn keeps(&self, s: &str) -> bool {
        self.states.contains(&s)
    }

    /// Whether the filter keeps listeners.
    pub fn keeps_listen(&self) -> bool {
        self.keeps("listen")
    }
}

/// The states an `ss` state name stands for (its aliases included).
fn expand(name: &str) -> Result<Vec<&'static str>, String> {
    let synchronized = || {
        ALL_STATES
            .iter()
            .copied()
            .filter(|s| !matches!(*s, "listen" | "close" | "syn-sent" | "syn-recv"))
            .collect::<Vec<_>>()
    };
    Ok(match name {
        "all" => ALL_STATES.to_vec(),
        "connected" => ALL_STATES
            .iter()
            .copied()
            .filter(|s| !matches!(*s, "listen" | "close"))
            .collect(),
        "synchronized" => synchronized(),
        "bucket" => vec!["syn-recv", "time-wait"],
        "big" => ALL_STATES
            .iter()
            .copied()
            .filter(|s| !matches!(*s, "syn-recv" | "time-wait"))
            .collect(),
        "estab" => vec!["established"],
        "closed" => vec!["close"],
        other => match ALL_STATES.iter().find(|s| **s == other) {
            Some(s) => vec![*s],
            None => {
                return Err(format!(
                    "'{other}': not a state (one of {}, all, connected, synchronized, bucket, big)",
                    ALL_STATES.join(", ")
                ))
            }
        },
    })
}

/// What to show, from the flags.
#[derive(Debug, Clone)]
pub struct Selection {
    pub tcp: bool,
    pub udp: bool,
    pub listening: bool,
    pub connected: bool,
    pub states: Option<StateFilter>,
}

impl Selection {
    fn new(args: &SsArgs, states: Option<StateFilter>) -> Selection {
        let (tcp, udp) = if args.tcp || args.udp {
            (args.tcp, args.udp)
        } else {
            (true, true)
        };
        let (listening, connected) = match (&states, args.all, args.listening) {
            (Some(_), _, _) | (None, true, _) => (true, true),
            (None, false, true) => (true, false),
            (None, false, false) => (false, true),
        };
        Selection {
            tcp,
            udp,
            listening,
            connected,
            states,
        }
    }

    /// Keeps what was asked for.
    pub fn apply(&self, mut r: SocketsReply) -> SocketsReply {
        let keep_state = |s: &str| match &self.states {
            Some(f) => f.keeps(s),
            None => self.connected,
        };
        r.tcp.retain(|t| self.tcp && keep_state(&t.state));
        let listen = match &self.states {
            Some(f) => f.keeps_listen(),
            None => self.listening,
        };
        r.listeners.retain(|_| self.tcp && listen);
        // UDP sockets here are all unconnected: `ss` lists them with -l / -a (state UNCONN,
        // which the `close` state filter selects).
        let udp = match &self.states {
            Some(f) => f.keeps("close"),
            None => self.listening,
        };
        r.udp.retain(|_| self.udp && udp);
        r
    }
}

pub fn run(args: SsArgs) -> io::Result<ExitCode> {
    let states = StateFilter::parse(&args.filter)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let sel = Selection::new(&args, states);
    let Some(mut client) = client::attach(&args.tun)? else {
        let path = client::socket_path(&args.tun)?;
        eprintln!(
            "ustack ss: no stack is running on {} (no control socket at {}); start one with `ustack up`",
            args.tun,
            path.display()
        );
        return Ok(ExitCode::from(1));
    };
    let services = Services::load(args.numeric);
    let interval = match args.watch {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "-w needs a positive number of seconds",
            ))
        }
        None => None,
    };
    loop {
        if interval.is_some() && !args.json {
            print!("\x1b[H\x1b[2J");
        }
        show(&mut client, &args, &sel, &services)?;
        match interval {
            Some(d) => std::thread::sleep(d),
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn show(
    client: &mut Client,
    args: &SsArgs,
    sel: &Selection,
    services: &Services,
) -> io::Result<()> {
    let sockets = match client.call(&Request::Sockets)? {
        Body::Sockets(s) => s,
        other => return Err(unexpected(&other)),
    };
    if args.summary {
        let stats = match client.call(&Request::Stats)? {
            Body::Stats(s) => s,
            other => return Err(unexpected(&other)),
        };
        return summary(args, &sockets, &stats);
    }
    let shown = sel.apply(sockets);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&shown).map_err(io::Error::other)?
        );
    } else {
        print_sockets(&shown, sel, args.info, services);
    }
    Ok(())
}

fn summary(args: &SsArgs, sockets: &SocketsReply, stats: &StatsReply) -> io::Result<()> {
    if args.json {
        let v = serde_json::json!({
            "tcp": crate::tools::ss_format::tcp_counts(sockets),
            "udp": sockets.udp.len(),
            "listeners": sockets.listeners.len(),
            "stats": stats,
        });
        println!("{v}");
    } else {
        print_summary(sockets, stats);
    }
    Ok(())
}

pub fn unexpected(b: &Body) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected reply from the daemon: {b:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn state_filters() {
        let f = StateFilter::parse(&words("state established"))
            .unwrap()
            .unwrap();
        assert!(f.keeps("established") && !f.keeps("time-wait") && !f.keeps_listen());
        let f = StateFilter::parse(&words("state time-wait state syn-recv"))
            .unwrap()
            .unwrap();
        assert!(f.keeps("time-wait") && f.keeps("syn-recv") && !f.keeps("established"));
        let f = StateFilter::parse(&words("state connected"))
            .unwrap()
            .unwrap();
        assert!(f.keeps("fin-wait-1") && !f.keeps_listen());
        assert!(StateFilter::parse(&words("state bogus")).is_err());
        assert!(StateFilter::parse(&words("state")).is_err());
        assert!(StateFilter::parse(&words("dport = 80")).is_err());
        assert!(StateFilter::parse(&[]).unwrap().is_none());
    }
}
