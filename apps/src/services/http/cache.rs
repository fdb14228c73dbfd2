//! The rendered `/stats` pages, cached: each is rendered at most once per [`STATS_PERIOD`] and
//! the same bytes are served to every client in between, so a flood of requests costs a copy
//! of a reference each, not a walk of the connection table each (issue 16, finding 7).

use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// How long a rendered `/stats` or `/stats.json` is served before it is rendered again.
pub const STATS_PERIOD: Duration = Duration::from_secs(1);

/// One rendered page and when it was rendered. Lives on the loop thread (no lock).
#[derive(Debug)]
pub struct Cached {
    period: Duration,
    slot: RefCell<Option<(Instant, Bytes)>>,
    renders: Cell<u64>,
}

impl Cached {
    /// An empty cache whose page is rendered again once it is `period` old.
    pub fn new(period: Duration) -> Cached {
        Cached {
            period,
            slot: RefCell::new(None),
            renders: Cell::new(0),
        }
    }

    /// The page as of `now`: the cached bytes if they were rendered less than the period
    /// before `now`, else `render()`'s, which are kept for the next callers.
    pub fn get(&self, now: Instant, render: impl FnOnce() -> String) -> Bytes {
        if let Some((at, page)) = &*self.slot.borrow() {
            // A clock that went backwards (it cannot with `Instant`, but an injected one
            // might) counts as fresh: `saturating_duration_since` is zero then.
            if now.saturating_duration_since(*at) < self.period {
                return page.clone();
            }
        }
        let page = Bytes::from(render());
        self.renders.set(self.renders.get() + 1);
        *self.slot.borrow_mut() = Some((now, page.clone()));
        page
    }

    /// How many times the page was rendered.
    pub fn renders(&self) -> u64 {
        self.renders.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_at_most_once_per_period() {
        let c = Cached::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let mut n = 0;
        let mut render = || {
            n += 1;
            format!("page {n}")
        };
        // A thousand requests within the first period: one render, the same bytes for all.
        for i in 0..1000u64 {
            let now = t0 + Duration::from_micros(i * 999);
            assert_eq!(c.get(now, &mut render), "page 1");
        }
        assert_eq!(c.renders(), 1);
        // A period later: rendered again, once.
        let t1 = t0 + Duration::from_secs(1);
        for i in 0..1000u64 {
            assert_eq!(c.get(t1 + Duration::from_micros(i), &mut render), "page 2");
        }
        assert_eq!(c.renders(), 2);
        // Ten seconds of a request every millisecond: one render per second.
        let t2 = t1 + Duration::from_secs(1);
        for ms in 0..10_000u64 {
            c.get(t2 + Duration::from_millis(ms), &mut render);
        }
        assert_eq!(c.renders(), 12);
        // A clock that goes backwards serves the cache.
        assert_eq!(c.get(t0, &mut render), "page 12");
        assert_eq!(n, 12);
    }
}
