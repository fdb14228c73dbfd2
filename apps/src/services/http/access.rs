//! The access log: one line per request in the Common Log Format, logged at `info` (target
//! `ustack::http::access`) when the response has been handed over in full or ended early:
//!
//! ```text
//! 198.18.0.1 - - [01/Dec/2026:21:04:05 +0000] "GET /big.bin HTTP/1.1" 206 1048576
//! ```
//!
//! host, identity (`-`), user (`-`), time (UTC), the request line, the status, and the body
//! bytes sent (`-` when none). Bytes the client controls are escaped (`"`, `\`, controls and
//! non-ASCII as `\xNN`) so a request cannot forge a line, and a target is cut at 2 KiB. Also the
//! IMF-fixdate of HTTP headers.

use httpdate::HttpDate;
use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest request target written to a line (longer ones are cut, with `...`).
pub const MAX_LOGGED_TARGET: usize = 2048;

/// The log target of access lines.
pub const TARGET: &str = "ustack::http::access";

/// The last second an IMF-fixdate can show, 9999-12-31T23:59:59Z.
const LAST_HTTP_SECOND: u64 = 253_402_300_799;

/// `t` as an HTTP date, to the second. `httpdate` panics outside 1970..=9999 and a file's mtime
/// can be anything: earlier times show as the epoch, later ones as the last second of 9999.
pub fn http_time(t: SystemTime) -> HttpDate {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs.min(LAST_HTTP_SECOND)))
}

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    http_time(t).to_string()
}

/// The Common Log Format time, e.g. `06/Nov/1994:08:49:37 +0000`. Not an HTTP date, but the
/// same UTC fields: the IMF-fixdate's, reordered, so the calendar is `httpdate`'s alone.
pub fn clf_date(t: SystemTime) -> String {
    let imf = http_date(t);
    match imf.split(' ').collect::<Vec<_>>().as_slice() {
        [_weekday, day, month, year, hms, _gmt] => format!("{day}/{month}/{year}:{hms} +0000"),
        _ => imf,
    }
}

/// Appends `s`, escaping what could break or forge a log line.
fn escaped(out: &mut String, s: &[u8]) {
    for &b in s {
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// What the access line says about one request.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The client.
    pub peer: IpAddr,
    /// When the request arrived.
    pub time: SystemTime,
    /// The request line as it would have been sent: `METHOD target VERSION`.
    pub method: String,
    /// The request target (path and query, or absolute-form as sent).
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: &'static str,
    /// The status sent.
    pub status: u16,
}

impl Entry {
    /// The Common Log Format line, with `bytes` of body sent.
    pub fn line(&self, bytes: u64) -> String {
        let mut out = format!("{} - - [{}] \"", self.peer, clf_date(self.time));
        escaped(&mut out, self.method.as_bytes());
        out.push(' ');
        let target = self.target.as_bytes();
        if target.len() > MAX_LOGGED_TARGET {
            escaped(&mut out, &target[..MAX_LOGGED_TARGET]);
            out.push_str("...");
        } else {
            escaped(&mut out, target);
        }
        let _ = write!(out, " {}\" {} ", self.version, self.status);
        if bytes == 0 {
            out.push('-');
        } else {
            let _ = write!(out, "{bytes}");
        }
        out
    }

    /// Logs the line at info.
    pub fn log(&self, bytes: u64) {
        log::info!(target: TARGET, "{}", self.line(bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(clf_date(t), "06/Nov/1994:08:49:37 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(clf_date(t), "29/Feb/2000:00:00:00 +0000");
        // Outside what an HTTP date can show: clamped, never a panic.
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        let after = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(http_date(after), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(clf_date(after), "31/Dec/9999:23:59:59 +0000");
    }

    fn entry(method: &str, target: &str, status: u16) -> Entry {
        Entry {
            peer: std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            time: UNIX_EPOCH + Duration::from_secs(784_111_777),
            method: method.into(),
            target: target.into(),
            version: "HTTP/1.1",
            status,
        }
    }

    #[test]
    fn common_log_format() {
        assert_eq!(
            entry("GET", "/a.txt?x=1", 200).line(5),
            "198.18.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a.txt?x=1 HTTP/1.1\" 200 5"
        );
        // No body: "-".
        assert_eq!(
            entry("HEAD", "/", 200).line(0),
            "198.18.0.1 - - [06/Nov/1994:08:49:37 +0000] \"HEAD / HTTP/1.1\" 200 -"
        );
    }

    #[test]
    fn client_bytes_cannot_forge_a_line() {
        let line = entry("GET", "/a\"b\\c\n198.18.0.9 - - \u{e9}", 404).line(0);
        assert_eq!(
            line,
            "198.18.0.1 - - [06/Nov/1994:08:49:37 +0000] \
             \"GET /a\\x22b\\x5cc\\x0a198.18.0.9 - - \\xc3\\xa9 HTTP/1.1\" 404 -"
        );
        assert_eq!(line.lines().count(), 1);
        let long = entry("GET", &format!("/{}", "a".repeat(5000)), 414).line(0);
        assert!(
            long.contains(&format!("/{}... HTTP/1.1\" 414 -", "a".repeat(2047))),
            "{long}"
        );
        assert!(long.len() < 2200);
    }
}
