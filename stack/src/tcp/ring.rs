//! Ring storage for the TCP send and receive buffers that grows on demand up to the buffer's
//! capacity (issue 8 #16).
//!
//! Allocating every connection's full `Config::tcp_rx_buffer` / `tcp_tx_buffer` up front looked
//! free (fresh zeroed pages are lazy) until the allocator recycled memory: `vec![0; n]` from a
//! reused heap chunk is zeroed by hand, so each new connection made its whole 2 × 256 KiB
//! resident — 1,000 request/response connections in TIME-WAIT held ~500 MiB. Storage now starts
//! empty and doubles (rotating the held bytes to index 0) when a write needs more, so it follows
//! the data a connection actually buffers; growth copies are amortised O(1) per byte.

use std::ops::{Deref, DerefMut};

/// The first allocation, bytes (one page).
const MIN_ALLOC: usize = 4096;

/// A ring's storage: `len()` (via `Deref`) is what is allocated now, the modulus for positions.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    buf: Vec<u8>,
    capacity: usize,
}

impl Ring {
    /// Empty storage that may grow to `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        Ring {
            buf: Vec::new(),
            capacity,
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
