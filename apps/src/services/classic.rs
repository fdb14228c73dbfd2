//! The classic small TCP services — echo (RFC 862), discard (RFC 863) and character generator
//! (RFC 864) — as async tasks on the stack's event loop: a connection costs a task and one
//! small buffer, not a thread. Each runs under the limits of [`super::guard`] (issue 16 finding
//! 3): a client that stops taking what it is sent (its window closed, or it reads slower than
//! the minimum rate) is aborted with an RST, and one that sends nothing while the service waits
//! for it is closed after the idle time — so no client holds a connection, its buffers and a
//! table slot forever.

use super::guard::{self, CutCounters, Limits};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tun_bridge::aio::TcpStream;

/// Keepalive on the small services: a peer that vanished is noticed (and its task ended)
/// without cutting off an idle but living one.
pub const KEEPALIVE: Duration = Duration::from_secs(120);

/// Idle time of the classic services (nothing received while waiting for the client).
pub const IDLE: Duration = Duration::from_secs(60);

/// Read buffer of echo and discard.
const BUF: usize = 16 << 10;

/// What every classic service's connections run under, and where their cuts are counted.
#[derive(Debug, Clone)]
pub struct Classic {
    /// The stall, rate and idle bounds.
    pub limits: Limits,
    /// Connections cut, by cause.
    pub cuts: Arc<CutCounters>,
}

impl Default for Classic {
    fn default() -> Self {
        Classic {
            limits: Limits {
                idle: IDLE,
                ..Limits::default()
            },
            cuts: Arc::default(),
        }
    }
}

/// TCP echo (RFC 862): sends back everything it receives; when the client half-closes, the
/// server closes after the last byte. Returns the bytes echoed.
pub async fn echo(s: TcpStream, c: Classic) -> io::Result<u64> {
    guard::run(s, "echo", c.limits, &c.cuts, |g| pump(g, true)).await
}

/// Discard (RFC 863): reads and throws away everything until the client closes.
pub async fn discard(s: TcpStream, c: Classic) -> io::Result<u64> {
    guard::run(s, "discard", c.limits, &c.cuts, |g| pump(g, false)).await
}

/// Reads until the client half-closes, writing each piece back if `echo`; then closes.
/// Returns the bytes read.
async fn pump(mut g: guard::Guarded<TcpStream>, echo: bool) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = g.read(&mut buf).await?;
        if n == 0 {
            g.shutdown().await?;
            return Ok(total);
        }
        if echo {
            g.write_all(&buf[..n]).await?;
        }
        total += n as u64;
    }
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

/// Twice the cycle, so that any window of up to one cycle is one contiguous slice; made once
/// and shared by every connection.
fn chargen_doubled() -> &'static [u8] {
    static DOUBLED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DOUBLED.get_or_init(|| chargen_cycle().repeat(2))
}

/// Character generator (RFC 864): sends the rotating 72-character lines until the client
/// closes; anything the client sends is thrown away.
pub async fn chargen(s: TcpStream, c: Classic) -> io::Result<u64> {
    guard::run(s, "chargen", c.limits, &c.cuts, |mut g| async move {
        let doubled = chargen_doubled();
        let cycle = doubled.len() / 2;
        let mut pos = 0usize;
        let mut total = 0u64;
        let mut sink = [0u8; 4096];
        loop {
            let n = g.write(&doubled[pos..pos + cycle]).await?;
            pos = (pos + n) % cycle;
            total += n as u64;
            // Drain (and discard) what the client sent; end of stream means it closed.
            while let Some(got) = g.io().try_read(&mut sink)? {
                if got == 0 {
                    return Ok(total);
                }
            }
        }
    })
    .await
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
        assert_eq!(chargen_doubled(), &c.repeat(2)[..]);
    }
}
