//! Named profiles: documented, mechanical rewrites of a script for what is an implementation's
//! free choice. A profile never touches sequence numbers, flags, lengths, payload, timing or
//! return values; it rewrites only outbound (`>`) packets' option layout and advertised window,
//! and buffer sizes a script reads back.
//!
//! `freebsd`:
//! - outbound TCP options: the same options with the same values, laid out the way ustack (and
//!   Linux) lays them out — MSS; SACK-permitted and timestamps as `sackOK,TS` or `nop,nop,TS`
//!   (`nop,nop,sackOK` without timestamps); `nop,wscale`; `nop,nop,sack` blocks — instead of
//!   FreeBSD's order and EOL padding (RFC 9293 §3.2 leaves both to the sender);
//! - outbound `wscale N` becomes the shift ustack derives from its configured receive buffer:
//!   FreeBSD derives its shift from `kern.ipc.maxsockbuf`; the shift is the receiver's choice
//!   (RFC 7323 §2.2);
//! - outbound `win N` is dropped (not checked): the advertised window follows the receive
//!   buffer's size and accounting, a local choice (RFC 9293 §3.8.6.2.2);
//! - `getsockopt(.., SO_RCVBUF, [N], ..)` expects the configured buffer instead of FreeBSD's
//!   rounded figure;
//! - inline Python's FreeBSD `TCPI_*` state names become Linux's state numbers, which the shim
//!   reports in `tcpi_state`.

/// The profiles the runner knows.
pub const PROFILES: &[(&str, &str)] = &[
    (
        "freebsd",
        "FreeBSD option layout, window scale and advertised window in outbound packets; \
         SO_RCVBUF read-back",
    ),
    (
        "linux",
        "window scale and advertised window in outbound packets (Linux's layout is ustack's)",
    ),
];

/// Applies profile `name` to one line; `rcvbuf` is the configured receive buffer.
pub fn apply(name: &str, line: &str, rcvbuf: Option<&str>) -> String {
    match name {
        "freebsd" => freebsd_line(line, rcvbuf),
        "linux" => linux_line(line, rcvbuf),
        _ => line.to_string(),
    }
}

/// The `linux` profile: outbound `win N` dropped and `wscale N` set to ustack's shift; the
/// option list itself is kept exactly (it must already be in ustack's layout).
pub fn linux_line(line: &str, rcvbuf: Option<&str>) -> String {
    if !is_outbound(line) {
        return line.to_string();
    }
    let l = drop_window(line);
    let Some(at) = l.find("wscale ") else {
        return l;
    };
    let from = at + "wscale ".len();
    let digits = l[from..].chars().take_while(char::is_ascii_digit).count();
    let shift = ustack_shift(rcvbuf.and_then(|b| b.parse().ok()).unwrap_or(256 << 10));
    format!("{}{shift}{}", &l[..from], &l[from + digits..])
}

/// Whether `line` is an outbound packet line (`<time> > ...`).
fn is_outbound(line: &str) -> bool {
    let mut it = line.split_whitespace();
    let first = it.next().unwrap_or("");
    let time_like = first
        .trim_start_matches(['+', '*', '~'])
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '~' || c == '-');
    time_like && !first.is_empty() && it.next() == Some(">")
}

/// The window-scale shift ustack chooses for a receive buffer of `buffer` bytes: the smallest
/// that lets the whole buffer be advertised (RFC 7323 §2.3, at most 14) — the same rule as
/// `ustack::test_support::scale_for`.
pub fn ustack_shift(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > 65535 {
        shift += 1;
    }
    shift
}

/// ustack's layout of the options in `list` (the text between `<` and `>`), or None when the
/// list holds something this rewrite does not know (then the line is left as written).
/// `shift`, when given, replaces the window-scale value (the receiver's choice, RFC 7323 §2.2).
pub fn relayout_options(list: &str, shift: Option<u8>) -> Option<String> {
    let (mut mss, mut sack_ok, mut ws, mut ts, mut sack) = (None, false, None, None, None);
    for item in list.split(',').map(str::trim) {
        let words: Vec<&str> = item.split_whitespace().collect();
        match words.as_slice() {
            ["nop"] | ["eol"] => {}
            ["mss", v] => mss = Some(*v),
            ["sackOK"] => sack_ok = true,
            ["wscale", v] => ws = Some(shift.map_or(v.to_string(), |s| s.to_string())),
            ["TS", "val", v, "ecr", e] => ts = Some(format!("TS val {v} ecr {e}")),
            ["sack", blocks @ ..] if !blocks.is_empty() => sack = Some(blocks.join(" ")),
            _ => return None,
        }
    }
    let mut out: Vec<String> = Vec::new();
    if let Some(m) = mss {
        out.push(format!("mss {m}"));
    }
    match (sack_ok, ts) {
        (true, Some(t)) => out.extend(["sackOK".to_string(), t]),
        (false, Some(t)) => out.extend(["nop".into(), "nop".into(), t]),
        (true, None) => out.extend(["nop".into(), "nop".into(), "sackOK".into()]),
        (false, None) => {}
    }
    if let Some(w) = ws {
        out.extend(["nop".into(), format!("wscale {w}")]);
    }
    if let Some(s) = sack {
        out.extend(["nop".into(), "nop".into(), format!("sack {s}")]);
    }
    Some(out.join(","))
}

/// Removes ` win N` (any spacing) from a packet line.
fn drop_window(line: &str) -> String {
    let Some(at) = line.find(" win ") else {
        return line.to_string();
    };
    let after = &line[at + " win ".len()..];
    let digits_from = after.len() - after.trim_start().len();
    let rest = &after[digits_from..];
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return line.to_string();
    }
    format!("{}{}", &line[..at], &rest[digits..])
}

/// FreeBSD's packetdrill defines `TCPI_*` state names for inline Python; the shim reports
/// `tcpi_state` with Linux's numbers (include/net/tcp_states.h), as Linux's packetdrill reads
/// it. The profile writes each name as that number: the same state, spelled for this reader.
const TCPI_STATES: &[(&str, &str)] = &[
    ("TCPI_ESTABLISHED", "1"),
    ("TCPI_SYN_SENT", "2"),
    ("TCPI_SYN_RECEIVED", "3"),
    ("TCPI_FIN_WAIT_1", "4"),
    ("TCPI_FIN_WAIT_2", "5"),
    ("TCPI_TIME_WAIT", "6"),
    ("TCPI_CLOSED", "7"),
    ("TCPI_CLOSE_WAIT", "8"),
    ("TCPI_LAST_ACK", "9"),
    ("TCPI_LISTEN", "10"),
    ("TCPI_CLOSING", "11"),
];

/// Applies the `freebsd` profile to one line; `rcvbuf` is the configured receive buffer.
pub fn freebsd_line(line: &str, rcvbuf: Option<&str>) -> String {
    if line.contains("%{") {
        let mut l = line.to_string();
        for (name, num) in TCPI_STATES {
            l = l.replace(name, num);
        }
        return l;
    }
    if is_outbound(line) {
        let mut l = drop_window(line);
        if let (Some(a), Some(b)) = (l.find('<'), l.rfind('>')) {
            if a < b {
                let shift = ustack_shift(rcvbuf.and_then(|b| b.parse().ok()).unwrap_or(256 << 10));
                if let Some(new) = relayout_options(&l[a + 1..b], Some(shift)) {
                    l = format!("{}<{}>{}", &l[..a], new, &l[b + 1..]);
                }
            }
        }
        return l;
    }
    if let (Some(buf), true) = (rcvbuf, line.contains("getsockopt(")) {
        if let Some(at) = line.find("SO_RCVBUF, [") {
            let start = at + "SO_RCVBUF, [".len();
            if let Some(end) = line[start..].find(']') {
                return format!("{}{}{}", &line[..start], buf, &line[start + end..]);
            }
        }
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_values_and_change_layout_only() {
        assert_eq!(
            relayout_options("mss 1460,sackOK,eol,eol", None).as_deref(),
            Some("mss 1460,nop,nop,sackOK")
        );
        assert_eq!(
            relayout_options("mss 1460,nop,wscale 6,sackOK,TS val 1 ecr 2", None).as_deref(),
            Some("mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 6")
        );
        assert_eq!(
            relayout_options("nop,nop,sack 50:75 600:700", Some(3)).as_deref(),
            Some("nop,nop,sack 50:75 600:700")
        );
        assert_eq!(relayout_options("md5 abc", None), None);
        assert_eq!(
            relayout_options("mss 1460,nop,wscale 6", Some(1)).as_deref(),
            Some("mss 1460,nop,wscale 1")
        );
        assert_eq!(
            (
                ustack_shift(65535),
                ustack_shift(65536),
                ustack_shift(1 << 20)
            ),
            (0, 1, 5)
        );
    }

    #[test]
    fn only_outbound_lines_change() {
        let out = "+0.00 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>";
        assert_eq!(
            freebsd_line(out, None),
            "+0.00 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>"
        );
        assert_eq!(
            linux_line(
                "   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>",
                None
            ),
            "   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 3>"
        );
        assert_eq!(
            freebsd_line("+0.00 %{ assert tcpi_state == TCPI_SYN_RECEIVED }%", None),
            "+0.00 %{ assert tcpi_state == 3 }%"
        );
        let inbound = "+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>";
        assert_eq!(freebsd_line(inbound, None), inbound);
        let get = "+0.00 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65700], [4]) = 0";
        assert_eq!(
            freebsd_line(get, Some("65536")),
            "+0.00 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0"
        );
        assert_eq!(
            freebsd_line("+0.00 > R. 2:2(0) ack 2 win     0", None),
            "+0.00 > R. 2:2(0) ack 2"
        );
        // Sequence numbers, flags, lengths and ack stay exactly as written.
        let data = "+0.00 >  .   1:1(0)     ack 100 win 64901 <nop,nop,sack 1:100>";
        assert_eq!(
            freebsd_line(data, None),
            "+0.00 >  .   1:1(0)     ack 100 <nop,nop,sack 1:100>"
        );
    }
}
