//! A classic libpcap file writer for raw IP packets.
//!
//! Format: the 24-byte global header (magic `0xa1b2c3d4` written little-endian, version 2.4,
//! microsecond timestamps, snaplen 65535, link type `LINKTYPE_RAW` = 101: each record starts
//! with an IPv4 or IPv6 header), then one 16-byte record header plus the captured bytes per
//! packet. tcpdump, tshark and Wireshark read it.
//!
//! Why not the `pcap-file` crate (checked 2026-12: 2.0.0 of 2022 is its last release, 3.0 is a
//! release candidate): its reader zero-fills an 8 MB buffer per file whatever the file's size,
//! and checks a record's captured length against the snaplen only after buffering the record,
//! so a garbage length is read for up to 8 MB and then reported as an unexpected end of file,
//! not as a corrupt record; its buffer hands out borrowed slices through an `unsafe` lifetime
//! transmute. Ours caps a record at min(snaplen, 256 KiB) before allocating, names the record
//! and the cause, and reads only the raw-IP link types ustack can parse. Its writer refuses a
//! packet over the snaplen where a capture truncates and keeps the original length. The format
//! is two fixed headers, so the hand-written code is shorter than the adapter would be.

mod reader;
mod tap;

pub use reader::{read_packets, PcapError, PcapReader, Record};
pub use tap::PcapTap;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Magic number for microsecond-resolution pcap files.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const VERSION_MAJOR: u16 = 2;
const VERSION_MINOR: u16 = 4;
/// Longest packet stored; longer ones are truncated (their original length is recorded).
pub const SNAPLEN: u32 = 65_535;
/// `LINKTYPE_RAW`: the packet begins with an IP header, no link-layer header.
pub const LINKTYPE_RAW: u32 = 101;

/// Writes packets to a pcap stream. Buffer `W` yourself (or use [`PcapWriter::create`]).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Wraps `out` and writes the global header.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_snaplen(out, SNAPLEN)
    }

    /// Wraps `out` and writes the global header announcing `snaplen` (the most bytes a record
    /// holds, as `tcpdump -s` writes it).
    pub fn with_snaplen(mut out: W, snaplen: u32) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        header[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
        // thiszone (4 bytes) and sigfigs (4 bytes) stay 0: timestamps are UTC.
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet captured at `ts`, truncated to [`SNAPLEN`] bytes.
    ///
    /// Times before 1970 are written as 0; seconds saturate at the format's 32-bit limit.
    pub fn write_packet(&mut self, ts: SystemTime, packet: &[u8]) -> io::Result<()> {
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        self.write_record(ts, packet, orig_len)
    }

    /// Appends one record: `captured` (at most [`SNAPLEN`] bytes of it) of a packet of
    /// `orig_len` bytes captured at `ts` — a capture cut by a snap length keeps its real length.
    pub fn write_record(
        &mut self,
        ts: SystemTime,
        captured: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let since_epoch = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX);
        let micros = since_epoch.subsec_micros();
        let captured = &captured[..captured.len().min(SNAPLEN as usize)];
        let orig_len = orig_len.max(captured.len() as u32);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&micros.to_le_bytes());
        record[8..12].copy_from_slice(&(captured.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(captured)
    }

    /// Flushes the underlying writer, so a reader sees every packet written so far.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Returns the underlying writer (not flushed: call [`PcapWriter::flush`] first if needed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (truncating) the file at `path` and writes the global header.
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::create_with_snaplen(path, SNAPLEN)
    }

    /// [`PcapWriter::create`] with the snap length the header announces.
    pub fn create_with_snaplen(path: &Path, snaplen: u32) -> io::Result<Self> {
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating pcap file {}: {e}", path.display()),
            )
        })?;
        PcapWriter::with_snaplen(BufWriter::with_capacity(256 << 10, file), snaplen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn global_header_bytes() {
        let w = PcapWriter::new(Vec::new()).unwrap();
        let bytes = w.into_inner();
        assert_eq!(
            bytes,
            [
                0xd4, 0xc3, 0xb2, 0xa1, // magic, little-endian
                0x02, 0x00, 0x04, 0x00, // version 2.4
                0x00, 0x00, 0x00, 0x00, // thiszone
                0x00, 0x00, 0x00, 0x00, // sigfigs
                0xff, 0xff, 0x00, 0x00, // snaplen 65535
                0x65, 0x00, 0x00, 0x00, // LINKTYPE_RAW
            ]
        );
    }

    #[test]
    fn record_fields() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let ts = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        w.write_packet(ts, &[0x45, 1, 2, 3, 4]).unwrap();
        let bytes = w.into_inner();
        let rec = &bytes[24..];
        let field = |i: usize| u32::from_le_bytes(rec[i..i + 4].try_into().unwrap());
        assert_eq!(field(0), 1_700_000_000);
        assert_eq!(field(4), 123_456); // microseconds, truncated
        assert_eq!(field(8), 5); // incl_len
        assert_eq!(field(12), 5); // orig_len
        assert_eq!(&rec[16..], [0x45, 1, 2, 3, 4]);
    }

    #[test]
    fn long_packet_is_truncated_to_snaplen() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let packet = vec![0xab; 70_000];
        w.write_packet(UNIX_EPOCH, &packet).unwrap();
        let bytes = w.into_inner();
        let rec = &bytes[24..];
        let field = |i: usize| u32::from_le_bytes(rec[i..i + 4].try_into().unwrap());
        assert_eq!(field(8), SNAPLEN);
        assert_eq!(field(12), 70_000);
        assert_eq!(rec.len(), 16 + SNAPLEN as usize);
    }

    #[test]
    fn time_before_epoch_is_zero() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(UNIX_EPOCH - Duration::from_secs(5), &[0x45])
            .unwrap();
        let bytes = w.into_inner();
        assert_eq!(&bytes[24..32], [0; 8]);
    }

    /// RFC 1071 Internet checksum.
    fn checksum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for chunk in bytes.chunks(2) {
            let word = match chunk {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                [hi] => u16::from_be_bytes([*hi, 0]),
                _ => unreachable!(),
            };
            sum += word as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// An IPv4 packet carrying an ICMP echo request (type 8) or reply (type 0).
    fn icmp_echo(icmp_type: u8, src: [u8; 4], dst: [u8; 4], seq: u16) -> Vec<u8> {
        let payload = b"ustack pcap test";
        let mut icmp = vec![icmp_type, 0, 0, 0, 0x12, 0x34];
        icmp.extend_from_slice(&seq.to_be_bytes());
        icmp.extend_from_slice(payload);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]); // id 1, DF, TTL 64, ICMP
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let dir =
                std::env::temp_dir().join(format!("ustack-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn tcpdump_reads_the_file() {
        let have_tcpdump = Command::new("tcpdump")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_tcpdump {
            let reason = "tcpdump is not on PATH";
            if std::env::var("USTACK_REQUIRE_TUN").as_deref() == Ok("1") {
                panic!("{reason} (required because USTACK_REQUIRE_TUN=1)");
            }
            eprintln!("skipping: {reason}");
            return;
        }
        let dir = TempDir::new("pcap");
        let path = dir.0.join("echo.pcap");
        let mut w = PcapWriter::create(&path).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (a, b) = ([198, 18, 0, 1], [198, 18, 0, 2]);
        w.write_packet(t0, &icmp_echo(8, a, b, 1)).unwrap();
        w.write_packet(t0 + Duration::from_millis(1), &icmp_echo(0, b, a, 1))
            .unwrap();
        w.flush().unwrap();
        drop(w);

        let out = Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "tcpdump failed: {}\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.contains("198.18.0.1 > 198.18.0.2: ICMP echo request"),
            "{stdout}\n{stderr}"
        );
        assert!(stdout.contains("ICMP echo reply"), "{stdout}\n{stderr}");
        assert!(!stdout.contains("bad cksum"), "{stdout}");
    }
}
