//! Names the filter language knows: byte-offset and flag constants, IP protocols, and the
//! well-known ports (libpcap reads /etc/services and /etc/protocols; ustack carries the entries
//! of Debian's netbase that matter here, so parsing never touches the file system).

use super::ast::Protos;

/// libpcap's named constants, usable in arithmetic (`tcp[tcpflags] & tcp-syn != 0`).
const CONSTANTS: [(&str, u32); 28] = [
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
];

/// The value of a named constant.
pub(super) fn constant(name: &str) -> Option<u32> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// IP protocol names (IANA, as /etc/protocols).
pub(super) fn protocol(name: &str) -> Option<u8> {
    Some(match name {
        "ip" => 0,
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
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
