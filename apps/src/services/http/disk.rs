//! File system work off the loop thread: on the service's own [`DISK_SLOTS`] threads, so a
//! thousand downloads from a slow disk cost those threads and a queue, not a thread each.
//!
//! Not tokio's blocking pool, on purpose: its threads are not bounded by how many jobs run at
//! once (an idle thread lingers while a new one is spawned for the next job, so `wrk -c400`
//! grew the process to 54 threads), and dropping the runtime waits for every blocking job — a
//! job stuck in the kernel then kept SIGTERM from stopping `ustack up`. These threads are
//! detached: when the loop stops, nothing waits for them, and they end when the last [`Disk`]
//! handle is gone and their current job returns.

use std::future::Future;
use std::io;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::{oneshot, Semaphore};

/// Most file system operations of the HTTP service in flight at once, and its disk threads.
pub const DISK_SLOTS: usize = 4;

/// A job for a disk thread.
type Job = Box<dyn FnOnce() + Send>;

/// A bounded gate to the service's disk threads. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Disk {
    slots: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

impl Default for Disk {
    fn default() -> Self {
        Disk::new(DISK_SLOTS)
    }
}

impl Disk {
    /// A gate of `slots` concurrent operations on as many threads (`ustack-disk`).
    pub fn new(slots: usize) -> Disk {
        let slots = slots.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..slots {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name("ustack-disk".into())
                .spawn(move || worker(&queue));
            if let Err(e) = spawned {
                log::warn!("http: cannot start a disk thread: {e}");
            }
        }
        Disk {
            slots: Arc::new(Semaphore::new(slots)),
            jobs,
        }
    }

    /// Runs `f` on a disk thread once a slot is free.
    pub fn run<R, F>(&self, f: F) -> impl Future<Output = io::Result<R>> + 'static
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (slots, jobs) = (self.slots.clone(), self.jobs.clone());
        async move {
            let permit = slots
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("the disk gate is closed"))?;
            let (done, result) = oneshot::channel();
            let job: Job = Box::new(move || {
                let _ = done.send(f());
                drop(permit);
            });
            jobs.send(job)
                .map_err(|_| io::Error::other("no disk thread is running"))?;
            result
                .await
                .map_err(|_| io::Error::other("the disk job was lost"))
        }
    }
}

/// A disk thread: runs jobs until every [`Disk`] handle is dropped.
fn worker(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
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

    #[tokio::test]
    async fn jobs_run_on_at_most_the_slots_threads() {
        let disk = Disk::new(3);
        let jobs: Vec<_> = (0..64)
            .map(|_| {
                disk.run(|| {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    let t = std::thread::current();
                    (t.id(), t.name().map(str::to_owned))
                })
            })
            .collect();
        let seen: Vec<_> = futures_join(jobs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(
            seen.iter()
                .all(|(_, n)| n.as_deref() == Some("ustack-disk")),
            "{seen:?}"
        );
        let mut ids: Vec<_> = seen.iter().map(|(id, _)| format!("{id:?}")).collect();
        ids.sort();
        ids.dedup();
        assert!(ids.len() <= 3, "{} threads for 3 slots", ids.len());
    }

    /// A job stuck in the kernel (here: waiting forever) must not keep the loop's runtime from
    /// stopping — with tokio's blocking pool, dropping the runtime waited for it.
    #[test]
    fn a_stuck_job_does_not_hold_the_runtime_at_shutdown() {
        let disk = Disk::new(1);
        let (_hold, stuck) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let job = disk.run(move || {
                let _ = started_tx.send(());
                let _ = stuck.recv();
            });
            tokio::task::spawn(job);
            tokio::task::yield_now().await;
        });
        started
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the job started");
        let (dropped_tx, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(rt);
            let _ = dropped_tx.send(());
        });
        assert!(
            dropped
                .recv_timeout(std::time::Duration::from_secs(1))
                .is_ok(),
            "the runtime waited for a stuck disk job"
        );
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
