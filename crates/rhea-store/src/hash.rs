//! The hash type. Small hashes keep their fields in insertion order, as
//! Redis's listpack encoding does (HGETALL order is visible to clients);
//! they become a hash table past Redis's thresholds, never going back.

use ahash::RandomState;
use indexmap::IndexMap;

use crate::sds::Sds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hash {
    Listpack(Vec<(Sds, Sds)>),
    Table(IndexMap<Sds, Sds, RandomState>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Vec::new())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(v) => v.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        let pairs: Box<dyn Iterator<Item = (&Sds, &Sds)>> = match self {
            Hash::Listpack(v) => Box::new(v.iter().map(|(f, v)| (f, v))),
            Hash::Table(m) => Box::new(m.iter()),
        };
        self.len() * 56 + pairs.map(|(f, v)| f.heap_size() + v.heap_size()).sum::<usize>()
    }
}
