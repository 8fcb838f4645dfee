//! The set type: Redis 7.0's intset (sorted integers, small sets of
//! integers; SMEMBERS then returns them sorted) or a hash table.

use ahash::RandomState;
use indexmap::IndexSet;

use crate::sds::Sds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Set {
    Intset(Vec<i64>),
    Table(IndexSet<Sds, RandomState>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Vec::new())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Intset(v) => v.capacity() * 8,
            Set::Table(s) => s.len() * 40 + s.iter().map(Sds::heap_size).sum::<usize>(),
        }
    }
}
