//! Packet taps: every packet the bridge reads from or writes to the TUN is shown to each tap —
//! a one-line-per-packet log in tcpdump style ([`LogTap`]) here; the workbench adds its own
//! (the pcap file writer, the capture hub) through the same trait.

use std::io::{self, Write};
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
