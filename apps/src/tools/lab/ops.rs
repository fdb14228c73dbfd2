//! Carrying out a [`Plan`] with iproute2: namespaces, veth pairs, addresses, MTUs, routes,
//! sysctls, optional netem, the far-end server; and taking it all down again. Every step that
//! fails names its command and the command's stderr; a half-built lab is removed.

use super::note;
use super::plan::{Family, Plan};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `program args…`, returning its stdout; the error names the command and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running `{shown}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args).map(drop)
}

/// `sysctl -w SETTING` inside namespace `ns`.
fn sysctl(ns: &str, setting: &str) -> Result<(), String> {
    run("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", setting]).map(drop)
}

/// Every network namespace (names only).
pub fn namespaces() -> Result<Vec<String>, String> {
    Ok(run("ip", &["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// The namespaces of lab `name` that exist.
pub fn lab_namespaces(name: &str) -> Result<Vec<String>, String> {
    Ok(namespaces()?
        .into_iter()
        .filter(|ns| Plan::owns(name, ns))
        .collect())
}

/// What the lab asks of links beyond addresses and MTUs.
#[derive(Clone, Debug, Default)]
pub struct Shaping {
    /// One-way delay per link, milliseconds.
    pub delay_ms: Option<u32>,
    /// Loss per link, percent.
    pub loss_pct: Option<f64>,
}

impl Shaping {
    fn is_set(&self) -> bool {
        self.delay_ms.is_some() || self.loss_pct.is_some()
    }
}

/// A lab that exists; dropping it removes everything it made.
#[derive(Debug)]
pub struct Lab {
    pub plan: Plan,
    server: Option<Child>,
    /// `ustack up` in the host namespace (`lab up --up`) and where its output goes.
    stack: Option<(Child, PathBuf)>,
    /// Why links were not shaped (netem missing), if asked to and it failed.
    pub shaping_note: Option<String>,
}

impl Lab {
    /// Builds `plan`. Refuses if any namespace of the lab already exists.
    pub fn up(plan: Plan, shaping: &Shaping, server: bool) -> Result<Lab, String> {
        let existing = lab_namespaces(&plan.name)?;
        if !existing.is_empty() {
            return Err(format!(
                "lab {} already exists ({}); remove it with `ustack lab down --name {}`",
                plan.name,
                existing.join(", "),
                plan.name
            ));
        }
        // The note first: `lab down` (and dropping `lab`) removes only what a note lists.
        let dir = note::dir()?;
        let nss: Vec<&str> = plan.nodes.iter().map(|n| n.ns.as_str()).collect();
        note::write(&dir, &plan.name, &nss, &plan.note_text(std::process::id()))?;
        // From the first namespace on, a failure (the `?`s below) drops `lab`: all removed.
        let mut lab = Lab {
            plan,
            server: None,
            stack: None,
            shaping_note: None,
        };
        lab.make_nodes()?;
        lab.make_links()?;
        lab.make_routes()?;
        if shaping.is_set() {
            lab.shaping_note = lab.shape(shaping).err();
        }
        if server {
            lab.server = Some(lab.start_server()?);
        }
        Ok(lab)
    }

    fn make_nodes(&self) -> Result<(), String> {
        for node in &self.plan.nodes {
            let ns = node.ns.as_str();
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
            for s in self.plan.sysctls() {
                sysctl(ns, s)?;
            }
        }
        Ok(())
    }

    fn make_links(&self) -> Result<(), String> {
        for link in &self.plan.links {
            let near = &self.plan.nodes[link.index - 1].ns;
            let far = &self.plan.nodes[link.index].ns;
            // Both ends are made inside the namespaces: no name in the root namespace.
            ip(&[
                "-n", near, "link", "add", "fwd", "type", "veth", "peer", "name", "back", "netns",
                far,
            ])?;
            let mtu = link.mtu.to_string();
            for (ns, dev, far_side) in [(near, "fwd", false), (far, "back", true)] {
                // The device's MTU is IPv6's too (the kernel copies it to conf.DEV.mtu).
                ip(&["-n", ns, "link", "set", "dev", dev, "mtu", &mtu])?;
                for &fam in self.plan.families() {
                    let addr = if far_side {
                        link.far_in(fam)
                    } else {
                        link.near_in(fam)
                    };
                    let cidr = format!("{addr}/{}", link.subnet_in(fam).len);
                    if fam == Family::V6 {
                        sysctl(ns, &format!("net.ipv6.conf.{dev}.disable_ipv6=0"))?;
                        // No Duplicate Address Detection: the address is usable at once.
                        ip(&["-n", ns, "-6", "addr", "add", &cidr, "dev", dev, "nodad"])?;
                    } else {
                        ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
                    }
                }
                ip(&["-n", ns, "link", "set", "dev", dev, "up"])?;
            }
        }
        Ok(())
    }

    fn make_routes(&self) -> Result<(), String> {
        for (i, node) in self.plan.nodes.iter().enumerate() {
            for r in self.plan.routes(i) {
                let args = r.args();
                let mut cmd = vec!["-n", node.ns.as_str()];
                cmd.extend(args.iter().map(String::as_str));
                ip(&cmd)?;
            }
        }
        Ok(())
    }

    /// Delay/loss with netem on each link's `fwd` end (so each hop adds it once per
    /// direction's worth of queueing on the way out). Fails as a whole if netem is missing.
    fn shape(&self, s: &Shaping) -> Result<(), String> {
        let mut args = vec!["netem".to_string()];
        if let Some(d) = s.delay_ms {
            args.extend(["delay".into(), format!("{d}ms")]);
        }
        if let Some(l) = s.loss_pct {
            args.extend(["loss".into(), format!("{l}%")]);
        }
        for link in &self.plan.links {
            let ns = &self.plan.nodes[link.index - 1].ns;
            let mut cmd = vec!["-n", ns.as_str(), "qdisc", "add", "dev", "fwd", "root"];
            cmd.extend(args.iter().map(String::as_str));
            if let Err(e) = run("tc", &cmd) {
                // Undo what was shaped, so the lab is all or nothing.
                for l in &self.plan.links {
                    let ns = &self.plan.nodes[l.index - 1].ns;
                    let _ = run("tc", &["-n", ns, "qdisc", "del", "dev", "fwd", "root"]);
                }
                return Err(netem_note(&e));
            }
        }
        Ok(())
    }

    fn start_server(&self) -> Result<Child, String> {
        let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
        let exe = exe.to_string_lossy().into_owned();
        Command::new("ip")
            .args(["netns", "exec", self.plan.far_ns(), &exe, "lab", "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the far-end server: {e}"))
    }

    /// Starts `ustack up --tun TUN` (with `--ipv6` in a dual-stack lab) in the host namespace
    /// and waits until its TUN has the kernel side's addresses; its output goes to a log file
    /// (returned) in the lab's private directory, created new (never through a symlink, never a
    /// file that was there).
    pub fn start_stack(&mut self, tun: &str) -> Result<PathBuf, String> {
        let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
        let log = note::log_path(&note::dir()?, &self.plan.name);
        let file = note::create_new(&log)?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let host = self.plan.host_ns().to_string();
        let child = Command::new("ip")
            .args(["netns", "exec", &host])
            .arg(exe)
            .args(["up", "--tun", tun])
            .arg(if self.plan.ipv6 {
                "--ipv6"
            } else {
                "--no-ipv6"
            })
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting ustack up: {e}"))?;
        self.stack = Some((child, log.clone()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if super::stack::is_up(&host, tun, self.plan.ipv6) {
                return Ok(log);
            }
            let exited = self
                .stack
                .as_mut()
                .and_then(|(c, _)| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let out = note::read(&log).unwrap_or_default();
                return Err(format!("ustack up in {host} did not come up:\n{out}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some((mut c, log)) = self.stack.take() {
            // SIGTERM: `ustack up` stops cleanly (resets its connections, prints counters).
            let _ = run("kill", &["-TERM", &c.id().to_string()]);
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until && c.try_wait().ok().flatten().is_none() {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
            // Its output (the counters at the end) is shown here; `down` removes the log.
            if let Ok(text) = note::read(&log) {
                println!("ustack up in {}:\n{text}", self.plan.host_ns());
            }
        }
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = down(&self.plan.name) {
            eprintln!("ustack lab: removing {}: {e}", self.plan.name);
        }
    }
}

/// What to say when netem is not there.
fn netem_note(err: &str) -> String {
    let missing = err.contains("unknown") || err.contains("No such file");
    let why = if missing {
        "this kernel has no netem (CONFIG_NET_SCH_NETEM is not set)"
    } else {
        "netem could not be set up"
    };
    format!(
        "{why}: the lab's links have no delay or loss ({err}). For loss at the stack's own \
         link use `ustack up --fault-loss PCT` (stack → kernel) and `--fault-in-loss PCT` \
         (kernel → stack); --fault-reorder / --fault-duplicate likewise. No delay there."
    )
}

/// Ends every process still inside `ns` (SIGTERM, then SIGKILL after a second).
fn end_processes(ns: &str) {
    let pids = || -> Vec<String> {
        run("ip", &["netns", "pids", ns])
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let first = pids();
    if first.is_empty() {
        return;
    }
    for p in &first {
        let _ = run("kill", &["-TERM", p]);
    }
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until && !pids().is_empty() {
        thread::sleep(Duration::from_millis(50));
    }
    for p in pids() {
        let _ = run("kill", &["-KILL", &p]);
    }
}

/// The pid the note names (`pid N`), if it is a `ustack lab up` for `name` that is still
/// running and is not this process (a `lab up` removing its own lab).
fn running_lab_up(note_text: &str, name: &str) -> Option<u32> {
    let pid: u32 = note_text
        .lines()
        .find_map(|l| l.strip_prefix("pid ")?.trim().parse().ok())?;
    if pid == std::process::id() {
        return None;
    }
    // Only a process whose command line is this lab's `lab up` is ours to signal: the pid may
    // have been reused since the note was written.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let has = |w: &str| args.contains(&w.as_bytes());
    let named = has(name) || (name == super::plan::DEFAULT_NAME && !has("--name"));
    (has("lab") && has("up") && named).then_some(pid)
}

/// SIGTERM to `pid`, then waits (at most 10 s) for it to exit.
fn stop_process(pid: u32) {
    let _ = run("kill", &["-TERM", &pid.to_string()]);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && Path::new(&format!("/proc/{pid}")).exists() {
        thread::sleep(Duration::from_millis(50));
    }
}

/// Removes lab `name`: ends the processes inside the namespaces its note lists, deletes them
/// (their veth links go with them), its note and its log. Returns the namespaces removed.
/// Without a note it refuses: namespaces that only look like the lab's are not its to remove.
pub fn down(name: &str) -> Result<Vec<String>, String> {
    super::plan::check_name(name)?;
    let dir = note::dir()?;
    let path = note::note_path(&dir, name);
    let text = match note::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let lookalikes = lab_namespaces(name)?;
            if lookalikes.is_empty() {
                return Ok(Vec::new());
            }
            return Err(format!(
                "no note {} for lab {name}: not removing {}, which no lab noted it made \
                 (remove them by hand with `ip netns delete NAME` if they are yours)",
                path.display(),
                lookalikes.join(" ")
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    // A `lab up` still running in the foreground is told to stop first: it ends its stack and
    // server, reaps them and removes the lab itself; what it leaves is removed below.
    if let Some(pid) = running_lab_up(&text, name) {
        stop_process(pid);
    }
    let existing = namespaces()?;
    let nss: Vec<String> = note::namespaces(&text)
        .into_iter()
        .filter(|ns| Plan::owns(name, ns) && existing.contains(ns))
        .collect();
    let mut errors = Vec::new();
    for ns in &nss {
        end_processes(ns);
        if let Err(e) = ip(&["netns", "delete", ns]) {
            errors.push(e);
        }
    }
    errors.extend(note::remove(&dir, name));
    if errors.is_empty() {
        Ok(nss)
    } else {
        Err(errors.join("; "))
    }
}

/// A lab as `lab list` shows it.
#[derive(Debug)]
pub struct Listed {
    pub name: String,
    pub namespaces: Vec<String>,
    /// What its state file says, if there is one (none: left over from a lab that died).
    pub state: Option<String>,
}

/// Every lab that exists: its name, namespaces, and what its state file says (if any).
pub fn list() -> Result<Vec<Listed>, String> {
    let all = namespaces()?;
    let mut labs: Vec<String> = all
        .iter()
        .filter_map(|ns| ns.strip_suffix("-host"))
        .map(str::to_string)
        .collect();
    if let Ok(dir) = fs::read_dir(note::DIR) {
        for e in dir.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = note::lab_of(&n).map(str::to_string) {
                if !labs.contains(&n) {
                    labs.push(n);
                }
            }
        }
    }
    labs.sort();
    Ok(labs
        .into_iter()
        .map(|name| {
            let namespaces = all
                .iter()
                .filter(|ns| Plan::owns(&name, ns))
                .cloned()
                .collect();
            let state = note::read(&note::note_path(Path::new(note::DIR), &name)).ok();
            Listed {
                name,
                namespaces,
                state,
            }
        })
        .collect())
}
