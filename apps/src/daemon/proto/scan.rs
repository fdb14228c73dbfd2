//! The `scan` request and its events (docs/CONTROL.md, "scan"): a port scan (or host
//! discovery) from inside the stack, nmap's scan types and states; one `scan` reply per event,
//! then `end`. Re-exported from [`super::proto`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The scan technique (nmap's `-s` letter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanType {
    /// `-sS`: half-open — a SYN, then a RST after the SYN-ACK.
    #[default]
    Syn,
    /// `-sT`: a whole connection through the stack's own TCP, closed at once.
    Connect,
    /// `-sU`: an empty UDP datagram.
    Udp,
    /// `-sF`: a bare FIN.
    Fin,
    /// `-sN`: no flags at all.
    Null,
    /// `-sX`: FIN, PSH and URG ("lit up like a Christmas tree").
    Xmas,
    /// `-sA`: a bare ACK: tells filtered from unfiltered, not open from closed.
    Ack,
    /// `-sn`: host discovery only — ICMP echo, a SYN to 443 and an ACK to 80 per host.
    Ping,
}

impl ScanType {
    /// nmap's option letter for it (`-sS` …).
    pub fn flag(self) -> &'static str {
        match self {
            ScanType::Syn => "-sS",
            ScanType::Connect => "-sT",
            ScanType::Udp => "-sU",
            ScanType::Fin => "-sF",
            ScanType::Null => "-sN",
            ScanType::Xmas => "-sX",
            ScanType::Ack => "-sA",
            ScanType::Ping => "-sn",
        }
    }

    /// The transport its port states are about.
    pub fn proto(self) -> Proto {
        match self {
            ScanType::Udp => Proto::Udp,
            _ => Proto::Tcp,
        }
    }

    /// nmap's name of the technique, as in "SYN Stealth Scan Timing".
    pub fn name(self) -> &'static str {
        match self {
            ScanType::Syn => "SYN Stealth Scan",
            ScanType::Connect => "Connect Scan",
            ScanType::Udp => "UDP Scan",
            ScanType::Fin => "FIN Scan",
            ScanType::Null => "NULL Scan",
            ScanType::Xmas => "XMAS Scan",
            ScanType::Ack => "ACK Scan",
            ScanType::Ping => "Ping Scan",
        }
    }
}

/// A port's transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A port's state, nmap's six (Nmap Network Scanning, "Port Scanning Basics").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PortState {
    /// Something accepts connections or datagrams there.
    #[serde(rename = "open")]
    Open,
    /// Reachable, nothing listening.
    #[serde(rename = "closed")]
    Closed,
    /// Something (a firewall) keeps the probes from telling.
    #[serde(rename = "filtered")]
    Filtered,
    /// `-sA`: reachable, open or closed unknown.
    #[serde(rename = "unfiltered")]
    Unfiltered,
    /// No answer, which an open port and a filter both give (`-sU`, `-sF`, `-sN`, `-sX`).
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    /// Closed or filtered (nmap's idle scan; kept for the names' sake).
    #[serde(rename = "closed|filtered")]
    ClosedFiltered,
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unfiltered => "unfiltered",
            PortState::OpenFiltered => "open|filtered",
            PortState::ClosedFiltered => "closed|filtered",
        })
    }
}

/// Why a port (or host) has its state: nmap's `--reason` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A SYN-ACK came back.
    SynAck,
    /// A RST came back.
    Reset,
    /// `-sT`: the connection was refused (a RST to the stack's SYN).
    ConnRefused,
    /// Nothing came back, after every try.
    NoResponse,
    /// A UDP datagram came back from the port.
    UdpResponse,
    /// An ICMP echo reply (host discovery).
    EchoReply,
    /// ICMP destination unreachable, port unreachable (type 3 code 3; ICMPv6 1/4).
    PortUnreach,
    /// ICMP network unreachable (3/0; ICMPv6 1/0 no route).
    NetUnreach,
    /// ICMP host unreachable (3/1; ICMPv6 1/3 address unreachable).
    HostUnreach,
    /// ICMP protocol unreachable (3/2).
    ProtoUnreach,
    /// ICMP network administratively prohibited (3/9).
    NetProhibited,
    /// ICMP host administratively prohibited (3/10).
    HostProhibited,
    /// ICMP communication administratively prohibited (3/13; ICMPv6 1/1, 1/5, 1/6).
    AdminProhibited,
    /// The address is the stack's own (nmap's `localhost-response`).
    LocalhostResponse,
}

impl Reason {
    /// The word as nmap prints it.
    pub fn word(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::ConnRefused => "conn-refused",
            Reason::NoResponse => "no-response",
            Reason::UdpResponse => "udp-response",
            Reason::EchoReply => "echo-reply",
            Reason::PortUnreach => "port-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::HostUnreach => "host-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::NetProhibited => "net-prohibited",
            Reason::HostProhibited => "host-prohibited",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::LocalhostResponse => "localhost-response",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// nmap's `-T0` … `-T5`.
pub type TimingLevel = u8;

/// Parameters of `scan` (nmap's options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// Targets: addresses or prefixes (`198.18.0.0/24`, `2001:2::/120`), IPv4 and IPv6 alike.
    pub targets: Vec<String>,
    /// The technique.
    #[serde(default)]
    pub scan: ScanType,
    /// Ports, nmap's `-p` syntax (`22,80,1000-1100`, `-` for all, `T:`/`U:` prefixes taken
    /// and ignored); none: the `top_ports` most common ones.
    #[serde(default)]
    pub ports: Option<String>,
    /// `--top-ports N`: the N most common ports of the scan's transport (nmap's frequency
    /// order; at most the table's length). Default 100 when `ports` is none.
    #[serde(default)]
    pub top_ports: Option<usize>,
    /// `-T0` … `-T5` (default 3, nmap's "normal").
    #[serde(default = "default_timing")]
    pub timing: TimingLevel,
    /// `--max-retries`: retransmissions of an unanswered probe at most (the template's
    /// otherwise).
    #[serde(default)]
    pub max_retries: Option<u8>,
    /// `--max-rate`: probes per second at most.
    #[serde(default)]
    pub max_rate: Option<f64>,
    /// `--i-own-the-network`: scan targets outside the stack's own prefix and the lab and
    /// benchmarking ranges too.
    #[serde(default)]
    pub i_own_the_network: bool,
}

fn default_timing() -> TimingLevel {
    3
}

impl ScanRequest {
    /// A scan of `targets` with nmap's defaults (`-sS -T3`, the top 100 ports).
    pub fn new(targets: Vec<String>, scan: ScanType) -> ScanRequest {
        ScanRequest {
            targets,
            scan,
            ports: None,
            top_ports: None,
            timing: default_timing(),
            max_retries: None,
            max_rate: None,
            i_own_the_network: false,
        }
    }
}

/// One port's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortResult {
    /// The port.
    pub port: u16,
    /// Its transport.
    pub proto: Proto,
    /// Its state.
    pub state: PortState,
    /// Why.
    pub reason: Reason,
    /// TTL (hop limit) of the answer that decided it, if one did.
    #[serde(default)]
    pub reason_ttl: Option<u8>,
}

/// Ports left out of a host's list: all in one state (nmap's "Not shown" / `extraports`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtraPorts {
    /// Their transport.
    pub proto: Proto,
    /// Their state.
    pub state: PortState,
    /// How many.
    pub count: usize,
    /// How many for each reason, most first.
    pub reasons: Vec<(Reason, usize)>,
}

/// One event of a `scan` job, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ScanEvent {
    /// The scan started.
    Start {
        /// The technique.
        scan: ScanType,
        /// Addresses to scan.
        hosts: usize,
        /// Ports per address (0 for `-sn`).
        ports: usize,
        /// The stack's own addresses the probes come from.
        from: Vec<IpAddr>,
        /// Wall-clock start, seconds since the Unix epoch.
        unix_time: u64,
    },
    /// One host's report (in address order, after its last port is decided).
    Host {
        /// The address.
        addr: IpAddr,
        /// Something answered (for a port scan: anything at all; like nmap -Pn, a host that
        /// said nothing is still reported, with `up` false).
        up: bool,
        /// Why it is up (the first answer), for `-sn --reason`.
        #[serde(default)]
        reason: Option<Reason>,
        /// The smoothed round-trip time of its answers, seconds.
        #[serde(default)]
        latency_s: Option<f64>,
        /// The ports shown (every port not in `extra`), by port number.
        ports: Vec<PortResult>,
        /// The ports left out, by state.
        extra: Vec<ExtraPorts>,
    },
    /// The last event.
    Done {
        /// Addresses scanned.
        hosts: usize,
        /// Of them, up.
        up: usize,
        /// Seconds the scan took.
        elapsed_s: f64,
        /// Probes sent in all (retransmissions included).
        probes: u64,
    },
}
