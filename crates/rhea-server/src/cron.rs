//! Periodic housekeeping (Redis's serverCron): active expiry of keys nobody
//! reads again, and closing idle clients.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhea_commands::replicated::{Kind, Request};
use rhea_commands::{now_ms, Shared};

/// Keys examined per lock acquisition: small enough that no client waits
/// noticeably behind the expiry cycle.
const CHECKS_PER_STEP: usize = 200;
/// Most of a tick one cycle may spend (Redis: 25% of CPU time).
const CYCLE_BUDGET_PERCENT: u32 = 25;

pub async fn run(shared: Arc<Shared>) {
    let mut first = true;
    loop {
        let hz = shared.config.read().hz.max(1);
        let tick = Duration::from_millis(1000 / hz as u64);
        tokio::time::sleep(tick).await;
        if shared.shutting_down() {
            return;
        }
        // As Redis: no active expiry while clients are paused (CLIENT PAUSE
        // is how a failover freezes the dataset).
        let paused = shared.obs.pause.holds(now_ms(), true).is_some();
        match shared.cluster.get() {
            // Only the leader decides that keys expired, and the log carries
            // the decision: followers hide expired keys but never remove them
            // on their own.
            Some(cluster) if cluster.is_leader() => {
                // Evictions go on during a pause (memory must stay bounded);
                // expiry waits, as in Redis.
                if !paused {
                    propose_expired(&shared, cluster).await;
                }
                propose_evictions(&shared, cluster).await;
            }
            Some(_) => {}
            None if paused => {}
            None => active_expire(&shared, tick * CYCLE_BUDGET_PERCENT / 100),
        }
        rhea_commands::memory::sample_peak(&shared);
        if first {
            // Everything the server needs to run is resident by now.
            rhea_commands::memory::note_fixed_overhead(&shared);
            first = false;
        }
        close_idle_clients(&shared);
    }
}

/// Removes expired keys, a bounded batch at a time, for as long as the
/// batches keep finding more than 10% expired (the same stop rule as Redis),
/// within `budget`.
fn active_expire(shared: &Shared, budget: Duration) {
    let start = Instant::now();
    // A long script holds the store: skip this round rather than block a
    // worker thread that connections (BUSY, SCRIPT KILL) need.
    let Some(ndb) = shared.store.try_lock_for(Duration::from_millis(20)).map(|s| s.dbs.len()) else { return };
    for i in 0..ndb {
        loop {
            let (checked, expired) = {
                let Some(mut store) = shared.store.try_lock_for(Duration::from_millis(20)) else { return };
                let now = now_ms();
                let r = store.dbs[i].active_expire(now, CHECKS_PER_STEP);
                rhea_commands::pubsub::flush_expired(shared, &mut store, None, now);
                r
            };
            if checked == 0 || expired * 10 < checked || start.elapsed() > budget {
                break;
            }
        }
    }
}

/// The leader's active expiry: finds expired keys (a bounded batch per
/// database per tick) and proposes their removal as one entry.
async fn propose_expired(shared: &Shared, cluster: &rhea_cluster::Cluster) {
    let now = now_ms();
    let mut cmds = Vec::new();
    {
        let Some(mut store) = shared.store.try_lock_for(Duration::from_millis(20)) else { return };
        for (i, db) in store.dbs.iter_mut().enumerate() {
            let (_, keys) = db.find_expired(now, CHECKS_PER_STEP);
            let d = bytes::Bytes::from(i.to_string());
            cmds.extend(keys.into_iter().map(|k| vec![d.clone(), bytes::Bytes::copy_from_slice(k.as_bytes())]));
        }
    }
    if cmds.is_empty() {
        return;
    }
    let req = Request { kind: Kind::Expire, resp3: false, db: 0, now_ms: now, seed: 0, cmds };
    if let Err(e) = cluster.propose(req.encode()).await {
        tracing::debug!(error = %e, "proposing expired keys failed; the next tick retries");
    }
}

/// The leader's eviction: victims for what memory is over the limit,
/// proposed as one entry that every node applies.
async fn propose_evictions(shared: &Shared, cluster: &rhea_cluster::Cluster) {
    if shared.maxmemory.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return;
    }
    let now = now_ms();
    let victims = {
        let Some(mut store) = shared.store.try_lock_for(Duration::from_millis(20)) else { return };
        rhea_commands::memory::cluster_victims(shared, &mut store, now, 10_000)
    };
    if victims.is_empty() {
        return;
    }
    let cmds = victims
        .into_iter()
        .map(|(db, k)| vec![bytes::Bytes::from(db.to_string()), bytes::Bytes::copy_from_slice(k.as_bytes())])
        .collect();
    let req = Request { kind: Kind::Evict, resp3: false, db: 0, now_ms: now, seed: 0, cmds };
    if let Err(e) = cluster.propose(req.encode()).await {
        tracing::debug!(error = %e, "proposing evictions failed; the next tick retries");
    }
}

fn close_idle_clients(shared: &Shared) {
    let timeout = shared.config.read().timeout;
    if timeout == 0 {
        return;
    }
    let now = now_ms();
    for c in shared.clients.snapshot() {
        // As Redis: subscribers, MONITOR clients (replicas to Redis) and
        // clients blocked in BLPOP and the like wait by design.
        let waiting = c.blocked.load(Ordering::Relaxed)
            || c.monitor.load(Ordering::Relaxed)
            || c.sub_count.load(Ordering::Relaxed)
                + c.psub_count.load(Ordering::Relaxed)
                + c.ssub_count.load(Ordering::Relaxed)
                > 0;
        let idle = now - c.last_interaction_ms.load(Ordering::Relaxed);
        if !waiting && idle > timeout as i64 * 1000 {
            c.kill();
        }
    }
}

/// Samples the counters behind INFO's instantaneous_* rates every 100 ms,
/// as Redis's serverCron does (16 samples averaged).
pub async fn sample_metrics(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.shutting_down() {
            return;
        }
        let st = &shared.stats;
        shared.obs.sample(
            now_ms(),
            st.total_commands_processed.load(Ordering::Relaxed),
            st.total_net_input_bytes.load(Ordering::Relaxed),
            st.total_net_output_bytes.load(Ordering::Relaxed),
        );
    }
}
