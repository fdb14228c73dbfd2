//! The classic small TCP services — echo (RFC 862), discard (RFC 863) and character generator
//! (RFC 864) — as async tasks on the stack's event loop: a connection costs a task, not a
//! thread. Each is written against `tun_bridge::aio::TcpStream` with plain tokio I/O traits.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tun_bridge::aio::TcpStream;

/// Keepalive on the small services: a peer that vanished is noticed (and its task ended)
/// without cutting off an idle but living one.
pub const KEEPALIVE: Duration = Duration::from_secs(120);

/// Read/write buffer of the services.
const BUF: usize = 64 << 10;

/// TCP echo (RFC 862): sends back everything it receives; when the client half-closes, the
/// server closes after the last byte. Returns the bytes echoed.
pub async fn echo(s: TcpStream) -> io::Result<u64> {
    let (r, mut w) = tokio::io::split(s);
    let n = tokio::io::copy_buf(&mut BufReader::with_capacity(BUF, r), &mut w).await?;
    w.shutdown().await?;
    Ok(n)
}

/// Discard (RFC 863): reads and throws away everything until the client closes.
pub async fn discard(s: TcpStream) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(BUF, s);
    let n = tokio::io::copy_buf(&mut r, &mut tokio::io::sink()).await?;
    r.into_inner().shutdown().await?;
    Ok(n)
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
pub async fn chargen(mut s: TcpStream) -> io::Result<u64> {
    let cycle = chargen_cycle();
    // Twice the cycle, so that any window of up to one cycle is one contiguous slice.
    let doubled = [cycle.as_slice(), cycle.as_slice()].concat();
    let mut pos = 0usize;
    let mut total = 0u64;
    let mut sink = [0u8; 4096];
    loop {
        let n = s.write(&doubled[pos..pos + cycle.len()]).await?;
        pos = (pos + n) % cycle.len();
        total += n as u64;
        // Drain (and discard) what the client sent; end of stream means it closed.
        while let Some(got) = s.try_read(&mut sink)? {
            if got == 0 {
                return Ok(total);
            }
        }
    }
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
