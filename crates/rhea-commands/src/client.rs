//! Per-connection state. `Client` is owned by the connection's task;
//! `ClientInfo` is the part other connections can see (CLIENT LIST, CLIENT
//! KILL, INFO clients), kept in atomics so updating it per command is cheap.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use parking_lot::Mutex;
use rhea_store::Sds;

use crate::blocking::BlockRequest;
use tokio::sync::mpsc;

/// What every other connection may read about a client.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    /// Unix ms of the last command (CLIENT LIST `idle`).
    pub last_interaction_ms: AtomicI64,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Index in `CommandTable::all` of the last command, plus one (0 = none).
    pub last_cmd: AtomicUsize,
    pub name: Mutex<Option<Bytes>>,
    pub lib_name: Mutex<Option<Bytes>>,
    pub lib_ver: Mutex<Option<Bytes>>,
    /// Set by CLIENT KILL; the connection closes as soon as it sees it.
    pub killed: AtomicBool,
    pub kill_notify: tokio::sync::Notify,
    /// The socket's file descriptor, as CLIENT LIST shows it (-1 until the
    /// listener records it).
    pub fd: AtomicI32,
    /// CLIENT NO-EVICT ON (shown as flag `e`).
    pub no_evict: AtomicBool,
    /// Out-of-band messages for this client (pub/sub messages, RESP3
    /// pushes), already encoded for its protocol, appended by whoever
    /// publishes; the connection takes them all at once. A queue of bytes
    /// rather than a channel of messages: a PUBLISH to 50 subscribers cost
    /// 50 channel sends, wake-ups, pops and shared-buffer refcounts, which
    /// were half the server's CPU in a pipelined PUBLISH benchmark.
    pushes: Mutex<BytesMut>,
    /// Rung when `pushes` goes from empty to not empty, so the connection
    /// wakes once per batch of messages, not once per message.
    doorbell: mpsc::UnboundedSender<()>,
    /// Bytes sent through `push` and not yet written to the socket: the
    /// client's share of output buffer memory that the server holds.
    pub push_pending: AtomicUsize,
    /// When `push_pending` first reached the soft output-buffer limit
    /// (unix ms; 0 = below it).
    pub soft_limit_since_ms: AtomicI64,
    /// Subscriptions to channels, patterns and shard channels (CLIENT LIST
    /// `sub`, `psub`, `ssub`); the registry keeps them up to date.
    pub sub_count: AtomicUsize,
    pub psub_count: AtomicUsize,
    pub ssub_count: AtomicUsize,
    /// Buffer figures for CLIENT LIST, stored by the connection once per
    /// batch of requests (not per command): unparsed input bytes, the
    /// input buffer's capacity and peak, reply bytes not yet written and
    /// the reply buffer's capacity.
    pub qbuf: AtomicUsize,
    pub qbuf_cap: AtomicUsize,
    pub qbuf_peak: AtomicUsize,
    pub obuf: AtomicUsize,
    pub obuf_cap: AtomicUsize,
    /// Commands queued since MULTI (-1 = not in a transaction) and their
    /// argument bytes.
    pub multi: AtomicI64,
    pub multi_mem: AtomicUsize,
    /// Blocked in BLPOP and the like (flag `b`).
    pub blocked: AtomicBool,
    /// In MONITOR mode (flag `O`).
    pub monitor: AtomicBool,
    /// The Raft term in which this node accepted the connection as leader
    /// (0 = accepted as a follower, or the client sent READONLY): such a
    /// client came for the leader, and is closed when this node loses the
    /// leadership so that its pool resolves the leader again.
    pub leader_term: AtomicU64,
}

impl ClientInfo {
    /// A new client's shared state, and the doorbell of its push queue for
    /// the connection to wait on (then `take_pushes`).
    pub fn new(id: u64, addr: String, laddr: String, now_ms: i64) -> (Self, mpsc::UnboundedReceiver<()>) {
        let (doorbell, rx) = mpsc::unbounded_channel();
        let info = ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_interaction_ms: AtomicI64::new(now_ms),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(0),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            killed: AtomicBool::new(false),
            kill_notify: tokio::sync::Notify::new(),
            fd: AtomicI32::new(-1),
            no_evict: AtomicBool::new(false),
            pushes: Mutex::new(BytesMut::new()),
            doorbell,
            push_pending: AtomicUsize::new(0),
            soft_limit_since_ms: AtomicI64::new(0),
            sub_count: AtomicUsize::new(0),
            psub_count: AtomicUsize::new(0),
            ssub_count: AtomicUsize::new(0),
            qbuf: AtomicUsize::new(0),
            qbuf_cap: AtomicUsize::new(0),
            qbuf_peak: AtomicUsize::new(0),
            obuf: AtomicUsize::new(0),
            obuf_cap: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            multi_mem: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            leader_term: AtomicU64::new(0),
        };
        (info, rx)
    }

    /// Queues an out-of-band message; false if the connection is gone.
    pub fn push(&self, msg: &[u8]) -> bool {
        if self.doorbell.is_closed() {
            return false;
        }
        self.push_pending.fetch_add(msg.len(), Ordering::Relaxed);
        let mut q = self.pushes.lock();
        let ring = q.is_empty();
        q.extend_from_slice(msg);
        drop(q);
        // A ring the connection answers after it has already taken these
        // bytes finds the queue empty, which it ignores.
        !ring || self.doorbell.send(()).is_ok()
    }

    /// Appends every queued message to `out`; returns their size.
    pub fn take_pushes(&self, out: &mut BytesMut) -> usize {
        let mut q = self.pushes.lock();
        out.extend_from_slice(&q);
        let n = q.len();
        q.clear();
        n
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_notify.notify_one();
        // Also wakes a connection stuck writing to a client that does not
        // read (a slow subscriber), which waits on a second `notified()`.
        self.kill_notify.notify_waiters();
    }
}

/// A key the client WATCHes.
#[derive(Debug, Clone)]
pub struct WatchedKey {
    pub db: usize,
    pub key: Sds,
    /// `Db::watched_version` when WATCH ran.
    pub version: u64,
    /// The key existed (unexpired) at WATCH time: if it is logically
    /// expired at EXEC, the transaction aborts, as in Redis 7.
    pub live: bool,
}

/// The connection's own state.
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    /// Reply, then close (QUIT, protocol errors, CLIENT KILL of oneself).
    pub close_after_reply: bool,
    pub info: Arc<ClientInfo>,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command was rejected while queuing: EXEC will answer EXECABORT.
    pub multi_dirty: bool,
    /// Running EXEC's queue (or a script): blocking commands must not block.
    pub in_exec: bool,
    pub watched: Vec<WatchedKey>,
    /// Set by a blocking command that found nothing; the dispatcher turns it
    /// into a registration and the connection waits.
    pub block: Option<BlockRequest>,
    /// Being re-run on behalf of a blocked client: must not block again.
    pub serving_blocked: bool,
    /// While `serving_blocked`: the key whose new data triggered the re-run.
    /// Redis serves a blocked client from that key only, and a command that
    /// finds nothing there (emptied or retyped since) calls `Ctx::block`
    /// again to stay blocked instead of replying.
    pub ready_key: Option<Sds>,
    /// Channels plus patterns subscribed to; in RESP2, a subscribed client
    /// may only run (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT and RESET.
    pub subscriptions: usize,
    /// READONLY: reads on a cluster follower run on its own, possibly
    /// stale, state instead of going through a read barrier.
    pub readonly: bool,
    /// Running a script's redis.call: MONITOR shows `lua` as the source.
    pub in_script: bool,
    /// CLIENT REPLY: whether replies are sent.
    pub reply: ReplyMode,
}

/// CLIENT REPLY's states, as Redis's CLIENT_REPLY_OFF/SKIP/SKIP_NEXT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Set by CLIENT REPLY SKIP: that command's reply is not sent, and the
    /// next command's neither.
    SkipNext,
    /// The reply of the command now running is not sent.
    Skip,
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Client {
            id: info.id,
            db: 0,
            authenticated,
            close_after_reply: false,
            info,
            multi: None,
            multi_dirty: false,
            in_exec: false,
            watched: Vec::new(),
            block: None,
            serving_blocked: false,
            ready_key: None,
            subscriptions: 0,
            readonly: false,
            in_script: false,
            reply: ReplyMode::On,
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}

/// Every connected client, by id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    pub clients: DashMap<u64, Arc<ClientInfo>>,
}

impl ClientRegistry {
    pub fn register(&self, info: Arc<ClientInfo>) {
        self.clients.insert(info.id, info);
    }

    pub fn unregister(&self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// A snapshot of the clients, ordered by id as CLIENT LIST shows them.
    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<_> = self.clients.iter().map(|e| e.value().clone()).collect();
        v.sort_by_key(|c| c.id);
        v
    }
}
