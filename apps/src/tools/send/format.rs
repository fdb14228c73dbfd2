//! hping3's lines (hping3 3.a2 as Debian ships it, captured from the real tool): the `HPING`
//! line, one line per reply, ICMP errors, the statistics. Pure functions of the events.

use crate::daemon::proto::{ReplyKind, SendIcmpError, SendMode, SendReply, SendStart, SendSummary};
/// TCP flags in hping3's order (its `recv_tcp` and its `HPING` line): R S A F P U X Y.
pub fn flags(bits: u8) -> String {
    const ORDER: [(u8, char); 8] = [
        (0x04, 'R'),
        (0x02, 'S'),
        (0x10, 'A'),
        (0x01, 'F'),
        (0x08, 'P'),
        (0x20, 'U'),
        (0x40, 'X'),
        (0x80, 'Y'),
    ];
    ORDER
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// `HPING 198.18.0.1 (ustack0 198.18.0.1): S set, 40 headers + 0 data bytes`.
pub fn start(s: &SendStart) -> String {
    let set = match s.mode {
        SendMode::RawIp => "raw IP mode".to_string(),
        SendMode::Icmp => "icmp mode".to_string(),
        SendMode::Udp => "udp mode".to_string(),
        SendMode::Tcp if s.tcp_flags == 0 => "NO FLAGS are".to_string(),
        SendMode::Tcp => flags(s.tcp_flags),
    };
    let mut line = format!(
        "HPING {dst} ({} {dst}): {set} set, {} headers + {} data bytes\n",
        s.iface,
        s.headers,
        s.data,
        dst = s.dst
    );
    if s.flood {
        line += "hping in flood mode, no replies will be shown\n";
    }
    line
}

/// hping3's `log_ip`: `DUP! len=44 ip=198.18.0.1 ttl=64 DF id=0 ` (no `id=` over IPv6, which
/// has no identification).
fn ip_part(r: &SendReply) -> String {
    let mut s = String::new();
    if r.dup {
        s += "DUP! ";
    }
    s += &format!("len={} ip={} ttl={} ", r.len, r.from, r.ttl);
    if r.df {
        s += "DF ";
    }
    if let Some(id) = r.ip_id {
        s += &format!("id={id} ");
    }
    s
}

/// One reply line, as hping3 prints it.
pub fn reply(r: &SendReply) -> String {
    let rest = match &r.kind {
        ReplyKind::Tcp {
            sport,
            flags: f,
            win,
            ..
        } => format!(
            "sport={sport} flags={} seq={} win={win} rtt={:.1} ms",
            if *f == 0 { "none".into() } else { flags(*f) },
            r.seq,
            r.rtt_ms
        ),
        ReplyKind::Udp { .. } => format!("seq={} rtt={:.1} ms", r.seq, r.rtt_ms),
        ReplyKind::Icmp { .. } => format!("icmp_seq={} rtt={:.1} ms", r.seq, r.rtt_ms),
    };
    format!("{}{rest}\n", ip_part(r))
}

/// hping3's words for destination unreachable codes (logicmp.c).
fn unreach4(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "Network Unreachable from",
        1 => "Host Unreachable from",
        2 => "Protocol Unreachable from",
        3 => "Port Unreachable from",
        4 => "Fragmentation Needed/DF set from",
        5 => "Source Route failed from",
        13 => "Packet filtered from",
        14 => "Precedence violation from",
        15 => "precedence cut off from",
        _ => return None,
    })
}

/// ICMPv6 destination unreachable codes (RFC 4443 §3.1), in hping3's shape.
fn unreach6(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "No Route to Destination from",
        1 => "Administratively Prohibited from",
        2 => "Beyond Scope of Source Address from",
        3 => "Address Unreachable from",
        4 => "Port Unreachable from",
        5 => "Source Address Failed Policy from",
        6 => "Reject Route from",
        _ => return None,
    })
}

/// The first line of an ICMP error, as hping3 words it (with `-n`: no name lookup).
fn error_line(e: &SendIcmpError) -> String {
    let from = e.from;
    let (t, c) = (e.icmp_type, e.icmp_code);
    match (e.v6, t) {
        (false, 3) => match unreach4(c) {
            Some(m) => format!("ICMP {m} ip={from}"),
            None => format!("ICMP Unreachable type={c} from ip={from}"),
        },
        (false, 11) if c == 1 => format!("TTL 0 during reassembly from ip={from}"),
        (false, 11) => format!("TTL 0 during transit from ip={from}"),
        (true, 1) => match unreach6(c) {
            Some(m) => format!("ICMPv6 {m} ip={from}"),
            None => format!("ICMPv6 Unreachable type={c} from ip={from}"),
        },
        (true, 2) => format!(
            "ICMPv6 Packet Too Big (mtu={}) from ip={from}",
            e.mtu.unwrap_or(0)
        ),
        (true, 3) if c == 1 => format!("Hop limit 0 during reassembly from ip={from}"),
        (true, 3) => format!("Hop limit 0 during transit from ip={from}"),
        // RFC 4443 §3.4: IPv6's protocol unreachable is a parameter problem, code 1.
        (true, 4) => match c {
            0 => format!("ICMPv6 Parameter Problem (erroneous header field) from ip={from}"),
            1 => format!("ICMPv6 Parameter Problem (unrecognized Next Header) from ip={from}"),
            2 => format!("ICMPv6 Parameter Problem (unrecognized IPv6 option) from ip={from}"),
            _ => format!("ICMPv6 Parameter Problem code={c} from ip={from}"),
        },
        (true, _) => format!("ICMPv6 type={t} code={c} from ip={from}"),
        (false, _) => format!("ICMP type={t} code={c} from ip={from}"),
    }
}

/// An ICMP error's lines: hping3's message, and for a quoted UDP probe its
/// `status=0 port=2073 seq=0` line (status 1: answered before).
pub fn icmp_error(e: &SendIcmpError) -> String {
    let mut s = error_line(e);
    s.push('\n');
    if let (true, Some(port), Some(seq)) = (e.quoted_udp, e.port, e.seq) {
        s += &format!("status={} port={port} seq={seq}\n", u8::from(e.dup));
    }
    s
}

/// hping3's statistics (it prints them on stderr).
pub fn summary(s: &SendSummary) -> String {
    let dst = s.dst.map(|d| d.to_string()).unwrap_or_default();
    // hping3: 100 − received·100/sent, in integers (never below 0 here, duplicates or not).
    let loss = if s.received > 0 {
        100u64.saturating_sub(u64::from(s.received) * 100 / u64::from(s.transmitted.max(1)))
    } else if s.transmitted == 0 {
        0
    } else {
        100
    };
    let [min, avg, max] = s.rtt.unwrap_or([0.0; 3]);
    format!(
        "\n--- {dst} hping statistic ---\n\
         {} packets transmitted, {} packets received, {loss}% packet loss\n\
         round-trip min/avg/max = {min:.1}/{avg:.1}/{max:.1} ms\n",
        s.transmitted, s.received
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tcp(len: usize, sport: u16, f: u8, seq: u32, win: u16, rtt_ms: f64) -> SendReply {
        SendReply {
            len,
            from: v4("127.0.0.1"),
            ttl: 64,
            df: true,
            ip_id: Some(0),
            dup: false,
            seq,
            rtt_ms,
            kind: ReplyKind::Tcp {
                sport,
                flags: f,
                win,
                tcp_seq: 0,
                tcp_ack: 0,
            },
        }
    }

    // Every expected line below is hping3's own output (Debian 3.a2.ds2-10, in a namespace).
    #[test]
    fn tcp_lines_as_hping3_prints_them() {
        assert_eq!(
            reply(&tcp(44, 8080, 0x12, 0, 65495, 0.6)),
            "len=44 ip=127.0.0.1 ttl=64 DF id=0 sport=8080 flags=SA seq=0 win=65495 rtt=0.6 ms\n"
        );
        assert_eq!(
            reply(&tcp(40, 80, 0x14, 1, 0, 0.74)),
            "len=40 ip=127.0.0.1 ttl=64 DF id=0 sport=80 flags=RA seq=1 win=0 rtt=0.7 ms\n"
        );
        let mut dup = tcp(40, 80, 0x14, 1, 0, 0.7);
        dup.dup = true;
        assert!(reply(&dup).starts_with("DUP! len=40 "));
        assert_eq!(flags(0xff), "RSAFPUXY");
        assert_eq!(flags(0x29), "FPU");
    }

    #[test]
    fn start_lines_as_hping3_prints_them() {
        let mut s = SendStart {
            dst: v4("127.0.0.1"),
            iface: "lo".into(),
            src: v4("127.0.0.1"),
            mode: SendMode::Tcp,
            tcp_flags: 0x02,
            headers: 40,
            data: 0,
            flood: false,
        };
        assert_eq!(
            start(&s),
            "HPING 127.0.0.1 (lo 127.0.0.1): S set, 40 headers + 0 data bytes\n"
        );
        s.tcp_flags = 0xd7;
        assert!(start(&s).contains("): RSAFXY set, 40 headers"));
        s.tcp_flags = 0;
        assert!(start(&s).contains("): NO FLAGS are set, 40 headers"));
        s.mode = SendMode::Udp;
        s.headers = 28;
        assert_eq!(
            start(&s),
            "HPING 127.0.0.1 (lo 127.0.0.1): udp mode set, 28 headers + 0 data bytes\n"
        );
        s.mode = SendMode::Icmp;
        s.data = 50;
        assert!(start(&s).ends_with("icmp mode set, 28 headers + 50 data bytes\n"));
        s.mode = SendMode::RawIp;
        s.headers = 20;
        s.data = 0;
        assert!(start(&s).ends_with("raw IP mode set, 20 headers + 0 data bytes\n"));
    }

    #[test]
    fn icmp_lines_as_hping3_prints_them() {
        let echo = SendReply {
            len: 28,
            from: v4("127.0.0.1"),
            ttl: 64,
            df: false,
            ip_id: Some(36199),
            dup: false,
            seq: 0,
            rtt_ms: 3.9,
            kind: ReplyKind::Icmp {
                icmp_type: 0,
                icmp_code: 0,
            },
        };
        assert_eq!(
            reply(&echo),
            "len=28 ip=127.0.0.1 ttl=64 id=36199 icmp_seq=0 rtt=3.9 ms\n"
        );
        let err = |t, c, udp| SendIcmpError {
            from: v4("10.77.1.2"),
            v6: false,
            icmp_type: t,
            icmp_code: c,
            seq: Some(0),
            port: Some(2073),
            rtt_ms: Some(0.3),
            dup: false,
            quoted_udp: udp,
            mtu: None,
        };
        assert_eq!(
            icmp_error(&err(3, 3, true)),
            "ICMP Port Unreachable from ip=10.77.1.2\nstatus=0 port=2073 seq=0\n"
        );
        assert_eq!(
            icmp_error(&err(3, 3, false)),
            "ICMP Port Unreachable from ip=10.77.1.2\n"
        );
        assert_eq!(
            icmp_error(&err(11, 0, false)),
            "TTL 0 during transit from ip=10.77.1.2\n"
        );
        assert_eq!(
            icmp_error(&err(3, 0, false)),
            "ICMP Network Unreachable from ip=10.77.1.2\n"
        );
        assert_eq!(
            icmp_error(&err(3, 10, false)),
            "ICMP Unreachable type=10 from ip=10.77.1.2\n"
        );
        assert_eq!(
            icmp_error(&err(3, 2, false)),
            "ICMP Protocol Unreachable from ip=10.77.1.2\n"
        );
        let v6 = |t, c| SendIcmpError {
            from: "2001:2::1".parse().unwrap(),
            v6: true,
            port: None,
            ..err(t, c, false)
        };
        assert_eq!(
            icmp_error(&v6(1, 4)),
            "ICMPv6 Port Unreachable from ip=2001:2::1\n"
        );
        assert_eq!(
            icmp_error(&v6(4, 1)),
            "ICMPv6 Parameter Problem (unrecognized Next Header) from ip=2001:2::1\n"
        );
        assert_eq!(
            icmp_error(&v6(3, 0)),
            "Hop limit 0 during transit from ip=2001:2::1\n"
        );
    }

    #[test]
    fn statistics_as_hping3_prints_them() {
        let s = SendSummary {
            dst: Some(v4("127.0.0.1")),
            transmitted: 2,
            received: 2,
            rtt: Some([0.4, 0.5, 0.6]),
        };
        assert_eq!(
            summary(&s),
            "\n--- 127.0.0.1 hping statistic ---\n\
             2 packets transmitted, 2 packets received, 0% packet loss\n\
             round-trip min/avg/max = 0.4/0.5/0.6 ms\n"
        );
        let lost = SendSummary {
            received: 0,
            rtt: None,
            ..s.clone()
        };
        assert!(summary(&lost).contains(
            "2 packets transmitted, 0 packets received, 100% packet loss\n\
             round-trip min/avg/max = 0.0/0.0/0.0 ms\n"
        ));
        let half = SendSummary {
            transmitted: 3,
            received: 1,
            ..s
        };
        assert!(
            summary(&half).contains(", 67% packet loss"),
            "{}",
            summary(&half)
        );
    }
}
