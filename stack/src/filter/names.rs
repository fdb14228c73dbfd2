//! Names the filter language knows: byte-offset and flag constants, IP protocols, and the
//! well-known ports (libpcap reads /etc/services and /etc/protocols; ustack carries the entries
//! of Debian's netbase that matter here, so parsing never touches the file system).

use super::ast::Protos;

/// libpcap's named constants, usable in arithmetic (`tcp[tcpflags] & tcp-syn != 0`,
/// `icmp6[icmp6type] = icmp6-echo`).
const CONSTANTS: [(&str, u32); 57] = [
    ("icmptype", 0),
    ("icmpcode", 1),
    ("icmp-echoreply", 0),
    ("icmp-unreach", 3),
    ("icmp-sourcequench", 4),
    ("icmp-redirect", 5),
    ("icmp-echo", 8),
    ("icmp-routeradvert", 9),
    ("icmp-routersolicit", 10),
    ("icmp-timxceed", 11),
    ("icmp-paramprob", 12),
    ("icmp-tstamp", 13),
    ("icmp-tstampreply", 14),
    ("icmp-ireq", 15),
    ("icmp-ireqreply", 16),
    ("icmp-maskreq", 17),
    ("icmp-maskreply", 18),
    ("tcpflags", 13),
    ("tcp-fin", 0x01),
    ("tcp-syn", 0x02),
    ("tcp-rst", 0x04),
    ("tcp-push", 0x08),
    ("tcp-ack", 0x10),
    ("tcp-urg", 0x20),
    ("tcp-ece", 0x40),
    ("tcp-cwr", 0x80),
    ("icmp6type", 0),
    ("icmp6code", 1),
    ("icmp6-destinationunreach", 1),
    ("icmp6-packettoobig", 2),
    ("icmp6-timeexceeded", 3),
    ("icmp6-parameterproblem", 4),
    ("icmp6-echo", 128),
    ("icmp6-echoreply", 129),
    ("icmp6-multicastlistenerquery", 130),
    ("icmp6-multicastlistenerreportv1", 131),
    ("icmp6-multicastlistenerdone", 132),
    ("icmp6-routersolicit", 133),
    ("icmp6-routeradvert", 134),
    ("icmp6-neighborsolicit", 135),
    ("icmp6-neighboradvert", 136),
    ("icmp6-redirect", 137),
    ("icmp6-routerrenum", 138),
    ("icmp6-nodeinformationquery", 139),
    ("icmp6-nodeinformationresponse", 140),
    ("icmp6-ineighbordiscoverysolicit", 141),
    ("icmp6-ineighbordiscoveryadvert", 142),
    ("icmp6-multicastlistenerreportv2", 143),
    ("icmp6-homeagentdiscoveryrequest", 144),
    ("icmp6-homeagentdiscoveryreply", 145),
    ("icmp6-mobileprefixsolicit", 146),
    ("icmp6-mobileprefixadvert", 147),
    ("icmp6-certpathsolicit", 148),
    ("icmp6-certpathadvert", 149),
    ("icmp6-multicastrouteradvert", 151),
    ("icmp6-multicastroutersolicit", 152),
    ("icmp6-multicastrouterterm", 153),
];

/// The value of a named constant.
pub(super) fn constant(name: &str) -> Option<u32> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// IP protocol names (IANA, as /etc/protocols).
pub(super) fn protocol(name: &str) -> Option<u8> {
    Some(match name {
        "ip" | "hopopt" => 0,
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "ipv6" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" => 58,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "sctp" => 132,
        _ => return None,
    })
}

/// A service name's port and the protocols it is registered for (IANA, as /etc/services).
pub(super) fn service(name: &str) -> Option<(u16, Protos)> {
    let tcp = Protos::TCP;
    let udp = Protos::UDP;
    let both = Protos::ANY;
    Some(match name {
        "echo" => (7, both),
        "discard" => (9, both),
        "chargen" => (19, both),
        "ftp-data" => (20, tcp),
        "ftp" => (21, tcp),
        "ssh" => (22, tcp),
        "telnet" => (23, tcp),
        "smtp" => (25, tcp),
        "domain" => (53, both),
        "bootps" => (67, udp),
        "bootpc" => (68, udp),
        "tftp" => (69, udp),
        "http" | "www" => (80, tcp),
        "pop3" => (110, tcp),
        "ntp" => (123, udp),
        "imap" | "imap2" => (143, tcp),
        "snmp" => (161, both),
        "https" => (443, both),
        "syslog" => (514, udp),
        "http-alt" => (8080, tcp),
        _ => return None,
    })
}
