//! Packet taps: every packet the bridge reads from or writes to the TUN is shown to each tap —
//! a pcap file for Wireshark/tcpdump, or a one-line-per-packet log in tcpdump style.

use crate::pcap::PcapWriter;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;
use ustack::wire::PacketSummary;

/// Which way a packet crossed the TUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the kernel into the stack.
    In,
    /// From the stack to the kernel.
    Out,
}

/// Something that watches packets. Called on the event-loop thread: keep it quick.
pub trait Tap: Send {
    /// One packet, as raw IPv4 bytes.
    fn packet(&mut self, dir: Direction, ts: SystemTime, bytes: &[u8]);
    /// Flush buffered output (called when the loop goes idle and at shutdown).
    fn flush(&mut self) {}
    /// Whether the tap wants packets now; when no tap does, the loop skips even the clock read
    /// (an idle capture hub says no).
    fn wants_packets(&self) -> bool {
        true
    }
}

/// Writes every packet to a pcap file (LINKTYPE_RAW).
#[derive(Debug)]
pub struct PcapTap {
    writer: PcapWriter<BufWriter<File>>,
    failed: bool,
}

impl PcapTap {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> io::Result<PcapTap> {
        let writer = PcapWriter::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating pcap file {}: {e}", path.display()),
            )
        })?;
        Ok(PcapTap {
            writer,
            failed: false,
        })
    }
}

impl Tap for PcapTap {
    fn packet(&mut self, _dir: Direction, ts: SystemTime, bytes: &[u8]) {
        if self.failed {
            return;
        }
        if let Err(e) = self.writer.write_packet(ts, bytes) {
            log::warn!("pcap writing stopped: {e}");
            self.failed = true;
        }
    }
    fn flush(&mut self) {
        if !self.failed {
            let _ = self.writer.flush();
        }
    }
}

/// Prints one decoded line per packet: `HH:MM:SS.uuuuuu in  IP a > b: ...` (UTC).
pub struct LogTap {
    out: Box<dyn Write + Send>,
}

impl std::fmt::Debug for LogTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogTap")
    }
}

impl LogTap {
    /// Logs to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> LogTap {
        LogTap { out }
    }

    /// Logs to standard output.
    pub fn stdout() -> LogTap {
        LogTap::new(Box::new(io::stdout()))
    }
}

/// Formats a wall-clock time as `HH:MM:SS.uuuuuu` UTC, like tcpdump's default timestamps.
pub fn time_of_day(ts: SystemTime) -> String {
    let d = ts
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        d.subsec_micros()
    )
}

impl Tap for LogTap {
    fn packet(&mut self, dir: Direction, ts: SystemTime, bytes: &[u8]) {
        let arrow = match dir {
            Direction::In => "in ",
            Direction::Out => "out",
        };
        let _ = writeln!(
            self.out,
            "{} {arrow} {}",
            time_of_day(ts),
            PacketSummary(bytes)
        );
    }
    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_line_format() {
        let buf = Shared::default();
        let mut tap = LogTap::new(Box::new(buf.clone()));
        let ts = SystemTime::UNIX_EPOCH + Duration::from_micros(3_723_000_042);
        tap.packet(Direction::Out, ts, &[0x45, 0]);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.starts_with("01:02:03.000042 out IP [malformed"),
            "{text}"
        );
        assert!(text.ends_with('\n'));
    }
}
