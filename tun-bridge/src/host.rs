//! Host-side interface setup: the kernel's end of the TUN device, configured with iproute2.
//!
//! The commands run in the network namespace of the calling thread (a child process inherits
//! the namespace of the thread that spawns it), so a thread that joined a namespace with
//! `setns(2)` configures the device inside that namespace.

use std::io::{self, ErrorKind};
use std::net::Ipv4Addr;
use std::process::Command;

/// Smallest MTU an IPv4 link may have (RFC 791: every host must accept 68-octet datagrams).
const MIN_IPV4_MTU: u16 = 68;

/// Gives the kernel side of TUN `ifname` the address `host_addr/prefix_len`, sets the MTU, and
/// brings it up.
///
/// The address is set with `ip addr replace`, so configuring the same device twice is harmless.
/// The kernel adds the connected route for the prefix, through which it reaches the stack.
pub fn configure(ifname: &str, host_addr: Ipv4Addr, prefix_len: u8, mtu: u16) -> io::Result<()> {
    if ifname.is_empty() || ifname.len() > 15 || ifname.contains(['/', ' ', '\0']) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("'{ifname}' is not a valid interface name"),
        ));
    }
    if prefix_len > 32 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("prefix length {prefix_len} is out of range (0..=32)"),
        ));
    }
    if mtu < MIN_IPV4_MTU {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("MTU {mtu} is below the IPv4 minimum of {MIN_IPV4_MTU}"),
        ));
    }
    let cidr = format!("{host_addr}/{prefix_len}");
    let mtu = mtu.to_string();
    // Link first, address last: once the address (and its connected route) appears, the
    // interface is already usable, so anyone waiting for the address can send at once.
    ip(&["link", "set", "dev", ifname, "mtu", &mtu])?;
    ip(&["link", "set", "dev", ifname, "up"])?;
    ip(&["addr", "replace", &cidr, "dev", ifname])?;
    log::info!("configured {ifname}: {cidr}, mtu {mtu}, up");
    Ok(())
}

/// Gives the kernel side of TUN `ifname` the IPv6 address `host_addr/64` (no Duplicate Address
/// Detection: the link is point-to-point, and the stack answers no Neighbor Discovery). The
/// kernel adds the connected route for the /64, through which it reaches the stack's IPv6
/// address. Needs an MTU of at least 1280 (RFC 8200 §5), or the kernel turns IPv6 off on the
/// device.
pub fn configure6(ifname: &str, host_addr: std::net::Ipv6Addr, mtu: u16) -> io::Result<()> {
    if mtu < 1280 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "MTU {mtu} is below IPv6's minimum of 1280: use --mtu 1280 or more, or no --ipv6"
            ),
        ));
    }
    // A namespace may have IPv6 off on new devices; turn it on for this one.
    let knob = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    if std::fs::read_to_string(&knob).is_ok_and(|v| v.trim() == "1") {
        std::fs::write(&knob, "0")?;
    }
    let cidr = format!("{host_addr}/64");
    ip(&["-6", "addr", "replace", &cidr, "dev", ifname, "nodad"])?;
    log::info!("configured {ifname}: {cidr}");
    Ok(())
}

/// Refuses a setup that would silently not work, before anything is created: a prefix of 0
/// (every IPv4 address routed into the TUN), a stack address outside the kernel side's
/// prefix (the kernel would not route to it), or addresses already in use on another
/// interface (the kernel would answer for them itself, or route the prefix elsewhere — as when
/// a second stack is started next to a running `ustack up`).
pub fn check_setup(
    ifname: &str,
    host_addr: Ipv4Addr,
    prefix_len: u8,
    stack_addr: Ipv4Addr,
) -> io::Result<()> {
    let refuse = |m: String| Err(io::Error::new(ErrorKind::InvalidInput, m));
    if prefix_len == 0 {
        return refuse(
            "--prefix-len 0 would route every IPv4 address into the TUN; use 1..=30".into(),
        );
    }
    if prefix_len > 30 {
        return refuse(format!(
            "--prefix-len {prefix_len} leaves no room for two addresses; use 1..=30"
        ));
    }
    if stack_addr == host_addr {
        return refuse("--addr and --host-addr must differ".into());
    }
    if !same_prefix(host_addr, stack_addr, prefix_len) {
        return refuse(format!(
            "--addr {stack_addr} is outside {host_addr}/{prefix_len}, the kernel side's prefix: \
             the kernel would not route to it"
        ));
    }
    for (dev, addr, plen) in ipv4_addresses()? {
        if dev == ifname {
            continue;
        }
        let hint = "is `ustack up` running there? tools attach to it with --tun";
        if addr == host_addr {
            return refuse(format!("{host_addr} is already on {dev} ({hint} {dev})"));
        }
        if addr == stack_addr {
            return refuse(format!(
                "{stack_addr} (the stack's address) is already on {dev}: the kernel would \
                 answer for it itself"
            ));
        }
        if same_prefix(addr, host_addr, plen.min(prefix_len)) {
            return refuse(format!(
                "{host_addr}/{prefix_len} overlaps {addr}/{plen} on {dev} ({hint} {dev})"
            ));
        }
    }
    Ok(())
}

fn same_prefix(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

/// Every IPv4 address of this namespace: (device, address, prefix length), from
/// `ip -o -4 addr show`.
fn ipv4_addresses() -> io::Result<Vec<(String, Ipv4Addr, u8)>> {
    let out = ip_output(&["-o", "-4", "addr", "show"])?;
    Ok(parse_addresses(&out))
}

fn parse_addresses(text: &str) -> Vec<(String, Ipv4Addr, u8)> {
    text.lines()
        .filter_map(|l| {
            // "2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\ ..."
            let f: Vec<&str> = l.split_whitespace().collect();
            let inet = f.iter().position(|w| *w == "inet")?;
            let (a, p) = f.get(inet + 1)?.split_once('/')?;
            let dev = f.get(1)?.trim_end_matches(':');
            let dev = dev.split('@').next()?.to_string();
            Some((dev, a.parse().ok()?, p.parse().ok()?))
        })
        .collect()
}

/// Runs `ip ARGS...`, turning a failure into an error that names the command and its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    ip_output(args).map(drop)
}

/// Runs `ip ARGS...` and returns its stdout; a failure names the command and its stderr.
fn ip_output(args: &[&str]) -> io::Result<String> {
    let shown = format!("ip {}", args.join(" "));
    log::debug!("running `{shown}`");
    let output = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            io::Error::new(
                ErrorKind::NotFound,
                "the `ip` command (iproute2) is needed to configure the TUN device, \
                 but it was not found on PATH",
            )
        } else {
            io::Error::new(e.kind(), format!("running `{shown}`: {e}"))
        }
    })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let kind = if stderr.contains("Operation not permitted") {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Other
    };
    Err(io::Error::new(
        kind,
        format!("`{shown}` failed ({}): {}", output.status, stderr.trim()),
    ))
}

/// The default cap on all TCP buffer memory of a stack on this machine (`Config::tcp_mem_max`):
/// 1/16 of physical memory, the point at which Linux's `tcp_mem` puts TCP under pressure
/// (`tcp_mem[1]`). Without `/proc/meminfo`, the library's default.
pub fn tcp_mem_default() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m))
        .map(|total| total / 16)
        .filter(|&n| n > 0)
        .unwrap_or(ustack::Config::default().tcp_mem_max)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tcp_mem_is_a_sixteenth_of_memtotal() {
        let m = "MemTotal:       24576000 kB\nMemFree:        100 kB\n";
        assert_eq!(super::mem_total(m), Some(24_576_000 * 1024));
        assert_eq!(super::mem_total("MemFree: 1 kB\n"), None);
        assert!(super::tcp_mem_default() > 0);
    }

    use super::*;

    #[test]
    fn rejects_bad_arguments_without_running_ip() {
        let a = Ipv4Addr::new(198, 18, 0, 1);
        let err = configure("tun0", a, 33, 1500).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("prefix length 33"), "{err}");
        let err = configure("tun0", a, 24, 67).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = configure("", a, 24, 1500).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = configure("much-too-long-name", a, 24, 1500).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn conflicting_setups_are_refused_before_looking_at_interfaces() {
        let (h, a) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let msg = |e: io::Error| e.to_string();
        assert!(msg(check_setup("t0", h, 0, a).unwrap_err()).contains("--prefix-len 0"));
        let outside = Ipv4Addr::new(198, 19, 0, 2);
        let m = msg(check_setup("t0", h, 24, outside).unwrap_err());
        assert!(m.contains("outside 198.18.0.1/24"), "{m}");
        assert!(check_setup("t0", h, 24, h).is_err());
        assert!(
            same_prefix(h, a, 24) && !same_prefix(h, outside, 24) && same_prefix(h, outside, 8)
        );
    }

    #[test]
    fn parses_ip_addr_show() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                    5: ustack0    inet 198.18.0.1/24 scope global ustack0\\       valid_lft\n\
                    7: veth0@if6    inet 10.1.2.3/16 brd 10.1.255.255 scope global veth0\n";
        let a = parse_addresses(text);
        assert_eq!(a.len(), 3, "{a:?}");
        assert_eq!(a[1], ("ustack0".into(), Ipv4Addr::new(198, 18, 0, 1), 24));
        assert_eq!(a[2].0, "veth0");
    }

    #[test]
    fn failing_command_is_named_with_its_stderr() {
        // A read-only query for a device that cannot exist: no state is changed anywhere.
        let Err(err) = ip(&["link", "show", "dev", "ustk-nonesuch"]) else {
            panic!("`ip link show` of a missing device succeeded");
        };
        let msg = err.to_string();
        if err.kind() == ErrorKind::NotFound && msg.contains("iproute2") {
            return; // No `ip` here; the message is the point.
        }
        assert!(
            msg.contains("`ip link show dev ustk-nonesuch` failed"),
            "{msg}"
        );
        assert!(msg.to_lowercase().contains("does not exist"), "{msg}");
    }
}
