//! `ustack events`: what changes in the running stack, one line per event — connections opening,
//! changing state, closing, and drops by reason (sampled; see docs/CONTROL.md) — until Ctrl-C.

use crate::daemon::client;
use crate::daemon::proto::{Body, Event, EventsRequest, Request};
use clap::Args;
use std::io::{self, Write};
use std::process::ExitCode;

/// Options of `ustack events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// How often the daemon looks for changes, milliseconds (at least 10).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub interval: u64,
    /// One JSON object per event.
    #[arg(long)]
    pub json: bool,
    /// TUN device of the stack to watch.
    #[arg(long = "tun", default_value = "ustack0")]
    pub tun: String,
}

/// `ustack events`: follows the stack's TCP state changes (and RTOs, retransmissions) on
/// `--tun`, one line (or JSON object) each, until Ctrl-C.
pub fn run(args: EventsArgs) -> io::Result<ExitCode> {
    let Some(mut client) = client::attach(&args.tun)? else {
        eprintln!(
            "ustack events: no stack is running on {} (no control socket at {})",
            args.tun,
            client::socket_path(&args.tun)?.display()
        );
        return Ok(ExitCode::from(1));
    };
    let closer = client.closer()?;
    ctrlc::set_handler(move || {
        let _ = closer.shutdown(std::net::Shutdown::Write);
    })
    .map_err(io::Error::other)?;
    let req = EventsRequest {
        interval_ms: Some(args.interval),
    };
    client.send(&Request::Events(req))?;
    let started = std::time::Instant::now();
    let mut out = io::stdout().lock();
    while let Some(reply) = client.next_reply()? {
        match reply.body {
            Body::Event(ev) if args.json => writeln!(
                out,
                "{}",
                serde_json::to_string(&ev).map_err(io::Error::other)?
            )?,
            Body::Event(ev) => {
                let t = started.elapsed().as_secs_f64();
                writeln!(out, "{t:10.3} {}", describe(&ev))?
            }
            Body::Lost(l) => eprintln!("ustack events: {} events lost (output too slow)", l.count),
            Body::Error(e) => {
                eprintln!("ustack events: {}", e.message);
                return Ok(ExitCode::from(2));
            }
            Body::End(_) => break,
            _ => {}
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One event as a line for people.
pub fn describe(ev: &Event) -> String {
    match ev {
        Event::Open { state, local, peer } => format!("open   {local} {peer} {state}"),
        Event::State {
            from,
            to,
            local,
            peer,
        } => format!("state  {local} {peer} {from} -> {to}"),
        Event::Close { state, local, peer } => format!("close  {local} {peer} (was {state})"),
        Event::Counter { name, delta } => format!("count  {name} +{delta}"),
        Event::Drop { reason, count } => format!("drop   {reason} +{count}"),
    }
}
