//! Builds packetdrill from a copy of `../shared/conformance/packetdrill` (read-only) in
//! `target/conformance/`, with `tests/conformance/packetdrill/so-mode.patch` applied to the
//! copy: (1) `so_netdev_receive` honours its timeout against the shim's clock, so a packet the
//! stack never sends is reported instead of waited for forever; (2) at the end of a script,
//! sockets still open are closed through the shim, not with the process's `close(2)` (their
//! numbers are the shim's, not the process's); (3) inline Python assertions read `TCP_INFO`
//! through the shim too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The conformance folder: `USTACK_CONFORMANCE_DIR` if set, else `../shared/conformance` beside
/// the repository. It holds `packetdrill/` (google/packetdrill's `gtests/net/packetdrill`),
/// `freebsd/` (freebsd-net/tcp-testsuite) and `linux/` (packetdrill's `gtests/net/tcp`); see
/// docs/CONFORMANCE.md, "Getting the suites".
pub fn shared_dir(repo: &Path) -> PathBuf {
    match std::env::var_os("USTACK_CONFORMANCE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo.join("../shared/conformance"),
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().rev().take(5).collect();
    Err(format!("{what} failed: {}", tail.join(" / ")))
}

/// The packetdrill binary, built if missing (or if the patch is newer than it).
pub fn packetdrill(repo: &Path) -> Result<PathBuf, String> {
    let src = shared_dir(repo).join("packetdrill");
    let patch = repo.join("tests/conformance/packetdrill/so-mode.patch");
    let dir = repo.join("target/conformance/packetdrill");
    let bin = dir.join("packetdrill");
    let fresh = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if let (Some(b), Some(p)) = (fresh(&bin), fresh(&patch)) {
        if b >= p {
            return Ok(bin);
        }
    }
    if !src.join("packetdrill.c").exists() {
        return Err(format!("packetdrill source not found at {}", src.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap_or(repo)).map_err(|e| e.to_string())?;
    run(
        Command::new("cp").arg("-r").arg(&src).arg(&dir),
        "copying packetdrill",
    )?;
    // The copy keeps the read-only modes of the source; make it writable.
    run(Command::new("chmod").args(["-R", "u+w"]).arg(&dir), "chmod")?;
    run(
        Command::new("patch")
            .args(["-p1", "-i"])
            .arg(&patch)
            .current_dir(&dir),
        "patching packetdrill",
    )?;
    run(
        Command::new("./configure").current_dir(&dir),
        "packetdrill ./configure",
    )?;
    run(
        Command::new("make").arg("packetdrill").current_dir(&dir),
        "building packetdrill (needs gcc, make, bison, flex)",
    )?;
    Ok(bin)
}
