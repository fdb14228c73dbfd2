//! The classic small TCP services: echo (RFC 862), discard (RFC 863) and character generator
//! (RFC 864), each on a connection thread started by [`crate::server`].

use crate::server::Conn;
use std::io::{self, ErrorKind, Read, Write};
use std::time::Duration;

/// Keepalive on the small services: a peer that vanished is noticed (and its thread ended)
/// without cutting off an idle but living one.
const KEEPALIVE: Duration = Duration::from_secs(120);

fn finish(name: &str, conn: &Conn, r: io::Result<u64>) {
    match r {
        Ok(n) => log::debug!("{name}: {} done, {n} bytes", conn.peer()),
        Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
        Err(e) => log::debug!("{name}: {}: {e}", conn.peer()),
    }
}

/// TCP echo (RFC 862): sends back everything it receives; when the client half-closes, the
/// server closes after the last byte.
pub fn echo(mut conn: Conn) {
    let _ = conn.stream().set_keepalive(Some(KEEPALIVE));
    let r = (|| {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            conn.write_all(&buf[..n])?;
            total += n as u64;
        }
    })();
    finish("echo", &conn, r);
}

/// Discard (RFC 863): reads and throws away everything until the client closes.
pub fn discard(mut conn: Conn) {
    let _ = conn.stream().set_keepalive(Some(KEEPALIVE));
    let r = (|| {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    })();
    finish("discard", &conn, r);
}

/// Characters per chargen line, CRLF not counted (RFC 864).
pub const CHARGEN_LINE: usize = 72;

/// One full cycle of the chargen stream: 95 lines of 72 printable ASCII characters (32..=126),
/// line `i` starting at the `i`th character, each followed by CRLF. The stream repeats it.
pub fn chargen_cycle() -> Vec<u8> {
    let chars: Vec<u8> = (b' '..=b'~').collect();
    let mut out = Vec::with_capacity(chars.len() * (CHARGEN_LINE + 2));
    for start in 0..chars.len() {
        out.extend((0..CHARGEN_LINE).map(|k| chars[(start + k) % chars.len()]));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Character generator (RFC 864): sends the rotating 72-character lines until the client
/// closes; anything the client sends is thrown away.
pub fn chargen(mut conn: Conn) {
    let _ = conn.stream().set_keepalive(Some(KEEPALIVE));
    let r = (|| {
        let cycle = chargen_cycle();
        // Twice the cycle, so that any window of up to one cycle is one contiguous slice.
        let doubled = [cycle.as_slice(), cycle.as_slice()].concat();
        let mut pos = 0usize;
        let mut total = 0u64;
        let mut sink = [0u8; 4096];
        loop {
            let n = conn.write(&doubled[pos..pos + cycle.len()])?;
            pos = (pos + n) % cycle.len();
            total += n as u64;
            // Drain (and discard) what the client sent; end of stream means it closed.
            while let Some(got) = conn.try_read(&mut sink)? {
                if got == 0 {
                    return Ok(total);
                }
            }
        }
    })();
    finish("chargen", &conn, r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargen_lines_rotate_through_printable_ascii() {
        let c = chargen_cycle();
        assert_eq!(c.len(), 95 * 74);
        assert_eq!(
            &c[..74],
            &b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"[..]
        );
        // Line 0 starts with a space, line 1 with '!', line 94 with '~'.
        assert_eq!(&c[..3], b" !\"");
        assert_eq!(c[74], b'!');
        assert_eq!(c[94 * 74], b'~');
        assert_eq!(&c[72..74], b"\r\n");
        assert!(c
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) || b == b'\r' || b == b'\n'));
    }
}
