//! `ustack ping`: echo requests from inside the stack, printed like iputils ping.

use crate::net::NetArgs;
use clap::Args;
use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tun_bridge::PingSocket;
use ustack::EchoEvent;

/// Options of `ustack ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// Address to ping (normally the kernel side, 198.18.0.1).
    destination: Ipv4Addr,
    /// Stop after sending this many requests (default: until Ctrl-C).
    #[arg(short = 'c')]
    count: Option<u32>,
    /// Data bytes per request (ICMP payload), 0..=65507.
    #[arg(short = 's', default_value_t = 56, value_parser = clap::value_parser!(u32).range(0..=65507))]
    size: u32,
    /// Seconds between requests.
    #[arg(short = 'i', default_value_t = 1.0)]
    interval: f64,
    /// Seconds to wait for each reply (and for the last one at the end).
    #[arg(short = 'W', default_value_t = 2.0)]
    timeout: f64,
    #[command(flatten)]
    pub net: NetArgs,
}

/// The payload of request `seq`: a pattern that depends on the sequence number, so a reply
/// carrying another request's data (or corrupted data) is noticed.
fn payload(seq: u16, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u16).wrapping_mul(31).wrapping_add(seq) as u8)
        .collect()
}

/// Round-trip statistics, computed like iputils (mdev = population standard deviation).
#[derive(Debug, Default)]
struct Rtts {
    samples: Vec<f64>,
}

impl Rtts {
    fn summary(&self) -> Option<(f64, f64, f64, f64)> {
        if self.samples.is_empty() {
            return None;
        }
        let n = self.samples.len() as f64;
        let min = self.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.samples.iter().copied().fold(0.0, f64::max);
        let avg = self.samples.iter().sum::<f64>() / n;
        let var = self.samples.iter().map(|x| x * x).sum::<f64>() / n - avg * avg;
        Some((min, avg, max, var.max(0.0).sqrt()))
    }
}

pub fn run(args: PingArgs) -> io::Result<ExitCode> {
    let interval_ok = args.interval.is_finite() && args.interval >= 0.0;
    let timeout_ok = args.timeout.is_finite() && args.timeout > 0.0;
    if !interval_ok || !timeout_ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad -i or -W value",
        ));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(io::Error::other)?;

    let bridge = args.net.start()?;
    let sock = PingSocket::open(&bridge, None)?;
    let dst = args.destination;
    let size = args.size as usize;
    println!("PING {dst} ({dst}) {size}({}) bytes of data.", size + 28);

    let interval = Duration::from_secs_f64(args.interval);
    let wait = Duration::from_secs_f64(args.timeout);
    let start = Instant::now();
    let mut sent: HashMap<u16, Instant> = HashMap::new();
    let (mut transmitted, mut received, mut errors) = (0u32, 0u32, 0u32);
    let mut rtts = Rtts::default();
    let mut buf = vec![0u8; 65536];
    let mut next_send = Instant::now();
    let mut last_send = Instant::now();
    let mut seq: u16 = 1;

    loop {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let done_sending = args.count.is_some_and(|c| transmitted >= c);
        let now = Instant::now();
        if done_sending {
            // Wait for outstanding replies up to -W after the last request.
            if received + errors >= transmitted || now >= last_send + wait {
                break;
            }
        } else if now >= next_send {
            match sock.send(dst, seq, &payload(seq, size)) {
                Ok(()) => {}
                Err(e) => eprintln!("ping: sendmsg: {e}"),
            }
            sent.insert(seq, now);
            transmitted += 1;
            last_send = now;
            seq = seq.wrapping_add(1);
            next_send = now + interval;
            continue;
        }
        let until = if done_sending {
            last_send + wait
        } else {
            next_send
        };
        let slice = until
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        match sock.recv(&mut buf, slice.max(Duration::from_millis(1)))? {
            Some(EchoEvent::Reply {
                from,
                seq: rseq,
                ttl,
                len,
            }) => {
                let Some(t0) = sent.remove(&rseq) else {
                    continue; // a duplicate or a reply to someone else's request
                };
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                let corrupt = len != size || buf[..len.min(buf.len())] != payload(rseq, size)[..];
                received += 1;
                rtts.samples.push(ms);
                println!(
                    "{} bytes from {from}: icmp_seq={rseq} ttl={ttl} time={}{}",
                    len + 8,
                    format_ms(ms),
                    if corrupt { " (BAD DATA)" } else { "" }
                );
            }
            Some(EchoEvent::Error { error, seq: rseq }) => {
                if sent.remove(&rseq).is_some() {
                    errors += 1;
                }
                println!("From {} icmp_seq={rseq} {}", error.from, error);
            }
            None => {}
        }
    }
    let elapsed = start.elapsed().as_millis();
    let loss = if transmitted == 0 {
        0.0
    } else {
        100.0 * f64::from(transmitted - received) / f64::from(transmitted)
    };
    println!("\n--- {dst} ping statistics ---");
    let err_text = if errors > 0 {
        format!(", +{errors} errors")
    } else {
        String::new()
    };
    println!(
        "{transmitted} packets transmitted, {received} received{err_text}, {}% packet loss, time {elapsed}ms",
        format_loss(loss)
    );
    if let Some((min, avg, max, mdev)) = rtts.summary() {
        println!("rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms");
    }
    drop(sock);
    bridge.shutdown()?;
    Ok(if received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn format_ms(ms: f64) -> String {
    // iputils prints three significant-ish digits: 0.045, 1.23, 12.3, 123.
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn format_loss(loss: f64) -> String {
    if loss.fract() == 0.0 {
        format!("{loss:.0}")
    } else {
        format!("{loss:.3}").trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_summary_matches_iputils_definition() {
        let r = Rtts {
            samples: vec![1.0, 2.0, 3.0],
        };
        let (min, avg, max, mdev) = r.summary().unwrap();
        assert_eq!((min, avg, max), (1.0, 2.0, 3.0));
        assert!((mdev - (2.0f64 / 3.0).sqrt()).abs() < 1e-9);
        assert!(Rtts::default().summary().is_none());
    }

    #[test]
    fn payload_depends_on_sequence() {
        assert_ne!(payload(1, 56), payload(2, 56));
        assert_eq!(payload(7, 100).len(), 100);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_loss(0.0), "0");
        assert_eq!(format_loss(25.0), "25");
        assert_eq!(format_loss(100.0 / 3.0), "33.333");
        assert_eq!(format_ms(0.0456), "0.046 ms");
        assert_eq!(format_ms(12.34), "12.3 ms");
    }
}
