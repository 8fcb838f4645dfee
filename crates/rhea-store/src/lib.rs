//! The keyspace. Every operation here is a deterministic function of the
//! store and its arguments (time is always passed in, never read), so the
//! same sequence of operations gives the same data on every replica.

use std::collections::{HashMap, VecDeque};

mod db;
pub mod evict;
mod glob;
pub mod hash;
mod keytable;
pub mod list;
pub mod mem;
mod ranktree;
mod sds;
pub mod set;
pub mod snapshot;
mod value;
pub mod zset;

pub use db::{Db, Entry, ScanFilter};
pub use glob::glob_match;
pub use hash::Hash;
pub use list::List;
pub use sds::Sds;
pub use set::Set;
pub use value::Value;
pub use zset::ZSet;

/// Counters the INFO command reports; they live beside the data they count.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    /// Keys removed to stay under `maxmemory` (INFO `evicted_keys`).
    pub evicted_keys: u64,
}

/// All databases of one node (`SELECT 0..databases-1`).
#[derive(Debug)]
pub struct Store {
    pub dbs: Vec<Db>,
    pub stats: Stats,
    /// Keys some client is blocked on (BLPOP...), with how many clients.
    blocked: HashMap<(usize, Sds), u32>,
    /// Blocked-on keys that received data since they were last served, in
    /// the order they did (Redis's `server.ready_keys`).
    pub ready: VecDeque<(usize, Sds)>,
    /// `maxmemory-policy` and its parameters (see `evict`).
    eviction: evict::EvictionConfig,
    /// Eviction candidates kept between picks.
    pool: evict::EvictionPool,
    /// Shared with every database in `dbs`.
    expired: db::ExpiredFlag,
}

impl Store {
    pub fn new(databases: usize) -> Self {
        let expired = db::ExpiredFlag::default();
        Store {
            dbs: (0..databases.max(1)).map(|_| Db::with_expired_flag(&expired)).collect(),
            expired,
            stats: Stats::default(),
            blocked: HashMap::new(),
            ready: VecDeque::new(),
            eviction: evict::EvictionConfig::default(),
            pool: evict::EvictionPool::default(),
        }
    }

    /// On a replicated node, a key whose TTL passed may only be removed by
    /// an applied log entry (the leader's expiry, or a write that meets it
    /// at the entry's time): a read served by one node alone must hide it
    /// but keep it, or that node's keyspace (its size, its order, hence
    /// every later seeded random pick) would differ from the others'.
    /// `keep` makes lookups, RANDOMKEY and `expire_if_needed` do that.
    pub fn set_keep_expired(&mut self, keep: bool) {
        for db in &mut self.dbs {
            db.set_keep_expired(keep);
        }
    }

    /// Did any database log an expired key since the last call? (Then its
    /// `take_expired` has keys.) A database put into `dbs` from elsewhere
    /// must go through `adopt_dbs` for this to see it.
    pub fn take_expired_pending(&self) -> bool {
        self.expired.take()
    }

    /// Replaces the databases (a restored snapshot's), tying them to this
    /// store's expiry flag.
    pub fn adopt_dbs(&mut self, dbs: Vec<Db>) {
        self.dbs = dbs;
        for db in &mut self.dbs {
            db.set_expired_flag(&self.expired);
        }
    }

    /// Empties database `i` (a fresh `Db`, tied to this store).
    pub fn reset_db(&mut self, i: usize) {
        if i < self.dbs.len() {
            self.dbs[i] = Db::with_expired_flag(&self.expired);
        }
    }

    pub fn eviction(&self) -> &evict::EvictionConfig {
        &self.eviction
    }

    /// Changes the eviction settings. Entries keep their `lru` fields: as in
    /// Redis, switching between LRU and LFU makes the old values meaningless
    /// until keys are accessed again.
    pub fn set_eviction(&mut self, cfg: evict::EvictionConfig) {
        if cfg != self.eviction {
            self.pool.clear();
        }
        for db in &mut self.dbs {
            db.lfu = cfg.policy.is_lfu();
        }
        self.eviction = cfg;
    }

    /// How this command's accesses stamp entries.
    pub fn access(&self, now_ms: i64) -> evict::Access {
        evict::Access::new(&self.eviction, now_ms)
    }

    /// Commands that add elements a blocked client may be waiting for
    /// (LPUSH, ZADD, LMOVE...) call this; cheap when nobody is blocked.
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        if self.blocked.is_empty() || !self.blocked.contains_key(&(db, Sds::new(key))) {
            return;
        }
        if !self.ready.iter().any(|(d, k)| *d == db && k.as_bytes() == key) {
            self.ready.push_back((db, Sds::new(key)));
        }
    }

    /// A key moved or copied into `db` (RENAME, MOVE, COPY) wakes clients
    /// blocked on it if it holds a type they pop from, as Redis's `dbAdd`
    /// does.
    pub fn signal_if_poppable(&mut self, db: usize, key: &[u8], now: i64) {
        let poppable = self
            .dbs
            .get(db)
            .and_then(|d| d.get(key, now))
            .is_some_and(|e| matches!(e.value, Value::List(_) | Value::ZSet(_)));
        if poppable {
            self.signal_ready(db, key);
        }
    }

    /// Records one more client blocked on `key`.
    pub fn block_on(&mut self, db: usize, key: &[u8]) {
        *self.blocked.entry((db, Sds::new(key))).or_insert(0) += 1;
    }

    /// Records one client fewer blocked on `key`.
    pub fn unblock_on(&mut self, db: usize, key: &[u8]) {
        let k = (db, Sds::new(key));
        if let Some(n) = self.blocked.get_mut(&k) {
            *n -= 1;
            if *n == 0 {
                self.blocked.remove(&k);
            }
        }
    }

    /// Removes every key of every database; returns how many there were.
    pub fn flush_all(&mut self) -> usize {
        self.dbs.iter_mut().map(|db| db.clear()).sum()
    }

    /// SWAPDB: exchanges the contents of two databases (watchers stay with
    /// their database number). Indexes must be in range.
    pub fn swap_dbs(&mut self, a: usize, b: usize, now: i64) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(hi);
        left[lo].swap_data(&mut right[0]);
        // Clients blocked in either database may now find data (Redis's
        // scanDatabaseForReadyKeys).
        let blocked: Vec<(usize, Sds)> = self.blocked.keys().filter(|(d, _)| *d == a || *d == b).cloned().collect();
        for (d, k) in blocked {
            self.signal_if_poppable(d, &k, now);
        }
    }

    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }
}
