//! Which ports a scan probes and what they are called: nmap's `-p` syntax, `--top-ports` in
//! nmap's frequency order, and service names (nmap-services' names for the common ports).

use crate::daemon::proto::Proto;

/// Parses nmap's `-p` syntax for transport `proto`: a comma list of `N`, `N-M`, `-M` (from 1),
/// `N-` (to 65535) and `-` (1-65535); `T:`/`U:` start a part for TCP or UDP only (`S:` for
/// SCTP is refused). Duplicates are dropped; the ports come out ascending.
pub fn parse_ports(spec: &str, proto: Proto) -> Result<Vec<u16>, String> {
    let mut want = vec![false; 65536];
    // Which transport the current part is for (None: both).
    let mut only: Option<Proto> = None;
    for raw in spec.split(',') {
        let mut part = raw.trim();
        if let Some((prefix, rest)) = part.split_once(':') {
            only = match prefix.trim() {
                "T" | "t" => Some(Proto::Tcp),
                "U" | "u" => Some(Proto::Udp),
                p => return Err(format!("{p}: unknown protocol prefix (T: or U:)")),
            };
            part = rest.trim();
        }
        if part.is_empty() {
            return Err(format!("{spec:?}: an empty port range"));
        }
        let num = |s: &str, default: u16| -> Result<u16, String> {
            if s.is_empty() {
                return Ok(default);
            }
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("{s}: not a port number (0-65535)"))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a, 1)?, num(b, u16::MAX)?),
            None => {
                let p = num(part, 0)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("{part}: the range runs backwards"));
        }
        if only.is_none_or(|o| o == proto) {
            for p in lo..=hi {
                want[usize::from(p)] = true;
            }
        }
    }
    let ports: Vec<u16> = (0..=u16::MAX).filter(|&p| want[usize::from(p)]).collect();
    if ports.is_empty() {
        return Err(format!("{spec:?} names no {proto} port"));
    }
    Ok(ports)
}

/// The `n` most common ports of `proto` (at most the table's length), ascending as nmap
/// scans them; None when `n` is 0.
pub fn top_ports(n: usize, proto: Proto) -> Option<Vec<u16>> {
    let table: &[u16] = match proto {
        Proto::Tcp => &TOP_TCP,
        Proto::Udp => &TOP_UDP,
    };
    if n == 0 {
        return None;
    }
    let mut v = table[..n.min(table.len())].to_vec();
    v.sort_unstable();
    Some(v)
}

/// The service name of `port`/`proto`, `unknown` as nmap says for a port it has no name for.
pub fn service(port: u16, proto: Proto) -> &'static str {
    let name = SERVICES
        .binary_search_by_key(&port, |s| s.0)
        .ok()
        .map(|i| match proto {
            Proto::Tcp => SERVICES[i].1,
            Proto::Udp => SERVICES[i].2,
        })
        .unwrap_or("");
    if name.is_empty() {
        "unknown"
    } else {
        name
    }
}

/// nmap's 100 most frequent TCP ports, most frequent first (nmap-services' open-frequency
/// column: what `--top-ports 100` and `-F` scan).
pub const TOP_TCP: [u16; 100] = [
    80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995, 993,
    5900, 1025, 587, 8888, 199, 1720, 465, 548, 113, 81, 6001, 10000, 514, 5060, 179, 1026, 2000,
    8443, 8000, 32768, 554, 26, 1433, 49152, 2001, 515, 8008, 49154, 1027, 5666, 646, 5000, 5631,
    631, 49153, 8081, 2049, 88, 79, 5800, 106, 2121, 1110, 49155, 6000, 513, 990, 5357, 427, 49156,
    543, 544, 5101, 144, 7, 389, 8009, 3128, 444, 9999, 5009, 7070, 5190, 3000, 5432, 1900, 3986,
    13, 1029, 9, 5051, 6646, 49157, 1028, 873, 1755, 2717, 4899, 9100, 119, 37,
];

/// nmap's 50 most frequent UDP ports, most frequent first.
pub const TOP_UDP: [u16; 50] = [
    631, 161, 137, 123, 138, 1434, 445, 135, 67, 53, 139, 500, 68, 520, 1900, 4500, 514, 49152,
    162, 69, 5353, 111, 49154, 1701, 998, 996, 997, 999, 3283, 49153, 1812, 136, 2222, 2049, 32768,
    5060, 1025, 1433, 3456, 80, 20031, 1026, 7, 1646, 1645, 593, 518, 2048, 626, 1027,
];

/// Service names of the common ports, as nmap-services names them: (port, tcp, udp); ""
/// where that transport has none here.
const SERVICES: [(u16, &str, &str); 127] = [
    (7, "echo", "echo"),
    (9, "discard", "discard"),
    (13, "daytime", ""),
    (19, "chargen", "chargen"),
    (20, "ftp-data", ""),
    (21, "ftp", ""),
    (22, "ssh", ""),
    (23, "telnet", ""),
    (25, "smtp", ""),
    (26, "rsftp", ""),
    (37, "time", ""),
    (53, "domain", "domain"),
    (67, "", "dhcps"),
    (68, "", "dhcpc"),
    (69, "", "tftp"),
    (79, "finger", ""),
    (80, "http", "http"),
    (81, "hosts2-ns", ""),
    (88, "kerberos-sec", ""),
    (106, "pop3pw", ""),
    (110, "pop3", ""),
    (111, "rpcbind", "rpcbind"),
    (113, "ident", ""),
    (119, "nntp", ""),
    (123, "", "ntp"),
    (135, "msrpc", "msrpc"),
    (136, "", "profile"),
    (137, "", "netbios-ns"),
    (138, "", "netbios-dgm"),
    (139, "netbios-ssn", "netbios-ssn"),
    (143, "imap", ""),
    (144, "news", ""),
    (161, "", "snmp"),
    (162, "", "snmptrap"),
    (179, "bgp", ""),
    (199, "smux", ""),
    (389, "ldap", ""),
    (427, "svrloc", ""),
    (443, "https", ""),
    (444, "snpp", ""),
    (445, "microsoft-ds", "microsoft-ds"),
    (465, "smtps", ""),
    (500, "", "isakmp"),
    (513, "login", ""),
    (514, "shell", "syslog"),
    (515, "printer", ""),
    (518, "", "ntalk"),
    (520, "", "route"),
    (543, "klogin", ""),
    (544, "kshell", ""),
    (548, "afp", ""),
    (554, "rtsp", ""),
    (587, "submission", ""),
    (593, "", "http-rpc-epmap"),
    (626, "", "serialnumberd"),
    (631, "ipp", "ipp"),
    (646, "ldp", ""),
    (873, "rsync", ""),
    (990, "ftps", ""),
    (993, "imaps", ""),
    (995, "pop3s", ""),
    (996, "", "vsinet"),
    (997, "", "maitrd"),
    (998, "", "puparp"),
    (999, "", "applix"),
    (1025, "NFS-or-IIS", "blackjack"),
    (1026, "LSA-or-nterm", "win-rpc"),
    (1027, "IIS", ""),
    (1029, "ms-lsa", ""),
    (1110, "nfsd-status", ""),
    (1433, "ms-sql-s", "ms-sql-s"),
    (1434, "", "ms-sql-m"),
    (1645, "", "radius"),
    (1646, "", "radacct"),
    (1701, "", "L2TP"),
    (1720, "h323q931", ""),
    (1723, "pptp", ""),
    (1755, "wms", ""),
    (1812, "", "radius"),
    (1883, "mqtt", ""),
    (1900, "upnp", "upnp"),
    (2000, "cisco-sccp", ""),
    (2001, "dc", ""),
    (2048, "", "dls-monitor"),
    (2049, "nfs", "nfs"),
    (2121, "ccproxy-ftp", ""),
    (2222, "", "msantipiracy"),
    (2717, "pn-requester", ""),
    (3000, "ppp", ""),
    (3128, "squid-http", ""),
    (3283, "", "netassistant"),
    (3306, "mysql", ""),
    (3389, "ms-wbt-server", ""),
    (3456, "", "IISrpc-or-vat"),
    (3986, "mapper-ws_ethd", ""),
    (4500, "", "nat-t-ike"),
    (4899, "radmin", ""),
    (5000, "upnp", ""),
    (5009, "airport-admin", ""),
    (5051, "ida-agent", ""),
    (5060, "sip", "sip"),
    (5101, "admdog", ""),
    (5190, "aol", ""),
    (5353, "", "zeroconf"),
    (5357, "wsdapi", ""),
    (5432, "postgresql", ""),
    (5631, "pcanywheredata", ""),
    (5666, "nrpe", ""),
    (5800, "vnc-http", ""),
    (5900, "vnc", ""),
    (6000, "X11", ""),
    (6001, "X11:1", ""),
    (6667, "irc", ""),
    (7070, "realserver", ""),
    (8000, "http-alt", ""),
    (8008, "http", ""),
    (8009, "ajp13", ""),
    (8080, "http-proxy", ""),
    (8081, "blackice-icecap", ""),
    (8443, "https-alt", ""),
    (8883, "secure-mqtt", ""),
    (8888, "sun-answerbook", ""),
    (9100, "jetdirect", ""),
    (9999, "abyss", ""),
    (10000, "snet-sensor-mgmt", ""),
    (20031, "", "bakbonenetvault"),
    (32768, "filenet-tms", "omad"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmaps_port_syntax() {
        assert_eq!(parse_ports("22", Proto::Tcp).unwrap(), vec![22]);
        assert_eq!(
            parse_ports("80,22,20-23,22", Proto::Tcp).unwrap(),
            vec![20, 21, 22, 23, 80]
        );
        assert_eq!(parse_ports("-3", Proto::Tcp).unwrap(), vec![1, 2, 3]);
        assert_eq!(
            parse_ports("65534-", Proto::Tcp).unwrap(),
            vec![65534, 65535]
        );
        assert_eq!(parse_ports("-", Proto::Tcp).unwrap().len(), 65535);
        assert_eq!(parse_ports("0", Proto::Tcp).unwrap(), vec![0]);
        assert_eq!(
            parse_ports("T:22,80,U:53", Proto::Tcp).unwrap(),
            vec![22, 80]
        );
        assert_eq!(parse_ports("T:22,80,U:53", Proto::Udp).unwrap(), vec![53]);
        for bad in ["", "x", "22,", "30-20", "70000", "S:80", "U:53"] {
            assert!(parse_ports(bad, Proto::Tcp).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn top_ports_in_nmaps_order() {
        assert_eq!(top_ports(1, Proto::Tcp).unwrap(), vec![80]);
        assert_eq!(top_ports(3, Proto::Tcp).unwrap(), vec![23, 80, 443]);
        assert_eq!(top_ports(2, Proto::Udp).unwrap(), vec![161, 631]);
        assert_eq!(top_ports(5000, Proto::Tcp).unwrap().len(), 100);
        assert!(top_ports(0, Proto::Tcp).is_none());
        let mut dedup = TOP_TCP.to_vec();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), TOP_TCP.len());
    }

    #[test]
    fn service_names() {
        assert!(
            SERVICES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted by port"
        );
        assert_eq!(service(22, Proto::Tcp), "ssh");
        assert_eq!(service(53, Proto::Udp), "domain");
        assert_eq!(service(3389, Proto::Tcp), "ms-wbt-server");
        assert_eq!(service(7, Proto::Udp), "echo");
        assert_eq!(service(22, Proto::Udp), "unknown");
        assert_eq!(service(47_111, Proto::Tcp), "unknown");
    }
}
