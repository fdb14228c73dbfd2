//! Ring storage for the TCP send and receive buffers that grows on demand up to the buffer's
//! capacity (issue 8 #16).
//!
//! Allocating every connection's full `Config::tcp_rx_buffer` / `tcp_tx_buffer` up front looked
//! free (fresh zeroed pages are lazy) until the allocator recycled memory: `vec![0; n]` from a
//! reused heap chunk is zeroed by hand, so each new connection made its whole 2 × 256 KiB
//! resident — 1,000 request/response connections in TIME-WAIT held ~500 MiB. Storage now starts
//! empty and doubles (rotating the held bytes to index 0) when a write needs more, so it follows
//! the data a connection actually buffers; growth copies are amortised O(1) per byte.
//!
//! Every ring draws on the stack-wide [`MemBudget`] (`Config::tcp_mem_max`, issue 16 finding 3;
//! Linux's `tcp_mem` is the model). Below half of it, rings grow freely. Above half — under
//! pressure — a ring that empties gives its storage back at once, so idle connections hold
//! none. Once the budget is spent, [`Ring::limit`] stops growth: a ring keeps what it has, and a
//! new one gets at most [`MIN_ALLOC`] (the floor every connection is guaranteed, like Linux's
//! `tcp_wmem[0]`/`tcp_rmem[0]`), so the send buffer takes less from the app and the receive
//! window offered shrinks to what is held. Storage is freed when the ring is dropped.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// The first allocation, bytes (one page), and the storage a ring may always have.
pub(crate) const MIN_ALLOC: usize = 4096;

/// The account of all TCP buffer storage of one stack: what the rings hold together, against
/// `Config::tcp_mem_max`. Cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct MemBudget(Arc<BudgetInner>);

#[derive(Debug)]
struct BudgetInner {
    used: AtomicUsize,
    max: usize,
    denied: AtomicU64,
}

impl MemBudget {
    /// A budget of `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        MemBudget(Arc::new(BudgetInner {
            used: AtomicUsize::new(0),
            max,
            denied: AtomicU64::new(0),
        }))
    }

    /// One shared budget without a limit (rings built outside a stack, in tests).
    fn unlimited() -> Self {
        static UNLIMITED: OnceLock<MemBudget> = OnceLock::new();
        UNLIMITED.get_or_init(|| MemBudget::new(usize::MAX)).clone()
    }

    /// Bytes held by all rings now.
    pub(crate) fn used(&self) -> usize {
        self.0.used.load(Relaxed)
    }

    /// Times a ring was held at its size because the budget was spent.
    pub(crate) fn denied(&self) -> u64 {
        self.0.denied.load(Relaxed)
    }

    fn spent(&self) -> bool {
        self.used() >= self.0.max
    }

    fn under_pressure(&self) -> bool {
        self.used() > self.0.max / 2
    }

    fn take(&self, n: usize) {
        self.0.used.fetch_add(n, Relaxed);
    }

    fn give(&self, n: usize) {
        self.0.used.fetch_sub(n, Relaxed);
    }
}

/// A ring's storage: `len()` (via `Deref`) is what is allocated now, the modulus for positions.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Vec<u8>,
    capacity: usize,
    budget: MemBudget,
}

impl Default for Ring {
    fn default() -> Self {
        Ring::new(0)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.budget.give(self.buf.len());
    }
}

impl Ring {
    /// Empty storage that may grow to `capacity` bytes, outside any budget.
    pub(crate) fn new(capacity: usize) -> Self {
        Ring::with_budget(capacity, MemBudget::unlimited())
    }

    /// Empty storage that may grow to `capacity` bytes, drawing on `budget`.
    pub(crate) fn with_budget(capacity: usize, budget: MemBudget) -> Self {
        Ring {
            buf: Vec::new(),
            capacity,
            budget,
        }
    }

    /// The most storage the ring may use now: its capacity while the budget lasts; once it is
    /// spent, what it holds already, and at least [`MIN_ALLOC`].
    pub(crate) fn limit(&self) -> usize {
        if self.budget.spent() {
            self.buf.len().max(MIN_ALLOC).min(self.capacity)
        } else {
            self.capacity
        }
    }

    /// Notes that a write wanted more than [`limit`](Self::limit) allowed (counted once per
    /// refusal, in `Stats::tcp_mem_denied`).
    pub(crate) fn note_denied(&self) {
        self.budget.0.denied.fetch_add(1, Relaxed);
    }

    /// Under memory pressure, gives the storage of an empty ring back (the caller holds no
    /// bytes in it and resets its head to 0).
    pub(crate) fn release_if_pressed(&mut self) {
        if !self.buf.is_empty() && self.budget.under_pressure() {
            self.budget.give(self.buf.len());
            self.buf = Vec::new();
        }
    }

    /// The most the storage may grow to (the buffer's size as the protocol sees it).
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Makes at least `needed` bytes (≤ capacity) of storage exist from ring index `*head` on,
    /// growing to the larger of `needed` and twice the current size (at most the capacity). The
    /// held bytes keep their logical order: the old ring is rotated so `*head` becomes 0.
    pub(crate) fn reserve(&mut self, head: &mut usize, needed: usize) {
        let old = self.buf.len();
        if needed <= old {
            return;
        }
        let new_len = needed
            .max(old.saturating_mul(2))
            .max(MIN_ALLOC)
            .min(self.capacity)
            .max(needed.min(self.capacity));
        let mut buf = vec![0; new_len];
        self.budget.take(new_len - old);
        let h = (*head).min(old);
        buf[..old - h].copy_from_slice(&self.buf[h..]);
        buf[old - h..old].copy_from_slice(&self.buf[..h]);
        self.buf = buf;
        *head = 0;
    }

    /// `pos` reduced modulo the allocated size (0 while nothing is allocated).
    pub(crate) fn wrap(&self, pos: usize) -> usize {
        pos.checked_rem(self.buf.len()).unwrap_or(0)
    }
}

impl Deref for Ring {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for Ring {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_geometrically_and_keeps_the_order() {
        let mut r = Ring::new(20_000);
        let mut head = 0;
        assert_eq!(r.len(), 0);
        r.reserve(&mut head, 10);
        assert_eq!(r.len(), MIN_ALLOC);
        // Fill with a wrapped sequence starting at index 4000.
        head = 4000;
        for i in 0..MIN_ALLOC {
            let p = r.wrap(head + i);
            r[p] = (i % 251) as u8;
        }
        r.reserve(&mut head, MIN_ALLOC + 1);
        assert_eq!((r.len(), head), (2 * MIN_ALLOC, 0));
        for i in 0..MIN_ALLOC {
            assert_eq!(r[i], (i % 251) as u8);
        }
        r.reserve(&mut head, 19_000);
        assert_eq!(r.len(), 19_000, "the need beats doubling (16384)");
        r.reserve(&mut head, 20_000);
        assert_eq!(r.len(), 20_000);
    }

    #[test]
    fn small_and_zero_capacities() {
        let mut r = Ring::new(8);
        let mut head = 0;
        r.reserve(&mut head, 3);
        assert_eq!(r.len(), 8);
        let z = Ring::new(0);
        assert_eq!((z.len(), z.wrap(5)), (0, 0));
    }
}
