//! The apply thread: hands committed entries to the state machine in log
//! order, answers their proposers, and wakes reads waiting for an index.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use parking_lot::Mutex;
use raft::prelude::{Entry, EntryType};
use tokio::sync::oneshot;
use tracing::warn;

use crate::{Applied, Inner, StateMachine};

/// The last index the state machine has applied, and who waits for more.
#[derive(Default)]
pub(crate) struct AppliedIndex {
    index: AtomicU64,
    waiters: Mutex<BTreeMap<u64, Vec<oneshot::Sender<()>>>>,
}

impl AppliedIndex {
    pub(crate) fn get(&self) -> u64 {
        self.index.load(Ordering::Acquire)
    }

    pub(crate) fn wait_for(&self, index: u64) -> impl Future<Output = ()> {
        let rx = if self.get() >= index {
            None
        } else {
            let mut w = self.waiters.lock();
            // Re-checked under the lock `set` takes, so no wake-up is lost.
            if self.get() >= index {
                None
            } else {
                let (tx, rx) = oneshot::channel();
                w.entry(index).or_default().push(tx);
                Some(rx)
            }
        };
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
        }
    }

    fn set(&self, index: u64) {
        self.index.store(index, Ordering::Release);
        let mut w = self.waiters.lock();
        if w.is_empty() {
            return;
        }
        let later = w.split_off(&(index + 1));
        let done = std::mem::replace(&mut *w, later);
        drop(w);
        for tx in done.into_values().flatten() {
            let _ = tx.send(());
        }
    }
}

pub(crate) fn run(inner: Arc<Inner>, mut sm: Box<dyn StateMachine>, rx: Receiver<Vec<Entry>>) {
    let me = inner.cfg.node_id;
    let mut term = 0;
    while let Ok(entries) = rx.recv() {
        for e in entries {
            if e.term > term {
                term = e.term;
                sm.term_changed(term);
            }
            if e.get_entry_type() == EntryType::EntryNormal && e.data.len() >= 16 {
                let origin = u64::from_le_bytes(e.data[0..8].try_into().unwrap_or_default());
                let req_id = u64::from_le_bytes(e.data[8..16].try_into().unwrap_or_default());
                let mine = origin == me;
                let reply = sm.apply(Applied { index: e.index, term: e.term, payload: &e.data[16..], mine });
                if mine {
                    if let Some(p) = inner.pending.lock().remove(&req_id) {
                        let _ = p.tx.send(Ok(reply));
                    }
                }
            } else if e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty() {
                warn!(index = e.index, len = e.data.len(), "skipping a log entry too short to be Rhea's");
            }
            inner.applied.set(e.index);
        }
    }
}
