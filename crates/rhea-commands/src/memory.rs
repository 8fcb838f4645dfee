//! `maxmemory` enforcement (Redis's performEvictions) and the figures INFO
//! memory and MEMORY STATS report.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rhea_resp::Out;
use rhea_store::{mem, Store};

use crate::pubsub::{self, notify, SelfOut};
use crate::Shared;

/// Bytes the process holds from its allocator (INFO used_memory). Without
/// the counting allocator (unit tests) the resident size stands in.
pub fn used_memory() -> u64 {
    mem::used_memory().map_or_else(rss_bytes, |n| n as u64)
}

/// Resident set size in bytes, from /proc/self/statm (0 where unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages.saturating_mul(4096))
}

/// Records the current figure in the peak (called from the cron and INFO).
pub fn sample_peak(shared: &Shared) -> u64 {
    let used = used_memory();
    shared.peak_memory.fetch_max(used, Ordering::Relaxed);
    used
}

/// Measures the resident memory the allocator does not account for (see
/// `Shared::fixed_overhead`); the cron calls this once the server is up.
pub fn note_fixed_overhead(shared: &Shared) {
    if let Some(used) = mem::used_memory() {
        shared.fixed_overhead.store(rss_bytes().saturating_sub(used as u64), Ordering::Relaxed);
    }
}

/// The heap budget under `maxmemory`: the limit less the fixed overhead.
/// Redis compares its heap count alone with the limit, and its resident
/// size ends up several MB over; charging the fixed part keeps Rhea's
/// resident size near the limit (tests/eviction.rs, the write flood). At
/// most 1/16 of the limit is charged: no limit below the process's own
/// footprint (~5 MB) can bound its resident size anyway, and charging all of
/// it would leave a small limit no room for data.
pub fn heap_budget(shared: &Shared, max: u64) -> u64 {
    max.saturating_sub(shared.fixed_overhead.load(Ordering::Relaxed).min(max / 16)).max(1)
        + not_counted_for_evict(shared)
}

/// Heap that is not the dataset's and that eviction leaves out (INFO
/// mem_not_counted_for_evict): what a cluster node held before any data,
/// and its Raft log's entries, which compaction frees, not eviction.
pub fn not_counted_for_evict(shared: &Shared) -> u64 {
    shared.not_counted_for_evict.load(Ordering::Relaxed) + rhea_cluster::storage::log_bytes_in_process()
}

/// What a cluster node with no data holds for Raft now: the heap so far,
/// less the log's entries (counted apart), plus room for its buffers. The
/// baseline `Shared::not_counted_for_evict` is set to.
pub fn raft_baseline() -> u64 {
    used_memory().saturating_sub(rhea_cluster::storage::log_bytes_in_process()) + rhea_cluster::storage::CACHE_BYTES
}

/// Is memory over `maxmemory` (after what eviction could do)?
pub fn over_limit(shared: &Shared) -> bool {
    let max = shared.maxmemory.load(Ordering::Relaxed);
    max != 0 && mem::used_memory().is_some_and(|u| u as u64 > heap_budget(shared, max))
}

/// Evicts keys until memory is back under `maxmemory`, as Redis does before
/// every command. Returns false if it cannot (noeviction, or nothing left
/// that the policy may evict): the caller then refuses commands that may
/// grow memory with `-OOM`. Victims are chosen by the store
/// (`Store::pick_victims`) and deleted here one at a time, re-reading the
/// allocator's count after each, so exactly as many go as needed.
pub fn perform_evictions(shared: &Shared, me: &mut SelfOut, now_ms: i64) -> bool {
    let max = shared.maxmemory.load(Ordering::Relaxed);
    if max == 0 {
        return true;
    }
    // Only the counting allocator's figure is cheap enough to read per
    // command; without it (unit tests) there is nothing to enforce.
    let Some(used) = mem::used_memory() else { return true };
    let max = heap_budget(shared, max);
    if used as u64 <= max {
        return true;
    }
    // In a cluster, a node deleting keys on its own would leave the
    // replicas different: the leader's cron proposes evictions through the
    // log (`cluster_victims`). Meanwhile writes go on while memory is within
    // 10% over the limit, as long as the policy may evict at all.
    if shared.cluster.get().is_some() {
        let evicting = shared.store.lock().eviction().policy != rhea_store::evict::Policy::NoEviction;
        let max = heap_budget(shared, shared.maxmemory.load(Ordering::Relaxed));
        return evicting && (used as u64) <= max.saturating_add(max / 10);
    }
    // A running script holds the store: like Redis inside a busy script,
    // skip eviction rather than wait (the command will get BUSY anyway).
    let Some(mut store) = shared.store.try_lock_for(Duration::from_millis(10)) else { return true };
    evict_until(shared, &mut store, me, max, now_ms)
}

fn evict_until(shared: &Shared, store: &mut Store, me: &mut SelfOut, max: u64, now_ms: i64) -> bool {
    let cfg = *store.eviction();
    let mut rng = fastrand::Rng::with_seed(fastrand::u64(..));
    let flags = shared.config.read().notify_keyspace_events;
    loop {
        if mem::used_memory().is_none_or(|u| u as u64 <= max) {
            return true;
        }
        let victims = store.pick_victims(&cfg, now_ms, &mut rng, 1);
        if victims.is_empty() {
            return false;
        }
        for (db, key) in victims {
            if store.evict(db, &key) {
                pubsub::notify_event(shared, flags, notify::EVICTED, "evicted", &key, db, Some(me), now_ms);
            }
        }
    }
}

/// The leader's eviction round in a cluster: enough victims (by the
/// policy) to bring memory back under the limit, estimated from their
/// sizes, at most `cap`. The log carries them to every node as deletes.
pub fn cluster_victims(shared: &Shared, store: &mut Store, now_ms: i64, cap: usize) -> Vec<(usize, rhea_store::Sds)> {
    let max = shared.maxmemory.load(Ordering::Relaxed);
    let Some(used) = mem::used_memory() else { return Vec::new() };
    let budget = heap_budget(shared, max);
    if max == 0 || used as u64 <= budget {
        return Vec::new();
    }
    let mut to_free = used as u64 - budget;
    let cfg = *store.eviction();
    let mut rng = fastrand::Rng::with_seed(fastrand::u64(..));
    let mut victims: Vec<(usize, rhea_store::Sds)> = Vec::new();
    while to_free > 0 && victims.len() < cap {
        let picked = store.pick_victims(&cfg, now_ms, &mut rng, 16);
        let fresh: Vec<_> = picked.into_iter().filter(|v| !victims.contains(v)).collect();
        if fresh.is_empty() {
            break;
        }
        for (db, key) in fresh {
            let size = store.dbs.get(db).and_then(|d| d.memory_usage(&key)).unwrap_or(64) as u64;
            to_free = to_free.saturating_sub(size);
            victims.push((db, key));
        }
    }
    victims
}

/// Applies an eviction decided by the leader: deletes what still exists
/// and publishes `evicted`.
pub fn apply_evictions(shared: &Shared, store: &mut Store, me: &mut SelfOut, victims: &[(usize, &[u8])], now_ms: i64) {
    let flags = shared.config.read().notify_keyspace_events;
    for (db, key) in victims {
        if store.evict(*db, key) {
            pubsub::notify_event(shared, flags, notify::EVICTED, "evicted", key, *db, Some(me), now_ms);
        }
    }
}

/// Redis's shared OOM error.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Memory figures shared by INFO memory and MEMORY STATS.
pub struct Figures {
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
    /// Bookkeeping rather than data: the startup figure plus the keyspace
    /// tables' slots (key and entry headers, hash index).
    pub overhead: u64,
    pub keys: u64,
    /// Per database with keys: (db, table overhead in bytes).
    pub db_overhead: Vec<(usize, u64)>,
}

impl Figures {
    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead)
    }

    pub fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset() as f64 * 100.0 / net as f64
        }
    }

    pub fn peak_perc(&self) -> f64 {
        if self.peak == 0 {
            100.0
        } else {
            self.used as f64 * 100.0 / self.peak as f64
        }
    }

    pub fn frag_ratio(&self) -> f64 {
        if self.used == 0 {
            0.0
        } else {
            self.rss as f64 / self.used as f64
        }
    }
}

/// Bytes a key slot takes in a database table, values aside.
const SLOT_BYTES: u64 = 8 + 24 + 40 + 9;

pub fn figures(shared: &Shared, store: &Store) -> Figures {
    let used = sample_peak(shared);
    let db_overhead: Vec<(usize, u64)> = store
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.len() as u64 * SLOT_BYTES))
        .collect();
    let startup = shared.startup_memory;
    Figures {
        used,
        rss: rss_bytes(),
        peak: shared.peak_memory.load(Ordering::Relaxed).max(used),
        startup,
        overhead: startup + db_overhead.iter().map(|(_, b)| b).sum::<u64>(),
        keys: store.total_keys() as u64,
        db_overhead,
    }
}

/// MEMORY STATS, with Redis's field names and order.
pub fn write_stats(shared: &Shared, store: &Store, out: &mut Out) {
    let f = figures(shared, store);
    let fields = 27 + f.db_overhead.len();
    out.map(fields);
    let int = |out: &mut Out, name: &str, v: u64| {
        out.bulk_str(name);
        out.int(v as i64);
    };
    int(out, "peak.allocated", f.peak);
    int(out, "total.allocated", f.used);
    int(out, "startup.allocated", f.startup);
    for name in ["replication.backlog", "clients.slaves", "clients.normal", "cluster.links", "aof.buffer"] {
        int(out, name, 0);
    }
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (db, bytes) in &f.db_overhead {
        out.bulk_str(&format!("db.{db}"));
        out.map(3);
        int(out, "overhead.hashtable.main", *bytes);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", f.overhead);
    int(out, "keys.count", f.keys);
    let net = f.used.saturating_sub(f.startup);
    int(out, "keys.bytes-per-key", net.checked_div(f.keys).unwrap_or(0));
    int(out, "dataset.bytes", f.dataset());
    let dbl = |out: &mut Out, name: &str, v: f64| {
        out.bulk_str(name);
        out.double(v);
    };
    dbl(out, "dataset.percentage", f.dataset_perc());
    dbl(out, "peak.percentage", f.peak_perc());
    int(out, "allocator.allocated", f.used);
    int(out, "allocator.active", f.used);
    int(out, "allocator.resident", f.rss);
    dbl(out, "allocator-fragmentation.ratio", 1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    dbl(out, "allocator-rss.ratio", f.frag_ratio());
    int(out, "allocator-rss.bytes", f.rss.saturating_sub(f.used));
    dbl(out, "rss-overhead.ratio", 1.0);
    int(out, "rss-overhead.bytes", 0);
    dbl(out, "fragmentation", f.frag_ratio());
    int(out, "fragmentation.bytes", f.rss.saturating_sub(f.used));
}
