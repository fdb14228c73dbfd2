//! What `ustack capture` adds after a packet's line, as tcpdump does: the payload dumps (`-X`:
//! hex and ASCII, 16 bytes a line; `-A`: ASCII) and the short application hint of well-known
//! ports (`: HTTP: GET / HTTP/1.1`). Each follows tcpdump's own rules (print-ascii.c,
//! util-print.c's `txtproto_print`) so the same packet prints the same text.

use std::fmt::Write;

/// tcpdump's `ND_ASCII_ISGRAPH`: a visible character (not the space).
fn graph(c: u8) -> bool {
    (0x21..=0x7e).contains(&c)
}

/// tcpdump's `ND_ASCII_ISPRINT`: a visible character or the space.
fn print(c: u8) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// `-X`: every byte as `\n\t0x0010:  4500 0034 ...  E..4....`, 16 to a line (tcpdump's
/// `hex_and_ascii_print`: pairs of bytes, the ASCII column shows graphic characters, a dot for
/// the rest, the space included).
pub fn hex_ascii(out: &mut String, bytes: &[u8]) {
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let mut hex = String::with_capacity(40);
        for pair in chunk.chunks(2) {
            hex.push(' ');
            for b in pair {
                let _ = write!(hex, "{b:02x}");
            }
        }
        let ascii: String = chunk
            .iter()
            .map(|&c| if graph(c) { c as char } else { '.' })
            .collect();
        let _ = write!(out, "\n\t0x{:04x}: {hex:<40}  {ascii}", line * 16);
    }
}

/// `-A`: the bytes as text on the next line (tcpdump's `ascii_print`: a CR before an LF, or as
/// the last byte, is left out, any other CR is a dot; tabs, spaces and LFs stay; other
/// non-graphic bytes are dots).
pub fn ascii(out: &mut String, bytes: &[u8]) {
    out.push('\n');
    for (i, &c) in bytes.iter().enumerate() {
        let rest = bytes.len() - i - 1;
        if c == b'\r' {
            if rest > 1 && bytes[i + 1] != b'\n' {
                out.push('.');
            }
        } else if graph(c) || matches!(c, b'\t' | b' ' | b'\n') {
            out.push(c as char);
        } else {
            out.push('.');
        }
    }
}

/// Request names print-http.c knows.
const HTTP_METHODS: &[&str] = &[
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "NOTIFY",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CCM_POST",
    "SUBSCRIBE",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_CONNECT",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
];

/// TCP ports whose payload tcpdump reads as HTTP.
pub const HTTP_PORTS: &[u16] = &[80, 8080];

/// The token at `idx` (up to a space, tab, CR or LF) and where the next one starts, skipping
/// blanks (tcpdump's `fetch_token`); `None` for anything not printable ASCII or an empty or
/// over-long token.
fn token(p: &[u8], mut idx: usize) -> Option<(&[u8], usize)> {
    let start = idx;
    while idx < p.len() && !matches!(p[idx], b' ' | b'\t' | b'\r' | b'\n') {
        if !print(p[idx]) || idx - start >= 127 {
            return None;
        }
        idx += 1;
    }
    if idx == start {
        return None;
    }
    let tok = &p[start..idx];
    while idx < p.len() && !matches!(p[idx], b'\r' | b'\n') {
        if !print(p[idx]) {
            return None;
        }
        if !matches!(p[idx], b' ' | b'\t') {
            break;
        }
        idx += 1;
    }
    Some((tok, idx))
}

/// One text line from `idx` behind `prefix`, and where the next starts. `None`: the rest is
/// not text; or the line runs to the end of the packet (printed, then ` [|http]`, as tcpdump
/// marks a line cut by the packet's end); or to the end of what was captured of a longer
/// packet (only ` [|http]`: tcpdump stops where its capture does). `wire` is the payload's
/// length on the wire (≥ `p.len()`).
fn text_line(out: &mut String, prefix: &str, p: &[u8], wire: usize, idx: usize) -> Option<usize> {
    let mut i = idx;
    while i < p.len() {
        let (len, next) = match p[i] {
            b'\n' => (i - idx, i + 1),
            b'\r' if i + 1 >= wire => return None,
            b'\r' if i + 1 >= p.len() => break,
            b'\r' if p[i + 1] == b'\n' => (i - idx, i + 2),
            b'\r' => return None,
            c if !print(c) && c != b'\t' => return None,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(prefix);
        out.push_str(&String::from_utf8_lossy(&p[idx..idx + len]));
        return Some(next);
    }
    if wire <= p.len() {
        out.push_str(prefix);
        out.push_str(&String::from_utf8_lossy(&p[idx..]));
    }
    out.push_str(" [|http]");
    None
}

/// tcpdump's HTTP hint after a segment's `length N` (its `txtproto_print`): `: HTTP`, and if
/// the payload starts with a request or status line, `: ` and that line; with `verbose`,
/// `, length: N` and every text line on its own `\n\t` line instead. `payload` is what was
/// captured of the `wire` bytes the segment carries.
pub fn http(out: &mut String, payload: &[u8], wire: usize, verbose: bool) {
    let wire = wire.max(payload.len());
    let mut starts = false;
    if let Some((first, next)) = token(payload, 0) {
        let first = String::from_utf8_lossy(first);
        starts = HTTP_METHODS.iter().any(|m| m.eq_ignore_ascii_case(&first));
        // A status line: the second token is a 3-digit code.
        if let Some((code, _)) = token(payload, next) {
            starts |= code.len() == 3 && code.iter().all(u8::is_ascii_digit);
        }
    }
    out.push_str(": HTTP");
    if !starts {
        return;
    }
    if verbose {
        let _ = write!(out, ", length: {wire}");
        let mut idx = 0;
        while idx < wire {
            match text_line(out, "\n\t", payload, wire, idx) {
                Some(next) => idx = next,
                None => break,
            }
        }
    } else {
        text_line(out, ": ", payload, wire, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_lines_as_tcpdump_x() {
        let mut s = String::new();
        hex_ascii(&mut s, b"E\x00\x00\x3c GET / HTTP/1.1\r\n");
        assert_eq!(
            s,
            "\n\t0x0000:  4500 003c 2047 4554 202f 2048 5454 502f  E..<.GET./.HTTP/\
             \n\t0x0010:  312e 310d 0a                             1.1.."
        );
    }

    #[test]
    fn ascii_as_tcpdump_a() {
        let mut s = String::new();
        ascii(&mut s, b"GET /\r\nHost: x\r\r\x01\r\n");
        assert_eq!(s, "\nGET /\nHost: x...\n");
    }

    #[test]
    fn http_first_line_and_continuations() {
        let mut s = String::new();
        http(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, false);
        assert_eq!(s, ": HTTP: GET / HTTP/1.1");
        let mut s = String::new();
        http(
            &mut s,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            39,
            false,
        );
        assert_eq!(s, ": HTTP: HTTP/1.1 200 OK");
        let mut s = String::new();
        http(&mut s, b"<html>\x00 body", 12, false);
        assert_eq!(s, ": HTTP");
        let mut s = String::new();
        http(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, true);
        assert_eq!(s, ": HTTP, length: 27\n\tGET / HTTP/1.1\n\tHost: a\n\t");
        let mut s = String::new();
        http(&mut s, b"GET /cut", 8, false);
        assert_eq!(s, ": HTTP: GET /cut [|http]");
        // Cut by the snap length: the lines captured whole, then the mark.
        let mut s = String::new();
        http(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\nUser-Ag", 60, true);
        assert_eq!(s, ": HTTP, length: 60\n\tGET / HTTP/1.1\n\tHost: a [|http]");
    }
}
