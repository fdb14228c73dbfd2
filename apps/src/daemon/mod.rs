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
use tun_bridge::{Bridge, Handle};

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
