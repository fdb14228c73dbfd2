//! The live half of `ustack capture`: attach to the running `ustack up` on `--tun` through its
//! control socket, send a `capture` request (the daemon compiles and runs the filter), and take
//! the packets it streams until Ctrl-C/SIGTERM or `-c`. At the end, like tcpdump: how many
//! packets were captured and how many were dropped for this client (its queue in the daemon or
//! its connection was full).
//!
//! The packets come as binary frames (`daemon::capture::frames`), cut to the snap length in
//! the daemon; what was written is flushed whenever the client has caught up with the stream
//! (nothing more received), so a file or a terminal is current within one batch and a busy
//! capture costs one write per batch, not one per packet.

use crate::daemon::capture::frames::{self, Frame, HEADER_LEN, MAX_CAPLEN};
use crate::daemon::client::{self, Client};
use crate::daemon::proto::{Body, CaptureRequest, Request};
use crate::tools::capture::{CaptureArgs, Sink};
use std::io;
use std::net::Shutdown;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};
use tun_bridge::Direction;

/// Attaches to the stack on `args.tun` and takes what `filter` matches.
pub fn run(args: &CaptureArgs, filter: String) -> io::Result<ExitCode> {
    let Some(mut client) = client::attach(&args.tun)? else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no `ustack up` is running on {} (no control socket at {}); start one, or read a file with -r",
                args.tun,
                client::socket_path(&args.tun)?.display()
            ),
        ));
    };
    let closer = client.closer()?;
    // Ctrl-C / SIGTERM: half-close, so the daemon ends the stream and still sends its counts.
    ctrlc::set_handler(move || {
        let _ = closer.shutdown(Shutdown::Write);
    })
    .map_err(io::Error::other)?;
    let mut sink = Sink::new(args)?;
    let id = client.send(&Request::Capture(CaptureRequest {
        filter,
        count: args.count,
        queue: Some(args.buffer),
        framing: Some("binary".into()),
        snaplen: Some(crate::tools::capture::snaplen(args) as u32),
    }))?;
    let (mut dropped, mut finished) = (None, false);
    while let Some(reply) = client.next_reply()? {
        if reply.id != id && reply.id != 0 {
            continue;
        }
        match reply.body {
            Body::Capturing(c) => {
                eprintln!(
                    "listening on {}, link-type RAW (Raw IP), snapshot length {} bytes, queue {} packets{}",
                    args.tun,
                    c.snaplen.unwrap_or(MAX_CAPLEN as u32),
                    c.queue,
                    if c.filter.is_empty() {
                        String::new()
                    } else {
                        format!(", filter '{}'", c.filter)
                    }
                );
                if c.framing.as_deref() == Some("binary") {
                    take_frames(&mut client, &mut sink, &mut finished)?;
                }
            }
            Body::Packet(p) => {
                let Some(data) = crate::daemon::proto::from_hex(&p.hex) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the daemon sent a packet that is not hex",
                    ));
                };
                let dir = if p.dir == "out" {
                    Direction::Out
                } else {
                    Direction::In
                };
                let ts = UNIX_EPOCH + Duration::from_micros(p.time_us);
                let more = sink.packet(ts, Some(dir), &data, data.len() as u32)?;
                // Live, every packet shows (or reaches the file) at once, like tcpdump -l / -U.
                sink.flush()?;
                if !more && !finished {
                    finished = true;
                    let _ = client.finish();
                }
            }
            Body::Captured(c) => dropped = Some(c.dropped),
            Body::End(_) => break,
            Body::Error(e) => {
                sink.flush()?;
                eprintln!("ustack capture: {}", e.message);
                return Ok(ExitCode::from(2));
            }
            _ => {}
        }
    }
    sink.flush()?;
    eprintln!("{} packets captured", sink.captured);
    match dropped {
        Some(d) => {
            eprintln!("{d} packets dropped");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("ustack capture: the daemon closed the capture without its counts");
            Ok(ExitCode::from(1))
        }
    }
}

/// Takes frames until the end frame, into `sink`; half-closes once `sink` wants no more.
fn take_frames(client: &mut Client, sink: &mut Sink, finished: &mut bool) -> io::Result<()> {
    let mut head = [0u8; HEADER_LEN];
    let mut data = vec![0u8; MAX_CAPLEN];
    loop {
        client.read_exact(&mut head)?;
        let len = frames::frame_len(&head)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let body = &mut data[..len - HEADER_LEN];
        client.read_exact(body)?;
        match frames::decode(&head, body) {
            Frame::End => return Ok(()),
            // Counted in the daemon's `captured` summary, printed at the end.
            Frame::Lost(_) => {}
            Frame::Packet {
                dir,
                ts,
                orig_len,
                data,
            } => {
                if !*finished && !sink.packet(ts, Some(dir), data, orig_len)? {
                    *finished = true;
                    let _ = client.finish();
                }
            }
        }
        if !client.buffered() {
            sink.flush()?;
        }
    }
}
