//! A capture's binary framing (`"framing":"binary"` in the `capture` request): after the
//! `capturing` reply, the packets come as frames instead of JSON `packet` lines, then an end
//! frame, then the `captured` and `end` lines as usual.
//!
//! A frame is a 20-byte header and its data:
//!
//! | bytes  | field                                                                   |
//! |--------|-------------------------------------------------------------------------|
//! | 0      | kind: 1 packet in (kernel → stack), 2 packet out, 3 lost, 0 end          |
//! | 1..4   | reserved, 0                                                             |
//! | 4..8   | captured length (big-endian u32): the data bytes that follow            |
//! | 8..12  | original length of the packet (≥ captured: the snap length cut the rest) |
//! | 12..20 | packet: the time the loop saw it, µs since the Unix epoch; lost: how many matching packets were dropped since the last frame (big-endian u64) |
//!
//! Lost and end frames carry no data. Why binary: a JSON line per packet cost the daemon a hex
//! encoding and the client a JSON parse and a hex decode per packet — with one client writing
//! a pcap, the stack kept a quarter of its request/response rate. Frames are a copy into one
//! buffer on the loop and one write per batch (docs/CONTROL.md, "capture").

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tun_bridge::Direction;

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 20;
/// Largest captured length a frame may announce (an IPv4 packet's limit).
pub const MAX_CAPLEN: usize = 65_535;

const END: u8 = 0;
const IN: u8 = 1;
const OUT: u8 = 2;
const LOST: u8 = 3;

/// One frame, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A packet (or its first `data.len()` bytes, of `orig_len`).
    Packet {
        /// Which way it crossed the TUN.
        dir: Direction,
        /// When the loop saw it.
        ts: SystemTime,
        /// Its whole length.
        orig_len: u32,
        /// The bytes captured.
        data: &'a [u8],
    },
    /// Matching packets dropped for this client (its queue in the daemon was full).
    Lost(u64),
    /// No more frames: the `captured` and `end` lines follow.
    End,
}

/// A frame that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The kind byte is none of 0–3.
    Kind(u8),
    /// The captured length is over [`MAX_CAPLEN`] or the original length.
    Length(u32, u32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Kind(k) => write!(f, "capture frame of unknown kind {k}"),
            FrameError::Length(cap, orig) => write!(
                f,
                "capture frame of {cap} bytes (original length {orig}, at most {MAX_CAPLEN})"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

fn header(kind: u8, caplen: u32, orig_len: u32, word: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = kind;
    h[4..8].copy_from_slice(&caplen.to_be_bytes());
    h[8..12].copy_from_slice(&orig_len.to_be_bytes());
    h[12..20].copy_from_slice(&word.to_be_bytes());
    h
}

/// Microseconds since the epoch (0 before it).
pub fn micros(ts: SystemTime) -> u64 {
    ts.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Appends a packet frame: at most `snaplen` bytes of `data`.
pub fn put_packet(buf: &mut Vec<u8>, dir: Direction, time_us: u64, data: &[u8], snaplen: usize) {
    let cap = &data[..data.len().min(snaplen).min(MAX_CAPLEN)];
    let kind = match dir {
        Direction::In => IN,
        Direction::Out => OUT,
    };
    let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&header(kind, cap.len() as u32, orig, time_us));
    buf.extend_from_slice(cap);
}

/// Appends a lost frame.
pub fn put_lost(buf: &mut Vec<u8>, count: u64) {
    buf.extend_from_slice(&header(LOST, 0, 0, count));
}

/// Appends the end frame.
pub fn put_end(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&header(END, 0, 0, 0));
}

/// The bytes a frame takes in all, from its header (checked as [`parse`] does).
pub fn frame_len(h: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let caplen = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let orig = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    if h[0] > LOST {
        return Err(FrameError::Kind(h[0]));
    }
    if caplen as usize > MAX_CAPLEN || (matches!(h[0], IN | OUT) && caplen > orig) {
        return Err(FrameError::Length(caplen, orig));
    }
    Ok(HEADER_LEN + caplen as usize)
}

/// The frame of header `h` (checked with [`frame_len`]) and its `data`.
pub fn decode<'a>(h: &[u8; HEADER_LEN], data: &'a [u8]) -> Frame<'a> {
    let word = u64::from_be_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
    match h[0] {
        END => Frame::End,
        LOST => Frame::Lost(word),
        kind => Frame::Packet {
            dir: if kind == IN {
                Direction::In
            } else {
                Direction::Out
            },
            ts: UNIX_EPOCH + Duration::from_micros(word),
            orig_len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            data,
        },
    }
}

/// Reads the frame at the start of `buf`: `Ok(None)` if `buf` holds less than a whole frame,
/// else the frame and the bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let len = frame_len(h)?;
    Ok(buf.get(HEADER_LEN..len).map(|data| (decode(h, data), len)))
}

/// How many packet frames a batch holds, up to `limit`, and the bytes those take (frames after
/// the `limit`-th packet are not counted in: the daemon cuts a batch there at `-c`).
pub fn count_packets(batch: &[u8], limit: u64) -> (u64, usize) {
    let (mut packets, mut at) = (0u64, 0usize);
    while packets < limit {
        let Some(h) = batch.get(at..).and_then(|b| b.first_chunk::<HEADER_LEN>()) else {
            break;
        };
        let Ok(len) = frame_len(h) else {
            break;
        };
        if matches!(h[0], IN | OUT) {
            packets += 1;
        }
        at += len;
    }
    (packets, at.min(batch.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_snap() {
        let mut buf = Vec::new();
        let data: Vec<u8> = (0..100).collect();
        put_packet(
            &mut buf,
            Direction::In,
            1_764_634_393_693_388,
            &data,
            65_535,
        );
        put_lost(&mut buf, 7);
        put_packet(&mut buf, Direction::Out, 5, &data, 40);
        put_end(&mut buf);
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((f, n)) = parse(&buf[at..]).unwrap() {
            got.push(f);
            at += n;
        }
        assert_eq!(at, buf.len());
        assert_eq!(
            got,
            vec![
                Frame::Packet {
                    dir: Direction::In,
                    ts: UNIX_EPOCH + Duration::from_micros(1_764_634_393_693_388),
                    orig_len: 100,
                    data: &data,
                },
                Frame::Lost(7),
                Frame::Packet {
                    dir: Direction::Out,
                    ts: UNIX_EPOCH + Duration::from_micros(5),
                    orig_len: 100,
                    data: &data[..40],
                },
                Frame::End,
            ]
        );
        assert_eq!(count_packets(&buf, u64::MAX), (2, buf.len()));
        // Cut after the first packet: the lost frame after it is not part of the cut.
        assert_eq!(count_packets(&buf, 1), (1, HEADER_LEN + 100));
    }

    #[test]
    fn partial_and_bad_frames() {
        let mut buf = Vec::new();
        put_packet(&mut buf, Direction::In, 1, &[0x45; 30], 1500);
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[0] = 9;
        assert_eq!(parse(&bad), Err(FrameError::Kind(9)));
        let mut bad = buf.clone();
        bad[4..8].copy_from_slice(&31u32.to_be_bytes());
        assert_eq!(parse(&bad), Err(FrameError::Length(31, 30)));
        let mut bad = buf;
        bad[4..8].copy_from_slice(&70_000u32.to_be_bytes());
        bad[8..12].copy_from_slice(&70_000u32.to_be_bytes());
        assert!(matches!(parse(&bad), Err(FrameError::Length(70_000, _))));
    }
}
