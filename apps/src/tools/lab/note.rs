//! What a lab keeps on disk, all in one private directory, [`DIR`] (made or verified by
//! [`private_dir`]: a real directory, not a symlink, owned by the caller, mode 0700):
//!
//! - `NAME`: the lab's note, written by `lab up` before it makes anything: the namespaces it
//!   is about to make (`ns …`), far's addresses (IPv4, then IPv6 unless `--no-ipv6`), the
//!   MTUs, and its pid. `lab down` removes only the namespaces a note lists — a namespace that
//!   merely looks like a lab's is left alone.
//! - `NAME.up.log`: the output of `ustack up` under `lab up --up`.
//!
//! Both are created with `O_CREAT|O_EXCL|O_NOFOLLOW` (mode 0600): never a file someone else put
//! there, never through a symlink.

use crate::daemon::path::private_dir;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where labs keep their notes and logs.
pub const DIR: &str = "/run/ustack/lab";

/// [`DIR`], made or verified private.
pub fn dir() -> Result<PathBuf, String> {
    let dir = PathBuf::from(DIR);
    private_dir(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// The note of lab `name` in `dir`.
pub fn note_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The `ustack up` log of lab `name` in `dir`.
pub fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.up.log"))
}

/// The lab name a file of [`DIR`] is the note of (a log is not a note).
pub fn lab_of(file_name: &str) -> Option<&str> {
    (!file_name.ends_with(".up.log")).then_some(file_name)
}

/// Creates `path`, which must not exist (a symlink there is refused, not followed): 0600.
pub fn create_new(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => format!(
                "{} already exists (a lab of that name left it? `ustack lab down` removes it)",
                path.display()
            ),
            _ => format!("{}: {e}", path.display()),
        })
}

/// Opens an existing `path` to read, not through a symlink, and only if it is a regular file.
pub fn read(path: &Path) -> io::Result<String> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Writes lab `name`'s note (`text` after the `ns` line listing `namespaces`).
pub fn write(dir: &Path, name: &str, namespaces: &[&str], text: &str) -> Result<(), String> {
    use std::io::Write;
    let path = note_path(dir, name);
    let mut f = create_new(&path)?;
    writeln!(f, "ns {}", namespaces.join(" "))
        .and_then(|()| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The namespaces a note lists.
pub fn namespaces(note: &str) -> Vec<String> {
    note.lines()
        .filter_map(|l| l.strip_prefix("ns "))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect()
}

/// Removes lab `name`'s note and log (a symlink in their place is removed, not followed).
pub fn remove(dir: &Path, name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for p in [note_path(dir, name), log_path(dir, name)] {
        match fs::remove_file(&p) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                errors.push(format!("{}: {e}", p.display()))
            }
            _ => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ustack-lab-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        private_dir(&d).unwrap();
        d
    }

    #[test]
    fn a_symlink_planted_at_the_log_is_refused_and_its_target_untouched() {
        let dir = scratch("log");
        let target = dir.join("victim");
        fs::write(&target, "precious").unwrap();
        let log = log_path(&dir, "ulab");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        assert!(create_new(&log).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
        // A dangling one is not followed to create its target either.
        fs::remove_file(&target).unwrap();
        assert!(create_new(&log).is_err());
        assert!(!target.exists());
        // A regular file left there is not truncated.
        fs::remove_file(&log).unwrap();
        fs::write(&log, "old").unwrap();
        assert!(create_new(&log).is_err());
        assert_eq!(fs::read_to_string(&log).unwrap(), "old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notes_list_namespaces_and_are_read_only_as_regular_files() {
        let dir = scratch("note");
        write(&dir, "ulab", &["ulab-host", "ulab-far"], "pid 1\n").unwrap();
        let text = read(&note_path(&dir, "ulab")).unwrap();
        assert_eq!(namespaces(&text), ["ulab-host", "ulab-far"]);
        assert!(write(&dir, "ulab", &[], "").is_err(), "one note per lab");
        // A symlink to a note is no note.
        std::os::unix::fs::symlink(note_path(&dir, "ulab"), note_path(&dir, "other")).unwrap();
        assert!(read(&note_path(&dir, "other")).is_err());
        assert!(remove(&dir, "other").is_empty());
        assert!(
            note_path(&dir, "ulab").exists(),
            "removing a symlink leaves its target"
        );
        assert_eq!(lab_of("ulab"), Some("ulab"));
        assert_eq!(lab_of("ulab.up.log"), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
