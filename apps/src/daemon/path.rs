//! Where a daemon's control socket lives, binding it (stale sockets replaced, a live one
//! refused), and removing it on exit.
//!
//! TUN names are per network namespace, so the path carries the namespace too:
//! `/run/ustack/<inode of /proc/thread-self/ns/net>/<tun>.sock` — two `ustack up` in two
//! namespaces never collide, and a tool run in the same namespace finds its daemon by TUN name
//! alone. `USTACK_CONTROL_DIR` replaces the directory (then `<dir>/<tun>.sock`).
//! The directory is 0700 and the socket 0600: root (or the daemon's user) only; the server
//! also checks the peer's uid (SO_PEERCRED).
//!
//! Nothing here follows a symlink planted by someone else: the directory is created, or
//! verified with `lstat` as a real directory owned by the caller with no group/other access (a
//! symlink, a foreign owner or a wider mode is refused, never chmod-ed); only a socket is
//! unlinked as stale (a regular file at the socket's path is refused); and on exit the
//! directory is removed only if this daemon created it.

use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
    /// The directory, if this daemon created it (then it goes on exit, once empty).
    created_dir: Option<PathBuf>,
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
            // The directory too, if we made it and no other daemon's socket is in it; a
            // directory that was there before is not ours to remove.
            if let Some(dir) = &self.created_dir {
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

/// Makes `dir` a private directory: creates it (0700, its parents as needed) or verifies the
/// one there — a real directory (`lstat`: a symlink is refused, never followed), owned by the
/// effective uid, not writable by group or others (a readable one, as older versions made
/// `/run/ustack/lab`, is tightened to 0700 through a handle opened without following
/// symlinks). Returns whether it was created here.
pub fn private_dir(dir: &Path) -> io::Result<bool> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", parent.display())))?;
    }
    let created = match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => return Err(named(e)),
    };
    let refuse = |why: String| {
        Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!("{}: {why}; refusing to use it", dir.display()),
        ))
    };
    let m = std::fs::symlink_metadata(dir).map_err(named)?;
    if m.file_type().is_symlink() {
        return refuse("is a symlink, not a directory".into());
    }
    if !m.is_dir() {
        return refuse("is not a directory".into());
    }
    // The checks that count are on a handle (fstat/fchmod): nothing swapped in after the lstat.
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(named)?;
    let m = handle.metadata().map_err(named)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return refuse(format!("is owned by uid {}, not by uid {me}", m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return refuse(format!(
            "has mode {:o}: others may write in it, not private (chmod 700 it)",
            m.mode() & 0o777
        ));
    }
    if m.mode() & 0o077 != 0 {
        handle
            .set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(named)?;
    }
    Ok(created)
}

fn bind_once(path: &Path) -> io::Result<BoundSocket> {
    let created_dir = match path.parent() {
        Some(dir) => private_dir(dir)?.then(|| dir.to_path_buf()),
        None => None,
    };
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
            // connect(2) says "refused" for a regular file too: only a socket is stale.
            let m = std::fs::symlink_metadata(path)?;
            if !m.file_type().is_socket() {
                return Err(io::Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket; refusing to remove it",
                        path.display()
                    ),
                ));
            }
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
        created_dir,
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
        assert!(
            !dir.exists(),
            "the empty directory it created is removed too"
        );
        // A stale one (the listener gone, the file left, as after SIGKILL) is replaced.
        assert!(private_dir(&dir).unwrap());
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let second = bind(&path).unwrap();
        drop(second);
        assert!(!path.exists(), "the socket is removed on drop");
        assert!(dir.exists(), "a directory it did not create stays");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_symlinked_directory_is_refused_not_followed() {
        let base = scratch("symdir");
        let target = base.join("elsewhere");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = base.join("ctl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = bind(&link.join("t0.sock")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "the symlink's target is not chmod-ed");
        assert!(
            !target.join("t0.sock").exists(),
            "nothing is bound through it"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_regular_file_at_the_socket_path_is_not_deleted() {
        let dir = scratch("regular");
        private_dir(&dir).unwrap();
        let path = dir.join("t0.sock");
        std::fs::write(&path, "precious").unwrap();
        let err = bind(&path).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pre_existing_directory_is_kept_and_a_wide_one_refused() {
        let dir = scratch("kept");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.join("t0.sock");
        drop(bind(&path).unwrap());
        assert!(!path.exists(), "the socket is removed on drop");
        assert!(dir.is_dir(), "a directory the daemon did not create stays");
        // One others may only read (as older versions made /run/ustack/lab) is tightened…
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(bind(&path).unwrap());
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // …one others can write to is refused, and its mode left alone.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = bind(&path).unwrap_err();
        assert!(err.to_string().contains("not private"), "{err}");
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o777);
        std::fs::remove_dir_all(&dir).unwrap();
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
