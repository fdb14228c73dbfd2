//! `ustack ss`: the running stack's sockets, like `ss -tuai` (read through the control socket,
//! so it works when the stack's own services do not answer).

use crate::daemon::client::{self, Client};
use crate::daemon::proto::{Body, Request, SocketsReply, StatsReply};
use crate::tools::ss_filter::{self, bit, SsFilter, States};
use crate::tools::ss_format::{print_sockets, print_summary, Services};
use clap::Args;
use std::io;
use std::net::SocketAddr;
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
    /// Summary in the kernel's layout: totals, TCP by state, the Transport table.
    #[arg(short = 's', long = "summary")]
    pub summary: bool,
    /// The service or job that holds each socket, in ss's layout:
    /// `users:(("http",pid=PID))` — the name is the task inside `ustack up` (a service such as
    /// http or echo, or a job: connect, trace), the pid is the `ustack up` process; nothing for
    /// a socket nobody named holds (closed by its owner, not yet accepted).
    #[arg(short = 'p', long = "processes")]
    pub processes: bool,
    /// Redraw every SECS seconds until Ctrl-C.
    #[arg(short = 'w', long = "watch", value_name = "SECS")]
    pub watch: Option<f64>,
    /// Print JSON (the control protocol's `sockets` / `stats` replies, filtered).
    #[arg(long)]
    pub json: bool,
    /// TUN device of the stack to inspect.
    #[arg(long = "tun", default_value = "ustack0")]
    pub tun: String,
    /// The filter of iproute2's ss: `[state NAME | exclude NAME]... [EXPRESSION]`, the
    /// expression made of `sport`/`dport` OP PORT and `src`/`dst` [=] ADDR[/LEN][:PORT]
    /// (OP: = == eq != ne < lt > gt <= le >= ge), `and`/`or`/`not` (`&&` `||` `!`, left to right
    /// as in ss) and parentheses, in one word or many: `ustack ss -tn '( sport = :80 or dport =
    /// :7 )'`, `ustack ss state established dst 198.18.0.1`. States: established, syn-sent,
    /// syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, last-ack, listening,
    /// closing, and the groups all, connected, synchronized, bucket, big.
    #[arg(value_name = "FILTER", num_args = 0..)]
    pub filter: Vec<String>,
}

/// What to show, from the flags and the filter.
#[derive(Debug, Clone)]
pub struct Selection {
    /// TCP sockets are listed (`-t`, or neither `-t` nor `-u`).
    pub tcp: bool,
    /// UDP sockets are listed (`-u`, or neither).
    pub udp: bool,
    /// The states shown (see [`SsFilter::states`]).
    pub states: States,
    /// The address and port conditions a socket must meet.
    pub filter: SsFilter,
}

impl Selection {
    fn new(args: &SsArgs, filter: SsFilter) -> Selection {
        let (tcp, udp) = if args.tcp || args.udp {
            (args.tcp, args.udp)
        } else {
            (true, true)
        };
        let from_flags = if args.all {
            ss_filter::ALL
        } else if args.listening {
            bit("listen") | bit("close")
        } else {
            0
        };
        Selection {
            tcp,
            udp,
            states: filter.states(from_flags),
            filter,
        }
    }

    fn keeps(&self, state: &str) -> bool {
        self.states & bit(state) != 0
    }

    /// Keeps what was asked for. Listeners and UDP sockets (all unconnected: `UNCONN`, the
    /// `close` state) have the peer `0.0.0.0:0` in the expression, as in ss.
    pub fn apply(&self, mut r: SocketsReply) -> SocketsReply {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let f = &self.filter;
        r.tcp
            .retain(|t| self.tcp && self.keeps(&t.state) && f.matches(t.local, t.peer));
        r.listeners
            .retain(|l| self.tcp && self.keeps("listen") && f.matches(l.local, any));
        r.udp
            .retain(|u| self.udp && self.keeps("close") && f.matches(u.local, any));
        r
    }
}

/// The filter of the command line, or a message pointing at the error.
pub fn filter(words: &[String]) -> Result<SsFilter, String> {
    let services = Services::load(false);
    ss_filter::parse(words, &|name| services.port_of(name)).map_err(|e| {
        let text = words.join(" ");
        let caret = " ".repeat(e.column.saturating_sub(1).min(text.chars().count()));
        format!("{e}\n  {text}\n  {caret}^")
    })
}

/// `ustack ss`: the stack's sockets, listed or summed up as iproute2's ss does; exit code 2 for
/// a filter that does not parse (nothing is queried then).
pub fn run(args: SsArgs) -> io::Result<ExitCode> {
    let filter = match filter(&args.filter) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("ustack ss: {msg}");
            return Ok(ExitCode::from(2));
        }
    };
    let sel = Selection::new(&args, filter);
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
        print_sockets(&shown, sel, args, services);
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

/// The error for a reply the daemon should not have sent to this request.
pub fn unexpected(b: &Body) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected reply from the daemon: {b:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ss: SsArgs,
    }

    fn selection(line: &str) -> Selection {
        let cli = Cli::parse_from(std::iter::once("ss").chain(line.split_whitespace()));
        let f = filter(&cli.ss.filter).unwrap();
        Selection::new(&cli.ss, f)
    }

    #[test]
    fn flags_and_state_words_choose_states_as_ss_does() {
        // Without -a, -l or a state word: connected, not TIME-WAIT or SYN-RECV (ss's SS_CONN).
        let s = selection("-tn");
        assert!(s.keeps("established") && !s.keeps("time-wait") && !s.keeps("syn-recv"));
        assert!(!s.keeps("listen"));
        let s = selection("-tln");
        assert!(s.keeps("listen") && s.keeps("close") && !s.keeps("established"));
        let s = selection("-ta");
        assert!(s.keeps("time-wait") && s.keeps("listen"));
        let s = selection("-ta state time-wait");
        assert!(s.keeps("time-wait") && !s.keeps("listen"));
        let s = selection("-t exclude listening");
        assert!(s.keeps("time-wait") && !s.keeps("listen"));
    }

    #[test]
    fn a_malformed_filter_points_at_its_column() {
        let e = filter(&["sport".into(), "=".into(), ":80".into(), "bogus".into()]).unwrap_err();
        assert!(e.starts_with("error at column 13:"), "{e}");
        let caret = format!("\n  sport = :80 bogus\n  {}^", " ".repeat(12));
        assert!(e.ends_with(&caret), "{e:?}");
    }
}
