//! `poll(2)` over shim descriptors, with the timeout in virtual time.

use super::Instance;
use crate::shim::Errno;

/// Fills `revents` and returns how many descriptors are ready. A positive timeout waits (for
/// the other packetdrill thread to move packets or time) until something is ready or the
/// virtual clock passes the timeout; a negative one waits indefinitely.
pub(super) fn run(i: &Instance, fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<i32, Errno> {
    let mut g = i.lock();
    let deadline = u64::try_from(timeout_ms)
        .ok()
        .map(|ms| g.now().total_micros() + ms * 1000);
    let mut idle = 0;
    loop {
        let mut ready = 0;
        for p in fds.iter_mut() {
            p.revents = 0;
            let r = match g.ready(p.fd) {
                Ok(r) => r,
                Err(_) => {
                    p.revents = libc::POLLNVAL;
                    ready += 1;
                    continue;
                }
            };
            let mut ev = 0;
            if r.read {
                ev |= libc::POLLIN | libc::POLLRDNORM;
            }
            if r.write {
                ev |= libc::POLLOUT | libc::POLLWRNORM;
            }
            p.revents = ev & p.events;
            if r.error {
                p.revents |= libc::POLLERR;
            }
            if r.hangup {
                p.revents |= libc::POLLHUP;
            }
            if p.revents != 0 {
                ready += 1;
            }
        }
        let expired = deadline.is_some_and(|d| g.now().total_micros() >= d);
        if ready > 0 || timeout_ms == 0 || expired {
            return Ok(ready);
        }
        let before = g.moves();
        g = i.wait(g);
        idle = if g.moves() == before { idle + 1 } else { 0 };
        if idle >= super::IDLE_WAITS {
            g.advance_idle();
            idle = 0;
        }
    }
}
