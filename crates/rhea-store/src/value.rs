use crate::{hash::Hash, list::List, sds::Sds, set::Set, zset::ZSet};

/// A value in the keyspace. Aggregates are boxed so the common case, a
/// small string, stays inline in the entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Sds),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Approximate bytes held outside the entry, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
        }
    }
}

/// FNV-1a, 64 bits: a digest every node computes alike (no per-process
/// seed), for comparing values across nodes.
struct Fnv(u64);

impl Fnv {
    fn put(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn field(&mut self, b: &[u8]) {
        self.put(&(b.len() as u64).to_le_bytes());
        self.put(b);
    }
}

impl Value {
    /// A digest of the type and the content, in order (a cluster's WATCH
    /// compares the value it saw with the one at EXEC's turn in the log).
    pub fn digest(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        match self {
            Value::Str(s) => {
                h.put(b"s");
                h.field(s.as_bytes());
            }
            Value::List(l) => {
                h.put(b"l");
                for e in l.range(0, -1) {
                    h.field(e.as_bytes());
                }
            }
            Value::Hash(m) => {
                h.put(b"h");
                for (k, v) in m.iter() {
                    h.field(k.as_bytes());
                    h.field(v.as_bytes());
                }
            }
            Value::Set(m) => {
                h.put(b"t");
                for e in m.iter() {
                    match e {
                        crate::set::Member::Int(i) => h.field(&i.to_le_bytes()),
                        crate::set::Member::Bytes(b) => h.field(b),
                    }
                }
            }
            Value::ZSet(z) => {
                h.put(b"z");
                for (m, score) in z.iter_from(0) {
                    h.field(m.as_bytes());
                    h.put(&score.to_bits().to_le_bytes());
                }
            }
        }
        h.0
    }
}
