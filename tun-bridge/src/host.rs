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

/// Runs `ip ARGS...`, turning a failure into an error that names the command and its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
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
        return Ok(());
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

#[cfg(test)]
mod tests {
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
