//! File system work off the loop thread: on tokio's blocking pool, at most [`DISK_SLOTS`]
//! operations at once for the whole service, so a thousand downloads from a slow disk cost a
//! few pool threads and a queue, not a thread each.

use std::future::Future;
use std::io;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Most file system operations of the HTTP service in flight at once.
pub const DISK_SLOTS: usize = 4;

/// A bounded gate to the blocking pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Disk {
    slots: Arc<Semaphore>,
}

impl Default for Disk {
    fn default() -> Self {
        Disk::new(DISK_SLOTS)
    }
}

impl Disk {
    /// A gate of `slots` concurrent operations.
    pub fn new(slots: usize) -> Disk {
        Disk {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// Runs `f` on the blocking pool once a slot is free.
    pub fn run<R, F>(&self, f: F) -> impl Future<Output = io::Result<R>> + 'static
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let slots = self.slots.clone();
        async move {
            let permit = slots
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("the disk gate is closed"))?;
            tokio::task::spawn_blocking(move || {
                let r = f();
                drop(permit);
                r
            })
            .await
            .map_err(io::Error::other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn at_most_the_slots_run_at_once() {
        let disk = Disk::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                disk.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut out = Vec::new();
        for j in futures_join(jobs).await {
            out.push(j.unwrap());
        }
        assert_eq!(out, (0..8).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 2, "{peak:?}");
    }

    /// Awaits all of `futs` concurrently (in one task), in order.
    async fn futures_join<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
        let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
        let mut outs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
        let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (h, o) in handles.iter_mut().zip(outs.iter_mut()) {
                if let Some(f) = h {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => {
                            *o = Some(v);
                            *h = None;
                        }
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        outs.into_iter().map(|o| o.unwrap()).collect()
    }
}
