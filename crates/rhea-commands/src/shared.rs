use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use rhea_store::Store;

use crate::{blocking::Blocking, client::ClientRegistry, config::Config, pubsub::PubSub};

/// Wall-clock time in unix milliseconds: the stamp put on each request.
pub fn now_ms() -> i64 {
    crate::obs::realtime_ms()
}

/// Server-wide counters (INFO stats).
#[derive(Debug, Default)]
pub struct ServerStats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
}

/// State shared by every connection and background task.
pub struct Shared {
    /// The keyspace. One lock for all of it: Redis commands are atomic
    /// across keys (MSET, RENAME, MULTI), and the replicated log (later)
    /// needs a single point where writes are applied in order.
    pub store: Mutex<Store>,
    pub config: RwLock<Config>,
    pub clients: ClientRegistry,
    /// Clients blocked on keys. Locked only while the store is locked.
    pub blocking: Mutex<Blocking>,
    /// Pub/sub subscriptions. Locked after the store when both are needed.
    pub pubsub: Mutex<PubSub>,
    pub stats: ServerStats,
    /// Command statistics, slow log, MONITOR, CLIENT PAUSE.
    pub obs: crate::obs::Obs,
    pub next_client_id: AtomicU64,
    pub started: Instant,
    /// The Lua engine and the running script's status (BUSY, SCRIPT KILL).
    pub scripting: crate::scripting::Scripting,
    /// 40 hex characters, new for each process (INFO run_id).
    pub run_id: String,
    /// The Raft group this node belongs to, when it runs as a cluster node.
    pub cluster: OnceLock<rhea_cluster::Cluster>,
    /// Cluster-node connections blocked on keys (BLPOP...).
    pub wakeups: crate::replicated::Wakeups,
    shutdown: AtomicBool,
    pub shutdown_notify: tokio::sync::Notify,
    /// `maxmemory`, readable without the config lock: every command checks
    /// it (see `memory::perform_evictions`).
    pub maxmemory: AtomicU64,
    /// `used_memory` when the server was set up (INFO used_memory_startup).
    pub startup_memory: u64,
    /// Resident bytes the allocator does not see (code, libraries, thread
    /// stacks), measured once the server is up: charged against
    /// `maxmemory` so that the limit bounds resident memory, not just heap.
    pub fixed_overhead: AtomicU64,
    /// Heap a cluster node holds for Raft (buffers, threads) before any
    /// data: not counted against `maxmemory`, as Redis leaves replication
    /// buffers out; the log's entries are left out apart, as they come and
    /// go (`memory::not_counted_for_evict`).
    pub not_counted_for_evict: AtomicU64,
    /// Highest `used_memory` seen (INFO used_memory_peak).
    pub peak_memory: AtomicU64,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let mut store = Store::new(config.databases);
        store.set_eviction(config.eviction);
        let maxmemory = AtomicU64::new(config.maxmemory);
        let run_id = (0..40).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect();
        let obs = crate::obs::Obs::new(&config);
        Shared {
            obs,
            store: Mutex::new(store),
            config: RwLock::new(config),
            clients: ClientRegistry::default(),
            blocking: Mutex::new(Blocking::default()),
            pubsub: Mutex::new(PubSub::default()),
            stats: ServerStats::default(),
            next_client_id: AtomicU64::new(1),
            started: Instant::now(),
            scripting: crate::scripting::Scripting::default(),
            run_id,
            cluster: OnceLock::new(),
            wakeups: Default::default(),
            shutdown: AtomicBool::new(false),
            shutdown_notify: tokio::sync::Notify::new(),
            maxmemory,
            peak_memory: AtomicU64::new(0),
            fixed_overhead: AtomicU64::new(0),
            not_counted_for_evict: AtomicU64::new(0),
            startup_memory: crate::memory::used_memory(),
        }
    }

    /// Asks the server to stop (SHUTDOWN, SIGTERM).
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.shutdown_notify.notify_waiters();
    }

    /// Makes a new configuration current, and the settings the store and
    /// the dispatcher keep a copy of with it.
    pub fn apply_config(&self, store: &mut Store, cfg: Config) {
        store.set_eviction(cfg.eviction);
        self.maxmemory.store(cfg.maxmemory, Ordering::Relaxed);
        *self.config.write() = cfg;
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}
