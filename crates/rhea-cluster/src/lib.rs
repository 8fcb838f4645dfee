//! Rhea's replication layer: one Raft group (tikv's raft-rs, driven through
//! `RawNode`) that puts every write in one order on every node.
//!
//! The cluster knows nothing about commands: it carries opaque payloads.
//! A payload is proposed, replicated, committed, and then handed to the
//! node's [`StateMachine`] on every node in log order; on the node that
//! proposed it, what the state machine returns is the proposer's reply.
//! Followers therefore serve writes by proposing them (raft-rs forwards a
//! follower's proposal to the leader), and read barriers (ReadIndex) give
//! linearizable reads on any node.
//!
//! Threads: the Raft thread ticks, steps messages and records each Ready
//! in the log; the sync thread makes the log durable (fsync) meanwhile; the
//! apply thread runs the state machine, so a slow command (a long script)
//! never holds up heartbeats. Peer connections are tokio tasks.

mod apply;
mod node;
mod status;
pub mod storage;
mod transport;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use status::{LeaderView, PeerStatus, Role, Status};
pub use storage::{DiskStorage, LogError, SnapshotFileReader, SnapshotFileWriter};

/// How reads on the leader are made linearizable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// raft-rs ReadIndex with a heartbeat round (ReadOnlyOption::Safe):
    /// linearizable whatever the clocks do.
    Linearizable,
    /// ReadIndex served from the leader's lease (ReadOnlyOption::LeaseBased):
    /// no heartbeat round, linearizable only while clock drift between
    /// nodes stays well under the election timeout.
    Lease,
    /// No barrier: the node's own state, possibly stale.
    Local,
}

/// A node's place in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: u64,
    /// Where this node listens for its peers.
    pub raft_addr: String,
    /// Every initial voter (this node included) and the address this node
    /// dials to reach it.
    pub peers: Vec<(u64, String)>,
    /// Shared secret peers prove they know before any Raft message is read.
    pub secret: String,
    /// The address clients use to reach this node (told to peers so a
    /// follower can say where the leader is).
    pub client_addr: String,
    /// This node's Sentinel-compatible address, announced to peers with
    /// the client address ("" = none).
    pub sentinel_addr: String,
    pub tick: Duration,
    /// Ticks without a leader before a follower campaigns (raft-rs
    /// randomises between this and twice this).
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    pub read_mode: ReadMode,
    /// How long a proposal may wait to be applied before its client is told
    /// the outcome is unknown.
    pub propose_timeout: Duration,
    /// Where the Raft log and snapshots live.
    pub data_dir: std::path::PathBuf,
    /// Keep the log across restarts (fsync once per Ready). Without it the
    /// directory is wiped at start: the node rejoins empty and catches up
    /// from its peers (see `node::Rejoin`).
    pub persist: bool,
    /// Take a snapshot and compact the log once this many bytes of entries
    /// were applied since the last one.
    pub snapshot_bytes: u64,
    /// Entries kept before a snapshot's index when the log is compacted, so
    /// a briefly lagging follower catches up from entries, not a snapshot
    /// (at most `snapshot_bytes / 4` of them: the log is held in memory).
    pub log_tail: u64,
}

impl ClusterConfig {
    /// What this node tells its peers about itself when it dials them:
    /// the client address, then ` sentinel=host:port` if it has one.
    pub(crate) fn announcement(&self) -> String {
        if self.sentinel_addr.is_empty() {
            self.client_addr.clone()
        } else {
            format!("{} sentinel={}", self.client_addr, self.sentinel_addr)
        }
    }

    /// Defaults for a node: 100 ms ticks, elections after 1–2 s without a
    /// leader would be Raft's textbook numbers; Rhea wants failover in about
    /// a second, so ticks are 50 ms and an election starts after 6–12 ticks
    /// (300–600 ms), heartbeats every 50 ms.
    pub fn new(node_id: u64, raft_addr: String, peers: Vec<(u64, String)>) -> Self {
        ClusterConfig {
            node_id,
            raft_addr,
            peers,
            secret: String::new(),
            client_addr: String::new(),
            sentinel_addr: String::new(),
            tick: Duration::from_millis(50),
            election_ticks: 6,
            heartbeat_ticks: 1,
            read_mode: ReadMode::Linearizable,
            propose_timeout: Duration::from_secs(5),
            data_dir: std::path::PathBuf::from(format!("rhea-raft-{node_id}")),
            persist: true,
            snapshot_bytes: 64 << 20,
            log_tail: 10_000,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    /// No leader is known: an election is under way or this node is cut off
    /// from the majority. Retrying later is safe.
    #[error("CLUSTERDOWN No leader")]
    NoLeader,
    /// The proposal was accepted but its fate is unknown (leader change,
    /// timeout): it may or may not have been applied.
    #[error("TRYAGAIN The write may or may not have been applied (leader changed or timed out); check and retry")]
    Unknown,
    #[error("ERR cluster is shutting down")]
    Stopped,
    #[error("ERR bad cluster configuration: {0}")]
    Config(String),
    /// Membership changes are proposed on the leader.
    #[error("ERR not the leader; send this to the leader{}", .0.as_ref().map(|a| format!(" at {a}")).unwrap_or_default())]
    NotLeader(Option<String>),
    #[error("ERR {0}")]
    Refused(String),
}

/// A change of the voting members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    Add { id: u64, raft_addr: String },
    Remove { id: u64 },
}

/// What the cluster writes in front of every payload: the proposing node
/// and its request number (u64 LE each).
const HEADER: usize = 16;

/// A payload being built for [`Cluster::propose`], with room at its front
/// for the header the cluster adds, so proposing it copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    data: Vec<u8>,
}

impl Proposal {
    pub fn with_capacity(payload: usize) -> Self {
        let mut data = Vec::with_capacity(HEADER + payload);
        data.resize(HEADER, 0);
        Proposal { data }
    }

    pub fn extend_from_slice(&mut self, b: &[u8]) {
        self.data.extend_from_slice(b);
    }

    /// The payload so far (what the state machine will be handed).
    pub fn payload(&self) -> &[u8] {
        &self.data[HEADER..]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.data[HEADER..]
    }
}

/// One committed entry, as the state machine sees it.
pub struct Applied {
    pub index: u64,
    pub term: u64,
    /// A slice of the log entry (no copy): what the state machine keeps of
    /// it shares the entry's buffer.
    pub payload: Bytes,
    /// This node proposed it: the return value of `apply` is its reply.
    pub mine: bool,
}

/// What the replicated log drives. Called on the apply thread only, in log
/// order, with every committed entry, on every node.
pub trait StateMachine: Send + 'static {
    /// Applies one entry; returns the proposer's reply (ignored unless
    /// `entry.mine`). Must be deterministic: same entries, same state.
    fn apply(&mut self, entry: Applied) -> Bytes;
    /// Called with the payloads of one log entry before they are applied
    /// one by one: a chance to start loading what they will touch (their
    /// cache misses then overlap). Must not change the state.
    fn prefetch(&mut self, _payloads: &[&[u8]]) {}
    /// Raft's term moved on (a new leader was elected). Called before the
    /// first entry of the new term is applied.
    fn term_changed(&mut self, _term: u64) {}
    /// Writes the whole state, in chunks, to `sink`: called on the apply
    /// thread between entries, so the state is the one at the last applied
    /// index.
    fn snapshot(&mut self, sink: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String>;
    /// Replaces the whole state with the one `source` yields chunk by chunk
    /// (None at the end).
    fn restore(&mut self, source: &mut dyn FnMut() -> Result<Option<Vec<u8>>, String>) -> Result<(), String>;
}

pub(crate) enum Cmd {
    /// One log entry: a single proposal, or a group of them (`req_ids`
    /// lists every proposal it carries, to fail them all if it is refused).
    Propose {
        req_ids: Vec<u64>,
        data: Vec<u8>,
    },
    Read(oneshot::Sender<Result<u64, ClusterError>>),
    Peer(raft::prelude::Message),
    /// Add (with its Raft address) or remove a voter.
    Membership {
        change: Membership,
        tx: oneshot::Sender<Result<(), ClusterError>>,
    },
    Unreachable(u64),
    /// The sync thread made every Ready up to this number durable.
    Persisted(u64),
    /// The apply thread finished a snapshot file at (term, index).
    SnapshotTaken {
        term: u64,
        index: u64,
    },
    /// A snapshot sent to a peer arrived (true) or failed (false).
    SnapshotSent {
        to: u64,
        ok: bool,
    },
    Shutdown,
}

/// A proposal waiting for its entry to be applied.
pub(crate) struct Pending {
    pub(crate) tx: oneshot::Sender<Result<Bytes, ClusterError>>,
    /// The leader this node knew when it proposed: if leadership moves on
    /// before the entry is applied, the proposer is told at once that the
    /// outcome is unknown rather than waiting for the timeout.
    pub(crate) leader_at_propose: u64,
}

pub(crate) struct Inner {
    pub(crate) cfg: ClusterConfig,
    pub(crate) to_raft: std::sync::mpsc::Sender<Cmd>,
    /// Proposals on their way to the grouping task (see `group_proposals`).
    pub(crate) outbox: tokio::sync::mpsc::UnboundedSender<(u64, Proposal)>,
    /// This run's origin, written into every entry it proposes: random,
    /// because request ids start again at 1 on every start, and a node
    /// applies entries its previous run proposed (committed after it died,
    /// or replayed while it catches up); under its node id they would be
    /// taken for this run's requests and answer them with their replies.
    pub(crate) origin: u64,
    pub(crate) next_req: AtomicU64,
    pub(crate) pending: Mutex<HashMap<u64, Pending>>,
    pub(crate) status: status::Shared,
    pub(crate) applied: apply::AppliedIndex,
    pub(crate) mailbox: Arc<apply::Mailbox>,
    pub(crate) storage: DiskStorage,
}

/// A handle on the running node; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl Cluster {
    /// Starts the node: binds the Raft port, spawns the peer connections on
    /// the current tokio runtime and the Raft and apply threads.
    pub async fn start(cfg: ClusterConfig, sm: Box<dyn StateMachine>) -> Result<Cluster, ClusterError> {
        if cfg.node_id == 0 {
            return Err(ClusterError::Config("node-id must be at least 1".into()));
        }
        if !cfg.peers.iter().any(|(id, _)| *id == cfg.node_id) {
            return Err(ClusterError::Config(format!("peers must include this node ({})", cfg.node_id)));
        }
        let listener = tokio::net::TcpListener::bind(&cfg.raft_addr)
            .await
            .map_err(|e| ClusterError::Config(format!("can't listen on {}: {e}", cfg.raft_addr)))?;
        // Memory only: whatever a previous run left is not this run's.
        let storage = if cfg.persist { DiskStorage::open(&cfg.data_dir) } else { DiskStorage::memory(&cfg.data_dir) }
            .map_err(|e| ClusterError::Config(format!("raft log in {}: {e}", cfg.data_dir.display())))?;
        let (to_raft, from_all) = std::sync::mpsc::channel();
        let (outbox, outbox_rx) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            outbox,
            storage,
            status: status::Shared::new(cfg.node_id, &cfg.peers),
            cfg,
            to_raft,
            origin: run_origin(),
            next_req: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            applied: apply::AppliedIndex::default(),
            mailbox: Arc::default(),
        });
        tokio::spawn(inner.mailbox.clone().serve());
        tokio::spawn(group_proposals(outbox_rx, inner.to_raft.clone(), inner.origin));
        if !inner.cfg.client_addr.is_empty() {
            inner.status.set_client_addr(inner.cfg.node_id, inner.cfg.announcement());
        }
        let peers = transport::start(inner.clone(), listener);
        let (apply_tx, apply_rx) = std::sync::mpsc::channel();
        let applier = inner.clone();
        let mut sm = sm;
        // A restarted node rebuilds its state from its last snapshot; the
        // log after it is replayed by Raft as committed entries.
        let restored = apply::restore_local(&inner, sm.as_mut())?;
        std::thread::Builder::new()
            .name("rhea-apply".into())
            .spawn(move || fatal_on_panic("apply", || apply::run(applier, sm, apply_rx, restored)))
            .map_err(|e| ClusterError::Config(format!("can't start the apply thread: {e}")))?;
        let sync_tx = if inner.cfg.persist {
            let (sync_tx, sync_rx) = std::sync::mpsc::channel();
            let (storage, to_raft) = (inner.storage.clone(), inner.to_raft.clone());
            std::thread::Builder::new()
                .name("rhea-sync".into())
                .spawn(move || fatal_on_panic("sync", || node::sync_loop(storage, sync_rx, to_raft)))
                .map_err(|e| ClusterError::Config(format!("can't start the sync thread: {e}")))?;
            Some(sync_tx)
        } else {
            None
        };
        let raft =
            node::RaftLoop::new(inner.clone(), peers, apply_tx, tokio::runtime::Handle::current(), restored, sync_tx)?;
        std::thread::Builder::new()
            .name("rhea-raft".into())
            .spawn(move || fatal_on_panic("raft", || raft.run(from_all)))
            .map_err(|e| ClusterError::Config(format!("can't start the raft thread: {e}")))?;
        Ok(Cluster { inner })
    }

    pub fn node_id(&self) -> u64 {
        self.inner.cfg.node_id
    }

    /// Proposes the proposal's payload and waits until it is applied here;
    /// returns what the state machine answered for it. Proposals made
    /// together on this runtime may share one log entry.
    pub async fn propose(&self, proposal: Proposal) -> Result<Bytes, ClusterError> {
        let leader = self.inner.status.leader_id();
        if leader == 0 {
            return Err(ClusterError::NoLeader);
        }
        let req_id = self.inner.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert(req_id, Pending { tx, leader_at_propose: leader });
        if self.inner.outbox.send((req_id, proposal)).is_err() {
            self.inner.pending.lock().remove(&req_id);
            return Err(ClusterError::Stopped);
        }
        match tokio::time::timeout(self.inner.cfg.propose_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ClusterError::Stopped),
            Err(_) => {
                self.inner.pending.lock().remove(&req_id);
                Err(ClusterError::Unknown)
            }
        }
    }

    /// Waits until this node's state reflects every write acknowledged
    /// anywhere before the call (ReadIndex, then the apply thread catching
    /// up): a read run after this is linearizable. With `ReadMode::Local`
    /// it returns at once.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        if self.inner.cfg.read_mode == ReadMode::Local {
            return Ok(());
        }
        if self.inner.status.leader_id() == 0 {
            return Err(ClusterError::NoLeader);
        }
        let (tx, rx) = oneshot::channel();
        self.inner.to_raft.send(Cmd::Read(tx)).map_err(|_| ClusterError::Stopped)?;
        let index = match tokio::time::timeout(self.inner.cfg.propose_timeout, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(ClusterError::Stopped),
            // Asked, and no leader answered in time: whether there is one
            // is unknown here; the read may be retried.
            Err(_) => return Err(ClusterError::Unknown),
        };
        self.wait_applied(index).await
    }

    /// Waits until the apply thread has applied `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<(), ClusterError> {
        let wait = self.inner.applied.wait_for(index);
        match tokio::time::timeout(self.inner.cfg.propose_timeout, wait).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ClusterError::Unknown),
        }
    }

    /// A copy of the node's view of the cluster (ROLE, INFO replication).
    pub fn status(&self) -> Status {
        self.inner.status.snapshot(self.inner.applied.get())
    }

    pub fn is_leader(&self) -> bool {
        self.inner.status.is_leader()
    }

    /// Ticks without a leader before a follower campaigns, as a duration.
    pub fn election_timeout(&self) -> Duration {
        self.inner.cfg.tick * self.inner.cfg.election_ticks as u32
    }

    /// Who leads now, as this node sees it.
    pub fn leader_view(&self) -> LeaderView {
        self.inner.status.leader_view()
    }

    /// Changes of [`Cluster::leader_view`]: a receiver sees the latest
    /// view (intermediate ones may be skipped, the term tells them apart).
    pub fn watch_leader(&self) -> tokio::sync::watch::Receiver<LeaderView> {
        self.inner.status.watch_leader()
    }

    /// The client address of the current leader, if known.
    pub fn leader_client_addr(&self) -> Option<String> {
        self.inner.status.leader_client_addr()
    }

    /// Proposes a membership change and waits until it is committed. Only
    /// the leader takes one, and one at a time (raft-rs's rule).
    pub async fn change_membership(&self, change: Membership) -> Result<(), ClusterError> {
        let (tx, rx) = oneshot::channel();
        self.inner.to_raft.send(Cmd::Membership { change, tx }).map_err(|_| ClusterError::Stopped)?;
        match tokio::time::timeout(self.inner.cfg.propose_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ClusterError::Stopped),
            Err(_) => Err(ClusterError::Unknown),
        }
    }

    pub fn shutdown(&self) {
        let _ = self.inner.to_raft.send(Cmd::Shutdown);
    }
}

/// `req_id` of an entry that is a group of proposals (request ids start at 1).
pub(crate) const GROUP: u64 = 0;
/// A group stops taking proposals once it holds this much (one is always
/// taken, whatever its size): Raft sends at most about a megabyte per
/// message.
const GROUP_BYTES: usize = 512 << 10;

/// Turns the proposals made on this runtime since it last ran into one log
/// entry. A connection's proposal wakes this task, which runs after the
/// other connections ready in the same pass of the runtime have made
/// theirs: with 50 clients writing, one entry (one Raft proposal, one wake
/// of the Raft thread, one append record) carries many clients' writes.
///
/// A lone proposal is the entry `[origin u64][req_id u64][payload]` (the
/// origin names the proposing run, see `Inner::origin`); a
/// group is `[origin u64][GROUP u64][count u32]` then, per proposal,
/// `[req_id u64][len u32][payload]`. The apply thread hands each payload
/// to the state machine as an entry of its own, in order, and answers each
/// proposer.
async fn group_proposals(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(u64, Proposal)>,
    to_raft: std::sync::mpsc::Sender<Cmd>,
    origin: u64,
) {
    let mut batch: Vec<(u64, Proposal)> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut bytes = first.1.payload().len();
        batch.push(first);
        while bytes < GROUP_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += p.1.payload().len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let (req_ids, data) = encode_entry(origin, &mut batch, bytes);
        if to_raft.send(Cmd::Propose { req_ids, data }).is_err() {
            // The Raft thread is gone (the node is stopping): these
            // proposers time out and hear that the outcome is unknown,
            // later ones that the cluster stopped.
            return;
        }
    }
}

/// A random origin for this run: std's `RandomState` draws its keys from
/// the OS's generator, so two runs (or two nodes) share one with
/// probability 2^-64.
fn run_origin() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// One log entry for the proposals in `batch` (emptied), whose payloads
/// add up to `bytes`: their request ids and the entry's data.
fn encode_entry(origin: u64, batch: &mut Vec<(u64, Proposal)>, bytes: usize) -> (Vec<u64>, Vec<u8>) {
    if batch.len() == 1 {
        if let Some((req_id, p)) = batch.pop() {
            let mut data = p.data;
            data[0..8].copy_from_slice(&origin.to_le_bytes());
            data[8..HEADER].copy_from_slice(&req_id.to_le_bytes());
            return (vec![req_id], data);
        }
    }
    let mut data = Vec::with_capacity(HEADER + 4 + bytes + 12 * batch.len());
    data.extend_from_slice(&origin.to_le_bytes());
    data.extend_from_slice(&GROUP.to_le_bytes());
    data.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    let mut req_ids = Vec::with_capacity(batch.len());
    for (req_id, p) in batch.drain(..) {
        data.extend_from_slice(&req_id.to_le_bytes());
        data.extend_from_slice(&(p.payload().len() as u32).to_le_bytes());
        data.extend_from_slice(p.payload());
        req_ids.push(req_id);
    }
    (req_ids, data)
}

/// A node whose Raft or apply thread died must not go on serving clients
/// from a state nobody updates any more: it stops, loudly, and its peers
/// carry on without it.
fn fatal_on_panic(thread: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(thread, panic = %what, "the {thread} thread panicked; stopping the node");
        std::process::exit(70);
    }
}

/// Parses `1@host:port,2@host:port`.
pub fn parse_peers(s: &str) -> Result<Vec<(u64, String)>, String> {
    let mut out = Vec::new();
    for part in s.split([',', ' ']).filter(|p| !p.is_empty()) {
        let (id, addr) = part.split_once('@').ok_or_else(|| format!("peer '{part}' is not id@host:port"))?;
        let id: u64 = id.parse().map_err(|_| format!("peer '{part}': bad node id"))?;
        if id == 0 || addr.is_empty() {
            return Err(format!("peer '{part}': node ids start at 1 and need an address"));
        }
        if out.iter().any(|(i, _)| *i == id) {
            return Err(format!("peer id {id} appears twice"));
        }
        out.push((id, addr.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(payload: &[u8]) -> Proposal {
        let mut p = Proposal::with_capacity(payload.len());
        p.extend_from_slice(payload);
        p
    }

    /// A lone proposal is an entry of its own; several are one group entry
    /// the apply thread splits back into the same proposals, in order; a
    /// damaged group is refused, not misread.
    #[test]
    fn groups_of_proposals_split_back() {
        let (ids, data) = encode_entry(7, &mut vec![(41, proposal(b"alone"))], 5);
        assert_eq!(ids, vec![41]);
        assert_eq!(
            (&data[0..8], &data[8..16], &data[16..]),
            (&7u64.to_le_bytes()[..], &41u64.to_le_bytes()[..], &b"alone"[..])
        );
        let payloads: Vec<&[u8]> = vec![b"SET a 1", b"", b"x".as_slice()];
        let mut batch: Vec<(u64, Proposal)> =
            payloads.iter().enumerate().map(|(i, p)| (10 + i as u64, proposal(p))).collect();
        let (ids, data) = encode_entry(7, &mut batch, 8);
        assert!(batch.is_empty());
        assert_eq!(ids, vec![10, 11, 12]);
        assert_eq!(&data[8..16], &GROUP.to_le_bytes());
        let parts = apply::split_group(&data).expect("a whole group");
        let got: Vec<(u64, &[u8])> = parts.iter().map(|(id, r)| (*id, &data[r.clone()])).collect();
        assert_eq!(got, vec![(10, payloads[0]), (11, payloads[1]), (12, payloads[2])]);
        for cut in HEADER..data.len() {
            assert!(apply::split_group(&data[..cut]).is_none(), "cut at {cut}");
        }
        let mut long = data.clone();
        long.push(0);
        assert!(apply::split_group(&long).is_none());
    }

    #[test]
    fn peers_parse_and_reject_garbage() {
        assert_eq!(
            parse_peers("1@127.0.0.1:7001,2@127.0.0.1:7002").unwrap(),
            vec![(1, "127.0.0.1:7001".to_string()), (2, "127.0.0.1:7002".to_string())]
        );
        assert!(parse_peers("1@a:1,1@b:2").is_err());
        assert!(parse_peers("0@a:1").is_err());
        assert!(parse_peers("x@a:1").is_err());
        assert!(parse_peers("127.0.0.1:7001").is_err());
    }
}
