//! The generation slab behind every handle table (the socket table, the TCP connection table):
//! slots reused through a free list, each with a generation that moves on when the slot is freed,
//! so a stale handle — an (index, generation) pair — never reaches the slot's next occupant.
//!
//! The slab keeps what every table needs of a slot; the table's own payload `T` stays in place
//! across reuse (the TCP table keeps queue marks there that must outlive an occupant).

use core::ops::{Index, IndexMut};

/// Slots of `T`, each with a generation.
#[derive(Debug)]
pub(crate) struct GenSlab<T> {
    slots: Vec<(u32, T)>,
    free: Vec<u32>,
}

impl<T> Default for GenSlab<T> {
    fn default() -> Self {
        GenSlab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> GenSlab<T> {
    /// A slot for a new occupant: a freed one first, else a new one made by `fresh`. Returns its
    /// index; the caller fills the payload.
    pub(crate) fn alloc(&mut self, fresh: impl FnOnce() -> T) -> u32 {
        match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((0, fresh()));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Frees slot `index`: its generation moves on, so every handle to it goes stale.
    pub(crate) fn release(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.0 = slot.0.wrapping_add(1);
        self.free.push(index);
    }

    /// The current generation of slot `index` (what a handle made now carries).
    pub(crate) fn generation(&self, index: u32) -> u32 {
        self.slots[index as usize].0
    }

    /// The slot a handle names, if it is in range and its generation still matches.
    pub(crate) fn get(&self, index: u32, generation: u32) -> Option<&T> {
        let (g, t) = self.slots.get(index as usize)?;
        (*g == generation).then_some(t)
    }

    /// The slot a handle names, to change, if its generation still matches.
    pub(crate) fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut T> {
        let (g, t) = self.slots.get_mut(index as usize)?;
        (*g == generation).then_some(t)
    }

    /// Slot `index` whatever its generation, if in range.
    pub(crate) fn at(&self, index: u32) -> Option<&T> {
        self.slots.get(index as usize).map(|(_, t)| t)
    }

    /// Slots ever made (free ones included).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Every slot's payload, free ones included.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|(_, t)| t)
    }
}

/// By index, whatever the generation: for a table's own queues, which hold indexes.
impl<T> Index<usize> for GenSlab<T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        &self.slots[index].1
    }
}

impl<T> IndexMut<usize> for GenSlab<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.slots[index].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_miss_the_next_occupant() {
        let mut s: GenSlab<Option<&str>> = GenSlab::default();
        let a = s.alloc(|| None);
        s[a as usize] = Some("a");
        let ga = s.generation(a);
        assert_eq!(s.get(a, ga), Some(&Some("a")));
        s[a as usize] = None;
        s.release(a);
        assert_eq!(s.get(a, ga), None, "a freed slot's old handle is stale");
        let b = s.alloc(|| None);
        assert_eq!(b, a, "freed slots are reused");
        s[b as usize] = Some("b");
        assert_eq!(
            s.get(a, ga),
            None,
            "the old handle does not reach the new occupant"
        );
        assert_eq!(s.get(b, s.generation(b)), Some(&Some("b")));
        assert_eq!(s.get(7, 0), None, "out of range");
        let c = s.alloc(|| None);
        assert_eq!((c, s.len()), (1, 2));
        assert!(s.get_mut(b, ga).is_none());
        assert_eq!(s.iter().count(), 2);
        assert_eq!(s.at(a), Some(&Some("b")));
        assert_eq!(s.at(9), None);
    }
}
