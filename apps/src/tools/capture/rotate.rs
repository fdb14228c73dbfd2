//! `-w` with tcpdump's rotation: `-C SIZE` starts a new file once the current one holds more
//! than SIZE × 1,000,000 bytes (FILE, then FILE1, FILE2 …), `-G SECONDS` every SECONDS (FILE
//! is a `strftime` pattern, in local time as tcpdump's), `-W N` keeps a ring of N files with
//! `-C` (FILE0 … FILE{N-1}, zero-padded, then FILE0 again) or stops after N files with `-G`.
//! The same naming and the same moments as tcpdump (its `MakeFilename`, and the size looked at
//! before a packet is written, so a file ends one packet over the size).

use crate::daemon::pcap::PcapWriter;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When to start a new file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: bytes a file may exceed before the next packet goes to a new one.
    pub size: Option<u64>,
    /// `-G`: how long a file is written to.
    pub every: Option<Duration>,
    /// `-W`: the ring's size (with `-C`) or the most files written (with `-G` alone).
    pub files: Option<u32>,
}

/// Digits `-W N` pads the file number to: those of N − 1 (tcpdump's `getWflagChars`).
fn digits(files: u32) -> usize {
    let mut x = files.saturating_sub(1);
    let mut n = 0;
    while x > 0 {
        n += 1;
        x /= 10;
    }
    n
}

/// `pattern` through strftime(3) at `t`, local time; `None` if it does not fit or has a NUL.
pub fn strftime(pattern: &str, t: SystemTime) -> Option<String> {
    let fmt = CString::new(pattern).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data; localtime_r fills it from `secs` and returns null on error
    // (then we give up). strftime writes at most `buf.len()` bytes into `buf` and returns how
    // many it wrote (0 when the result does not fit).
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return None;
        }
        let mut buf = vec![0u8; 4096];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        if n == 0 && !pattern.is_empty() {
            return None;
        }
        buf.truncate(n);
        String::from_utf8(buf).ok()
    }
}

/// A pcap file written with rotation.
#[derive(Debug)]
pub struct Rotating {
    pattern: String,
    rotation: Rotation,
    snaplen: u32,
    out: PcapWriter<BufWriter<File>>,
    /// Bytes in the current file.
    written: u64,
    /// `-C`'s file number, `-G`'s files so far.
    size_count: u32,
    time_count: u32,
    opened: SystemTime,
    /// The file being written.
    pub current: PathBuf,
}

impl Rotating {
    /// Opens the first file (FILE, FILE0 with `-C -W`, FILE through strftime with `-G`).
    pub fn create(pattern: &Path, rotation: Rotation, snaplen: u32) -> io::Result<Rotating> {
        let pattern = pattern.to_string_lossy().into_owned();
        let now = SystemTime::now();
        let pad = if rotation.size.is_some() {
            rotation.files.map_or(0, digits)
        } else {
            0
        };
        let current = name(&pattern, rotation, now, 0, pad)?;
        let out = PcapWriter::create_with_snaplen(&current, snaplen)?;
        Ok(Rotating {
            pattern,
            rotation,
            snaplen,
            out,
            written: 24,
            size_count: 0,
            time_count: 0,
            opened: now,
            current,
        })
    }

    /// Writes one packet (its first `data.len()` bytes of `orig_len`), starting the next file
    /// first if it is time; false when `-G -W` has written its last file (stop).
    pub fn write(&mut self, ts: SystemTime, data: &[u8], orig_len: u32) -> io::Result<bool> {
        if let Some(every) = self.rotation.every {
            let now = SystemTime::now();
            if now.duration_since(self.opened).unwrap_or_default() >= every {
                self.time_count += 1;
                if self.rotation.files.is_some_and(|w| self.time_count >= w) {
                    eprintln!(
                        "Maximum file limit reached: {}",
                        self.rotation.files.unwrap_or(0)
                    );
                    return Ok(false);
                }
                self.opened = now;
                self.size_count = 0;
                self.reopen(0, 0)?;
            }
        }
        if let Some(size) = self.rotation.size {
            if self.written > size {
                self.size_count += 1;
                let pad = match self.rotation.files {
                    Some(w) => {
                        if self.size_count >= w {
                            self.size_count = 0;
                        }
                        digits(w)
                    }
                    None => 0,
                };
                self.reopen(self.size_count, pad)?;
            }
        }
        self.out.write_record(ts, data, orig_len)?;
        self.written += 16 + data.len() as u64;
        Ok(true)
    }

    fn reopen(&mut self, count: u32, pad: usize) -> io::Result<()> {
        self.out.flush()?;
        self.current = name(&self.pattern, self.rotation, self.opened, count, pad)?;
        self.out = PcapWriter::create_with_snaplen(&self.current, self.snaplen)?;
        self.written = 24;
        Ok(())
    }

    /// Flushes the current file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// tcpdump's `MakeFilename`: the pattern (through strftime with `-G`), then the number, padded
/// to `pad` digits, unless both are 0.
fn name(
    pattern: &str,
    rotation: Rotation,
    t: SystemTime,
    count: u32,
    pad: usize,
) -> io::Result<PathBuf> {
    let base = if rotation.every.is_some() {
        strftime(pattern, t).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("-w {pattern}: not a file name strftime can expand"),
            )
        })?
    } else {
        pattern.to_string()
    };
    Ok(PathBuf::from(if count == 0 && pad == 0 {
        base
    } else {
        format!("{base}{count:0pad$}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::pcap::read_packets;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ustack-rotate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn size_rotation_names_files_as_tcpdump() {
        let d = dir("c");
        let rot = Rotation {
            size: Some(1000),
            ..Rotation::default()
        };
        let mut w = Rotating::create(&d.join("f"), rot, 65_535).unwrap();
        for _ in 0..25 {
            assert!(w.write(SystemTime::now(), &[0x45; 100], 100).unwrap());
        }
        w.flush().unwrap();
        // 24 + 9 × 116 = 1068 > 1000: the 10th packet starts the next file.
        let names: Vec<_> = ["f", "f1", "f2"].iter().map(|n| d.join(n)).collect();
        let counts: Vec<_> = names
            .iter()
            .map(|p| read_packets(p).unwrap().len())
            .collect();
        assert_eq!(counts, [9, 9, 7]);
        assert!(!d.join("f3").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_ring_of_w_files_is_zero_padded_and_reused() {
        let d = dir("w");
        let rot = Rotation {
            size: Some(1000),
            files: Some(11),
            ..Rotation::default()
        };
        let mut w = Rotating::create(&d.join("f"), rot, 96).unwrap();
        for _ in 0..(9 * 12) {
            w.write(SystemTime::now(), &[0x45; 100][..96], 100).unwrap();
        }
        w.flush().unwrap();
        // Padded to the digits of 10; after f10 comes f00 again.
        assert!(d.join("f00").exists() && d.join("f10").exists());
        assert!(!d.join("f").exists() && !d.join("f11").exists());
        let last = read_packets(&d.join("f00")).unwrap();
        assert!(!last.is_empty() && last[0].data.len() == 96);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn strftime_expands_like_the_c_library() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 365);
        let s = strftime("cap-%Y-%%-%s.pcap", t).unwrap();
        assert!(
            s.starts_with("cap-1971-%-") || s.starts_with("cap-1970-%-"),
            "{s}"
        );
        assert!(s.ends_with("31536000.pcap"), "{s}");
        assert_eq!(digits(1), 0);
        assert_eq!(digits(10), 1);
        assert_eq!(digits(11), 2);
    }
}
