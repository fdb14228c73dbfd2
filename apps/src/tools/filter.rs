//! `ustack filter`: the running stack's firewall (docs/FIREWALL.md) — list it with counters,
//! add, insert and delete rules, flush, replace the whole rule set atomically, or check a file
//! without applying it.

use crate::daemon::client;
use crate::daemon::proto::{Body, FilterReply, FilterRequest, Request};
use clap::{Args, Subcommand};
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use ustack::filter::fw::{Firewall, DEFAULT_CONNTRACK_MAX};

/// Options of `ustack filter`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// What to do.
    #[command(subcommand)]
    pub op: FilterOp,
    /// Print the rule set as JSON (the control protocol's `filter` reply).
    #[arg(long, global = true)]
    pub json: bool,
    /// TUN device of the stack.
    #[arg(long = "tun", default_value = "ustack0", global = true)]
    pub tun: String,
}

/// `ustack filter` operations.
#[derive(Debug, Subcommand)]
pub enum FilterOp {
    /// The rule set with each rule's handle and counters.
    List,
    /// The same as list (nft's `list ruleset` shows counters too).
    Counters,
    /// Append a rule to a chain: `ustack filter add input tcp dport 22 drop`.
    Add {
        /// input, output or fragments.
        chain: String,
        /// The rule's words.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        rule: Vec<String>,
    },
    /// Put a rule at a position in a chain (0, the default, is first).
    Insert {
        /// input, output or fragments.
        chain: String,
        /// Position in the chain.
        #[arg(long, default_value_t = 0)]
        position: usize,
        /// The rule's words.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        rule: Vec<String>,
    },
    /// Delete the rule with this handle.
    Delete {
        /// The handle `list` shows.
        id: u32,
    },
    /// Delete every rule (sets and policies stay).
    Flush,
    /// Replace the whole rule set with FILE's, atomically (nothing changes if it has an error).
    Replace {
        /// The rule set.
        file: PathBuf,
    },
    /// Check FILE without applying it (no stack needed).
    Check {
        /// The rule set.
        file: PathBuf,
    },
}

fn read(file: &PathBuf) -> io::Result<String> {
    std::fs::read_to_string(file)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))
}

/// `ustack filter`.
pub fn run(args: FilterArgs) -> io::Result<ExitCode> {
    let mut req = FilterRequest::default();
    match &args.op {
        FilterOp::Check { file } => {
            let text = read(file)?;
            return Ok(match Firewall::parse(&text, DEFAULT_CONNTRACK_MAX) {
                Ok(fw) => {
                    println!("{}: {} rules, OK", file.display(), fw.rules().count());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    ExitCode::from(2)
                }
            });
        }
        FilterOp::List => req.op = Some("list".into()),
        FilterOp::Counters => req.op = Some("counters".into()),
        FilterOp::Add { chain, rule } | FilterOp::Insert { chain, rule, .. } => {
            let insert = matches!(args.op, FilterOp::Insert { .. });
            req.op = Some(if insert { "insert" } else { "add" }.into());
            req.chain = Some(chain.clone());
            req.rule = Some(rule.join(" "));
            if let FilterOp::Insert { position, .. } = args.op {
                req.position = Some(position);
            }
        }
        FilterOp::Delete { id } => {
            req.op = Some("delete".into());
            req.handle = Some(*id);
        }
        FilterOp::Flush => req.op = Some("flush".into()),
        FilterOp::Replace { file } => {
            req.op = Some("replace".into());
            req.ruleset = Some(read(file)?);
        }
    }
    let Some(mut client) = client::attach(&args.tun)? else {
        eprintln!(
            "ustack filter: no stack is running on {} (no control socket at {})",
            args.tun,
            client::socket_path(&args.tun)?.display()
        );
        return Ok(ExitCode::from(1));
    };
    match client.call(&Request::Filter(req)) {
        Ok(Body::Filter(reply)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&reply).map_err(io::Error::other)?
                );
            } else {
                print!("{}", format(&reply));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(other) => Err(io::Error::other(format!("unexpected reply {other:?}"))),
        Err(e) => {
            eprintln!("ustack filter: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The rule set as `nft list ruleset -a` would print it, with counters.
pub fn format(r: &FilterReply) -> String {
    let mut out = String::new();
    if let Some(id) = r.added {
        out.push_str(&format!("# added handle {id}\n"));
    }
    for (chain, policy, dropped) in &r.policies {
        out.push_str(&format!("chain {chain} {{ # policy {policy}"));
        if policy == "drop" {
            out.push_str(&format!(", {dropped} packets dropped by it"));
        }
        out.push('\n');
        for rule in r.rules.iter().filter(|x| x.chain == *chain) {
            out.push_str(&format!(
                "    {} # handle {} packets {} bytes {}\n",
                rule.text, rule.id, rule.packets, rule.bytes
            ));
        }
        out.push_str("}\n");
    }
    out.push_str(&format!(
        "# conntrack: {} flows, {} evicted\n",
        r.conntrack_flows, r.conntrack_evicted
    ));
    out
}
