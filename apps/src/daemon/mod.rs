//! The daemon: what `ustack up` runs beside the stack for the tools. It serves the control
//! plane (docs/CONTROL.md): a Unix socket per TUN speaking versioned JSON lines ([`proto`], one
//! file per request); tools find it by TUN name ([`path`]) and talk to it with
//! [`client::Client`]. The server is tasks on the loop thread ([`serve`]): it reads the stack
//! directly, and each request has its module in [`requests`] (the extension point); long jobs
//! (the traceroute engine) are in [`jobs`], and packet capture — the hub the daemon installs as
//! a tap on the bridge, the tcpdump-style formatter, pcap files — in [`capture`] and [`pcap`].
//!
//! A tool with no daemon to attach to starts its own bridge and talks to it through
//! [`pair`] — the same server on a socketpair — so it runs the very same job code and reads
//! the very same replies either way.
//!
//! A program of one's own gets the same control plane in one call: [`start_with_control`]
//! starts its bridge with the capture hub installed and serves the control socket, so that
//! `ustack ss`, `ustack capture`, `ustack ping` … attach to it by its TUN name as they attach to
//! `ustack up` (examples/with_control.rs).

pub mod capture;
pub mod client;
mod conn;
pub mod jobs;
pub mod path;
pub mod pcap;
pub mod proto;
mod requests;
mod server;
mod writer;

pub use requests::stats::stats_reply;
pub use server::DaemonInfo;

use std::io;
use std::path::Path;
use tun_bridge::{Bridge, BridgeConfig, Handle, Tap};

/// A control server serving on its socket; dropping it removes the socket file (its tasks end
/// with the loop).
#[derive(Debug)]
pub struct ControlServer {
    bound: path::BoundSocket,
}

impl ControlServer {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        self.bound.path()
    }
}

/// Binds `info.tun`'s control socket (see [`path`]) and serves it on `bridge`'s loop.
pub fn serve(bridge: &Bridge, info: DaemonInfo) -> io::Result<ControlServer> {
    let path = path::socket_path(&info.tun)?;
    let bound = path::bind(&path)?;
    let listener = bound.listener.try_clone()?;
    listener.set_nonblocking(true)?;
    bridge.spawn(move |net| async move {
        let ctx = server::Ctx::new(net, info);
        match tokio::net::UnixListener::from_std(listener) {
            Ok(l) => {
                tokio::task::spawn_local(requests::sockets::sampler(ctx.clone()));
                server::accept_loop(ctx, l).await;
            }
            Err(e) => log::error!("control socket: {e}"),
        }
    })?;
    Ok(ControlServer { bound })
}

/// Refuses (`AddrInUse`, naming the socket) if a daemon already serves the control socket of
/// TUN `tun` in this network namespace: a second stack must not take over its name.
pub fn refuse_if_served(tun: &str) -> io::Result<()> {
    if client::attach(tun)?.is_none() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "a stack is already running on {tun} (control socket {})",
            client::socket_path(tun)?.display()
        ),
    ))
}

/// Starts a bridge with the control plane attached, as `ustack up` does for its own stack:
/// the capture hub goes in as a tap (after `taps`, for `ustack capture`), and the control socket
/// of `config.tun_name` is served on the loop (for `ustack ss`, `capture`, `ping`, `connect`,
/// `trace` …, run in the same network namespace with `--tun` naming the device).
///
/// Keep the returned [`ControlServer`] as long as the bridge runs: dropping it removes the
/// socket file. Fails like [`Bridge::start`], or with `AddrInUse` if a daemon already serves
/// that TUN name.
///
/// ```no_run
/// use tun_bridge::BridgeConfig;
/// let (bridge, control) =
///     ustack_apps::daemon::start_with_control(BridgeConfig::default(), Vec::new())?;
/// println!("ustack ss --tun {} attaches through {}", bridge.tun_name(), control.path().display());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn start_with_control(
    config: BridgeConfig,
    mut taps: Vec<Box<dyn Tap>>,
) -> io::Result<(Bridge, ControlServer)> {
    refuse_if_served(&config.tun_name)?;
    let capture = capture::CaptureHub::new();
    taps.push(capture.tap());
    let host_addr = config.host_addr;
    let bridge = Bridge::start(config, taps)?;
    let info = DaemonInfo {
        tun: bridge.tun_name().to_string(),
        host_addr,
        capture: Some(capture),
    };
    let control = serve(&bridge, info)?;
    Ok((bridge, control))
}

/// A private connection to a control server on `handle`'s loop (a socketpair): how a tool that
/// brought up its own stack runs its job there.
pub fn pair(handle: &Handle, info: DaemonInfo) -> io::Result<std::os::unix::net::UnixStream> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    theirs.set_nonblocking(true)?;
    handle.spawn(move |net| async move {
        let ctx = server::Ctx::new(net, info);
        match tokio::net::UnixStream::from_std(theirs) {
            Ok(s) => server::spawn_client(&ctx, s),
            Err(e) => log::error!("control socketpair: {e}"),
        }
    })?;
    Ok(ours)
}
