//! The descriptors of followed files, held by every flow under one cap (`maxOpenFiles`).

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many followed files all flows may hold open at once, and how many they do.
#[derive(Debug)]
pub struct OpenFiles {
    held: AtomicUsize,
    cap: usize,
}

impl OpenFiles {
    /// A budget of `cap` descriptors (at least one).
    pub fn new(cap: usize) -> Arc<OpenFiles> {
        Arc::new(OpenFiles {
            held: AtomicUsize::new(0),
            cap: cap.max(1),
        })
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many descriptors are held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Takes one place under the cap; `None` when every place is taken.
    pub fn acquire(self: &Arc<Self>) -> Option<Slot> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |h| {
                (h < self.cap).then_some(h + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

/// One place under the cap, given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<OpenFiles>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open followed file and its place under the cap: closing it (dropping) frees both.
#[derive(Debug)]
pub struct Held {
    /// The open file.
    pub file: File,
    _slot: Slot,
}

impl Held {
    /// `file`, counted in `slot`.
    pub fn new(file: File, slot: Slot) -> Held {
        Held { file, _slot: slot }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_taken_up_to_the_cap_and_given_back() {
        let budget = OpenFiles::new(2);
        let a = budget.acquire().unwrap();
        let b = budget.acquire().unwrap();
        assert!(budget.acquire().is_none());
        assert_eq!(budget.held(), 2);
        drop(a);
        let f = tempfile::tempfile().unwrap();
        let c = Held::new(f, budget.acquire().unwrap());
        assert!(budget.acquire().is_none());
        drop((b, c));
        assert_eq!(budget.held(), 0);
    }
}
