//! The hash type. Small hashes keep their fields in insertion order, as
//! Redis's listpack encoding does (HGETALL order is visible to clients);
//! they become a hash table past Redis's thresholds, never going back.

use ahash::RandomState;
use indexmap::IndexMap;

use crate::sds::Sds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hash {
    /// Field/value pairs in insertion order; updates keep a field's place
    /// and deletions close the gap, as in a listpack.
    Listpack(Vec<(Sds, Sds)>),
    /// Removal swaps the last entry into the hole, which keeps the
    /// positional SCAN cursor's guarantee (see [`Hash::scan`]). Boxed so
    /// that a small hash, the common one, is not the size of a table.
    Table(Box<IndexMap<Sds, Sds, RandomState>>),
}

/// The listpack thresholds (`hash-max-listpack-entries`,
/// `hash-max-listpack-value`), passed in by the caller since they are
/// settings that can change at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
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
        self.len() * 56 + self.iter().map(|(f, v)| f.heap_size() + v.heap_size()).sum::<usize>()
    }

    pub fn get(&self, field: &[u8]) -> Option<&Sds> {
        match self {
            Hash::Listpack(v) => v.iter().find(|(f, _)| &f[..] == field).map(|(_, v)| v),
            Hash::Table(m) => m.get(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Pairs in encoding order: insertion order for a listpack.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Sds, &Sds)> + '_> {
        match self {
            Hash::Listpack(v) => Box::new(v.iter().map(|(f, v)| (f, v))),
            Hash::Table(m) => Box::new(m.iter()),
        }
    }

    /// The pair at position `i` of the encoding order.
    pub fn get_index(&self, i: usize) -> Option<(&Sds, &Sds)> {
        match self {
            Hash::Listpack(v) => v.get(i).map(|(f, v)| (f, v)),
            Hash::Table(m) => m.get_index(i),
        }
    }

    /// Converts to a hash table for good.
    pub fn convert_to_table(&mut self) {
        if let Hash::Listpack(v) = self {
            let m: IndexMap<Sds, Sds, RandomState> = std::mem::take(v).into_iter().collect();
            *self = Hash::Table(Box::new(m));
        }
    }

    /// Redis's `hashTypeTryConversion`: a listpack becomes a table before a
    /// write when any of the arguments about to be stored is longer than
    /// `max_value` bytes, even if the write then changes nothing.
    pub fn convert_for_args<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, limits: HashLimits) {
        if matches!(self, Hash::Listpack(_)) && args.into_iter().any(|a| a.len() > limits.max_value) {
            self.convert_to_table();
        }
    }

    /// Redis's `hashTypeSet`: sets `field` to `value`; returns true when the
    /// field is new. Converts when the pair is too long for a listpack or
    /// the hash grows past `max_entries`.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if field.len() > limits.max_value || value.len() > limits.max_value {
            self.convert_to_table();
        }
        let created = match self {
            Hash::Listpack(v) => match v.iter_mut().find(|(f, _)| &f[..] == field) {
                Some((_, old)) => {
                    *old = Sds::new(value);
                    false
                }
                None => {
                    // Grown a pair at a time, as a listpack is: doubling
                    // would leave a small hash's vector up to half empty.
                    v.reserve_exact(1);
                    v.push((Sds::new(field), Sds::new(value)));
                    true
                }
            },
            Hash::Table(m) => match m.get_mut(field) {
                Some(old) => {
                    *old = Sds::new(value);
                    false
                }
                None => {
                    m.insert(Sds::new(field), Sds::new(value));
                    true
                }
            },
        };
        if matches!(self, Hash::Listpack(_)) && self.len() > limits.max_entries {
            self.convert_to_table();
        }
        created
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(v) => match v.iter().position(|(f, _)| &f[..] == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(m) => m.swap_remove(field).is_some(),
        }
    }

    /// One HSCAN step over a table: visits about `count` positions below
    /// `cursor` (0 = start) and returns the next cursor (0 = done). Removal
    /// moves the *last* pair into the hole, so walking downwards never skips
    /// a pair present for the whole scan. A listpack is returned whole with
    /// cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Sds, &Sds)) -> u64 {
        match self {
            Hash::Listpack(v) => {
                for (k, val) in v {
                    f(k, val);
                }
                0
            }
            Hash::Table(m) => {
                let len = m.len() as u64;
                let mut pos = if cursor == 0 || cursor > len { len } else { cursor };
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    if let Some((k, val)) = m.get_index(pos as usize) {
                        f(k, val);
                    }
                }
                pos
            }
        }
    }

    /// `count` distinct positions chosen uniformly, for HRANDFIELD with a
    /// positive count smaller than the hash. A listpack reports them in
    /// listpack order (as Redis's `lpRandomPairsUnique`), a table in the
    /// order they were drawn.
    pub fn random_distinct(&self, count: usize, rng: &mut fastrand::Rng) -> Vec<usize> {
        let len = self.len();
        let count = count.min(len);
        let mut idx: Vec<usize> = (0..len).collect();
        // Partial Fisher-Yates: the first `count` slots are a uniform sample.
        for i in 0..count {
            let j = rng.usize(i..len);
            idx.swap(i, j);
        }
        idx.truncate(count);
        if matches!(self, Hash::Listpack(_)) {
            idx.sort_unstable();
        }
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits { max_entries: 4, max_value: 8 };

    /// A small hash holds its pairs and no more: no table, no spare room.
    #[test]
    fn small_hashes_stay_small() {
        let mut h = Hash::default();
        for f in [&b"a"[..], b"b", b"c"] {
            h.set(f, b"v", LIMITS);
        }
        let Hash::Listpack(v) = &h else { panic!("not a listpack") };
        assert_eq!(v.capacity(), 3);
        assert!(std::mem::size_of::<Hash>() <= 32);
    }

    #[test]
    fn listpack_keeps_insertion_order_and_converts_past_max_entries() {
        let mut h = Hash::default();
        for f in ["d", "a", "c", "b"] {
            assert!(h.set(f.as_bytes(), b"v", LIMITS));
        }
        assert!(!h.set(b"a", b"w", LIMITS));
        assert_eq!(h.encoding(), "listpack");
        let order: Vec<&[u8]> = h.iter().map(|(f, _)| &f[..]).collect();
        assert_eq!(order, vec![&b"d"[..], b"a", b"c", b"b"]);
        assert_eq!(h.get(b"a").map(|v| &v[..]), Some(&b"w"[..]));
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        let order: Vec<&[u8]> = h.iter().map(|(f, _)| &f[..]).collect();
        assert_eq!(order, vec![&b"d"[..], b"c", b"b"]);
        h.set(b"e", b"v", LIMITS);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"v", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        // Never back, even when it shrinks.
        for f in ["b", "c", "d", "e"] {
            h.remove(f.as_bytes());
        }
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn long_fields_or_values_convert() {
        let mut h = Hash::default();
        h.set(b"f", b"12345678", LIMITS);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"123456789", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::default();
        h.convert_for_args([&b"short"[..], b"123456789"], LIMITS);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_scan_sees_every_pair_despite_deletes() {
        let mut h = Hash::default();
        let limits = HashLimits { max_entries: 0, max_value: 64 };
        for i in 0..100 {
            h.set(format!("f{i}").as_bytes(), b"v", limits);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let mut batch = Vec::new();
            cursor = h.scan(cursor, 7, |k, _| batch.push(k.to_vec()));
            seen.extend(batch);
            // Delete some of the even fields as the scan goes on.
            for i in (step * 10..step * 10 + 10).filter(|i| i % 2 == 0) {
                h.remove(format!("f{i}").as_bytes());
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in (0..100).filter(|i| i % 2 == 1) {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missed");
        }
    }

    #[test]
    fn random_distinct_is_distinct_and_covers_all_positions() {
        let mut rng = fastrand::Rng::with_seed(7);
        for h in [Hash::default(), Hash::Table(Box::default())] {
            let mut h = h;
            for i in 0..10 {
                h.set(format!("f{i}").as_bytes(), b"v", HashLimits { max_entries: 128, max_value: 64 });
            }
            let mut hits = [0u32; 10];
            for _ in 0..2000 {
                let idx = h.random_distinct(3, &mut rng);
                assert_eq!(idx.len(), 3);
                let set: std::collections::BTreeSet<_> = idx.iter().collect();
                assert_eq!(set.len(), 3, "repeated position in {idx:?}");
                if h.encoding() == "listpack" {
                    assert!(idx.windows(2).all(|w| w[0] < w[1]), "listpack order: {idx:?}");
                }
                for i in idx {
                    hits[i] += 1;
                }
            }
            // 6000 draws over 10 positions: ~600 each.
            assert!(hits.iter().all(|&n| (450..750).contains(&n)), "{hits:?}");
            assert_eq!(h.random_distinct(50, &mut rng).len(), 10);
        }
    }
}
