//! Builds packetdrill from a copy of its source (read-only; `--packetdrill DIR` or
//! `$USTACK_CONFORMANCE_DIR/packetdrill`) in `target/conformance/`, with
//! `tests/conformance/packetdrill/so-mode.patch` applied to the copy: (1) `so_netdev_receive`
//! honours its timeout against the shim's clock, so a packet the stack never sends is reported
//! instead of waited for forever; (2) at the end of a script, sockets still open are closed
//! through the shim, not with the process's `close(2)` (their numbers are the shim's, not the
//! process's); (3) inline Python assertions read `TCP_INFO` through the shim too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the third-party sources come from, said whenever one is missing.
pub const HOW_TO_GET: &str = "\
the packetdrill source and the suites are not part of this repository; get them from their \
public repositories and name the folder that holds them:
  packetdrill:  google/packetdrill on GitHub, folder gtests/net/packetdrill  -> DIR/packetdrill
  Linux suite:  google/packetdrill, folder gtests/net/tcp                    -> DIR/linux
  FreeBSD suite: freebsd-net/tcp-testsuite on GitHub (Michael Tüxen), folders
                 state-event-engine and rcv-data-segments                   -> DIR/freebsd/
then run with USTACK_CONFORMANCE_DIR=DIR (or --packetdrill DIR/packetdrill --suites DIR);
docs/CONFORMANCE.md, \"Getting the suites\", has the commands";

/// The conformance folder `USTACK_CONFORMANCE_DIR` names (holding `packetdrill/` — google/
/// packetdrill's `gtests/net/packetdrill` —, `freebsd/` — freebsd-net/tcp-testsuite — and
/// `linux/` — packetdrill's `gtests/net/tcp`), if it is set; see docs/CONFORMANCE.md, "Getting
/// the suites".
pub fn conformance_dir() -> Option<PathBuf> {
    std::env::var_os("USTACK_CONFORMANCE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
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

/// The packetdrill binary, built from the source in `src` if missing (or if the patch is newer
/// than it); without a binary, a missing source is an error that says where to get it.
pub fn packetdrill(repo: &Path, src: Option<&Path>) -> Result<PathBuf, String> {
    let patch = repo.join("tests/conformance/packetdrill/so-mode.patch");
    let dir = repo.join("target/conformance/packetdrill");
    let bin = dir.join("packetdrill");
    let fresh = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if let (Some(b), Some(p)) = (fresh(&bin), fresh(&patch)) {
        if b >= p {
            return Ok(bin);
        }
    }
    let src = match src {
        Some(src) if src.join("packetdrill.c").exists() => src,
        Some(src) => {
            return Err(format!(
                "packetdrill source not found at {} (no packetdrill.c there); {HOW_TO_GET}",
                src.display()
            ))
        }
        None => return Err(format!("packetdrill source not given; {HOW_TO_GET}")),
    };
    // A symbolic link left by an older runner is removed, not followed.
    let _ = std::fs::remove_file(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // The source's contents into a directory of our own: `src/.` goes through a source that
    // is a symbolic link (a suites folder that links to a shared, read-only copy), where
    // `cp -r src dir` would copy the link and the build below would write into the source.
    run(
        Command::new("cp").arg("-r").arg(src.join(".")).arg(&dir),
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
