//! The leadership switch on the client side: a node that stops leading
//! closes the connections that came for the leader, so that their pools
//! (Sentinel, DNS name) resolve the leader again instead of writing through
//! a node that is no longer it.
//!
//! A node cannot see which name a client resolved. The rule: a connection
//! accepted while this node led, that did not send READONLY, came for the
//! leader (`ClientInfo::leader_term` holds the term it was accepted in).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rhea_cluster::{Cluster, LeaderView};
use rhea_commands::{ClientInfo, Shared};
use tracing::info;

/// Marks a new connection as the leader's if this node leads now.
pub(crate) fn mark_accepted(cluster: &Cluster, info: &ClientInfo) {
    let view = cluster.leader_view();
    if view.leader == cluster.node_id() {
        info.leader_term.store(view.term, Ordering::Relaxed);
    }
}

/// Re-checks a connection marked by [`mark_accepted`] once it is
/// registered: the watcher may have swept the clients between the mark and
/// the registration, and would then never see this one.
pub(crate) fn recheck_accepted(cluster: &Cluster, shared: &Shared, info: &ClientInfo) {
    let term = info.leader_term.load(Ordering::Relaxed);
    if term != 0 && !still_leading(cluster, cluster.leader_view(), term) {
        switch_client(shared, info);
    }
}

fn still_leading(cluster: &Cluster, view: LeaderView, term: u64) -> bool {
    view.leader == cluster.node_id() && view.term == term
}

/// Follows the leadership until the cluster stops, switching the leader's
/// clients whenever this node is no longer the leader of their term.
pub(crate) async fn watch(shared: Arc<Shared>, cluster: Cluster) {
    let mut rx = cluster.watch_leader();
    loop {
        let view = *rx.borrow_and_update();
        sweep(&shared, &cluster, view);
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn sweep(shared: &Shared, cluster: &Cluster, view: LeaderView) {
    let mut switched = 0usize;
    for c in shared.clients.snapshot() {
        let term = c.leader_term.load(Ordering::Relaxed);
        if term != 0 && !still_leading(cluster, view, term) && switch_client(shared, &c) {
            switched += 1;
        }
    }
    if switched > 0 {
        info!(switched, leader = view.leader, term = view.term, "leadership lost: switched the leader's clients");
    }
}

/// Closes a client of the old leader, or with `leader-loss-clients
/// forward` keeps it (its writes are forwarded from now on) unless it is
/// blocked or subscribed: those would wait on a node that may be cut off
/// from the cluster, so they are closed cleanly and reconnect. Returns
/// whether the client was closed.
fn switch_client(shared: &Shared, c: &ClientInfo) -> bool {
    c.leader_term.store(0, Ordering::Relaxed);
    let forward = shared.config.read().cluster.leader_loss_forward;
    let waiting = c.blocked.load(Ordering::Relaxed)
        || c.sub_count.load(Ordering::Relaxed)
            + c.psub_count.load(Ordering::Relaxed)
            + c.ssub_count.load(Ordering::Relaxed)
            > 0;
    if forward && !waiting {
        return false;
    }
    c.kill();
    true
}
