//! The `--pcap FILE` tap: every packet in and out of the TUN written to a pcap file.

use super::PcapWriter;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::SystemTime;
use tun_bridge::{Direction, Tap};

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
