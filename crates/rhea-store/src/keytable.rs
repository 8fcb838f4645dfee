//! The keyspace's table: a dense vector of (hash, key, value) with an
//! open-addressing index over it. It behaves as an `IndexMap` with
//! `swap_remove` (the positions are the same for the same operations), so
//! sampling and SCAN keep what `Db` documents; what it adds is a lookup
//! that can be split in two prefetchable steps.
//!
//! Why not `IndexMap`: a lookup there is three dependent cache misses (the
//! hashbrown control group, then the index slot beside it, then the entry),
//! and none of their addresses is exposed, so a batch of lookups can only
//! overlap as far as the CPU runs ahead on its own. With 100,000 keys a
//! replica's apply thread spent ~45% of its time in those misses. Here a
//! slot holds 32 bits of the hash and the entry's position, its address
//! follows from the hash, and `prefetch_slot` / `prefetch_entry` let a caller start
//! all the misses of a batch before it needs any of them.

use ahash::RandomState;

use crate::sds::Sds;

/// Grow when more than 3/4 of the slots are used: linear probing stays
/// within a cache line or two (expected 2.5 slots per hit, 8.5 per miss
/// at the limit, half after growing).
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;
const MIN_SLOTS: usize = 8;

#[derive(Debug, Clone)]
struct Bucket<V> {
    hash: u64,
    key: Sds,
    value: V,
}

/// A slot: 0 is empty, otherwise the hash's high 32 bits above the
/// entry's position plus one.
type Slot = u64;

#[derive(Debug, Clone)]
pub(crate) struct KeyTable<V> {
    slots: Vec<Slot>,
    entries: Vec<Bucket<V>>,
    hasher: RandomState,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable { slots: Vec::new(), entries: Vec::new(), hasher: RandomState::new() }
    }
}

#[inline]
fn tag(hash: u64) -> u64 {
    hash >> 32
}

#[inline]
fn slot_of(hash: u64, pos: usize) -> Slot {
    // Positions are below u32::MAX: a database of 2^32 keys would need
    // hundreds of GB for its entry vector alone.
    (tag(hash) << 32) | (pos as u64 + 1)
}

#[inline]
fn slot_pos(s: Slot) -> usize {
    (s & 0xffff_ffff) as usize - 1
}

impl<V> KeyTable<V> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Where a key's probe starts: taken from the bits a slot stores, so
    /// a slot tells its own home without loading its entry (deletion).
    #[inline]
    fn home(&self, hash: u64) -> usize {
        (tag(hash) as usize) & self.mask()
    }

    /// The first slot of `hash`'s probe sequence for which `hit` holds,
    /// looking no further than the first empty slot.
    #[inline]
    fn probe(&self, hash: u64, mut hit: impl FnMut(Slot) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if hit(s) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot index holding `key`, if present.
    #[inline]
    fn find_slot(&self, key: &[u8], hash: u64) -> Option<usize> {
        let t = tag(hash);
        self.probe(hash, |s| s >> 32 == t && self.entries.get(slot_pos(s)).is_some_and(|b| b.key.as_bytes() == key))
    }

    /// The slot index that points at entry `pos` (whose hash is `hash`).
    fn slot_pointing_at(&self, hash: u64, pos: usize) -> Option<usize> {
        let want = slot_of(hash, pos);
        self.probe(hash, |s| s == want)
    }

    pub(crate) fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.get_index_of_hashed(key, self.hash(key))
    }

    #[inline]
    pub(crate) fn get_index_of_hashed(&self, key: &[u8], hash: u64) -> Option<usize> {
        self.find_slot(key, hash).map(|i| slot_pos(self.slots[i]))
    }

    /// First step of a batched lookup: start loading the slot a key's probe
    /// begins at. Has no effect on the table.
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64) {
        if let Some(s) = self.slots.get(self.home(hash)) {
            prefetch(s);
        }
    }

    /// Second step, once the slot is (likely) in cache: start loading the
    /// entry it points at. Reads the probe sequence but not the entry.
    #[inline]
    pub(crate) fn prefetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.mask();
        let t = tag(hash);
        let mut i = self.home(hash);
        // A few slots at most: the first tag match is nearly always the
        // key (a false match only costs a useless prefetch).
        for _ in 0..8 {
            let s = self.slots[i];
            if s == 0 {
                return;
            }
            if s >> 32 == t {
                if let Some(b) = self.entries.get(slot_pos(s)) {
                    prefetch(b);
                }
                return;
            }
            i = (i + 1) & mask;
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        let i = self.get_index_of(key)?;
        self.entries.get(i).map(|b| &b.value)
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.get_index_of(key)?;
        self.entries.get_mut(i).map(|b| &mut b.value)
    }

    pub(crate) fn get_key_value(&self, key: &[u8]) -> Option<(&Sds, &V)> {
        let i = self.get_index_of(key)?;
        self.get_index(i)
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    pub(crate) fn get_index(&self, i: usize) -> Option<(&Sds, &V)> {
        self.entries.get(i).map(|b| (&b.key, &b.value))
    }

    pub(crate) fn get_index_mut(&mut self, i: usize) -> Option<(&Sds, &mut V)> {
        self.entries.get_mut(i).map(|b| (&b.key, &mut b.value))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Sds, &V)> {
        self.entries.iter().map(|b| (&b.key, &b.value))
    }

    /// Stores `value` under `key`: an existing key keeps its position and
    /// the old value is returned; a new one goes last.
    pub(crate) fn insert(&mut self, key: Sds, value: V) -> Option<V> {
        let hash = self.hash(key.as_bytes());
        if let Some(i) = self.find_slot(key.as_bytes(), hash) {
            let pos = slot_pos(self.slots[i]);
            return self.entries.get_mut(pos).map(|b| std::mem::replace(&mut b.value, value));
        }
        self.reserve_one();
        let pos = self.entries.len();
        self.entries.push(Bucket { hash, key, value });
        self.place(slot_of(hash, pos), hash);
        None
    }

    fn reserve_one(&mut self) {
        let need = self.entries.len() + 1;
        if need * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            let n = (self.slots.len() * 2).max(MIN_SLOTS);
            self.rebuild(n);
        }
    }

    fn rebuild(&mut self, n: usize) {
        self.slots = vec![0; n];
        for pos in 0..self.entries.len() {
            let hash = self.entries[pos].hash;
            self.place(slot_of(hash, pos), hash);
        }
    }

    /// Puts a slot value in the first empty slot of its probe sequence.
    fn place(&mut self, s: Slot, hash: u64) {
        let mask = self.mask();
        let mut i = self.home(hash);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = s;
    }

    /// Empties slot `i` and closes the gap (backward-shift deletion), so
    /// no probe sequence is cut short and no tombstones accumulate.
    fn clear_slot(&mut self, mut i: usize) {
        let mask = self.mask();
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            let home = ((s >> 32) as usize) & mask;
            // The slot at j may move back to i unless its home lies in the
            // cyclic range (i, j]: then it is already as close as it can be.
            let in_range = if i <= j { i < home && home <= j } else { i < home || home <= j };
            if !in_range {
                self.slots[i] = s;
                i = j;
            }
        }
        self.slots[i] = 0;
    }

    pub(crate) fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        self.swap_remove_entry(key).map(|(_, v)| v)
    }

    pub(crate) fn swap_remove_entry(&mut self, key: &[u8]) -> Option<(Sds, V)> {
        let hash = self.hash(key);
        let i = self.find_slot(key, hash)?;
        let pos = slot_pos(self.slots[i]);
        self.clear_slot(i);
        self.take_entry(pos)
    }

    pub(crate) fn swap_remove_index(&mut self, pos: usize) -> Option<(Sds, V)> {
        let hash = self.entries.get(pos)?.hash;
        let i = self.slot_pointing_at(hash, pos)?;
        self.clear_slot(i);
        self.take_entry(pos)
    }

    /// Removes entry `pos` (its slot already cleared), moving the last
    /// entry into its place as `IndexMap::swap_remove` does.
    fn take_entry(&mut self, pos: usize) -> Option<(Sds, V)> {
        let last = self.entries.len().checked_sub(1)?;
        if pos != last {
            let h = self.entries[last].hash;
            if let Some(j) = self.slot_pointing_at(h, last) {
                self.slots[j] = slot_of(h, pos);
            }
        }
        let b = self.entries.swap_remove(pos);
        Some((b.key, b.value))
    }
}

#[inline]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the intrinsic's only requirement is the `sse` target
        // feature, which every x86_64 CPU has (it is in the target's
        // baseline, so this build already assumes it). PREFETCHT0 is a hint:
        // it changes no memory or register the program can observe and does
        // not fault even on an invalid address; here the address is a live
        // reference anyway. Measured in bench/README.md ("keyspace lookups").
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((p as *const T).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    /// Random operations on a small key space, against `IndexMap` (the
    /// table it replaces): same answers, same positions.
    #[test]
    fn behaves_as_indexmap_with_swap_remove() {
        for seed in 0..20u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut t: KeyTable<u64> = KeyTable::default();
            let mut m: IndexMap<Vec<u8>, u64> = IndexMap::new();
            let space = [4, 50, 700, 5000][seed as usize % 4];
            for step in 0..20_000u64 {
                let k = format!("k{}", rng.usize(..space)).into_bytes();
                match rng.u8(..10) {
                    0..=3 => assert_eq!(t.insert(Sds::new(&k), step), m.insert(k.clone(), step)),
                    4 | 5 => assert_eq!(t.swap_remove(&k), m.swap_remove(&k)),
                    6 if !m.is_empty() => {
                        let i = rng.usize(..m.len());
                        let got = t.swap_remove_index(i).map(|(k, v)| (k.to_vec(), v));
                        assert_eq!(got, m.swap_remove_index(i));
                    }
                    7 => {
                        let got = t.swap_remove_entry(&k).map(|(k, v)| (k.to_vec(), v));
                        assert_eq!(got, m.swap_remove_entry(&k));
                    }
                    _ => {
                        assert_eq!(t.get_index_of(&k), m.get_index_of(&k));
                        if let Some(v) = t.get_mut(&k) {
                            *v += 1;
                        }
                        if let Some(v) = m.get_mut(&k) {
                            *v += 1;
                        }
                    }
                }
                assert_eq!(t.len(), m.len());
            }
            for (i, (k, v)) in m.iter().enumerate() {
                assert_eq!(t.get_index(i).map(|(k, v)| (k.to_vec(), *v)), Some((k.clone(), *v)));
                assert_eq!(t.get(k), Some(v));
                assert_eq!(t.get_index_of(k), Some(i));
            }
            // Every occupied slot is reachable from its home: a lookup of
            // every key found it above, and nothing else is left over.
            assert_eq!(t.slots.iter().filter(|s| **s != 0).count(), m.len());
        }
    }

    #[test]
    fn prefetching_changes_nothing_and_tolerates_any_hash() {
        let mut t: KeyTable<u32> = KeyTable::default();
        t.prefetch_slot(7);
        t.prefetch_entry(7);
        for i in 0..1000u32 {
            t.insert(Sds::new(format!("key:{i}").as_bytes()), i);
        }
        for h in [0, 1, u64::MAX, t.hash(b"key:5"), t.hash(b"absent")] {
            t.prefetch_slot(h);
            t.prefetch_entry(h);
        }
        assert_eq!(t.get(b"key:5"), Some(&5));
        assert_eq!(t.len(), 1000);
    }
}
