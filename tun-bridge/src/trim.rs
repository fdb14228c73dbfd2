//! Giving freed memory back to the system (issue 16, finding 3: 4,090 connections that closed
//! left RSS at 1.16 GB). The stack frees a connection's buffers when it goes, but the C
//! allocator keeps freed heap pages for reuse, so without help RSS stays at the peak an
//! attacker drove it to. After the TCP buffers have shrunk by a lot since their last peak, the
//! loop asks the allocator to return its free pages (`malloc_trim`, glibc) — a moment later,
//! so that the tasks of the connections that went have ended and freed their memory too. That
//! walks the heap, so it runs only after such a drop, never per packet.

use ustack::{Duration, Instant};

/// How far the buffers must fall below their peak, bytes, before a trim.
const DROP: usize = 4 << 20;
/// How long after the drop the trim runs.
const DELAY: Duration = Duration::from_millis(500);

/// Watches the stack's TCP buffer total and trims after a large drop.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    peak: usize,
    due: Option<Instant>,
    trims: u64,
}

impl Trimmer {
    /// Called with the current total (`Stack::tcp_buffer_bytes`) at `now`, the loop's clock. A fall of at least
    /// [`DROP`] to at most half the peak schedules a trim [`DELAY`] later (the peak restarts
    /// from there). Returns whether it trimmed now.
    pub(crate) fn observe(&mut self, bytes: usize, now: Instant) -> bool {
        self.peak = self.peak.max(bytes);
        if self.peak - bytes >= DROP && bytes <= self.peak / 2 {
            self.peak = bytes;
            self.due.get_or_insert(now + DELAY);
        }
        match self.due {
            Some(at) if now >= at => {
                self.due = None;
                self.trims += 1;
                release_free_memory();
                true
            }
            _ => false,
        }
    }

    /// When a scheduled trim is due (the loop wakes for it).
    pub(crate) fn due(&self) -> Option<Instant> {
        self.due
    }
}

/// Returns the allocator's free pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim has no preconditions; it only releases memory malloc holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_large_drop_below_half_the_peak_a_moment_later() {
        let t0 = Instant::from_millis(1_000);
        let mut t = Trimmer::default();
        assert!(!t.observe(6 << 20, t0));
        assert!(!t.observe(3 << 20, t0), "half, but a drop under 4 MiB");
        assert!(!t.observe(100 << 20, t0));
        assert!(!t.observe(60 << 20, t0), "above half the peak");
        assert!(!t.observe(40 << 20, t0), "scheduled, not yet");
        assert_eq!(t.due(), Some(t0 + DELAY));
        assert!(!t.observe(30 << 20, t0 + Duration::from_millis(250)));
        assert!(t.observe(30 << 20, t0 + DELAY));
        assert_eq!(t.due(), None);
        // The peak restarted at 40 MiB: halving again trims again.
        assert!(!t.observe(0, t0 + DELAY + DELAY));
        assert!(t.observe(0, t0 + DELAY + DELAY + DELAY));
        assert_eq!(t.trims, 2);
    }
}
