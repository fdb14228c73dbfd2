//! Where a daemon's control socket lives, binding it (stale sockets replaced, a live one
//! refused), and removing it on exit.
//!
//! TUN names are per network namespace, so the path carries the namespace too:
//! `/run/ustack/<inode of /proc/thread-self/ns/net>/<tun>.sock` — two `ustack up` in two
//! namespaces never collide, and a tool run in the same namespace finds its daemon by TUN name
//! alone. `USTACK_CONTROL_DIR` replaces the directory (then `<dir>/<tun>.sock`).
//! The directory is 0700 and the socket 0600: root (or the daemon's user) only; the server
//! also checks the peer's uid (SO_PEERCRED).

use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The environment variable that overrides the control directory.
pub const DIR_ENV: &str = "USTACK_CONTROL_DIR";

/// The directory the control sockets of this network namespace live in.
pub fn control_dir() -> io::Result<PathBuf> {
    if let Some(d) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    // thread-self, not self: a thread that joined a namespace with setns(2) has its own.
    let ns = std::fs::metadata("/proc/thread-self/ns/net")
        .or_else(|_| std::fs::metadata("/proc/self/ns/net"))?;
    Ok(PathBuf::from(format!("/run/ustack/{}", ns.ino())))
}

/// The control socket of the daemon on TUN `tun` in this network namespace.
pub fn socket_path(tun: &str) -> io::Result<PathBuf> {
    if tun.is_empty() || tun.len() > 15 || tun.contains(['/', '\0']) || tun.starts_with('.') {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("'{tun}' is not a valid interface name"),
        ));
    }
    Ok(control_dir()?.join(format!("{tun}.sock")))
}

/// A bound control socket; dropping it removes the file (if it is still ours).
#[derive(Debug)]
pub struct BoundSocket {
    /// The listening socket.
    pub listener: UnixListener,
    path: PathBuf,
    ino: u64,
}

impl BoundSocket {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        // Another daemon may have replaced a socket it found stale; leave that one alone.
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
            // The namespace's directory too, once no other daemon's socket is in it.
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// Binds the control socket at `path`: creates the directory (0700), replaces a stale socket
/// (nothing accepts on it: a killed daemon's), refuses a live one (`AddrInUse`), and makes the
/// socket 0600.
pub fn bind(path: &Path) -> io::Result<BoundSocket> {
    // Twice: another daemon of this namespace may remove the directory, found empty, between
    // our creating it and binding.
    match bind_once(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => bind_once(path),
        r => r,
    }
}

fn bind_once(path: &Path) -> io::Result<BoundSocket> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    match UnixStream::connect(path) {
        Ok(_) => {
            return Err(io::Error::new(
                ErrorKind::AddrInUse,
                format!(
                    "a ustack daemon already serves {} (is `ustack up` running on this TUN?)",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            log::info!("removing the stale control socket {}", path.display());
            std::fs::remove_file(path)?;
        }
        Err(_) => {
            // Absent (the usual case) or not a socket: bind says which.
        }
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let ino = std::fs::symlink_metadata(path)?.ino();
    Ok(BoundSocket {
        listener,
        path: path.to_path_buf(),
        ino,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ustack-ctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn bind_replaces_stale_refuses_live_and_cleans_up() {
        let dir = scratch("bind");
        let path = dir.join("t0.sock");
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        // A live one is refused.
        let err = bind(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        drop(first);
        assert!(!path.exists(), "the socket is removed on drop");
        // A stale one (the listener gone, the file left, as after SIGKILL) is replaced.
        std::fs::create_dir_all(&dir).unwrap();
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let second = bind(&path).unwrap();
        drop(second);
        assert!(!path.exists(), "the socket is removed on drop");
        assert!(!dir.exists(), "the empty directory is removed too");
    }

    #[test]
    fn names_are_checked() {
        assert!(socket_path("../x").is_err());
        assert!(socket_path("").is_err());
        assert!(socket_path("much-too-long-name").is_err());
        assert!(socket_path("ustack0")
            .unwrap()
            .to_string_lossy()
            .ends_with("/ustack0.sock"));
    }
}
