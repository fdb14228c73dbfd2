//! A classic libpcap file reader: both byte orders, microsecond (`0xa1b2c3d4`) and nanosecond
//! (`0xa1b23c4d`) timestamps. Only raw-IP link types are accepted (LINKTYPE_RAW 101 and
//! LINKTYPE_IPV4 228, and DLT_RAW 12/14 as some writers put it), since the filter and the
//! summaries read IPv4 from the first byte. Records are bounded: a captured length above the
//! file's snaplen or 256 KiB is a corrupt file, never an allocation.

use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest record accepted whatever the header's snaplen says.
pub const MAX_RECORD: u32 = 256 * 1024;

/// Why a file cannot be read.
#[derive(Debug)]
pub enum PcapError {
    /// The underlying read failed.
    Io(io::Error),
    /// Not a pcap file (or pcapng, which is not supported).
    BadMagic(u32),
    /// A link type other than raw IP.
    LinkType(u32),
    /// The file ends inside a header or a record.
    Truncated {
        /// Which record (1-based; 0 for the file header).
        record: u64,
    },
    /// A record whose lengths cannot be right.
    Corrupt {
        /// Which record (1-based).
        record: u64,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "{e}"),
            PcapError::BadMagic(m) if *m == 0x0a0d_0d0a => {
                f.write_str("this is a pcapng file; write it as pcap (e.g. tcpdump -w) or convert it with editcap -F pcap")
            }
            PcapError::BadMagic(m) => write!(f, "not a pcap file (magic 0x{m:08x})"),
            PcapError::LinkType(t) => write!(
                f,
                "link type {t} is not supported: ustack reads raw IP captures (LINKTYPE_RAW, 101), as `ustack capture -w`, `ustack up --pcap` and `tcpdump -i <tun> -w` write"
            ),
            PcapError::Truncated { record: 0 } => f.write_str("file ends inside the pcap header"),
            PcapError::Truncated { record } => write!(f, "file ends inside record {record}"),
            PcapError::Corrupt { record, reason } => write!(f, "record {record}: {reason}"),
        }
    }
}

impl std::error::Error for PcapError {}

/// One packet of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When it was captured.
    pub ts: SystemTime,
    /// The bytes captured.
    pub data: Vec<u8>,
    /// Its length on the wire (at least `data.len()`).
    pub orig_len: u32,
}

/// Reads records one by one from a pcap stream.
#[derive(Debug)]
pub struct PcapReader<R: Read> {
    input: R,
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
    link_type: u32,
    records: u64,
}

/// Fills `buf` completely; `Ok(false)` at a clean end of file before the first byte.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Ok(Some(got)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> Result<PcapReader<R>, PcapError> {
        let mut h = [0u8; 24];
        if read_full(&mut input, &mut h)
            .map_err(PcapError::Io)?
            .is_some()
        {
            return Err(PcapError::Truncated { record: 0 });
        }
        let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (big_endian, nanos) = match le {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            other => return Err(PcapError::BadMagic(other)),
        };
        let field = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (snaplen, link_type) = (field(16), field(20) & 0x0fff_ffff);
        if !matches!(link_type, 101 | 228 | 12 | 14) {
            return Err(PcapError::LinkType(link_type));
        }
        Ok(PcapReader {
            input,
            big_endian,
            nanos,
            snaplen,
            link_type,
            records: 0,
        })
    }

    /// The snap length the file's header announces.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The file's link type.
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// The next record, `Ok(None)` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, PcapError> {
        let record = self.records + 1;
        let mut h = [0u8; 16];
        match read_full(&mut self.input, &mut h).map_err(PcapError::Io)? {
            None => {}
            Some(0) => return Ok(None),
            Some(_) => return Err(PcapError::Truncated { record }),
        }
        let field = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, incl, orig) = (field(0), field(4), field(8), field(12));
        let corrupt = |reason: String| PcapError::Corrupt { record, reason };
        let limit = MAX_RECORD.min(self.snaplen.max(65_535));
        if incl > limit {
            return Err(corrupt(format!(
                "captured length {incl} exceeds {limit} bytes"
            )));
        }
        if incl > orig {
            return Err(corrupt(format!(
                "captured length {incl} is above the original length {orig}"
            )));
        }
        let (frac_ns, max) = if self.nanos {
            (frac, 1_000_000_000)
        } else {
            (frac.saturating_mul(1000), 1_000_000_000)
        };
        if frac_ns >= max {
            return Err(corrupt(format!("sub-second timestamp {frac} out of range")));
        }
        let mut data = vec![0u8; incl as usize];
        if read_full(&mut self.input, &mut data)
            .map_err(PcapError::Io)?
            .is_some()
        {
            return Err(PcapError::Truncated { record });
        }
        self.records = record;
        Ok(Some(Record {
            ts: UNIX_EPOCH + Duration::new(u64::from(secs), frac_ns),
            data,
            orig_len: orig,
        }))
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = Result<Record, PcapError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// The whole records of the pcap file at `path`, stopping quietly at a partial last one (a file
/// still being written, e.g. by `tcpdump -U`); an unreadable header is an error.
pub fn read_packets(path: &std::path::Path) -> Result<Vec<Record>, PcapError> {
    let file = std::fs::File::open(path).map_err(PcapError::Io)?;
    let reader = PcapReader::new(io::BufReader::new(file))?;
    Ok(reader.map_while(Result::ok).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::pcap::PcapWriter;

    fn header(magic: u32, big: bool, link: u32) -> Vec<u8> {
        let w = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut h = Vec::new();
        h.extend_from_slice(&w(magic));
        h.extend_from_slice(&if big { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&w(65535));
        h.extend_from_slice(&w(link));
        h
    }

    fn record(big: bool, secs: u32, frac: u32, data: &[u8]) -> Vec<u8> {
        let w = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut r = Vec::new();
        for v in [secs, frac, data.len() as u32, data.len() as u32] {
            r.extend_from_slice(&w(v));
        }
        r.extend_from_slice(data);
        r
    }

    #[test]
    fn reads_what_the_writer_writes() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);
        w.write_packet(t, &[0x45, 1, 2]).unwrap();
        w.write_packet(t, &[0x45; 100]).unwrap();
        let bytes = w.into_inner();
        let recs: Vec<Record> = PcapReader::new(&bytes[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].ts, t);
        assert_eq!(recs[0].data, [0x45, 1, 2]);
        assert_eq!(recs[1].orig_len, 100);
    }

    #[test]
    fn both_byte_orders_and_nanoseconds() {
        for (magic, big, nanos) in [
            (0xa1b2_c3d4, false, false),
            (0xa1b2_c3d4, true, false),
            (0xa1b2_3c4d, false, true),
            (0xa1b2_3c4d, true, true),
        ] {
            let mut f = header(magic, big, 101);
            f.extend(record(
                big,
                10,
                if nanos { 999_999_999 } else { 999_999 },
                &[0x45, 9],
            ));
            let r = PcapReader::new(&f[..]).unwrap().next().unwrap().unwrap();
            let want = if nanos { 999_999_999 } else { 999_999_000 };
            assert_eq!(
                r.ts,
                UNIX_EPOCH + Duration::new(10, want),
                "{magic:x} {big}"
            );
            assert_eq!(r.data, [0x45, 9]);
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let msg = |f: &[u8]| match PcapReader::new(f) {
            Ok(mut r) => r.next_record().unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(msg(&[0xd4, 0xc3]), "file ends inside the pcap header");
        assert!(msg(&header(0x1234_5678, false, 101)).starts_with("not a pcap file"));
        assert!(msg(&header(0x0a0d_0d0a, false, 101)).contains("pcapng"));
        assert!(msg(&header(0xa1b2_c3d4, false, 1)).starts_with("link type 1 is not supported"));
        let mut f = header(0xa1b2_c3d4, false, 101);
        f.extend(&record(false, 1, 0, &[1, 2, 3, 4])[..18]);
        assert_eq!(msg(&f), "file ends inside record 1");
        let mut f = header(0xa1b2_c3d4, false, 101);
        f.extend(&record(false, 1, 0, &[])[..10]);
        assert_eq!(msg(&f), "file ends inside record 1");
        // A huge captured length is refused before anything is allocated.
        let mut f = header(0xa1b2_c3d4, false, 101);
        let mut r = record(false, 1, 0, &[]);
        r[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        r[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        f.extend(r);
        assert!(msg(&f).contains("exceeds"), "{}", msg(&f));
        let mut f = header(0xa1b2_c3d4, false, 101);
        let mut r = record(false, 1, 0, &[1, 2]);
        r[12..16].copy_from_slice(&1u32.to_le_bytes());
        f.extend(r);
        assert!(msg(&f).contains("above the original length"));
        let mut f = header(0xa1b2_c3d4, false, 101);
        f.extend(record(false, 1, 1_000_000, &[1]));
        assert!(msg(&f).contains("out of range"));
    }

    #[test]
    fn empty_file_has_no_records() {
        let f = header(0xa1b2_c3d4, false, 101);
        assert!(PcapReader::new(&f[..]).unwrap().next().is_none());
    }
}
