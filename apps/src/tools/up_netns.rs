//! `ustack up --netns NAME`: the stack inside a network namespace, so that its TUN, its routes
//! and every client stay out of the machine's own network. The namespace is created if it does
//! not exist (and then deleted at exit); `ustack up` joins it (setns(2)) before it creates
//! anything, so that the TUN device, the kernel-side address and the control socket are all
//! made inside. Clients reach the stack with `ip netns exec NAME …`.

use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

/// Where iproute2 keeps the named namespaces (`ip netns add` bind-mounts them here).
const NETNS_DIR: &str = "/run/netns";

/// The namespace `ustack up` runs in; deletes it on drop if `ustack up` created it.
#[derive(Debug)]
pub struct UpNetns {
    name: String,
    created: bool,
}

/// Checks a namespace name as iproute2 would accept it, more strictly: 1–64 of
/// `[A-Za-z0-9_.-]`, not beginning with a dot (so never `.`, `..` or a path).
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plain && !name.is_empty() && name.len() <= 64 && !name.starts_with('.') {
        Ok(())
    } else {
        Err(format!(
            "--netns {name:?}: a namespace name is 1-64 of [A-Za-z0-9_.-], not beginning with '.'"
        ))
    }
}

/// Runs `ip ARGS`; the error names the command and what it printed.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip {}`: {e}", args.join(" "))))?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

impl UpNetns {
    /// Joins namespace `name` with the calling thread — call it before any other thread is
    /// started, so that every thread of the process (the event loop's too) lives there —
    /// creating it (with `lo` up) if it does not exist. Refuses a bad name (`InvalidInput`)
    /// and a caller that is not root (`PermissionDenied`) before touching anything.
    pub fn enter(name: &str) -> io::Result<UpNetns> {
        check_name(name).map_err(|m| io::Error::new(ErrorKind::InvalidInput, m))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "--netns {name}: creating and joining a network namespace needs root \
                     (run `sudo ustack up --netns {name}`)"
                ),
            ));
        }
        let path = Path::new(NETNS_DIR).join(name);
        let created = !path.exists();
        if created {
            ip(&["netns", "add", name])?;
        }
        // From here on, dropping `ns` (on any error below) deletes what we created.
        let ns = UpNetns {
            name: name.to_string(),
            created,
        };
        if created {
            ip(&["-n", name, "link", "set", "dev", "lo", "up"])?;
        }
        let file = File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
        // SAFETY: `file` is an open namespace file; setns only changes this thread's network
        // namespace and touches no memory of ours.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("joining {name}: {e}")));
        }
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `ustack up` created it (and deletes it at exit).
    pub fn created(&self) -> bool {
        self.created
    }
}

impl Drop for UpNetns {
    fn drop(&mut self) {
        if self.created {
            if let Err(e) = ip(&["netns", "delete", &self.name]) {
                eprintln!("ustack: deleting network namespace {}: {e}", self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_are_plain() {
        for ok in ["demo", "hl-up_1", "a.b", "x"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        let long = "n".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../etc",
            "sp ace",
            long.as_str(),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
