//! Sizes of the TCP layer's tables, for [`crate::Stack::memory`].

use super::TcpLayer;

/// The TCP part of [`crate::stack::MemoryUsage`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TcpMemory {
    pub(crate) connections: usize,
    pub(crate) time_wait: usize,
    pub(crate) slots: usize,
    pub(crate) buffer_bytes: usize,
    pub(crate) timer_entries: usize,
    pub(crate) replies: usize,
    pub(crate) accept_queued: usize,
}

impl TcpLayer {
    /// What the layer holds now (O(connections + listeners)).
    pub(crate) fn memory(&self) -> TcpMemory {
        TcpMemory {
            connections: self.open,
            time_wait: self.time_wait.len(),
            slots: self.slots.len(),
            buffer_bytes: self.mem.used(),
            timer_entries: self.heap.len(),
            replies: self.replies.len(),
            accept_queued: self.listeners.values().map(|l| l.accept_queue.len()).sum(),
        }
    }
}
