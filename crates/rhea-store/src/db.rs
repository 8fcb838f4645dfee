use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ahash::RandomState;

use crate::keytable::KeyTable;
use crate::{sds::Sds, value::Value};

/// One key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means none. Private so the
    /// database's count of volatile keys cannot drift.
    expire_at: i64,
    /// Last access, in seconds of the LRU clock (OBJECT IDLETIME, eviction).
    pub lru: u32,
    /// Set when a string was modified in place (APPEND, SETRANGE): Redis then
    /// reports its encoding as "raw" whatever its content.
    pub raw: bool,
    /// Set when a string was stored without Redis's integer-encoding attempt
    /// (INCRBYFLOAT's result): OBJECT ENCODING then says "embstr" or "raw"
    /// by length even if the text is an integer.
    pub no_int_encoding: bool,
    /// Set on a private copy of a small integer (COPY): Redis shares small
    /// integer objects, but not copies, so OBJECT REFCOUNT is 1.
    pub unshared: bool,
}

impl Entry {
    /// An entry with every field given (snapshot restore).
    pub(crate) fn from_parts(
        value: Value,
        expire_at: i64,
        lru: u32,
        raw: bool,
        no_int_encoding: bool,
        unshared: bool,
    ) -> Self {
        Entry { value, expire_at, lru, raw, no_int_encoding, unshared }
    }

    pub fn expire_at(&self) -> Option<i64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    fn is_expired(&self, now: i64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }
}

/// Which keys a SCAN returns.
#[derive(Default)]
pub struct ScanFilter<'a> {
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

/// One numbered database.
///
/// The keyspace is a `KeyTable`: a hash index over a dense vector of
/// entries, as an `IndexMap` is. The dense vector gives O(1) uniform
/// random sampling (RANDOMKEY, eviction, active expiry) and a SCAN cursor
/// that is just a position:
/// cursors walk positions downwards, and because removal moves the *last*
/// entry into the hole, an entry present for a whole scan is always seen.
#[derive(Debug, Default)]
pub struct Db {
    map: KeyTable<Entry>,
    volatile: usize,
    expire_cursor: usize,
    /// Keys removed because their TTL passed (INFO `expired_keys`).
    pub expired_keys: u64,
    /// The keys expired since the command layer last took them, in order,
    /// for `expired` keyspace notifications (see `take_expired`).
    expired_log: Vec<Sds>,
    /// Raised with every entry of `expired_log`; one flag for all the
    /// databases of a store (see `Store::take_expired_pending`).
    expired_flag: ExpiredFlag,
    /// Keys some client WATCHes: (version, number of watchers). Every change
    /// to such a key gets a new version, so EXEC can tell it was modified.
    watched: HashMap<Sds, (u64, u32), RandomState>,
    last_version: u64,
    /// The `lru` fields hold LFU counters: overwriting a key keeps its
    /// counter, as Redis's dbOverwrite does.
    pub(crate) lfu: bool,
    /// Lookups hide expired keys but do not remove them (see
    /// `Store::set_keep_expired`).
    keep_expired: bool,
}

/// "Some database of this store logged an expired key": the command layer
/// checks it after every command, where scanning 16 logs cost ~120
/// instructions (16 cache lines) each time.
#[derive(Debug, Default, Clone)]
pub(crate) struct ExpiredFlag(Arc<AtomicBool>);

impl ExpiredFlag {
    fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Was it raised since the last call? Lowers it.
    pub(crate) fn take(&self) -> bool {
        // A plain load first: the flag is nearly always down, and then
        // nothing is written.
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::Relaxed)
    }
}

impl Db {
    /// A database that raises `flag` when it logs an expired key.
    pub(crate) fn with_expired_flag(flag: &ExpiredFlag) -> Self {
        Db { expired_flag: flag.clone(), ..Db::default() }
    }

    pub(crate) fn set_expired_flag(&mut self, flag: &ExpiredFlag) {
        self.expired_flag = flag.clone();
        if !self.expired_log.is_empty() {
            flag.raise();
        }
    }

    fn log_expired(&mut self, key: Sds) {
        self.expired_log.push(key);
        self.expired_flag.raise();
    }

    /// Is an `expired` notification pending for this database?
    pub fn has_expired(&self) -> bool {
        !self.expired_log.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys with a TTL (INFO keyspace `expires=`).
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// The live entry for `key`, without side effects: an expired key is
    /// reported missing but not removed.
    pub fn get(&self, key: &[u8], now: i64) -> Option<&Entry> {
        self.map.get(key).filter(|e| !e.is_expired(now))
    }

    /// The live entry for `key`, removing it first if it has expired (lazy
    /// expiry).
    pub fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Entry> {
        let i = self.live_index(key, now)?;
        self.entry_at_mut(i)
    }

    /// Where `key`'s live entry is (an expired one is removed, as
    /// `get_mut` does). One hash lookup, then positional access with
    /// `entry_at_mut` and `insert_at`: this is on every command's path, and
    /// on a large keyspace the lookup is a cache miss.
    pub fn live_index(&mut self, key: &[u8], now: i64) -> Option<usize> {
        let i = self.map.get_index_of(key)?;
        if self.map.get_index(i).is_some_and(|(_, e)| e.is_expired(now)) {
            if self.keep_expired {
                return None;
            }
            self.remove(key);
            self.expired_keys += 1;
            self.log_expired(Sds::new(key));
            return None;
        }
        Some(i)
    }

    /// Prefetching a batch of keys, so that their cache misses overlap
    /// instead of being waited for one command at a time: take each key's
    /// `key_hash`, call `prefetch_slot` for all of them, then
    /// `prefetch_entry` for all of them, then run the batch. Neither call
    /// changes anything.
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.map.hash(key)
    }

    pub fn prefetch_slot(&self, hash: u64) {
        self.map.prefetch_slot(hash);
    }

    pub fn prefetch_entry(&self, hash: u64) {
        self.map.prefetch_entry(hash);
    }

    pub fn entry_at_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.map.get_index_mut(i).map(|(_, e)| e)
    }

    /// Removes `key` if its TTL has passed; true if it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now: i64) -> bool {
        match self.map.get(key) {
            Some(e) if e.is_expired(now) && !self.keep_expired => {
                self.remove(key);
                self.expired_keys += 1;
                self.log_expired(Sds::new(key));
                true
            }
            _ => false,
        }
    }

    /// True if `key` is still stored but its TTL has passed (WATCH treats a
    /// key that expires while watched as modified).
    pub fn is_expired_present(&self, key: &[u8], now: i64) -> bool {
        self.map.get(key).is_some_and(|e| e.is_expired(now))
    }

    /// The stored entry for `key`, expired or not.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// The entry at a position of the dense table (sampling).
    pub fn entry_at(&self, i: usize) -> Option<(&Sds, &Entry)> {
        self.map.get_index(i)
    }

    /// Bytes a key takes (MEMORY USAGE): its slot in the table (the cached
    /// hash, key and entry, and about 11 bytes of hash index: 8-byte slots
    /// between 3/8 and 3/4 full) plus what key and value hold on the heap.
    pub fn memory_usage(&self, key: &[u8]) -> Option<usize> {
        let (k, e) = self.map.get_key_value(key)?;
        let slot = 8 + std::mem::size_of::<Sds>() + std::mem::size_of::<Entry>() + 11;
        Some(slot + k.heap_size() + e.value.heap_size())
    }

    pub fn contains(&self, key: &[u8], now: i64) -> bool {
        self.get(key, now).is_some()
    }

    /// Stores `value` under `key` with the given absolute expiry (0 = none),
    /// replacing whatever was there.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: i64, lru: u32) {
        let at = self.map.get_index_of(key);
        self.insert_at(at, key, value, expire_at, lru);
    }

    /// `insert` where the caller already looked `key` up: `at` is its
    /// index (from `live_index`, with nothing removed since) or None if the
    /// key is absent.
    pub fn insert_at(&mut self, at: Option<usize>, key: &[u8], value: Value, expire_at: i64, lru: u32) {
        let entry = Entry { value, expire_at, lru, raw: false, no_int_encoding: false, unshared: false };
        if expire_at != 0 {
            self.volatile += 1;
        }
        // A slot that no longer holds the key is looked up again rather
        // than trusted.
        let at = match at {
            Some(i) if self.map.get_index(i).is_some_and(|(k, _)| k.as_bytes() == key) => Some(i),
            Some(_) => self.map.get_index_of(key),
            None => None,
        };
        if let Some(old) = at.and_then(|i| self.map.get_index_mut(i)).map(|(_, e)| e) {
            if old.expire_at != 0 {
                self.volatile -= 1;
            }
            let mut entry = entry;
            if self.lfu {
                entry.lru = old.lru;
            }
            *old = entry;
        } else {
            self.map.insert(Sds::new(key), entry);
        }
        self.touch(key);
    }

    /// Re-inserts an entry taken from elsewhere (RENAME, MOVE, COPY, SWAPDB).
    pub fn insert_entry(&mut self, key: Sds, entry: Entry) {
        self.touch(&key);
        if entry.expire_at != 0 {
            self.volatile += 1;
        }
        if let Some(old) = self.map.insert(key, entry) {
            if old.expire_at != 0 {
                self.volatile -= 1;
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.swap_remove(key)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        self.touch(key);
        Some(e)
    }

    /// Removes and returns the key and entry (keeping the stored key).
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Sds, Entry)> {
        let (k, e) = self.map.swap_remove_entry(key)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        self.touch(key);
        Some((k, e))
    }

    /// Sets (`at` > 0) or clears (`at` == 0) the expiry of an existing key.
    /// Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at: i64) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        match (e.expire_at != 0, at != 0) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        e.expire_at = at;
        self.touch(key);
        true
    }

    /// Removes every key; returns how many there were.
    pub fn clear(&mut self) -> usize {
        self.touch_watched_present(None);
        let n = self.map.len();
        self.map = KeyTable::default();
        self.volatile = 0;
        self.expire_cursor = 0;
        n
    }

    /// Iterates live keys and entries (KEYS, DEBUG, snapshots).
    pub fn iter(&self, now: i64) -> impl Iterator<Item = (&Sds, &Entry)> {
        self.map.iter().filter(move |(_, e)| !e.is_expired(now))
    }

    /// One SCAN step: visits about `count` positions below `cursor` (0 =
    /// start), calls `f` for each live key passing `filter`, and returns the
    /// next cursor (0 = done).
    pub fn scan(&self, cursor: u64, count: usize, now: i64, filter: &ScanFilter, mut f: impl FnMut(&Sds)) -> u64 {
        let len = self.map.len() as u64;
        let mut pos = if cursor == 0 || cursor > len { len } else { cursor };
        let mut visited = 0;
        while pos > 0 && visited < count.max(1) {
            pos -= 1;
            visited += 1;
            let Some((k, e)) = self.map.get_index(pos as usize) else {
                continue;
            };
            if e.is_expired(now) {
                continue;
            }
            if let Some(p) = filter.pattern {
                if !crate::glob_match(p, k, false) {
                    continue;
                }
            }
            if let Some(t) = filter.type_name {
                if !e.value.type_name().as_bytes().eq_ignore_ascii_case(t) {
                    continue;
                }
            }
            f(k);
        }
        pos
    }

    /// A uniformly random live key. Expired keys met on the way are removed
    /// when `delete_expired` (the node that owns expiry) is set.
    pub fn random_key(&mut self, now: i64, delete_expired: bool, rng: &mut fastrand::Rng) -> Option<Sds> {
        for _ in 0..100 {
            if self.map.is_empty() {
                return None;
            }
            let i = rng.usize(..self.map.len());
            let (k, e) = self.map.get_index(i)?;
            if !e.is_expired(now) {
                return Some(k.clone());
            }
            if !delete_expired {
                continue;
            }
            let k = k.clone();
            self.remove(&k);
            self.expired_keys += 1;
            self.log_expired(k);
        }
        None
    }

    /// See `Store::set_keep_expired`.
    pub fn set_keep_expired(&mut self, keep: bool) {
        self.keep_expired = keep;
    }

    /// Takes the keys expired (lazily or actively) since the last call.
    pub fn take_expired(&mut self) -> Vec<Sds> {
        std::mem::take(&mut self.expired_log)
    }

    /// Marks `key` modified for WATCH. Structural changes (insert, remove,
    /// expiry) do this themselves; commands that modify a value in place
    /// through `get_mut` (APPEND, INCR, LPUSH...) must call it.
    pub fn touch(&mut self, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        if let Some(w) = self.watched.get_mut(key) {
            self.last_version += 1;
            w.0 = self.last_version;
        }
    }

    /// Registers one more watcher of `key`; returns its current version.
    pub fn watch(&mut self, key: &[u8]) -> u64 {
        let w = self.watched.entry(Sds::new(key)).or_insert((0, 0));
        w.1 += 1;
        w.0
    }

    /// Drops one watcher of `key`.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = self.watched.get_mut(key) {
            w.1 = w.1.saturating_sub(1);
            if w.1 == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// The version of a watched key (0 if it was never modified while
    /// watched, or is not watched).
    pub fn watched_version(&self, key: &[u8]) -> u64 {
        self.watched.get(key).map_or(0, |w| w.0)
    }

    /// Touches every watched key present here or in `other` (FLUSHDB,
    /// SWAPDB: Redis invalidates only watched keys that existed).
    fn touch_watched_present(&mut self, other: Option<&Db>) {
        let present: Vec<Sds> = self
            .watched
            .keys()
            .filter(|k| self.map.contains_key(k.as_bytes()) || other.is_some_and(|o| o.map.contains_key(k.as_bytes())))
            .cloned()
            .collect();
        for k in present {
            self.touch(&k);
        }
    }

    /// SWAPDB: exchanges the data of two databases. Watchers stay with the
    /// database number they watched, and see the swap as a modification.
    pub fn swap_data(&mut self, other: &mut Db) {
        self.touch_watched_present(Some(other));
        other.touch_watched_present(Some(self));
        std::mem::swap(&mut self.map, &mut other.map);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
        std::mem::swap(&mut self.expire_cursor, &mut other.expire_cursor);
    }

    /// RANDOMKEY on the node that owns expiry: like `random_key(now, true)`
    /// but, as Redis does, keeps sampling (removing the expired keys it
    /// meets) until it finds a live key or the database is empty, so a few
    /// live keys among many expired ones are still found.
    /// With `keep_expired` set it cannot remove them: it gives up (None)
    /// after 100 draws that all met expired keys, as a Redis replica does.
    pub fn random_live_key(&mut self, now: i64, rng: &mut fastrand::Rng) -> Option<Sds> {
        if self.keep_expired {
            return self.random_key(now, false, rng);
        }
        loop {
            if let Some(k) = self.random_key(now, true, rng) {
                return Some(k);
            }
            // Each fruitless round removed the expired keys it sampled, so
            // this terminates.
            if self.map.is_empty() {
                return None;
            }
        }
    }

    /// Active expiry for a replicated keyspace: like `active_expire`, but
    /// only names the expired keys it finds; the leader proposes their
    /// removal through the log instead of removing them itself.
    pub fn find_expired(&mut self, now: i64, max_checks: usize) -> (usize, Vec<Sds>) {
        let mut found = Vec::new();
        if self.volatile == 0 {
            return (0, found);
        }
        let mut checked = 0;
        while checked < max_checks.min(self.map.len()) {
            if self.expire_cursor == 0 || self.expire_cursor > self.map.len() {
                self.expire_cursor = self.map.len();
            }
            self.expire_cursor -= 1;
            checked += 1;
            if let Some((k, e)) = self.map.get_index(self.expire_cursor) {
                if e.is_expired(now) {
                    found.push(k.clone());
                }
            }
        }
        (checked, found)
    }

    /// Active expiry: examines up to `max_checks` entries, continuing where
    /// the last call stopped, and removes the expired ones. Returns
    /// (checked, expired) so the caller can decide whether to go on.
    pub fn active_expire(&mut self, now: i64, max_checks: usize) -> (usize, usize) {
        if self.volatile == 0 {
            return (0, 0);
        }
        let (mut checked, mut expired) = (0, 0);
        while checked < max_checks && self.volatile > 0 {
            if self.expire_cursor == 0 || self.expire_cursor > self.map.len() {
                self.expire_cursor = self.map.len();
            }
            self.expire_cursor -= 1;
            checked += 1;
            let i = self.expire_cursor;
            if self.map.get_index(i).is_some_and(|(_, e)| e.is_expired(now)) {
                if let Some((k, e)) = self.map.swap_remove_index(i) {
                    if e.expire_at != 0 {
                        self.volatile -= 1;
                    }
                    self.touch(&k);
                    self.log_expired(k);
                }
                expired += 1;
                self.expired_keys += 1;
            }
        }
        (checked, expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(Sds::new(v.as_bytes()))
    }

    #[test]
    fn insert_at_a_looked_up_slot_replaces_only_that_key() {
        let mut db = Db::default();
        db.insert(b"a", s("1"), 100, 0);
        db.insert(b"b", s("2"), 0, 0);
        let at = db.live_index(b"a", 0);
        assert!(at.is_some());
        db.insert_at(at, b"a", s("3"), 0, 0);
        assert_eq!(db.volatile, 0);
        assert!(matches!(&db.get_mut(b"a", 0).unwrap().value, Value::Str(v) if v.as_bytes() == b"3"));
        // A slot that no longer holds the key (or none) inserts it instead
        // of overwriting whatever sits there.
        db.insert_at(at, b"c", s("4"), 50, 0);
        assert_eq!(db.len(), 3);
        assert_eq!(db.volatile, 1);
        assert!(matches!(&db.get_mut(b"a", 0).unwrap().value, Value::Str(v) if v.as_bytes() == b"3"));
        assert!(matches!(&db.get_mut(b"c", 0).unwrap().value, Value::Str(v) if v.as_bytes() == b"4"));
        // A stale slot for a key stored elsewhere replaces that key's entry.
        let b = db.live_index(b"b", 0);
        db.insert_at(at, b"b", s("5"), 70, 0);
        assert_eq!(db.live_index(b"b", 0), b);
        assert_eq!(db.len(), 3);
        assert_eq!(db.volatile, 2);
        db.insert_at(at, b"b", s("6"), 0, 0);
        assert_eq!(db.volatile, 1);
        // An expired key has no slot: it is removed and counted.
        assert_eq!(db.live_index(b"c", 60), None);
        assert_eq!(db.len(), 2);
        assert_eq!(db.expired_keys, 1);
    }

    #[test]
    fn lazy_and_active_expiry() {
        let mut db = Db::default();
        db.insert(b"a", s("1"), 100, 0);
        db.insert(b"b", s("2"), 0, 0);
        assert_eq!(db.volatile_len(), 1);
        assert!(db.get(b"a", 99).is_some());
        assert!(db.get(b"a", 100).is_none());
        assert_eq!(db.len(), 2, "get never removes");
        assert!(db.get_mut(b"a", 100).is_none());
        assert_eq!(db.len(), 1);
        assert_eq!(db.volatile_len(), 0);
        for i in 0..100 {
            db.insert(format!("k{i}").as_bytes(), s("v"), if i % 2 == 0 { 50 } else { 0 }, 0);
        }
        let mut total = 0;
        for _ in 0..10 {
            total += db.active_expire(60, 30).1;
        }
        assert_eq!(total, 50);
        assert_eq!(db.len(), 51);
        assert_eq!(db.expired_keys, 51);
    }

    #[test]
    fn random_live_key_finds_a_live_key_among_many_expired() {
        let mut db = Db::default();
        for i in 0..2000 {
            db.insert(format!("dead{i}").as_bytes(), s("v"), 10, 0);
        }
        db.insert(b"live", s("v"), 0, 0);
        assert_eq!(db.random_live_key(20, &mut fastrand::Rng::with_seed(7)).as_deref(), Some(&b"live"[..]));
        assert!(db.len() < 2001, "expired keys met on the way are removed");
        db.remove(b"live");
        assert_eq!(db.random_live_key(20, &mut fastrand::Rng::with_seed(7)), None);
        assert!(db.is_empty());
    }

    #[test]
    fn watched_keys_see_every_kind_of_change() {
        let mut db = Db::default();
        db.insert(b"a", s("1"), 0, 0);
        let v0 = db.watch(b"a");
        let m0 = db.watch(b"missing");
        assert_eq!(db.watched_version(b"a"), v0);
        db.insert(b"other", s("x"), 0, 0);
        assert_eq!(db.watched_version(b"a"), v0, "other keys do not touch a");
        db.set_expire(b"a", 10);
        let v1 = db.watched_version(b"a");
        assert_ne!(v1, v0);
        db.get_mut(b"a", 10);
        assert_ne!(db.watched_version(b"a"), v1, "lazy expiry is a change");
        let mut other = Db::default();
        other.insert(b"missing", s("2"), 0, 0);
        db.swap_data(&mut other);
        assert_ne!(db.watched_version(b"missing"), m0, "swapdb brought the key in");
        db.unwatch(b"a");
        db.unwatch(b"missing");
        assert!(db.watched.is_empty());
    }

    #[test]
    fn scan_sees_every_key_despite_deletes() {
        let mut db = Db::default();
        for i in 0..1000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), 0, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let mut batch = Vec::new();
            cursor = db.scan(cursor, 10, 0, &ScanFilter::default(), |k| batch.push(k.clone()));
            seen.extend(batch.iter().map(|k| k.to_vec()));
            // Delete a key we already returned and one we did not.
            if let Some(k) = batch.first() {
                if k.as_bytes() != b"k7" {
                    db.remove(k);
                }
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(round > 50);
        for i in 0..1000 {
            let k = format!("k{i}");
            if db.contains(k.as_bytes(), 0) {
                assert!(seen.contains(k.as_bytes()), "{k} present throughout but not returned");
            }
        }
    }
}
