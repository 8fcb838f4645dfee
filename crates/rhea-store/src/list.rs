//! The list type.

use std::collections::VecDeque;

use crate::sds::Sds;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    pub items: VecDeque<Sds>,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// What OBJECT ENCODING reports: Redis 7.0 lists are always quicklists.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Sds>() + self.items.iter().map(Sds::heap_size).sum::<usize>()
    }
}
