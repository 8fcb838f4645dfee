//! The sorted set type.

use ahash::RandomState;
use indexmap::IndexMap;

use crate::sds::Sds;

/// Members with their scores. The ordered index that gives O(log n) rank
/// and range queries is built with the sorted-set commands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    pub scores: IndexMap<Sds, f64, RandomState>,
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// What OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    pub fn heap_size(&self) -> usize {
        self.len() * 48 + self.scores.keys().map(Sds::heap_size).sum::<usize>()
    }
}
