//! The classic tools' habits (issue 24, item 1 in part): `ustack ping` to the stack's own
//! address is refused with a message (old main: 100% loss without a word), and a closed stdout
//! (`| head -2`) ends it quietly (old main: "Broken pipe (os error 32)"), as iputils ping, which
//! SIGPIPE ends. Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing
//! capability fails.

use std::time::Duration;
use ustack_tests::e2e::{output_text, run_in, ustack_bin};
use ustack_tests::netns::{tun_available, NetNs};

#[test]
fn ping_to_the_stacks_own_address_is_refused_with_a_reason() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("selfping");
    let bin = ustack_bin();
    let args = ["--log-level", "warn", "ping", "-c", "2", "198.18.0.2"];
    let out = run_in(&ns, bin.to_str().unwrap(), &args, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the stack's own address"), "{err}");
}

#[test]
fn ping_into_a_closed_pipe_ends_quietly() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingpipe");
    let script = format!(
        "{} --log-level warn ping -i 0.2 198.18.0.1 2>err | head -2; echo status ${{PIPESTATUS[0]}}; cat err",
        ustack_bin().display()
    );
    let dir = std::env::temp_dir().join(format!("ustack-pingpipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = ns.command("bash");
    cmd.current_dir(&dir).args(["-c", &script]);
    let out = ustack_tests::e2e::run_limited(cmd, "bash", Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("PING 198.18.0.1"), "{text}");
    assert!(lines[1].starts_with("64 bytes from 198.18.0.1"), "{text}");
    // 141: ended as SIGPIPE ends iputils ping; and nothing on stderr.
    assert_eq!(lines.get(2), Some(&"status 141"), "{text}");
    assert_eq!(lines.len(), 3, "something was said on stderr: {text}");
}

/// `[SECONDS.MICROS] ` before a reply line, if the line has one that is a plausible time now.
fn stamp_of(line: &str) -> Option<f64> {
    let rest = line.strip_prefix('[')?;
    let (stamp, after) = rest.split_once("] ")?;
    let (secs, micros) = stamp.split_once('.')?;
    let ok = after.starts_with("64 bytes from")
        && micros.len() == 6
        && secs.bytes().all(|b| b.is_ascii_digit())
        && micros.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| stamp.parse().ok()).flatten()
}

/// `-D` prints iputils' time stamp before each reply: the same form as `ping -D` itself.
#[test]
fn ping_d_stamps_replies_as_iputils_does() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingD");
    let bin = ustack_bin();
    let limit = Duration::from_secs(20);
    let args = [
        "--log-level",
        "warn",
        "ping",
        "-D",
        "-c",
        "2",
        "-i",
        "0.2",
        "198.18.0.1",
    ];
    let ours = run_in(&ns, bin.to_str().unwrap(), &args, limit);
    let theirs = run_in(&ns, "ping", &["-D", "-c", "1", "127.0.0.1"], limit);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for (who, out, n) in [("ustack ping", &ours, 2), ("iputils ping", &theirs, 1)] {
        let text = String::from_utf8_lossy(&out.stdout);
        let stamps: Vec<f64> = text.lines().filter_map(stamp_of).collect();
        assert_eq!(stamps.len(), n, "{who}: {}", output_text(out));
        assert!(
            stamps.iter().all(|t| (now - t).abs() < 60.0),
            "{who}: {text}"
        );
    }
}
