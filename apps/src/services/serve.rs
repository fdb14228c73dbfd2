//! The plumbing every TCP service of `ustack up` shares: an accept loop that is a task on the
//! stack's event loop, and one task per connection — no thread per connection, no lock.
//!
//! A handler that fails ends only its own connection (logged at debug); the accept loop goes
//! on. When the stack stops, every task is dropped with the loop: connections close at once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use tun_bridge::aio::{TcpListener, TcpStream};

/// A connection handler: a future per connection, run as a task on the loop.
pub type Handler = Rc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = io::Result<u64>>>>>;

/// Wraps an `async fn(TcpStream) -> io::Result<u64>` as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(TcpStream) -> Fut + 'static,
    Fut: Future<Output = io::Result<u64>> + 'static,
{
    Rc::new(move |s| Box::pin(f(s)))
}

/// Accepts on `listener` until the loop stops, running `handler` on a new task per connection.
pub async fn accept_loop(name: &'static str, listener: TcpListener, handler: Handler) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return, // the stack stopped
            Err(e) => {
                // A connection reset before it was accepted, and the like: only that one.
                log::debug!("{name}: accept: {e}");
                continue;
            }
        };
        if let Err(e) = stream.set_keepalive(Some(crate::services::classic::KEEPALIVE)) {
            log::debug!("{name}: {peer}: keepalive: {e}");
        }
        let h = handler.clone();
        tokio::task::spawn_local(async move {
            finish(name, peer, h(stream).await);
        });
    }
}

fn finish(name: &str, peer: SocketAddr, r: io::Result<u64>) {
    match r {
        Ok(n) => log::debug!("{name}: {peer} done, {n} bytes"),
        Err(e) => log::debug!("{name}: {peer}: {e}"),
    }
}
