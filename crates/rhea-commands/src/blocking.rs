//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN...).
//!
//! A blocking command that finds nothing to pop asks to block; the
//! dispatcher registers the client here, in FIFO order per key. When a
//! write adds data to such a key (`Store::signal_ready`), the dispatcher,
//! still holding the store lock, re-runs each waiter's command on its
//! behalf in arrival order and hands it the reply: so a push and the pops it
//! feeds are one atomic step, as in Redis, and no waiter is skipped.

use std::collections::VecDeque;
use std::sync::Arc;

use ahash::HashMap;
use bytes::Bytes;
use rhea_resp::Out;
use rhea_store::{Sds, Store};
use tokio::sync::oneshot;

use crate::client::{Client, ClientInfo};
use crate::{dispatch, Shared};

/// What a handler asks for when it wants to block.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    pub keys: Vec<Sds>,
    /// Absolute unix ms at which to give up; None blocks forever.
    pub deadline_ms: Option<i64>,
    pub timeout_reply: TimeoutReply,
}

/// The reply a blocked client gets when its timeout passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` (RESP2) / `_` (RESP3): BLPOP, BZPOPMIN, BLMPOP...
    NullArray,
    /// `$-1` / `_`: BLMOVE, BRPOPLPUSH.
    Null,
}

impl TimeoutReply {
    pub fn write(self, out: &mut Out) {
        match self {
            TimeoutReply::NullArray => out.null_array(),
            TimeoutReply::Null => out.null(),
        }
    }
}

/// What the connection waits on while its client is blocked.
pub struct BlockWait {
    /// Receives the reply when a write serves the client.
    pub reply: oneshot::Receiver<Bytes>,
    pub deadline_ms: Option<i64>,
    pub timeout_reply: TimeoutReply,
}

struct Waiter {
    info: Arc<ClientInfo>,
    db: usize,
    resp3: bool,
    argv: Vec<Bytes>,
    keys: Vec<Sds>,
    reply: oneshot::Sender<Bytes>,
}

/// Every blocked client. Only touched with the store lock held, after it.
#[derive(Default)]
pub struct Blocking {
    by_key: HashMap<(usize, Sds), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

impl Blocking {
    /// INFO clients `blocked_clients`.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Registers `client` as blocked by `req` while running `argv`.
    pub fn register(
        &mut self,
        store: &mut Store,
        client: &Client,
        resp3: bool,
        argv: &[Bytes],
        req: BlockRequest,
    ) -> BlockWait {
        let (tx, rx) = oneshot::channel();
        for k in &req.keys {
            store.block_on(client.db, k);
            self.by_key.entry((client.db, k.clone())).or_default().push_back(client.id);
        }
        let waiter =
            Waiter { info: client.info.clone(), db: client.db, resp3, argv: argv.to_vec(), keys: req.keys, reply: tx };
        self.waiters.insert(client.id, waiter);
        BlockWait { reply: rx, deadline_ms: req.deadline_ms, timeout_reply: req.timeout_reply }
    }

    /// Removes a waiter (timeout, disconnect, CLIENT KILL). False if it was
    /// already served, in which case its reply is on the way.
    pub fn cancel(&mut self, store: &mut Store, client_id: u64) -> bool {
        let Some(w) = self.waiters.remove(&client_id) else { return false };
        self.forget(store, client_id, &w);
        true
    }

    fn forget(&mut self, store: &mut Store, client_id: u64, w: &Waiter) {
        for k in &w.keys {
            store.unblock_on(w.db, k);
            let slot = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&id| id != client_id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }
}

/// Serves clients blocked on keys that became ready, in FIFO order per key,
/// until no ready key is left (serving one may feed another: BLMOVE).
pub fn serve_ready(shared: &Shared, store: &mut Store, now_ms: i64) {
    if store.ready.is_empty() {
        return;
    }
    let mut blocking = shared.blocking.lock();
    while let Some((db, key)) = store.ready.pop_front() {
        // A snapshot of the queue: a waiter whose command finds nothing for
        // it stays blocked but does not hold up those behind it, which may
        // wait for the key's type (BLPOP and BZPOPMIN on one key: Redis
        // serves only the clients blocked for the type the key now has).
        let ids: Vec<u64> =
            blocking.by_key.get(&(db, key.clone())).map(|q| q.iter().copied().collect()).unwrap_or_default();
        for id in ids {
            // Nothing left to pop: nobody else can be served from this key.
            if store.dbs.get(db).is_none_or(|d| d.get(&key, now_ms).is_none()) {
                break;
            }
            let Some(w) = blocking.waiters.get(&id) else { continue };
            let mut out = Out::new(w.resp3);
            let mut client = Client::new(w.info.clone(), true);
            client.db = w.db;
            client.serving_blocked = true;
            client.ready_key = Some(key.clone());
            let argv = w.argv.clone();
            dispatch::run_unblocked(shared, store, &mut client, &argv, &mut out, now_ms);
            if client.block.is_some() {
                // Nothing for it after all (the key is empty or holds
                // another type): it stays blocked, in its place.
                continue;
            }
            if let Some(w) = blocking.waiters.remove(&id) {
                blocking.forget(store, id, &w);
                let _ = w.reply.send(out.buf.freeze());
            }
        }
    }
}
