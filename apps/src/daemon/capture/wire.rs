//! A capture's `packet` reply, written by hand once per packet and shared by every client that
//! gets it: everything after the client's own `{"v":1,"id":N,` (the writer adds that). The
//! bytes are the ones `proto::reply_line` would make for `Body::Packet` (a test pins it), only
//! without a `String` per byte pair and without serde.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use tun_bridge::Direction;

/// Every byte's two hex digits: one lookup and one 2-byte copy per byte (the per-digit version
/// was a quarter of the loop's time with one capture client on a bulk transfer).
static HEX2: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    t
};

/// `"reply":"packet","time_us":T,"dir":"in","len":L,"hex":"4500..."}` and a newline.
pub(crate) fn packet_tail(dir: Direction, ts: SystemTime, data: &[u8]) -> Box<[u8]> {
    let time_us = ts
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let dir = match dir {
        Direction::In => "in",
        Direction::Out => "out",
    };
    let mut out = Vec::with_capacity(80 + 2 * data.len());
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "\"reply\":\"packet\",\"time_us\":{time_us},\"dir\":\"{dir}\",\"len\":{},\"hex\":\"",
        data.len()
    );
    let start = out.len();
    out.resize(start + 2 * data.len(), 0);
    for (pair, &b) in out[start..].chunks_exact_mut(2).zip(data) {
        pair.copy_from_slice(&HEX2[usize::from(b)]);
    }
    out.extend_from_slice(b"\"}\n");
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::proto::{self, Body, Packet};
    use std::time::Duration;

    #[test]
    fn the_shared_tail_is_what_serde_writes() {
        let ts = UNIX_EPOCH + Duration::from_micros(1_764_634_393_693_388);
        let data: Vec<u8> = (0..=255).collect();
        for (dir, name) in [(Direction::In, "in"), (Direction::Out, "out")] {
            let want = proto::reply_line(
                4,
                Body::Packet(Packet {
                    time_us: 1_764_634_393_693_388,
                    dir: name.into(),
                    len: data.len(),
                    hex: crate::daemon::proto::to_hex(&data),
                }),
            );
            let mut got = format!("{{\"v\":{},\"id\":4,", proto::VERSION).into_bytes();
            got.extend_from_slice(&packet_tail(dir, ts, &data));
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
