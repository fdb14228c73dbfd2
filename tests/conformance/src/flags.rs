//! `--so_flags`: the `key=value,key=value` string packetdrill hands to the shim, turned into a
//! [`ustack::Config`] so a suite runs against ustack configured like the system it was written
//! for (for instance `mss=1460,wscale=7,rcvbuf=65536,ts=0`).

use std::net::{Ipv4Addr, Ipv6Addr};
use ustack::tcp::congestion::Algorithm;
use ustack::{Config, Duration};

/// The address the shim's stack answers on. The runner passes the same one to packetdrill as
/// `--local_ip` (packetdrill otherwise picks a random 192.168/16 address).
pub const DEFAULT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);

/// The stack's IPv6 address, passed to packetdrill as `--local_ip` for `--ip_version=ipv6`
/// scripts: inside packetdrill's default local prefix `fd3d:fa7b:d17d::/48` (config.c
/// `DEFAULT_V6_LIVE_LOCAL_IP_STRING`, RFC 4193), fixed where packetdrill would pick a random
/// host part. Its default remote address, 2001:db8::1 (RFC 3849), needs no setting.
pub const DEFAULT_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 2);

/// Every key `--so_flags` understands, with what it sets (printed by the runner's `--help`).
pub const KEYS: &[(&str, &str)] = &[
    ("addr", "the stack's IPv4 address (default 192.168.0.2)"),
    (
        "addr6",
        "the stack's IPv6 address (default fd3d:fa7b:d17d::2); `none` for an IPv4-only stack",
    ),
    (
        "mss",
        "IPv4 MSS advertised and used: sets the MTU to mss+40 (IPv6's MSS is then mss-20)",
    ),
    ("mtu", "link MTU"),
    (
        "wscale",
        "0 disables window scaling; any other value enables it",
    ),
    ("rcvbuf", "TCP receive buffer, bytes"),
    ("sndbuf", "TCP send buffer, bytes"),
    ("ts", "timestamps on (1) or off (0)"),
    ("sack", "SACK on (1) or off (0)"),
    ("syncookies", "SYN cookies on (1) or off (0)"),
    ("synbacklog", "half-open connections before SYN cookies"),
    ("rto_min_ms", "lower bound of the RTO"),
    ("rto_init_ms", "RTO before an RTT sample"),
    ("rto_max_ms", "upper bound of the RTO"),
    ("delack_ms", "delayed-ACK timeout"),
    ("msl_ms", "maximum segment lifetime (TIME-WAIT is 2 MSL)"),
    ("user_timeout_ms", "default user timeout"),
    ("syn_retries", "SYN retransmissions before connect fails"),
    ("cc", "congestion control: newreno or cubic"),
    ("challenge_ack_rate", "challenge ACKs per second"),
    (
        "statefile",
        "file the shim keeps its connection table in (for sockstat checks)",
    ),
];

/// What `--so_flags` sets: the stack's configuration and the shim's own settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The stack's configuration.
    pub config: Config,
    /// `statefile=PATH`: the shim keeps its connection table there (one
    /// `STATE LOCALPORT REMOTEPORT` line per connection, FreeBSD state names) so the runner can
    /// turn a script's `sockstat` checks into checks of ustack.
    pub state_file: Option<String>,
}

/// Builds the settings for `flags` (empty: ustack's defaults at [`DEFAULT_ADDR`] and
/// [`DEFAULT_ADDR6`]: the stack is dual-stack, as the family of a script's sockets is only
/// known once it runs).
pub fn parse(flags: &str) -> Result<Settings, String> {
    let mut c = Config {
        addr: DEFAULT_ADDR,
        addr6: Some(DEFAULT_ADDR6),
        ..Config::default()
    };
    let mut state_file = None;
    for item in flags.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("so_flags: `{item}` is not key=value"))?;
        if key.trim() == "statefile" {
            state_file = Some(value.trim().to_string());
            continue;
        }
        apply(&mut c, key.trim(), value.trim())?;
    }
    c.validate().map_err(|e| format!("so_flags: {e}"))?;
    Ok(Settings {
        config: c,
        state_file,
    })
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("so_flags: `{key}={value}`: not a number"))
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "on" | "true" => Ok(true),
        "0" | "off" | "false" => Ok(false),
        _ => Err(format!("so_flags: `{key}={value}`: expected 0 or 1")),
    }
}

fn millis(key: &str, value: &str) -> Result<Duration, String> {
    num::<u64>(key, value).map(Duration::from_millis)
}

fn apply(c: &mut Config, key: &str, value: &str) -> Result<(), String> {
    match key {
        "addr" => {
            c.addr = value
                .parse()
                .map_err(|_| format!("so_flags: bad address `{value}`"))?
        }
        "addr6" if value == "none" => c.addr6 = None,
        "addr6" => {
            c.addr6 = Some(
                value
                    .parse()
                    .map_err(|_| format!("so_flags: bad IPv6 address `{value}`"))?,
            )
        }
        "mss" => {
            let mss: u16 = num(key, value)?;
            c.mtu = mss
                .checked_add(40)
                .ok_or_else(|| format!("so_flags: mss {mss} too large"))?;
        }
        "mtu" => c.mtu = num(key, value)?,
        "wscale" => c.tcp_window_scaling = num::<u8>(key, value)? != 0,
        "rcvbuf" => c.tcp_rx_buffer = num(key, value)?,
        "sndbuf" => c.tcp_tx_buffer = num(key, value)?,
        "ts" => c.tcp_timestamps = boolean(key, value)?,
        "sack" => c.tcp_sack = boolean(key, value)?,
        "syncookies" => c.tcp_syncookies = boolean(key, value)?,
        "synbacklog" => c.tcp_syn_backlog = num(key, value)?,
        "rto_min_ms" => c.tcp_min_rto = millis(key, value)?,
        "rto_init_ms" => c.tcp_initial_rto = millis(key, value)?,
        "rto_max_ms" => c.tcp_max_rto = millis(key, value)?,
        "delack_ms" => c.tcp_delayed_ack = millis(key, value)?,
        "msl_ms" => c.tcp_msl = millis(key, value)?,
        "user_timeout_ms" => c.tcp_user_timeout = millis(key, value)?,
        "syn_retries" => c.tcp_syn_retries = num(key, value)?,
        "challenge_ack_rate" => c.tcp_challenge_ack_rate = num(key, value)?,
        "cc" => {
            c.tcp_congestion = match value {
                "newreno" | "reno" => Algorithm::NewReno,
                "cubic" => Algorithm::Cubic,
                _ => return Err(format!("so_flags: unknown congestion control `{value}`")),
            }
        }
        _ => return Err(format!("so_flags: unknown key `{key}`")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_config_fields() {
        let s = parse("mss=1460, wscale=0,rcvbuf=65536,ts=0,cc=cubic,delack_ms=100,statefile=/x")
            .unwrap();
        assert_eq!(s.state_file.as_deref(), Some("/x"));
        let c = s.config;
        assert_eq!(c.mtu, 1500);
        assert!(!c.tcp_window_scaling);
        assert_eq!(c.tcp_rx_buffer, 65536);
        assert!(!c.tcp_timestamps);
        assert_eq!(c.tcp_congestion, Algorithm::Cubic);
        assert_eq!(c.tcp_delayed_ack, Duration::from_millis(100));
        assert_eq!(c.addr, DEFAULT_ADDR);
        assert_eq!(c.addr6, Some(DEFAULT_ADDR6));
        let v6 = parse("addr6=2001:db8::5").unwrap().config.addr6;
        assert_eq!(v6, Some("2001:db8::5".parse().unwrap()));
        assert_eq!(parse("addr6=none").unwrap().config.addr6, None);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse("mss").is_err());
        assert!(parse("bogus=1").is_err());
        assert!(parse("ts=maybe").is_err());
        assert!(parse("addr6=10.0.0.1").is_err());
        assert!(
            parse("addr6=ff02::1").is_err(),
            "a multicast address: validate() refuses"
        );
        assert!(parse("rcvbuf=0").is_err(), "validate() must run");
        assert!(parse("").is_ok());
    }
}
