//! Eviction as Redis 7.0 does it (evict.c): approximated LRU, LFU and TTL
//! by sampling into a small pool of the best candidates seen so far, or a
//! random key, across all databases.
//!
//! Choosing victims (`Store::pick_victims`) is separate from deleting them
//! (`Store::evict`) so that a leader can choose, replicate the choice as
//! plain deletes, and apply it like any other write. Nothing here reads the
//! clock or draws its own random numbers: both are passed in.

use crate::{Db, Sds, Store};

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// Every policy with its configuration name, in Redis's order.
    pub const ALL: [(Policy, &'static str); 8] = [
        (Policy::VolatileLru, "volatile-lru"),
        (Policy::VolatileLfu, "volatile-lfu"),
        (Policy::VolatileRandom, "volatile-random"),
        (Policy::VolatileTtl, "volatile-ttl"),
        (Policy::AllKeysLru, "allkeys-lru"),
        (Policy::AllKeysLfu, "allkeys-lfu"),
        (Policy::AllKeysRandom, "allkeys-random"),
        (Policy::NoEviction, "noeviction"),
    ];

    pub fn name(self) -> &'static str {
        Policy::ALL.iter().find(|(p, _)| *p == self).map_or("noeviction", |(_, n)| n)
    }

    /// Case-insensitive, as Redis's enum configs are.
    pub fn parse(s: &str) -> Option<Policy> {
        Policy::ALL.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)).map(|(p, _)| *p)
    }

    /// Does the entries' `lru` field hold an LFU counter (else an LRU
    /// clock)?
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    /// Only keys with a TTL may be evicted.
    pub fn is_volatile(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }
}

/// The settings eviction and access tracking read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvictionConfig {
    pub policy: Policy,
    /// `maxmemory-samples`: keys sampled per database per pick.
    pub samples: usize,
    /// `lfu-log-factor`: how slowly the logarithmic counter grows.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes for the counter to lose one point (0 =
    /// never).
    pub lfu_decay_time: u32,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        EvictionConfig { policy: Policy::NoEviction, samples: 5, lfu_log_factor: 10, lfu_decay_time: 1 }
    }
}

/// Redis's 24-bit LRU clock, in seconds.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// The counter a new key starts with under LFU, so that it is not evicted
/// before it had a chance to be read.
pub const LFU_INIT_VAL: u8 = 5;

/// The LRU clock at `now_ms`.
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u64 & LRU_CLOCK_MAX as u64) as u32
}

/// The LFU decay clock (minutes, 16 bits) at `now_ms`.
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u64 & 0xffff) as u32
}

/// Milliseconds since an `lru` stamp (Redis's estimateObjectIdleTime),
/// allowing for the 24-bit clock wrapping once.
pub fn idle_ms(lru: u32, now_ms: i64) -> u64 {
    let clock = lru_clock(now_ms);
    let lru = lru & LRU_CLOCK_MAX;
    let secs = if clock >= lru { clock - lru } else { clock + (LRU_CLOCK_MAX - lru) };
    u64::from(secs) * 1000
}

/// The LFU counter of an `lru` field after the decay due by `now_ms`
/// (Redis's LFUDecrAndReturn): one point per `decay_time` minutes since
/// the last access.
pub fn lfu_count(lru: u32, now_ms: i64, decay_time: u32) -> u8 {
    let ldt = lru >> 8;
    let counter = (lru & 255) as u8;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt { now - ldt } else { 65535 - ldt + now };
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    if periods >= u32::from(counter) {
        0
    } else {
        counter - periods as u8
    }
}

/// Redis's LFULogIncr: the counter grows with probability
/// 1 / ((counter - LFU_INIT_VAL) * log_factor + 1), so it takes about a
/// million accesses to reach 255 at the default factor of 10. `r` is a
/// uniform random number in [0, 1).
pub fn lfu_log_incr(counter: u8, log_factor: u32, r: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// How a command's accesses update entries' `lru` fields, fixed for the
/// whole command: the clock and the policy's kind.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    now_ms: i64,
    lfu: bool,
    log_factor: u32,
    decay_time: u32,
}

impl Access {
    pub fn new(cfg: &EvictionConfig, now_ms: i64) -> Access {
        Access { now_ms, lfu: cfg.policy.is_lfu(), log_factor: cfg.lfu_log_factor, decay_time: cfg.lfu_decay_time }
    }

    /// The `lru` field of a key created now.
    pub fn initial(&self) -> u32 {
        if self.lfu {
            (lfu_minutes(self.now_ms) << 8) | u32::from(LFU_INIT_VAL)
        } else {
            lru_clock(self.now_ms)
        }
    }

    pub fn is_lfu(&self) -> bool {
        self.lfu
    }

    /// Records an access (Redis's updateLFU, or the LRU stamp). `r` gives a
    /// uniform random number in [0, 1), drawn for LFU only.
    pub fn touch(&self, lru: &mut u32, r: impl FnOnce() -> f64) {
        if self.lfu {
            let c = lfu_count(*lru, self.now_ms, self.decay_time);
            let c = lfu_log_incr(c, self.log_factor, r());
            *lru = (lfu_minutes(self.now_ms) << 8) | u32::from(c);
        } else {
            *lru = lru_clock(self.now_ms);
        }
    }
}

/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;

/// The best eviction candidates seen by earlier samplings, kept between
/// picks (Redis's EvictionPoolLRU): with 5 samples per pick the pool makes
/// the approximation much closer to true LRU than the 5 samples alone.
#[derive(Debug, Default)]
pub struct EvictionPool {
    /// (score, db, position, key), ascending by score: the last is evicted
    /// first.
    entries: Vec<(u64, usize, usize, Sds)>,
    /// Next database for the random policies (Redis's static next_db).
    next_db: usize,
}

impl EvictionPool {
    fn insert(&mut self, score: u64, db: usize, pos: usize, key: &Sds) {
        if self.entries.len() == POOL_SIZE && self.entries.first().is_some_and(|(s, ..)| score <= *s) {
            return;
        }
        // A sampled position already in the pool holds the same key (or the
        // one that moved there since, which replaces a stale candidate):
        // deduplicating by position never compares key bytes, which cost a
        // quarter of an evicting SET's instructions when it did.
        if let Some(i) = self.entries.iter().position(|(_, d, p, _)| *d == db && *p == pos) {
            self.entries.remove(i);
        }
        let at = self.entries.partition_point(|(s, ..)| *s < score);
        self.entries.insert(at, (score, db, pos, key.clone()));
        if self.entries.len() > POOL_SIZE {
            self.entries.remove(0);
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The score by which a sampled entry is ranked (higher = evicted first).
fn score(policy: Policy, cfg: &EvictionConfig, e: &crate::Entry, now_ms: i64) -> u64 {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - u64::from(lfu_count(e.lru, now_ms, cfg.lfu_decay_time)),
        Policy::VolatileTtl => u64::MAX - e.expire_at().unwrap_or(i64::MAX).max(0) as u64,
        _ => idle_ms(e.lru, now_ms),
    }
}

impl Db {
    /// Calls `f` with up to `n` sampled entry positions: uniform ones for
    /// all keys; for volatile policies, keys with a TTL met walking from a
    /// random position (which finds them even when they are rare: the walk
    /// costs O(keys / volatile keys), and each volatile key is evicted once).
    fn for_each_sample(&self, volatile: bool, n: usize, rng: &mut fastrand::Rng, mut f: impl FnMut(usize)) {
        let len = self.len();
        if len == 0 || (volatile && self.volatile_len() == 0) {
            return;
        }
        if !volatile {
            for _ in 0..n {
                f(rng.usize(..len));
            }
            return;
        }
        let start = rng.usize(..len);
        let mut found = 0;
        for step in 0..len {
            let i = (start + step) % len;
            if self.entry_at(i).is_some_and(|(_, e)| e.expire_at().is_some()) {
                f(i);
                found += 1;
                if found == n {
                    break;
                }
            }
        }
    }
}

impl Store {
    /// Chooses up to `n` distinct keys to evict under `cfg`, best first,
    /// without changing any data (only the candidate pool). Empty when the
    /// policy is noeviction or nothing may be evicted.
    pub fn pick_victims(
        &mut self,
        cfg: &EvictionConfig,
        now_ms: i64,
        rng: &mut fastrand::Rng,
        n: usize,
    ) -> Vec<(usize, Sds)> {
        let mut chosen: Vec<(usize, Sds)> = Vec::new();
        let volatile = cfg.policy.is_volatile();
        while chosen.len() < n {
            let pick = match cfg.policy {
                Policy::NoEviction => None,
                Policy::AllKeysRandom | Policy::VolatileRandom => self.pick_random(volatile, rng, &chosen),
                _ => self.pick_pooled(cfg, now_ms, rng, &chosen),
            };
            match pick {
                Some(v) => chosen.push(v),
                None => break,
            }
        }
        chosen
    }

    /// A random key (with a TTL if `volatile`), visiting the databases in
    /// turn from where the last pick stopped.
    fn pick_random(
        &mut self,
        volatile: bool,
        rng: &mut fastrand::Rng,
        chosen: &[(usize, Sds)],
    ) -> Option<(usize, Sds)> {
        let ndb = self.dbs.len();
        for _ in 0..ndb {
            let d = self.pool.next_db % ndb;
            self.pool.next_db = self.pool.next_db.wrapping_add(1);
            // A few tries, in case we draw a key already chosen.
            for _ in 0..8 {
                let mut pos = None;
                self.dbs[d].for_each_sample(volatile, 1, rng, |i| pos = Some(i));
                let Some(i) = pos else { break };
                if let Some((k, _)) = self.dbs[d].entry_at(i) {
                    if !chosen.iter().any(|(cd, ck)| *cd == d && ck == k) {
                        return Some((d, k.clone()));
                    }
                }
            }
        }
        None
    }

    /// Samples every database into the pool, then takes the best candidate
    /// that still exists (and still has a TTL, for volatile policies).
    fn pick_pooled(
        &mut self,
        cfg: &EvictionConfig,
        now_ms: i64,
        rng: &mut fastrand::Rng,
        chosen: &[(usize, Sds)],
    ) -> Option<(usize, Sds)> {
        let volatile = cfg.policy.is_volatile();
        let samples = cfg.samples.max(1);
        let (dbs, pool) = (&self.dbs, &mut self.pool);
        for (d, db) in dbs.iter().enumerate() {
            db.for_each_sample(volatile, samples, rng, |i| {
                let Some((k, e)) = db.entry_at(i) else { return };
                if chosen.iter().any(|(cd, ck)| *cd == d && ck == k) {
                    return;
                }
                pool.insert(score(cfg.policy, cfg, e, now_ms), d, i, k);
            });
        }
        while let Some((_, d, pos, k)) = self.pool.entries.pop() {
            let Some(db) = self.dbs.get(d) else { continue };
            // Usually the key is still where it was sampled: one comparison
            // instead of a hash lookup.
            let e = match db.entry_at(pos) {
                Some((at, e)) if *at == k => Some(e),
                _ => db.entry(&k),
            };
            let live = e.is_some_and(|e| !volatile || e.expire_at().is_some());
            if live && !chosen.iter().any(|(cd, ck)| *cd == d && *ck == k) {
                return Some((d, k));
            }
        }
        None
    }

    /// Deletes one chosen victim; false if it no longer exists. Counts it
    /// in `evicted_keys`; the caller publishes the `evicted` event.
    pub fn evict(&mut self, db: usize, key: &[u8]) -> bool {
        let Some(d) = self.dbs.get_mut(db) else { return false };
        if d.remove(key).is_none() {
            return false;
        }
        self.stats.evicted_keys += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn cfg(policy: Policy) -> EvictionConfig {
        EvictionConfig { policy, ..Default::default() }
    }

    fn fill(store: &mut Store, n: usize, lru: impl Fn(usize) -> u32, ttl: impl Fn(usize) -> i64) {
        for i in 0..n {
            store.dbs[0].insert(format!("k{i}").as_bytes(), Value::Str(Sds::new(b"v")), ttl(i), lru(i));
        }
    }

    #[test]
    fn policy_names_round_trip() {
        for (p, n) in Policy::ALL {
            assert_eq!(Policy::parse(n), Some(p));
            assert_eq!(Policy::parse(&n.to_uppercase()), Some(p));
            assert_eq!(p.name(), n);
        }
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut c = LFU_INIT_VAL;
        for _ in 0..100 {
            c = lfu_log_incr(c, 10, rng.f64());
        }
        assert!(c > LFU_INIT_VAL && c < 20, "100 hits at factor 10 give a small counter, got {c}");
        for _ in 0..1_000_000 {
            c = lfu_log_incr(c, 10, rng.f64());
        }
        assert!(c > 200, "a million hits approach the top, got {c}");
        assert_eq!(lfu_log_incr(255, 10, 0.0), 255);
        // Decay: one point per decay_time minutes.
        let at = 1_000 * 60_000;
        let lru = (lfu_minutes(at) << 8) | 30;
        assert_eq!(lfu_count(lru, at, 1), 30);
        assert_eq!(lfu_count(lru, at + 10 * 60_000, 1), 20);
        assert_eq!(lfu_count(lru, at + 10 * 60_000, 5), 28);
        assert_eq!(lfu_count(lru, at + 100 * 60_000, 1), 0);
        assert_eq!(lfu_count(lru, at + 100 * 60_000, 0), 30, "decay time 0 never decays");
    }

    #[test]
    fn idle_time_survives_the_clock_wrapping() {
        let now = (LRU_CLOCK_MAX as i64 + 10) * 1000;
        // Redis counts one second short across the wrap (clock + MAX - lru).
        assert_eq!(idle_ms(LRU_CLOCK_MAX - 5, now), 14_000);
        assert_eq!(idle_ms(lru_clock(now), now), 0);
    }

    #[test]
    fn lru_picks_the_idlest_and_volatile_policies_spare_persistent_keys() {
        let mut store = Store::new(2);
        let now = 10_000_000;
        // Key i was last used i seconds ago; even keys have a TTL.
        fill(&mut store, 1000, |i| lru_clock(now - i as i64 * 1000), |i| if i % 2 == 0 { now + 1_000_000 } else { 0 });
        let mut rng = fastrand::Rng::with_seed(3);
        let v = store.pick_victims(&cfg(Policy::AllKeysLru), now, &mut rng, 50);
        assert_eq!(v.len(), 50);
        let avg: usize = v.iter().map(|(_, k)| k[1..].iter().fold(0usize, |a, d| a * 10 + (d - b'0') as usize)).sum();
        assert!(avg / 50 > 700, "sampled LRU evicts mostly old keys, mean index {}", avg / 50);
        let mut distinct = v.clone();
        distinct.sort_by(|a, b| a.1.cmp(&b.1));
        distinct.dedup();
        assert_eq!(distinct.len(), 50, "victims are distinct");
        for policy in [Policy::VolatileLru, Policy::VolatileRandom, Policy::VolatileTtl, Policy::VolatileLfu] {
            let v = store.pick_victims(&cfg(policy), now, &mut rng, 100);
            assert_eq!(v.len(), 100);
            for (_, k) in &v {
                assert!(store.dbs[0].get(k, now).and_then(|e| e.expire_at()).is_some(), "{policy:?} chose {k:?}");
            }
        }
        assert!(store.pick_victims(&cfg(Policy::NoEviction), now, &mut rng, 1).is_empty());
    }

    #[test]
    fn volatile_ttl_picks_the_nearest_expiry_and_evict_counts() {
        let mut store = Store::new(1);
        let now = 1_000;
        fill(&mut store, 200, |_| 0, |i| if i < 100 { now + 1000 + i as i64 } else { 0 });
        let mut rng = fastrand::Rng::with_seed(9);
        let mut evicted = Vec::new();
        for _ in 0..50 {
            for (d, k) in store.pick_victims(&cfg(Policy::VolatileTtl), now, &mut rng, 1) {
                assert!(store.evict(d, &k));
                evicted.push(String::from_utf8_lossy(&k).into_owned());
            }
        }
        assert_eq!(store.stats.evicted_keys, 50);
        let mean: usize = evicted.iter().map(|k| k[1..].parse::<usize>().unwrap()).sum::<usize>() / 50;
        assert!(mean < 50, "the soonest-expiring go first, mean index {mean}");
        // Only persistent keys left in the end: nothing more to evict.
        for _ in 0..60 {
            for (d, k) in store.pick_victims(&cfg(Policy::VolatileTtl), now, &mut rng, 1) {
                store.evict(d, &k);
            }
        }
        assert_eq!(store.dbs[0].volatile_len(), 0);
        assert_eq!(store.dbs[0].len(), 100);
        assert!(store.pick_victims(&cfg(Policy::VolatileTtl), now, &mut rng, 1).is_empty());
        assert_eq!(store.pick_victims(&cfg(Policy::AllKeysRandom), now, &mut rng, 3).len(), 3);
    }
}
