use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use rhea_store::Store;

use crate::{blocking::Blocking, client::ClientRegistry, config::Config, pubsub::PubSub};

/// Wall-clock time in unix milliseconds: the stamp put on each request.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
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
    pub next_client_id: AtomicU64,
    pub started: Instant,
    /// The Lua engine and the running script's status (BUSY, SCRIPT KILL).
    pub scripting: crate::scripting::Scripting,
    /// 40 hex characters, new for each process (INFO run_id).
    pub run_id: String,
    /// The Raft group this node belongs to, when it runs as a cluster node.
    pub cluster: OnceLock<rhea_cluster::Cluster>,
    shutdown: AtomicBool,
    pub shutdown_notify: tokio::sync::Notify,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let run_id = (0..40).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect();
        Shared {
            store: Mutex::new(Store::new(config.databases)),
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
            shutdown: AtomicBool::new(false),
            shutdown_notify: tokio::sync::Notify::new(),
        }
    }

    /// Asks the server to stop (SHUTDOWN, SIGTERM).
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.shutdown_notify.notify_waiters();
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}
