//! `ustack send DST`: hping3 from inside the stack — crafted TCP (any flags), UDP, ICMP and raw
//! IP probes with every header field on the command line, each reply printed in hping3's line
//! format, then hping3's statistics. It attaches to the stack running on `--tun` (the job runs
//! in that daemon, `daemon/requests/send.rs`) or brings up its own only when none runs.

mod format;

use crate::daemon::jobs::send::spec::{parse_hex, MAX_PATTERN};
use crate::daemon::proto::{
    Body, Fragmenting, PortStep, Request, SendEvent, SendMode, SendRequest,
};
use crate::tools::family::Family;
use crate::tools::net::NetArgs;
use clap::Args;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `ustack send` (hping3's letters; the stack's own TTL is `--stack-ttl` here).
#[derive(Debug, Args)]
#[command(mut_arg("ttl", |a| a.long("stack-ttl")))]
pub struct SendArgs {
    /// Target address (IPv4, or IPv6: hping3 has no IPv6, ustack send has). It must be in the
    /// stack's own prefix or the lab ranges (198.18.0.0/15, 2001:2::/48) unless
    /// --i-own-the-network.
    #[arg(value_name = "DESTINATION")]
    destination: String,
    /// `-4`, `-6`.
    #[command(flatten)]
    family: Family,
    /// Raw IP mode: a bare IP header with --ipproto and the data.
    #[arg(short = '0', long = "rawip", conflicts_with_all = ["icmp", "udp"])]
    rawip: bool,
    /// ICMP mode (ICMPv6 over IPv6): echo requests unless --icmptype.
    #[arg(short = '1', long = "icmp", conflicts_with = "udp")]
    icmp: bool,
    /// UDP mode.
    #[arg(short = '2', long = "udp")]
    udp: bool,
    /// Probes to send (default: until Ctrl-C; a flood stops after 100000).
    #[arg(short = 'c', long = "count")]
    count: Option<u32>,
    /// Wait between probes: seconds (`-i 0.5`) or microseconds (`-i u10000`), as hping3.
    #[arg(short = 'i', long = "interval", default_value = "1", value_parser = interval_arg)]
    interval: u64,
    /// Flood: send at --rate (default 1000 a second), counting replies without showing them;
    /// bounded by -c (default 100000).
    #[arg(long)]
    flood: bool,
    /// Most probes a second (1..=100000).
    #[arg(long)]
    rate: Option<u32>,
    /// Quiet: only the first line and the statistics.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Numeric output (always: ustack resolves no names); accepted for hping3's habits.
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// TTL (IPv6: hop limit) of the probes.
    #[arg(short = 't', long = "ttl", id = "probe_ttl", default_value_t = 64)]
    probe_ttl: u8,
    /// IPv4 identification (over IPv6 with -f, the fragment header's); default random.
    #[arg(short = 'N', long = "id")]
    id: Option<u32>,
    /// Type of service (IPv6: traffic class), e.g. `--tos 0x10`.
    #[arg(short = 'o', long = "tos", value_parser = byte_arg, default_value = "0")]
    tos: u8,
    /// Split the probes into fragments (of --frag-size data bytes, default 16).
    #[arg(short = 'f', long = "frag")]
    frag: bool,
    /// Data bytes per fragment, a multiple of 8 (hping3's --mtu: --mtu here is the stack's link MTU); implies -f.
    #[arg(long = "frag-size")]
    frag_size: Option<u16>,
    /// Overlapping fragments: each after the first starts 8 bytes early; implies -f.
    #[arg(long = "frag-overlap")]
    frag_overlap: bool,
    /// Set More Fragments (IPv4).
    #[arg(short = 'x', long = "morefrag")]
    morefrag: bool,
    /// Set Don't Fragment (IPv4).
    #[arg(short = 'y', long = "dontfrag")]
    dontfrag: bool,
    /// A bad checksum: the transport's (raw IP: the IP header's).
    #[arg(short = 'b', long = "badcksum")]
    badcksum: bool,
    /// Source port of the first probe (default random 1024..3024); one up per probe unless -k.
    #[arg(short = 's', long = "baseport")]
    baseport: Option<u16>,
    /// Destination port: N, +N (one up per reply) or ++N (one up per probe).
    #[arg(short = 'p', long = "destport", value_parser = port_arg, allow_hyphen_values = true)]
    destport: Option<(PortStep, u16)>,
    /// Keep the source port.
    #[arg(short = 'k', long = "keep")]
    keep: bool,
    /// TCP window (default 512, as hping3).
    #[arg(short = 'w', long = "win", default_value_t = 512)]
    win: u16,
    /// TCP sequence number (default random per probe).
    #[arg(short = 'M', long = "seq", visible_alias = "setseq")]
    seq: Option<u32>,
    /// TCP acknowledgment field (default random per probe).
    #[arg(short = 'L', long = "ack", visible_alias = "setack")]
    ack: Option<u32>,
    /// TCP options as hex bytes (`020405b4` = MSS 1460), padded to 4; at most 40 without --raw.
    #[arg(long = "tcp-options", value_name = "HEX")]
    tcp_options: Option<String>,
    /// Build what cannot be a valid header (options beyond 40 bytes).
    #[arg(long)]
    raw: bool,
    /// FIN.
    #[arg(short = 'F', long = "fin")]
    fin: bool,
    /// SYN.
    #[arg(short = 'S', long = "syn")]
    syn: bool,
    /// RST.
    #[arg(short = 'R', long = "rst")]
    rst: bool,
    /// PUSH.
    #[arg(short = 'P', long = "push")]
    push: bool,
    /// ACK.
    #[arg(short = 'A', long = "ack-flag")]
    ack_flag: bool,
    /// URG.
    #[arg(short = 'U', long = "urg")]
    urg: bool,
    /// The X flag (0x40, ECE).
    #[arg(short = 'X', long = "xmas")]
    xmas: bool,
    /// The Y flag (0x80, CWR).
    #[arg(short = 'Y', long = "ymas")]
    ymas: bool,
    /// ICMP type (default echo request: 8, over IPv6 128).
    #[arg(short = 'C', long = "icmptype")]
    icmptype: Option<u8>,
    /// ICMP code.
    #[arg(short = 'K', long = "icmpcode", default_value_t = 0)]
    icmpcode: u8,
    /// IP protocol of raw IP probes (default 6).
    #[arg(short = 'H', long = "ipproto", default_value_t = 6)]
    ipproto: u8,
    /// Data bytes per probe (`X`s, or the -E file repeated).
    #[arg(short = 'd', long = "data")]
    data: Option<usize>,
    /// Take the data from this file (at most 16 KiB; repeated or cut to -d).
    #[arg(short = 'E', long = "file")]
    file: Option<PathBuf>,
    /// Random source addresses inside the stack's own prefix.
    #[arg(long = "rand-source")]
    rand_source: bool,
    /// Claim the source ports, so the stack sends no RST of its own to the SYN-ACKs the probes
    /// provoke (hping3 lets the kernel RST, and so does ustack send by default).
    #[arg(long = "no-rst")]
    no_rst: bool,
    /// Seconds to wait for replies after the last probe (hping3: 1).
    #[arg(long = "wait", default_value_t = 1.0)]
    wait: f64,
    /// Allow a target outside the stack's prefix and the lab ranges.
    #[arg(long = "i-own-the-network")]
    i_own_the_network: bool,
    /// One JSON object per event (start, reply, icmp_error, send_failed, summary).
    #[arg(long)]
    json: bool,
    /// The stack to run on (attached by `--tun`, or one of its own).
    #[command(flatten)]
    pub net: NetArgs,
}

/// `-i`: hping3's `uN` (microseconds) or seconds.
fn interval_arg(s: &str) -> Result<u64, String> {
    if let Some(us) = s.strip_prefix('u') {
        return us.parse().map_err(|_| format!("{s}: uN is N microseconds"));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..1e6).contains(&v) => Ok((v * 1e6).round() as u64),
        _ => Err(format!("{s}: seconds, or uN for N microseconds")),
    }
}

/// `-p`: `N`, `+N`, `++N` (hping3).
fn port_arg(s: &str) -> Result<(PortStep, u16), String> {
    let (step, n) = if let Some(n) = s.strip_prefix("++") {
        (PortStep::PerProbe, n)
    } else if let Some(n) = s.strip_prefix('+') {
        (PortStep::PerReply, n)
    } else {
        (PortStep::Fixed, s)
    };
    let port = n
        .parse()
        .map_err(|_| format!("{s}: a port 0..=65535, +N or ++N"))?;
    Ok((step, port))
}

/// A byte in decimal or `0x` hex.
fn byte_arg(s: &str) -> Result<u8, String> {
    let v = match s.strip_prefix("0x") {
        Some(h) => u8::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.map_err(|_| format!("{s}: a byte, decimal or 0x hex"))
}

impl SendArgs {
    fn tcp_flags(&self) -> u8 {
        [
            (self.fin, 0x01),
            (self.syn, 0x02),
            (self.rst, 0x04),
            (self.push, 0x08),
            (self.ack_flag, 0x10),
            (self.urg, 0x20),
            (self.xmas, 0x40),
            (self.ymas, 0x80),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, b)| acc | b)
    }

    /// The request these options ask for (the daemon checks the rest, naming the field).
    pub fn request(&self) -> io::Result<SendRequest> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        let mut r = SendRequest::new(self.family.destination(&self.destination)?);
        r.mode = if self.rawip {
            SendMode::RawIp
        } else if self.icmp {
            SendMode::Icmp
        } else if self.udp {
            SendMode::Udp
        } else {
            SendMode::Tcp
        };
        r.tcp_flags = self.tcp_flags();
        if r.mode != SendMode::Tcp && r.tcp_flags != 0 {
            return Err(bad(
                "-F -S -R -P -A -U -X -Y: TCP flags need TCP mode".into()
            ));
        }
        r.src_port = self.baseport;
        r.keep_src_port = self.keep;
        if let Some((step, port)) = self.destport {
            (r.port_step, r.dst_port) = (step, port);
        }
        (r.tcp_seq, r.tcp_ack, r.tcp_win) = (self.seq, self.ack, self.win);
        r.tcp_options = self.tcp_options.clone();
        r.raw = self.raw;
        (r.icmp_type, r.icmp_code, r.ip_proto) = (self.icmptype, self.icmpcode, self.ipproto);
        (r.ttl, r.ip_id, r.tos) = (self.probe_ttl, self.id, self.tos);
        (r.dont_fragment, r.more_fragments) = (self.dontfrag, self.morefrag);
        if self.frag || self.frag_size.is_some() || self.frag_overlap {
            r.fragment = Some(Fragmenting {
                size: self.frag_size.unwrap_or(16),
                overlap: self.frag_overlap,
            });
        }
        r.bad_checksum = self.badcksum;
        r.data_size = self.data;
        if let Some(path) = &self.file {
            let bytes =
                std::fs::read(path).map_err(|e| bad(format!("-E {}: {e}", path.display())))?;
            if bytes.len() > MAX_PATTERN {
                return Err(bad(format!(
                    "-E {}: {} bytes, at most {MAX_PATTERN}",
                    path.display(),
                    bytes.len()
                )));
            }
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            debug_assert!(parse_hex(&hex).is_ok());
            r.data_hex = Some(hex);
        }
        r.count = self.count;
        r.interval_us = self.interval;
        r.flood = self.flood;
        r.rate = self.rate;
        r.rand_source = self.rand_source;
        r.stack_rst = !self.no_rst;
        if !(self.wait.is_finite() && (0.0..=60.0).contains(&self.wait)) {
            return Err(bad(format!("--wait {}: 0 to 60 seconds", self.wait)));
        }
        r.wait_ms = (self.wait * 1000.0).round() as u64;
        r.i_own_the_network = self.i_own_the_network;
        Ok(r)
    }
}

/// `ustack send`: hping3's probes from inside the stack; exit code 0 with a reply, 1 without,
/// 2 when refused (nothing sent).
pub fn run(args: SendArgs) -> io::Result<ExitCode> {
    let req = args.request()?;
    let mut session = args.net.attach_or_start()?;
    // Ctrl-C half-closes the control connection: the job stops at once and sends the summary.
    let closer = session.client.closer()?;
    ctrlc::set_handler(move || {
        let _ = closer.shutdown(std::net::Shutdown::Write);
    })
    .map_err(io::Error::other)?;
    let id = session.client.send(&Request::Send(req))?;
    let mut received = None;
    while let Some(reply) = session.client.next_reply()? {
        if reply.id != id && reply.id != 0 {
            continue;
        }
        match reply.body {
            Body::Send(ev) => {
                if let SendEvent::Summary(s) = &ev {
                    received = Some(s.received);
                }
                print(&args, &ev)?;
            }
            Body::Error(e) => {
                eprintln!("ustack send: {}", e.message);
                let _ = session.close();
                return Ok(ExitCode::from(2));
            }
            Body::Lost(l) => eprintln!("ustack send: {} events lost (output too slow)", l.count),
            Body::End(_) => break,
            _ => {}
        }
    }
    session.close()?;
    Ok(match received {
        Some(n) if n > 0 => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(1),
        None => ExitCode::from(2),
    })
}

fn print(args: &SendArgs, ev: &SendEvent) -> io::Result<()> {
    let mut o = io::stdout().lock();
    if args.json {
        let line = serde_json::to_string(ev).map_err(io::Error::other)?;
        writeln!(o, "{line}")?;
        return o.flush();
    }
    let text = match ev {
        SendEvent::Start(s) => format::start(s),
        SendEvent::Reply(r) if !args.quiet => format::reply(r),
        SendEvent::IcmpError(e) if !args.quiet => format::icmp_error(e),
        SendEvent::SendFailed { message, .. } => {
            eprintln!("[send_ip] sendto: {message}");
            String::new()
        }
        // hping3 prints its statistics on stderr.
        SendEvent::Summary(s) => {
            o.flush()?;
            eprint!("{}", format::summary(s));
            String::new()
        }
        _ => String::new(),
    };
    o.write_all(text.as_bytes())?;
    o.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<SendArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            send: SendArgs,
        }
        Cli::try_parse_from(std::iter::once("send").chain(args.iter().copied())).map(|c| c.send)
    }

    #[test]
    fn hping3_command_lines_make_the_request() {
        let r = parsed(&[
            "-S",
            "-A",
            "-p",
            "++80",
            "-c",
            "3",
            "-i",
            "u10000",
            "198.18.0.1",
        ])
        .unwrap()
        .request()
        .unwrap();
        assert_eq!((r.mode, r.tcp_flags, r.dst_port), (SendMode::Tcp, 0x12, 80));
        assert_eq!(
            (r.port_step, r.count, r.interval_us),
            (PortStep::PerProbe, Some(3), 10_000)
        );
        let r = parsed(&[
            "-2",
            "-p",
            "+53",
            "--ttl",
            "1",
            "-i",
            "0.5",
            "-d",
            "10",
            "198.18.0.1",
        ])
        .unwrap()
        .request()
        .unwrap();
        assert_eq!(
            (r.mode, r.port_step, r.ttl),
            (SendMode::Udp, PortStep::PerReply, 1)
        );
        assert_eq!((r.interval_us, r.data_size), (500_000, Some(10)));
        let r = parsed(&["-1", "-C", "13", "--tos", "0x10", "-6", "2001:2::1"])
            .unwrap()
            .request()
            .unwrap();
        assert_eq!(
            (r.mode, r.icmp_type, r.tos),
            (SendMode::Icmp, Some(13), 0x10)
        );
        let r = parsed(&["-0", "-H", "99", "--frag-overlap", "198.18.0.1"])
            .unwrap()
            .request()
            .unwrap();
        assert_eq!((r.mode, r.ip_proto), (SendMode::RawIp, 99));
        assert_eq!(
            r.fragment,
            Some(Fragmenting {
                size: 16,
                overlap: true
            })
        );
        // The stack's TTL is --stack-ttl here; --ttl is the probes'.
        let a = parsed(&["--stack-ttl", "9", "--ttl", "3", "198.18.0.1"]).unwrap();
        assert_eq!((a.net.ttl, a.probe_ttl), (9, 3));
        assert!(parsed(&["-1", "-2", "198.18.0.1"]).is_err());
        assert!(parsed(&["-p", "x80", "198.18.0.1"]).is_err());
        assert!(parsed(&["-2", "-S", "198.18.0.1"])
            .unwrap()
            .request()
            .is_err());
    }
}
