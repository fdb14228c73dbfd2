//! Files under `--http-root`: mapping a request path to a file (percent-decoding, traversal and
//! symlink rules), Content-Type by extension, and opening the file off the loop thread.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Content-Type by file extension (case-insensitive).
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) with the `percent-encoding` crate; a `%` not followed
/// by two hex digits is an error. (The crate passes such a `%` through as it is; a path that
/// means nothing for sure is refused instead.)
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let escapes_whole = b
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c == b'%')
        .all(|(i, _)| {
            b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
    escapes_whole.then(|| percent_encoding::percent_decode(b).collect())
}

/// What a request path names under the root.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A regular file (its canonical path).
    File(PathBuf),
    /// A directory named without the trailing slash: redirect to `path/` (301).
    AddSlash,
}

/// Why a path cannot be served.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Refused {
    /// The path itself is malformed: bad percent-encoding, or a segment that decodes to `..`
    /// or contains `/` or NUL (400).
    BadPath,
    /// Nothing servable there: missing, not a regular file, a directory without
    /// `index.html`, or a symlink that leads out of the root (404).
    NotFound,
}

/// Maps a request path to what it names under `root` (canonical). Segments are percent-decoded
/// one by one; a decoded segment that is `..` or contains `/` or NUL is refused; the result,
/// after symlinks are resolved, must still be under `root` and be a regular file. A directory
/// means its `index.html` when the path ends in `/`, and a redirect to `path/` otherwise.
///
/// Blocking (it stats the file system): call it off the loop thread.
pub fn resolve(root: &Path, path: &str) -> Result<Resolved, Refused> {
    let mut p = root.to_path_buf();
    for seg in path.split('/') {
        if seg.is_empty() {
            continue;
        }
        let seg = percent_decode(seg).ok_or(Refused::BadPath)?;
        match seg.as_slice() {
            b"." => continue,
            b".." => return Err(Refused::BadPath),
            s if s.contains(&b'/') || s.contains(&0) => return Err(Refused::BadPath),
            s => p.push(OsStr::from_bytes(s)),
        }
    }
    let mut real = p.canonicalize().map_err(|_| Refused::NotFound)?;
    if !real.starts_with(root) {
        // A symlink out of the root.
        return Err(Refused::NotFound);
    }
    if real.is_dir() {
        if !path.ends_with('/') && path != "/" && !path.is_empty() {
            return Ok(Resolved::AddSlash);
        }
        real = real
            .join("index.html")
            .canonicalize()
            .map_err(|_| Refused::NotFound)?;
    } else if path.ends_with('/') {
        // `file/`: a file is not a directory (as open(2) says, ENOTDIR).
        return Err(Refused::NotFound);
    }
    if !real.starts_with(root) || !real.is_file() {
        return Err(Refused::NotFound);
    }
    Ok(Resolved::File(real))
}

/// An opened regular file.
#[derive(Debug)]
pub struct Opened {
    /// Its canonical path (a directory's `index.html`, not the directory).
    pub path: PathBuf,
    /// The file, positioned at its start.
    pub file: std::fs::File,
    /// Its length when opened.
    pub len: u64,
    /// Its modification time, if the file system keeps one.
    pub modified: Option<SystemTime>,
}

/// Resolves `path` under `root` and opens the file (blocking: run it off the loop thread).
///
/// The open does not trust what [`resolve`] saw: the entry may be swapped between the two (a
/// file for a symlink out of the root, or for a FIFO). So the canonical path is opened
/// component by component from the root's directory handle with `O_NOFOLLOW` — a canonical
/// path has no symlinks, so any symlink met now was put there after `resolve` and the request
/// is refused (404) — and with `O_NONBLOCK`, so a FIFO or device put there opens at once instead
/// of blocking a disk thread; what is opened is then checked with `fstat` on the handle.
pub fn open(root: &Path, path: &str) -> Result<Result<Opened, Resolved>, Refused> {
    let real = match resolve(root, path)? {
        Resolved::File(real) => real,
        other => return Ok(Err(other)),
    };
    let file = open_beneath(root, &real).map_err(|_| Refused::NotFound)?;
    let meta = file.metadata().map_err(|_| Refused::NotFound)?;
    if !meta.is_file() {
        return Err(Refused::NotFound);
    }
    Ok(Ok(Opened {
        path: real,
        file,
        len: meta.len(),
        modified: meta.modified().ok(),
    }))
}

/// Opens `real` (a canonical path under the canonical `root`) for reading, walking it from
/// `root` one component at a time without following any symlink, and without blocking on a
/// FIFO. Fails if `real` is not under `root`, or if any component is now a symlink.
fn open_beneath(root: &Path, real: &Path) -> io::Result<std::fs::File> {
    use rustix::fs::{openat, Mode, OFlags, CWD};
    let rel = real
        .strip_prefix(root)
        .map_err(|_| io::Error::from(io::ErrorKind::PermissionDenied))?;
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = openat(CWD, root, dir_flags, Mode::empty())?;
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        let std::path::Component::Normal(name) = part else {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        };
        if parts.peek().is_some() {
            dir = openat(&dir, name, dir_flags, Mode::empty())?;
        } else {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = openat(&dir, name, flags, Mode::empty())?;
            return Ok(std::fs::File::from(fd));
        }
    }
    Err(io::Error::from(io::ErrorKind::NotFound))
}

/// Canonicalizes `--http-root` and checks that it is a directory.
pub fn canonical_root(root: &Path) -> io::Result<PathBuf> {
    let c = root
        .canonicalize()
        .map_err(|e| io::Error::new(e.kind(), format!("--http-root {}: {e}", root.display())))?;
    if !c.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--http-root {}: not a directory", root.display()),
        ));
    }
    Ok(c)
}

/// Test fixtures shared with the server's tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::PathBuf;

    /// A scratch tree: root/{a.txt, sub dir/{pic.PNG,index.html}, empty/, inner -> a.txt,
    /// link -> ../secret, dirlink -> ..}, and base/secret outside the root. Returns (base,
    /// canonical root); remove `base` when done.
    pub(crate) fn tree(tag: &str) -> (PathBuf, PathBuf) {
        let base =
            std::env::temp_dir().join(format!("ustack-http-test-{tag}-{}", std::process::id()));
        let root = base.join("root");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(root.join("sub dir")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("sub dir/pic.PNG"), [0x89, b'P']).unwrap();
        std::fs::write(root.join("sub dir/index.html"), "<p>sub</p>").unwrap();
        std::fs::write(base.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("inner")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("dirlink")).unwrap();
        (base, root.canonicalize().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::tree;
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").unwrap(), b"a b");
        assert_eq!(percent_decode("%2e%2E").unwrap(), b"..");
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%+1").is_none());
        assert!(percent_decode("a%").is_none());
        assert_eq!(percent_decode("%252e%2F%00").unwrap(), b"%2e/\0");
        assert_eq!(percent_decode("%C3%a9").unwrap(), "\u{e9}".as_bytes());
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("x.JSON")), "application/json");
        assert_eq!(content_type(Path::new("x.jpeg")), "image/jpeg");
        assert_eq!(
            content_type(Path::new("a/b.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let (base, root) = tree("resolve");
        let file = |p: &str| Ok(Resolved::File(root.join(p)));
        assert_eq!(resolve(&root, "/a.txt"), file("a.txt"));
        assert_eq!(resolve(&root, "/./a.txt"), file("a.txt"));
        assert_eq!(resolve(&root, "//a.txt"), file("a.txt"));
        assert_eq!(
            resolve(&root, "/sub%20dir/pic.PNG"),
            file("sub dir/pic.PNG")
        );
        assert_eq!(resolve(&root, "/sub%20dir/"), file("sub dir/index.html"));
        assert_eq!(resolve(&root, "/sub%20dir"), Ok(Resolved::AddSlash));
        assert_eq!(resolve(&root, "/empty"), Ok(Resolved::AddSlash));
        // A symlink that stays inside the root is followed.
        assert_eq!(resolve(&root, "/inner"), file("a.txt"));
        // No index.html at the root, or in an empty directory.
        assert_eq!(resolve(&root, "/"), Err(Refused::NotFound));
        assert_eq!(resolve(&root, "/empty/"), Err(Refused::NotFound));
        for (path, want) in [
            ("/../secret", Refused::BadPath),
            ("/%2e%2e/secret", Refused::BadPath),
            ("/sub%20dir/%2E%2E/%2e%2e/secret", Refused::BadPath),
            ("/a%2fb", Refused::BadPath),
            ("/a%2F..%2Fsecret", Refused::BadPath),
            ("/a%00", Refused::BadPath),
            ("/a%zz", Refused::BadPath),
            ("/a%2", Refused::BadPath),
            ("/link", Refused::NotFound),
            ("/dirlink/secret", Refused::NotFound),
            ("/dirlink", Refused::NotFound),
            ("/missing", Refused::NotFound),
            ("/a.txt/", Refused::NotFound),
        ] {
            assert_eq!(resolve(&root, path), Err(want), "{path}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    /// Swaps one entry between a file inside the root, a symlink to a file outside it and a
    /// FIFO, as fast as it can, while requests open it: no byte from outside is ever served, and
    /// no open ever blocks (issue 16: 116 of 16,417 responses leaked, and a FIFO hung a thread).
    #[test]
    fn swapping_an_entry_never_serves_outside_bytes_or_blocks() {
        use rustix::fs::{mknodat, FileType, Mode, CWD};
        use std::io::Read;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let (base, root) = tree("race");
        let (entry, tmp) = (root.join("race"), root.join(".race.tmp"));
        std::fs::write(&entry, "inside").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, secret) = (stop.clone(), base.join("secret"));
            let (entry, tmp) = (entry.clone(), tmp.clone());
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::remove_file(&tmp);
                    match swaps % 3 {
                        0 => std::fs::write(&tmp, "inside").unwrap(),
                        1 => std::os::unix::fs::symlink(&secret, &tmp).unwrap(),
                        _ => mknodat(CWD, &tmp, FileType::Fifo, Mode::RWXU, 0).unwrap(),
                    }
                    std::fs::rename(&tmp, &entry).unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let (tally_tx, tally) = std::sync::mpsc::channel();
        let opener_root = root.clone();
        std::thread::spawn(move || {
            let (mut served, mut outside) = (0u64, 0u64);
            let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while std::time::Instant::now() < until {
                if let Ok(Ok(mut o)) = open(&opener_root, "/race") {
                    let mut body = String::new();
                    let _ = o.file.read_to_string(&mut body);
                    served += 1;
                    outside += u64::from(body != "inside");
                }
            }
            let _ = tally_tx.send((served, outside));
        });
        let got = tally.recv_timeout(std::time::Duration::from_secs(10));
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        let (served, outside) = got.expect("an open blocked (a FIFO?)");
        assert!(
            swaps > 100 && served > 100,
            "{swaps} swaps, {served} served"
        );
        assert_eq!(
            outside, 0,
            "{outside} of {served} responses were not the file inside"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn only_regular_files_open() {
        let (base, root) = tree("open");
        let o = open(&root, "/a.txt").unwrap().unwrap();
        assert_eq!(o.len, 5);
        assert!(o.modified.is_some());
        assert_eq!(
            open(&root, "/empty").unwrap().unwrap_err(),
            Resolved::AddSlash
        );
        // A FIFO is not a regular file (and opening one would block).
        let fifo = root.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        assert_eq!(open(&root, "/fifo").unwrap_err(), Refused::NotFound);
        assert!(canonical_root(&root.join("a.txt")).is_err());
        assert!(canonical_root(&root.join("nope")).is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
