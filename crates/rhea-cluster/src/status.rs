//! The node's view of the cluster, published by the Raft thread for ROLE,
//! INFO replication, metrics and forwarding decisions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use parking_lot::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    PreCandidate,
    Leader,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::PreCandidate => "pre-candidate",
            Role::Leader => "leader",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PeerStatus {
    pub id: u64,
    /// The address this node dials for Raft.
    pub raft_addr: String,
    /// The client address the peer announced, once it connected.
    pub client_addr: Option<String>,
    /// Leader only: the highest log index known replicated there.
    pub matched: u64,
    /// The Sentinel-compatible address the peer announced, if it runs one.
    pub sentinel_addr: Option<String>,
    /// This node's link to the peer is connected (always false for itself).
    pub link_up: bool,
}

/// Who leads, as this node sees it: the leader's id (0 = none known) and
/// the term. Published on every change, for whoever must react to a
/// leadership switch (closing a deposed leader's clients, Sentinel events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaderView {
    pub leader: u64,
    pub term: u64,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub id: u64,
    pub role: Role,
    pub term: u64,
    pub leader_id: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_index: u64,
    pub elections_won: u64,
    pub leader_changes: u64,
    pub peers: Vec<PeerStatus>,
}

pub(crate) struct Shared {
    id: u64,
    role: AtomicU8,
    term: AtomicU64,
    leader: AtomicU64,
    commit: AtomicU64,
    last_index: AtomicU64,
    elections_won: AtomicU64,
    leader_changes: AtomicU64,
    peers: RwLock<BTreeMap<u64, PeerStatus>>,
    leader_view: tokio::sync::watch::Sender<LeaderView>,
}

impl Shared {
    pub(crate) fn new(id: u64, peers: &[(u64, String)]) -> Self {
        let peers = peers
            .iter()
            .map(|(pid, addr)| (*pid, PeerStatus { id: *pid, raft_addr: addr.clone(), ..Default::default() }))
            .collect();
        Shared {
            id,
            role: AtomicU8::new(0),
            term: AtomicU64::new(0),
            leader: AtomicU64::new(0),
            commit: AtomicU64::new(0),
            last_index: AtomicU64::new(0),
            elections_won: AtomicU64::new(0),
            leader_changes: AtomicU64::new(0),
            peers: RwLock::new(peers),
            leader_view: tokio::sync::watch::channel(LeaderView::default()).0,
        }
    }

    pub(crate) fn leader_id(&self) -> u64 {
        self.leader.load(Ordering::Acquire)
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.role.load(Ordering::Acquire) == 3
    }

    pub(crate) fn set_role(&self, role: Role, leader: u64, term: u64) {
        let code = match role {
            Role::Follower => 0,
            Role::Candidate => 1,
            Role::PreCandidate => 2,
            Role::Leader => 3,
        };
        if self.leader.swap(leader, Ordering::AcqRel) != leader {
            self.leader_changes.fetch_add(1, Ordering::Relaxed);
        }
        if role == Role::Leader && self.role.swap(code, Ordering::AcqRel) != code {
            self.elections_won.fetch_add(1, Ordering::Relaxed);
        } else {
            self.role.store(code, Ordering::Release);
        }
        self.term.store(term, Ordering::Release);
        let view = LeaderView { leader, term };
        self.leader_view.send_if_modified(|v| std::mem::replace(v, view) != view);
    }

    pub(crate) fn watch_leader(&self) -> tokio::sync::watch::Receiver<LeaderView> {
        self.leader_view.subscribe()
    }

    pub(crate) fn leader_view(&self) -> LeaderView {
        *self.leader_view.borrow()
    }

    pub(crate) fn set_indexes(&self, term: u64, commit: u64, last: u64) {
        self.term.store(term, Ordering::Release);
        self.commit.store(commit, Ordering::Release);
        self.last_index.store(last, Ordering::Release);
    }

    pub(crate) fn set_matched(&self, matched: &[(u64, u64)]) {
        let mut peers = self.peers.write();
        for (id, m) in matched {
            if let Some(p) = peers.get_mut(id) {
                p.matched = *m;
            }
        }
    }

    pub(crate) fn add_peer(&self, id: u64, raft_addr: String) {
        self.peers.write().entry(id).or_insert_with(|| PeerStatus { id, raft_addr, ..Default::default() });
    }

    pub(crate) fn remove_peer(&self, id: u64) {
        self.peers.write().remove(&id);
    }

    pub(crate) fn is_member(&self, id: u64) -> bool {
        self.peers.read().contains_key(&id)
    }

    /// Records what a peer announced: `host:port` for clients, then
    /// optional ` key=value` words (`sentinel=host:port`).
    pub(crate) fn set_client_addr(&self, id: u64, announced: String) {
        let mut words = announced.split(' ').filter(|w| !w.is_empty());
        let addr = words.next().unwrap_or_default().to_string();
        let sentinel = words.find_map(|w| w.strip_prefix("sentinel=")).map(str::to_string);
        let mut peers = self.peers.write();
        if let Some(p) = peers.get_mut(&id) {
            p.client_addr = Some(addr);
            p.sentinel_addr = sentinel;
        }
    }

    pub(crate) fn set_link(&self, id: u64, up: bool) {
        if let Some(p) = self.peers.write().get_mut(&id) {
            p.link_up = up;
        }
    }

    pub(crate) fn leader_client_addr(&self) -> Option<String> {
        let leader = self.leader_id();
        self.peers.read().get(&leader).and_then(|p| p.client_addr.clone())
    }

    pub(crate) fn snapshot(&self, applied: u64) -> Status {
        let role = match self.role.load(Ordering::Acquire) {
            1 => Role::Candidate,
            2 => Role::PreCandidate,
            3 => Role::Leader,
            _ => Role::Follower,
        };
        Status {
            id: self.id,
            role,
            term: self.term.load(Ordering::Acquire),
            leader_id: self.leader_id(),
            commit_index: self.commit.load(Ordering::Acquire),
            applied_index: applied,
            last_index: self.last_index.load(Ordering::Acquire),
            elections_won: self.elections_won.load(Ordering::Relaxed),
            leader_changes: self.leader_changes.load(Ordering::Relaxed),
            peers: self.peers.read().values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_carries_the_sentinel_address_and_leader_changes_are_published() {
        let s = Shared::new(1, &[(1, "a:1".into()), (2, "b:2".into())]);
        s.set_client_addr(2, "127.0.0.1:7002 sentinel=127.0.0.1:26380".into());
        s.set_client_addr(1, "127.0.0.1:7001".into());
        let st = s.snapshot(0);
        assert_eq!(st.peers[1].client_addr.as_deref(), Some("127.0.0.1:7002"));
        assert_eq!(st.peers[1].sentinel_addr.as_deref(), Some("127.0.0.1:26380"));
        assert_eq!(st.peers[0].client_addr.as_deref(), Some("127.0.0.1:7001"));
        assert_eq!(st.peers[0].sentinel_addr, None);

        let mut rx = s.watch_leader();
        s.set_role(Role::Follower, 2, 3);
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(*rx.borrow_and_update(), LeaderView { leader: 2, term: 3 });
        // The same view again is not a change.
        s.set_role(Role::Follower, 2, 3);
        assert!(!rx.has_changed().unwrap_or(true));
        s.set_role(Role::Leader, 1, 4);
        assert_eq!(s.leader_view(), LeaderView { leader: 1, term: 4 });
        assert!(rx.has_changed().unwrap_or(false));
    }
}
