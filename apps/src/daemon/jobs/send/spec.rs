//! A `send` request checked and made ready to build from: data bytes, option bytes, the
//! flood's bounds. Every refusal names the field (the option) at fault.

use crate::daemon::proto::{Fragmenting, PortStep, SendMode, SendRequest};
use std::net::IpAddr;

/// Largest IPv4 datagram and IPv6 payload (RFC 791 §3.1 total length; RFC 8200 §3 payload
/// length, no jumbograms).
pub const MAX_IP: usize = 65535;
/// TCP options fit in a data offset of 15 words (RFC 9293 §3.1): 40 bytes.
pub const MAX_TCP_OPTIONS: usize = 40;
/// Most TCP option bytes even with `--raw`.
pub const MAX_RAW_OPTIONS: usize = 1024;
/// Most `-E` pattern bytes (it travels as hex in a request line of at most 64 KiB).
pub const MAX_PATTERN: usize = 16 * 1024;
/// A flood's default rate, probes a second.
pub const DEFAULT_FLOOD_RATE: u32 = 1000;
/// The most probes a second a flood may ask for.
pub const MAX_RATE: u32 = 100_000;
/// Probes of a flood with no `-c`.
pub const DEFAULT_FLOOD_COUNT: u32 = 100_000;
/// The most probes one job sends.
pub const MAX_COUNT: u32 = 10_000_000;
/// Longest wait after the last probe, ms.
pub const MAX_WAIT_MS: u64 = 60_000;

/// Why a request cannot be built: the field (the option, as the command line spells it: `-d`,
/// `--tcp-options` …; or the packet builder's `layer.field`) and what is wrong with it.
pub use ustack::wire::build::BuildError;

/// A checked request: what the builder and the engine read.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The request as given.
    pub req: SendRequest,
    /// The data of every probe.
    pub data: Vec<u8>,
    /// TCP option bytes, padded to a multiple of 4.
    pub tcp_options: Vec<u8>,
    /// The ICMP type the probes carry.
    pub icmp_type: u8,
    /// Probes to send; none: until stopped.
    pub count: Option<u32>,
    /// Time between probes, µs.
    pub interval_us: u64,
}

impl Spec {
    /// Checks `req`; the error names the field at fault.
    pub fn new(req: &SendRequest) -> Result<Spec, BuildError> {
        let v6 = req.dst.is_ipv6();
        if req.dst.is_unspecified() || req.dst.is_multicast() || is_broadcast(req.dst) {
            return Err(BuildError::new(
                "destination",
                format!("{} is not a host", req.dst),
            ));
        }
        if req.ttl == 0 {
            return Err(BuildError::new("--ttl", "0 cannot leave the host"));
        }
        if v6 && (req.dont_fragment || req.more_fragments) {
            return Err(BuildError::new(
                "-x/-y",
                "DF and MF are IPv4 header flags (IPv6 has none; use -f for fragments)",
            ));
        }
        if v6 && req.ip_id.is_some() && req.fragment.is_none() {
            return Err(BuildError::new(
                "--id",
                "IPv6 has an identification only in a fragment header (add -f)",
            ));
        }
        if !v6 && req.ip_id.is_some_and(|id| id > 0xffff) {
            return Err(BuildError::new(
                "--id",
                "the IPv4 identification is 16 bits",
            ));
        }
        if let Some(Fragmenting { size, .. }) = req.fragment {
            if size == 0 || !size.is_multiple_of(8) {
                return Err(BuildError::new(
                    "--frag-size",
                    format!("{size}: fragment data must be a positive multiple of 8 bytes (RFC 791 §3.1)"),
                ));
            }
        }
        let data = data(req)?;
        let tcp_options = tcp_options(req)?;
        let icmp_type = req.icmp_type.unwrap_or(if v6 { 128 } else { 8 });
        let (count, interval_us) = pacing(req)?;
        if req.wait_ms > MAX_WAIT_MS {
            return Err(BuildError::new(
                "--wait",
                format!("at most {MAX_WAIT_MS} ms"),
            ));
        }
        let spec = Spec {
            req: req.clone(),
            data,
            tcp_options,
            icmp_type,
            count,
            interval_us,
        };
        let len = spec.ip_payload_len();
        let (limit, what) = if v6 {
            (MAX_IP, "IPv6 payload length")
        } else {
            (MAX_IP - 20, "IPv4 total length")
        };
        if len > limit {
            return Err(BuildError::new(
                if req.data_size.is_some() { "-d" } else { "-E" },
                format!(
                    "{} data bytes make a probe of {} bytes, beyond the {what} of 65535",
                    spec.data.len(),
                    len + if v6 { 0 } else { 20 }
                ),
            ));
        }
        Ok(spec)
    }

    /// Bytes after the IP header (the transport header, options and data).
    pub fn ip_payload_len(&self) -> usize {
        self.transport_header_len() + self.data.len()
    }

    /// The transport header's bytes, options included.
    pub fn transport_header_len(&self) -> usize {
        match self.req.mode {
            SendMode::Tcp => 20 + self.tcp_options.len(),
            SendMode::Udp => 8,
            SendMode::Icmp => 8 + self.icmp_body_len(),
            SendMode::RawIp => 0,
        }
    }

    /// Bytes an ICMP probe carries after its 8-byte header before the data: a timestamp
    /// request's three timestamps (RFC 792), an address mask request's mask (RFC 950).
    pub fn icmp_body_len(&self) -> usize {
        match (self.req.dst.is_ipv6(), self.icmp_type) {
            (false, 13) => 12,
            (false, 17) => 4,
            _ => 0,
        }
    }

    /// hping3's "N headers": IP and transport headers without options.
    pub fn headers_len(&self) -> usize {
        let ip = if self.req.dst.is_ipv6() { 40 } else { 20 };
        ip + match self.req.mode {
            SendMode::Tcp => 20,
            SendMode::Udp | SendMode::Icmp => 8,
            SendMode::RawIp => 0,
        }
    }

    /// Whether replies are matched by the probes' source port.
    pub fn by_port(&self) -> bool {
        matches!(self.req.mode, SendMode::Tcp | SendMode::Udp)
    }

    /// The destination port step.
    pub fn port_step(&self) -> PortStep {
        self.req.port_step
    }
}

fn is_broadcast(a: IpAddr) -> bool {
    matches!(a, IpAddr::V4(v) if v.is_broadcast())
}

/// `-d` / `-E`: the data bytes (hping3 fills with `X` without a file).
fn data(req: &SendRequest) -> Result<Vec<u8>, BuildError> {
    let size = req.data_size;
    if size.is_some_and(|s| s > MAX_IP) {
        return Err(BuildError::new(
            "-d",
            format!(
                "{} data bytes are beyond any packet (65535)",
                size.unwrap_or(0)
            ),
        ));
    }
    let Some(hex) = &req.data_hex else {
        return Ok(vec![b'X'; size.unwrap_or(0)]);
    };
    let pattern = parse_hex(hex).map_err(|e| BuildError::new("-E", e))?;
    if pattern.len() > MAX_PATTERN {
        return Err(BuildError::new(
            "-E",
            format!("{} bytes: at most {MAX_PATTERN}", pattern.len()),
        ));
    }
    Ok(match size {
        None => pattern,
        Some(_) if pattern.is_empty() => Vec::new(),
        Some(n) => pattern.iter().copied().cycle().take(n).collect(),
    })
}

/// `--tcp-options`: hex bytes, padded with zeros (end of option list, RFC 9293 §3.2) to a
/// multiple of 4; at most 40 bytes (the data offset's 15 words) unless `--raw`.
fn tcp_options(req: &SendRequest) -> Result<Vec<u8>, BuildError> {
    let Some(hex) = &req.tcp_options else {
        return Ok(Vec::new());
    };
    if req.mode != SendMode::Tcp {
        return Err(BuildError::new(
            "--tcp-options",
            "only TCP probes have options",
        ));
    }
    let mut bytes = parse_hex(hex).map_err(|e| BuildError::new("--tcp-options", e))?;
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
    let max = if req.raw {
        MAX_RAW_OPTIONS
    } else {
        MAX_TCP_OPTIONS
    };
    if bytes.len() > max {
        let hint = if req.raw {
            ""
        } else {
            " (RFC 9293 §3.1: a data offset of 15 words; --raw sends more anyway)"
        };
        return Err(BuildError::new(
            "--tcp-options",
            format!("{} bytes of options, at most {max}{hint}", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// `-c`, `-i`, `--flood`, `--rate`: how many probes and how far apart. A flood is bounded in
/// both: at most `MAX_RATE` a second and, without `-c`, `DEFAULT_FLOOD_COUNT` probes.
fn pacing(req: &SendRequest) -> Result<(Option<u32>, u64), BuildError> {
    if req.count == Some(0) {
        return Err(BuildError::new(
            "-c",
            "0 probes (leave -c out to send until stopped)",
        ));
    }
    if req.count.is_some_and(|c| c > MAX_COUNT) {
        return Err(BuildError::new("-c", format!("at most {MAX_COUNT} probes")));
    }
    if let Some(r) = req.rate {
        if r == 0 || r > MAX_RATE {
            return Err(BuildError::new(
                "--rate",
                format!("{r}: 1..={MAX_RATE} probes a second"),
            ));
        }
    }
    if req.flood {
        let rate = req.rate.unwrap_or(DEFAULT_FLOOD_RATE);
        let count = req.count.unwrap_or(DEFAULT_FLOOD_COUNT);
        return Ok((Some(count), 1_000_000 / u64::from(rate)));
    }
    if req.interval_us == 0 {
        return Err(BuildError::new(
            "-i",
            "an interval of 0 needs --flood (bounded by --rate)",
        ));
    }
    let floor = req.rate.map_or(0, |r| 1_000_000 / u64::from(r));
    Ok((req.count, req.interval_us.max(floor)))
}

/// Hex digits two by two (spaces and colons between bytes allowed).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'\n' | b'\t'))
        .collect();
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a hex digit", char::from(*bad)));
    }
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".into());
    }
    Ok(digits
        .chunks(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16).unwrap_or(0);
            let lo = char::from(p[1]).to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect())
}
