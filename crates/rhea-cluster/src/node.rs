//! The Raft thread: the only owner of the `RawNode`. It ticks, steps peer
//! messages, proposes, records each Ready (the sync thread makes it
//! durable), sends messages and hands committed entries to the apply
//! thread, as raft-rs's examples do.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Instant;

use raft::prelude::*;
use raft::{RawNode, ReadOnlyOption, SnapshotStatus, StateRole};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::apply::ApplyMsg;
use crate::status::Role;
use crate::storage::DiskStorage;
use crate::transport::{Outgoing, Peers};
use crate::{ClusterError, Cmd, Inner, Membership, ReadMode};

type ReadWaiters = Vec<oneshot::Sender<Result<u64, ClusterError>>>;

pub(crate) struct RaftLoop {
    inner: Arc<Inner>,
    peers: Peers,
    apply_tx: Sender<ApplyMsg>,
    node: RawNode<DiskStorage>,
    storage: DiskStorage,
    /// Configurations in force from each index on (the newest last): a
    /// snapshot at index i records the one in force at i.
    conf_history: Vec<(u64, ConfState)>,
    /// Reads that arrived since the last Ready: one ReadIndex serves them all.
    read_batch: ReadWaiters,
    reads: HashMap<Vec<u8>, ReadWaiters>,
    read_seq: u64,
    leader: u64,
    role: StateRole,
    rejoin: Rejoin,
    rt: tokio::runtime::Handle,
    /// The membership change in flight: its log index and who waits for it.
    conf_waiter: Option<(u64, oneshot::Sender<Result<(), ClusterError>>)>,
    /// With persistence: the sync thread, told the number of each Ready
    /// whose writes it must make durable.
    sync_tx: Option<Sender<u64>>,
    /// Readys recorded but not yet durable: their number and the messages
    /// that may go out only once they are (votes, append acknowledgements).
    unsynced: VecDeque<(u64, Vec<Message>)>,
    /// A Ready that installed a snapshot and is not durable yet: applying
    /// advances once it is.
    apply_after_sync: Option<u64>,
}

/// The sync thread: makes the log durable (one fsync for every Ready
/// recorded meanwhile) and tells the Raft thread up to which Ready it is,
/// so the Raft thread goes on recording, sending and applying while the
/// disk works (raft-rs's asynchronous persistence).
pub(crate) fn sync_loop(storage: DiskStorage, rx: Receiver<u64>, to_raft: Sender<Cmd>) {
    while let Ok(mut number) = rx.recv() {
        number = rx.try_iter().fold(number, u64::max);
        if let Err(e) = storage.persist() {
            // Acknowledging entries that are not stored would break Raft's
            // promise; stopping is the safe answer.
            panic!("syncing the raft log failed: {e}");
        }
        if to_raft.send(Cmd::Persisted(number)).is_err() {
            return;
        }
    }
}

/// A node that starts with an empty log may be one that lost its memory
/// (a restart without persistence): it may have acknowledged entries and
/// votes it no longer remembers. Until it has caught up with what a leader
/// says is committed, it grants no vote to a candidate that has a log, so
/// while the other nodes remember it can never help elect a leader that
/// lacks entries it once acknowledged.
///
/// An empty candidate is what a first election looks like, and also what
/// a majority of nodes restarted empty looks like: electing one then would
/// start the cluster over from nothing, in a term the survivors may have
/// used. So an empty candidate gets a vote only when no peer has shown a
/// log, and only after a quiet period at start (longer than a leaderless
/// survivor waits between campaigns) in which such a peer would have shown
/// itself. And when this node sees that a majority of the voters are empty
/// like itself, no remembering majority is left to protect: it votes for
/// the most complete log it has seen, the cluster goes on from there, and
/// the node says so.
#[derive(Debug)]
struct Rejoin {
    active: bool,
    /// The highest commit index a leader's append named; None until one
    /// arrives.
    target: Option<u64>,
    /// No vote for an empty candidate before this.
    quiet_until: Instant,
    /// A peer has shown a log (an index, a commit or a log term above 0).
    history_seen: bool,
    /// Peers whose latest election request came with an empty log.
    empty_peers: std::collections::HashSet<u64>,
    /// The most complete log an election request has claimed: (last term,
    /// last index).
    best_seen: (u64, u64),
    warned: bool,
}

impl RaftLoop {
    pub(crate) fn new(
        inner: Arc<Inner>,
        peers: Peers,
        apply_tx: Sender<ApplyMsg>,
        rt: tokio::runtime::Handle,
        restored: (u64, u64),
        sync_tx: Option<Sender<u64>>,
    ) -> Result<Self, ClusterError> {
        let cfg = &inner.cfg;
        let config = raft::Config {
            id: cfg.node_id,
            election_tick: cfg.election_ticks,
            heartbeat_tick: cfg.heartbeat_ticks,
            max_size_per_msg: 1024 * 1024,
            // One append in flight per follower: what is proposed while it
            // travels goes out as one message when it is acknowledged, so
            // a busy leader sends, and each follower records and fsyncs,
            // a few large appends instead of one per Ready. Measured with
            // bench/failover.sh (SET, 50 clients): -P 16 111k -> 155k rps,
            // -P 1 13.2k -> 16.4k rps against 256 in flight. Against 2 in
            // flight, with grouped entries (bench/cluster-ab.sh, 3 rounds):
            // 8.6-9.1 against 9.9-10.7 us of CPU per write, p99 10.5-10.9
            // against 12.8-14.7 ms.
            max_inflight_msgs: 1,
            // A node cut off from the majority steps down instead of
            // believing it still leads (no stale leader serving lease
            // reads), and a rejoining node cannot disrupt a healthy leader.
            check_quorum: true,
            pre_vote: true,
            applied: restored.1,
            read_only_option: match cfg.read_mode {
                ReadMode::Lease => ReadOnlyOption::LeaseBased,
                _ => ReadOnlyOption::Safe,
            },
            ..Default::default()
        };
        config.validate().map_err(|e| ClusterError::Config(e.to_string()))?;
        let voters: Vec<u64> = cfg.peers.iter().map(|(id, _)| *id).collect();
        let storage = inner.storage.clone();
        let fresh = storage.is_fresh();
        storage
            .initialize_with_conf_state(ConfState::from((voters, vec![])))
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        if !fresh {
            info!(
                term = storage.hard_state().term,
                commit = storage.hard_state().commit,
                "raft log reopened: this node remembers its term, vote and entries"
            );
        }
        let conf_history = vec![(restored.1, storage.conf_state())];
        let logger = slog::Logger::root(TracingDrain, slog::o!());
        let node = RawNode::new(&config, storage.clone(), &logger).map_err(|e| ClusterError::Config(e.to_string()))?;
        // A survivor without a leader campaigns at least once per 2 x
        // election timeout; 3 leaves room for a slow start.
        let quiet_until = Instant::now() + inner.cfg.tick * (3 * inner.cfg.election_ticks) as u32;
        Ok(RaftLoop {
            inner,
            peers,
            apply_tx,
            node,
            storage,
            conf_history,
            read_batch: Vec::new(),
            reads: HashMap::new(),
            read_seq: 0,
            leader: 0,
            role: StateRole::Follower,
            // Only a node that starts with nothing may have forgotten
            // something; one that reopened its log remembers its votes.
            rejoin: Rejoin {
                active: fresh,
                target: None,
                quiet_until,
                history_seen: false,
                empty_peers: Default::default(),
                best_seen: (0, 0),
                warned: false,
            },
            rt,
            conf_waiter: None,
            sync_tx,
            unsynced: VecDeque::new(),
            apply_after_sync: None,
        })
    }

    pub(crate) fn run(mut self, rx: Receiver<Cmd>) {
        let tick = self.inner.cfg.tick;
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(cmd) => {
                    if !self.handle(cmd) {
                        return;
                    }
                    // Everything already queued joins this Ready: many
                    // clients' writes become one append and one round trip.
                    for cmd in rx.try_iter().take(8192) {
                        if !self.handle(cmd) {
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick();
                next_tick += tick;
                if next_tick < now {
                    next_tick = now + tick;
                }
            }
            self.flush_reads();
            self.on_ready();
        }
    }

    fn handle(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Propose { req_ids, data } => {
                if self.node.propose(vec![], data).is_err() {
                    let mut pending = self.inner.pending.lock();
                    for req_id in req_ids {
                        if let Some(p) = pending.remove(&req_id) {
                            let _ = p.tx.send(Err(ClusterError::NoLeader));
                        }
                    }
                }
            }
            Cmd::Read(tx) => self.read_batch.push(tx),
            Cmd::Peer(mut msg) => {
                if !self.admit(&mut msg) {
                    return true;
                }
                // A message for another term or a stale one is normal; only
                // a broken invariant would be an error here.
                let _ = self.node.step(msg);
            }
            Cmd::Unreachable(id) => self.node.report_unreachable(id),
            Cmd::Membership { change, tx } => self.propose_membership(change, tx),
            Cmd::SnapshotTaken { term, index } => self.snapshot_taken(term, index),
            Cmd::SnapshotSent { to, ok } => {
                let status = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                self.node.report_snapshot(to, status);
            }
            Cmd::Persisted(number) => {
                self.node.on_persist_ready(number);
                if self.apply_after_sync.is_some_and(|n| n <= number) {
                    self.apply_after_sync = None;
                    self.node.advance_apply();
                }
                while self.unsynced.front().is_some_and(|(n, _)| *n <= number) {
                    if let Some((_, msgs)) = self.unsynced.pop_front() {
                        self.send(msgs);
                    }
                }
            }
            Cmd::Shutdown => return false,
        }
        true
    }

    /// Filters peer messages while the node rejoins (see `Rejoin`); false
    /// drops the message.
    fn admit(&mut self, msg: &mut Message) -> bool {
        let last = self.node.raft.raft_log.last_index();
        // A leader that remembers this node further ahead than it is (it
        // restarted empty) names a commit index the log does not have;
        // raft-rs treats that as a broken invariant. Committing less is
        // always safe: the leader's next append finds the gap and backs off.
        if msg.get_msg_type() == MessageType::MsgHeartbeat && msg.commit > last {
            msg.commit = last;
        }
        if !self.rejoin.active {
            return true;
        }
        if msg.index > 0 || msg.commit > 0 || msg.log_term > 0 {
            self.rejoin.history_seen = true;
        }
        let election = matches!(msg.get_msg_type(), MessageType::MsgRequestVote | MessageType::MsgRequestPreVote);
        if election && !self.vote_while_rejoining(msg) {
            return false;
        }
        if matches!(msg.get_msg_type(), MessageType::MsgAppend | MessageType::MsgSnapshot) {
            let t = self.rejoin.target.get_or_insert(0);
            *t = (*t).max(msg.commit);
        }
        if self.rejoin.target.is_some_and(|t| self.node.raft.raft_log.committed >= t) {
            info!(committed = self.node.raft.raft_log.committed, "caught up with the leader; voting again");
            self.rejoin.active = false;
        }
        true
    }

    /// Whether a rejoining node lets raft-rs consider an election request
    /// (see `Rejoin`); raft-rs still applies its own checks.
    fn vote_while_rejoining(&mut self, msg: &Message) -> bool {
        let r = &mut self.rejoin;
        let claimed = (msg.log_term, msg.index);
        if msg.index == 0 {
            r.empty_peers.insert(msg.from);
        } else {
            r.empty_peers.remove(&msg.from);
            r.best_seen = r.best_seen.max(claimed);
        }
        let quiet = Instant::now() < r.quiet_until;
        if msg.index == 0 {
            if quiet || r.history_seen {
                tracing::debug!(candidate = msg.from, quiet, "rejoining: no vote for an empty candidate");
                return false;
            }
            return true;
        }
        let voters = self.node.raft.prs().conf().voters().ids().len();
        let me = self.inner.cfg.node_id;
        let empty = 1 + r.empty_peers.iter().filter(|&&p| p != me).count();
        let majority_empty = 2 * empty > voters;
        if quiet || r.target.is_some() || !majority_empty || claimed < r.best_seen {
            tracing::debug!(candidate = msg.from, "rejoining: not voting until caught up");
            return false;
        }
        if !r.warned {
            r.warned = true;
            warn!(
                candidate = msg.from,
                last_index = msg.index,
                empty_voters = empty,
                voters,
                "a majority of the voters restarted empty: voting for the most complete log left; \
                 writes only the restarted nodes held are lost"
            );
        }
        true
    }

    fn flush_reads(&mut self) {
        if self.read_batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.read_batch);
        if self.node.raft.leader_id == 0 {
            for tx in batch {
                let _ = tx.send(Err(ClusterError::NoLeader));
            }
            return;
        }
        self.read_seq += 1;
        // The leader keys pending reads by context: followers' contexts
        // must not collide (a duplicate is silently ignored by raft-rs, and
        // its readers would wait for nothing), and neither may this run's
        // and the previous one's (`read_seq` starts again at 0; an answer
        // to the old run arriving after a restart must not release a new
        // read at an old index): the run's origin, not the node id.
        let mut ctx = self.inner.origin.to_le_bytes().to_vec();
        ctx.extend_from_slice(&self.read_seq.to_le_bytes());
        self.node.read_index(ctx.clone());
        self.reads.insert(ctx, batch);
    }

    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            if let Some(tx) = self.peers.get(&m.to) {
                let out = if m.get_msg_type() == MessageType::MsgSnapshot {
                    let meta = m.get_snapshot().get_metadata();
                    let path = self.storage.snapshot_path(meta.term, meta.index);
                    info!(to = m.to, index = meta.index, "sending a snapshot");
                    Outgoing::Snapshot(m, path)
                } else {
                    Outgoing::Msg(m)
                };
                let _ = tx.send(out);
            }
        }
    }

    /// The apply thread wrote a snapshot at `index`: record it and drop the
    /// log before it, except a tail that lets a briefly lagging follower
    /// catch up from entries rather than a whole snapshot.
    fn snapshot_taken(&mut self, term: u64, index: u64) {
        let conf = self
            .conf_history
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| self.storage.conf_state());
        let mut meta = SnapshotMetadata { index, term, ..Default::default() };
        meta.set_conf_state(conf);
        if let Err(e) = self.storage.record_snapshot(meta) {
            warn!(index, error = %e, "recording the snapshot failed");
            return;
        }
        let first = self.node.raft.raft_log.first_index();
        // The tail is held in memory: at most log_tail entries, and at most
        // a quarter of snapshot_bytes of them.
        let by_bytes = self.storage.tail_start(index, self.inner.cfg.snapshot_bytes / 4);
        let to = index.saturating_sub(self.inner.cfg.log_tail).max(by_bytes);
        if to > first {
            if let Err(e) = self.storage.compact(to) {
                warn!(index = to, error = %e, "compacting the log failed");
            }
        }
        // Configurations older than the snapshot are no longer needed.
        let keep = self.conf_history.iter().rposition(|(i, _)| *i <= index).unwrap_or(0);
        self.conf_history.drain(..keep);
    }

    fn on_ready(&mut self) {
        if !self.node.has_ready() {
            return;
        }
        let mut ready = self.node.ready();
        if let Some(ss) = ready.ss() {
            let (leader, role) = (ss.leader_id, ss.raft_state);
            self.role_changed(leader, role);
        }
        if !ready.messages().is_empty() {
            let msgs = ready.take_messages();
            self.send(msgs);
        }
        if !ready.snapshot().is_empty() {
            let meta = ready.snapshot().get_metadata().clone();
            // The file arrived before the message (see transport); the log
            // now starts after it, and the apply thread rebuilds the state.
            if let Err(e) = self.storage.apply_snapshot(meta.clone()) {
                panic!("installing the snapshot at {} in the log failed: {e}", meta.index);
            }
            info!(index = meta.index, term = meta.term, "snapshot installed");
            self.conf_history = vec![(meta.index, meta.get_conf_state().clone())];
            self.peers_follow_conf(meta.get_conf_state());
            let _ = self.apply_tx.send(ApplyMsg::Restore { term: meta.term, index: meta.index });
        }
        let committed = ready.take_committed_entries();
        self.handle_committed(committed);
        if !ready.entries().is_empty() {
            if let Err(e) = self.storage.append(ready.entries()) {
                // Acknowledging entries that are not stored would break
                // Raft's promise; stopping is the safe answer.
                panic!("appending to the raft log failed: {e}");
            }
        }
        if let Some(hs) = ready.hs() {
            if let Err(e) = self.storage.set_hardstate(hs.clone()) {
                panic!("storing the raft hard state failed: {e}");
            }
        }
        if self.sync_tx.is_some() {
            // The sync thread makes this Ready durable; its persisted
            // messages wait for that, the rest goes on now.
            let number = ready.number();
            let snapshot = !ready.snapshot().is_empty();
            let msgs = ready.take_persisted_messages();
            self.read_states(ready.take_read_states());
            self.node.advance_append_async(ready);
            self.unsynced.push_back((number, msgs));
            if self.sync_tx.as_ref().is_some_and(|sync| sync.send(number).is_err()) {
                panic!("the raft log's sync thread is gone");
            }
            // raft-rs counts a snapshot as applied only once it is durable.
            if snapshot {
                self.apply_after_sync = Some(number);
            } else if self.apply_after_sync.is_none() {
                self.node.advance_apply();
            }
            self.publish_status();
            return;
        }
        if !ready.persisted_messages().is_empty() {
            let msgs = ready.take_persisted_messages();
            self.send(msgs);
        }
        self.read_states(ready.take_read_states());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            if let Err(e) = self.storage.set_commit(commit) {
                panic!("storing the commit index failed: {e}");
            }
        }
        let msgs = light.take_messages();
        self.send(msgs);
        let committed = light.take_committed_entries();
        self.handle_committed(committed);
        self.node.advance_apply();
        self.publish_status();
    }

    fn read_states(&mut self, states: Vec<ReadState>) {
        for rs in states {
            if let Some(waiters) = self.reads.remove(&rs.request_ctx) {
                for tx in waiters {
                    let _ = tx.send(Ok(rs.index));
                }
            }
        }
    }

    fn propose_membership(&mut self, change: Membership, tx: oneshot::Sender<Result<(), ClusterError>>) {
        if self.node.raft.state != StateRole::Leader {
            let _ = tx.send(Err(ClusterError::NotLeader(self.inner.status.leader_client_addr())));
            return;
        }
        if self.conf_waiter.is_some() || self.node.raft.has_pending_conf() {
            let _ = tx.send(Err(ClusterError::Refused("a membership change is already in progress".into())));
            return;
        }
        let voters: Vec<u64> = self.node.raft.prs().conf().voters().ids().iter().collect();
        let mut cc = ConfChange::default();
        match &change {
            Membership::Add { id, raft_addr } => {
                if *id == 0 {
                    let _ = tx.send(Err(ClusterError::Refused("node ids start at 1".into())));
                    return;
                }
                if voters.contains(id) {
                    let _ = tx.send(Err(ClusterError::Refused(format!("node {id} is already a member"))));
                    return;
                }
                cc.set_change_type(ConfChangeType::AddNode);
                cc.node_id = *id;
                cc.context = raft_addr.as_bytes().to_vec().into();
            }
            Membership::Remove { id } => {
                if !voters.contains(id) {
                    let _ = tx.send(Err(ClusterError::Refused(format!("node {id} is not a member"))));
                    return;
                }
                if voters.len() == 1 {
                    let _ = tx.send(Err(ClusterError::Refused("can't remove the last member".into())));
                    return;
                }
                cc.set_change_type(ConfChangeType::RemoveNode);
                cc.node_id = *id;
            }
        }
        match self.node.propose_conf_change(vec![], cc) {
            Ok(()) => {
                let index = self.node.raft.raft_log.last_index();
                info!(?change, index, "membership change proposed");
                self.conf_waiter = Some((index, tx));
            }
            Err(e) => {
                let _ = tx.send(Err(ClusterError::Refused(format!("membership change refused: {e}"))));
            }
        }
    }

    fn handle_committed(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        for e in &entries {
            match e.get_entry_type() {
                EntryType::EntryNormal => {}
                EntryType::EntryConfChange => self.apply_membership(e),
                EntryType::EntryConfChangeV2 => warn!(index = e.index, "joint-consensus changes are not used by Rhea"),
            }
        }
        let _ = self.apply_tx.send(ApplyMsg::Entries(entries));
    }

    /// A committed membership change: raft-rs's view, the stored conf
    /// state, the peer links and the published status all follow it.
    fn apply_membership(&mut self, e: &Entry) {
        use protobuf::Message as _;
        let cc = match ConfChange::parse_from_bytes(&e.data) {
            Ok(cc) => cc,
            Err(err) => {
                warn!(index = e.index, error = %err, "unreadable membership change skipped");
                return;
            }
        };
        let cs = match self.node.apply_conf_change(&cc) {
            Ok(cs) => cs,
            Err(err) => {
                warn!(index = e.index, error = %err, "membership change could not be applied");
                return;
            }
        };
        if let Err(err) = self.storage.set_conf_state(cs.clone()) {
            panic!("storing the configuration failed: {err}");
        }
        self.conf_history.push((e.index, cs));
        let id = cc.node_id;
        let me = self.inner.cfg.node_id;
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                // A node this one was configured with keeps the address it
                // was given (it may reach it another way than the leader).
                let configured = self.inner.cfg.peers.iter().find(|(pid, _)| *pid == id).map(|(_, a)| a.clone());
                let addr = configured.unwrap_or_else(|| String::from_utf8_lossy(&cc.context).into_owned());
                info!(node = id, raft_addr = %addr, index = e.index, "node added to the cluster");
                self.inner.status.add_peer(id, addr.clone());
                if id != me && !self.peers.contains_key(&id) && !addr.is_empty() {
                    let tx = crate::transport::add_peer(&self.rt, self.inner.clone(), id, addr);
                    self.peers.insert(id, tx);
                }
            }
            ConfChangeType::RemoveNode => {
                info!(node = id, index = e.index, "node removed from the cluster");
                self.inner.status.remove_peer(id);
                self.peers.remove(&id);
                if id == me {
                    warn!("this node was removed from the cluster; it no longer takes part in elections");
                }
            }
        }
        if let Some((index, _)) = &self.conf_waiter {
            if *index <= e.index {
                if let Some((_, tx)) = self.conf_waiter.take() {
                    let _ = tx.send(Ok(()));
                }
            }
        }
    }

    fn role_changed(&mut self, leader: u64, role: StateRole) {
        let term = self.node.raft.term;
        if leader != self.leader {
            if leader == 0 {
                warn!(term, "no leader");
            } else {
                info!(term, leader, me = self.inner.cfg.node_id, "leader elected");
            }
            // Proposals made under the old leader may or may not commit:
            // their clients hear "unknown" now instead of at the timeout.
            let old = self.leader;
            let mut pending = self.inner.pending.lock();
            let stale: Vec<u64> =
                pending.iter().filter(|(_, p)| p.leader_at_propose == old).map(|(id, _)| *id).collect();
            for id in stale {
                if let Some(p) = pending.remove(&id) {
                    let _ = p.tx.send(Err(ClusterError::Unknown));
                }
            }
            drop(pending);
            if let Some((_, tx)) = self.conf_waiter.take() {
                let _ = tx.send(Err(ClusterError::Unknown));
            }
            for (_, waiters) in self.reads.drain() {
                for tx in waiters {
                    let _ = tx.send(Err(ClusterError::NoLeader));
                }
            }
        }
        if role != self.role {
            info!(term, from = ?self.role, to = ?role, "raft role changed");
        }
        self.leader = leader;
        self.role = role;
        let r = match role {
            StateRole::Leader => Role::Leader,
            StateRole::Candidate => Role::Candidate,
            StateRole::PreCandidate => Role::PreCandidate,
            StateRole::Follower => Role::Follower,
        };
        self.inner.status.set_role(r, leader, term);
    }

    fn publish_status(&mut self) {
        let raft = &self.node.raft;
        self.inner.status.set_indexes(raft.term, raft.raft_log.committed, raft.raft_log.last_index());
        if raft.state == StateRole::Leader {
            let matched: Vec<(u64, u64)> = raft.prs().iter().map(|(id, p)| (*id, p.matched)).collect();
            self.inner.status.set_matched(&matched);
        }
    }
}

impl RaftLoop {
    /// After a snapshot: the members are the snapshot's voters (addresses
    /// from what this node already knows).
    fn peers_follow_conf(&mut self, cs: &ConfState) {
        let me = self.inner.cfg.node_id;
        let voters: Vec<u64> = cs.voters.iter().chain(cs.learners.iter()).copied().collect();
        let gone: Vec<u64> = self.peers.keys().filter(|id| !voters.contains(id)).copied().collect();
        for id in gone {
            self.peers.remove(&id);
            self.inner.status.remove_peer(id);
        }
        for id in voters {
            if id != me && !self.peers.contains_key(&id) {
                warn!(node = id, "a member from the snapshot has no known address; add it to --peers");
            }
        }
    }
}

/// raft-rs logs through slog; Rhea logs through tracing.
struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        match record.level() {
            slog::Level::Critical | slog::Level::Error => tracing::error!(target: "raft", "{}", record.msg()),
            slog::Level::Warning => tracing::warn!(target: "raft", "{}", record.msg()),
            slog::Level::Info => tracing::debug!(target: "raft", "{}", record.msg()),
            _ => tracing::trace!(target: "raft", "{}", record.msg()),
        }
        Ok(())
    }
}
