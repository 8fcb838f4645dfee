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
use tracing::{info, warn};

use crate::storage::SnapshotFileReader;
use crate::{Applied, ClusterError, Cmd, Inner, StateMachine, GROUP, HEADER};

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

    pub(crate) fn set(&self, index: u64) {
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

/// Replies on their way from the apply thread to the proposers' tasks.
/// Completing a oneshot from another thread wakes the tokio runtime (an
/// eventfd write and, when it sleeps, an interrupt to its core) once per
/// reply; here the apply thread leaves all of an ApplyMsg's replies in the
/// mailbox and rings once, and a task on the runtime completes them there.
#[derive(Default)]
pub(crate) struct Mailbox {
    queue: Mutex<Vec<Delivery>>,
    bell: tokio::sync::Notify,
    /// The apply thread ended: the task may end too.
    closed: std::sync::atomic::AtomicBool,
}

type Delivery = (oneshot::Sender<Result<bytes::Bytes, ClusterError>>, Result<bytes::Bytes, ClusterError>);

/// Replies held back at most this many at a time: the first proposer of a
/// long run of entries does not wait for the whole run to be applied.
const DELIVER_EVERY: usize = 64;

impl Mailbox {
    fn deliver(&self, batch: &mut Vec<Delivery>) {
        if batch.is_empty() {
            return;
        }
        let mut q = self.queue.lock();
        let ring = q.is_empty();
        q.append(batch);
        drop(q);
        // A non-empty queue was rung for already and not emptied yet.
        if ring {
            self.bell.notify_one();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.bell.notify_one();
    }

    /// The runtime side: completes the replies where their tasks run.
    pub(crate) async fn serve(self: Arc<Self>) {
        let mut batch = Vec::new();
        while !self.closed.load(Ordering::Acquire) {
            self.bell.notified().await;
            std::mem::swap(&mut batch, &mut *self.queue.lock());
            for (tx, reply) in batch.drain(..) {
                let _ = tx.send(reply);
            }
        }
    }
}

/// What the Raft thread hands the apply thread, in log order.
pub(crate) enum ApplyMsg {
    Entries(Vec<Entry>),
    /// A snapshot received from the leader (its file is in the data
    /// directory): it replaces the whole state.
    Restore {
        term: u64,
        index: u64,
    },
}

/// Rebuilds the state machine from the node's own last snapshot, if it has
/// one; returns (term, index) of that snapshot, or (0, 0).
pub(crate) fn restore_local(inner: &Inner, sm: &mut dyn StateMachine) -> Result<(u64, u64), ClusterError> {
    let opened = inner.storage.open_snapshot().map_err(|e| ClusterError::Config(format!("snapshot: {e}")))?;
    let Some((meta, reader)) = opened else { return Ok((0, 0)) };
    restore_from(sm, reader).map_err(|e| ClusterError::Config(format!("restoring snapshot {}: {e}", meta.index)))?;
    inner.applied.set(meta.index);
    info!(index = meta.index, term = meta.term, "state restored from the local snapshot");
    Ok((meta.term, meta.index))
}

fn restore_from(sm: &mut dyn StateMachine, mut reader: SnapshotFileReader) -> Result<(), String> {
    let mut source = || reader.next_chunk(1 << 20).map_err(|e| e.to_string());
    sm.restore(&mut source)
}

pub(crate) fn run(inner: Arc<Inner>, mut sm: Box<dyn StateMachine>, rx: Receiver<ApplyMsg>, restored: (u64, u64)) {
    let me = inner.origin;
    let (mut term, mut last_index) = restored;
    let mut since_snapshot: u64 = 0;
    // Set when a snapshot was skipped because a newer one replaced it: the
    // entries queued after it build on a state this node never had, and the
    // newer snapshot's Restore, queued behind them, replaces it all.
    let mut superseded = false;
    let mut replies = Vec::new();
    while let Ok(msg) = rx.recv() {
        let entries = match msg {
            ApplyMsg::Entries(_) if superseded => continue,
            ApplyMsg::Entries(e) => e,
            ApplyMsg::Restore { term: t, index } => {
                superseded = false;
                let path = inner.storage.snapshot_path(t, index);
                let result = SnapshotFileReader::open(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|r| restore_from(sm.as_mut(), r));
                match result {
                    Ok(()) => {
                        info!(index, term = t, "state replaced by the leader's snapshot");
                        term = t;
                        last_index = index;
                        since_snapshot = 0;
                        inner.applied.set(index);
                    }
                    // The Raft thread installed a newer snapshot from the
                    // leader meanwhile and removed this one's file.
                    Err(e) if inner.storage.snapshot_metadata().index > index => {
                        info!(index, error = %e, "snapshot superseded by a newer one; waiting for it");
                        superseded = true;
                    }
                    // The state is gone and nothing consistent replaces it:
                    // this node must not serve or vote on it.
                    Err(e) => panic!("installing the snapshot at {index} failed: {e}"),
                }
                continue;
            }
        };
        for e in entries {
            if e.index <= last_index {
                // Covered by a snapshot already installed.
                continue;
            }
            if e.term > term {
                term = e.term;
                sm.term_changed(term);
            }
            since_snapshot += e.data.len() as u64 + 16;
            if e.get_entry_type() == EntryType::EntryNormal && e.data.len() >= HEADER {
                let origin = u64::from_le_bytes(e.data[0..8].try_into().unwrap_or_default());
                let req_id = u64::from_le_bytes(e.data[8..HEADER].try_into().unwrap_or_default());
                let mine = origin == me;
                let parts: Option<Vec<(u64, bytes::Bytes)>> = if req_id != GROUP {
                    Some(vec![(req_id, e.data.slice(HEADER..))])
                } else {
                    split_group(&e.data).map(|p| p.into_iter().map(|(id, r)| (id, e.data.slice(r))).collect())
                };
                let Some(parts) = parts else {
                    // Its proposers time out and hear that the outcome is
                    // unknown; every node skips it alike.
                    warn!(index = e.index, len = e.data.len(), "skipping a damaged group of proposals");
                    last_index = e.index;
                    inner.applied.set(e.index);
                    continue;
                };
                let payloads: Vec<&[u8]> = parts.iter().map(|(_, p)| &p[..]).collect();
                sm.prefetch(&payloads);
                drop(payloads);
                for (req_id, payload) in parts {
                    let reply = sm.apply(Applied { index: e.index, term: e.term, payload, mine });
                    if mine {
                        if let Some(p) = inner.pending.lock().remove(&req_id) {
                            replies.push((p.tx, Ok(reply)));
                            if replies.len() >= DELIVER_EVERY {
                                inner.mailbox.deliver(&mut replies);
                            }
                        }
                    }
                }
            } else if e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty() {
                warn!(index = e.index, len = e.data.len(), "skipping a log entry too short to be Rhea's");
            }
            last_index = e.index;
            inner.applied.set(e.index);
        }
        inner.mailbox.deliver(&mut replies);
        if since_snapshot >= inner.cfg.snapshot_bytes {
            match take_snapshot(&inner, sm.as_mut(), term, last_index) {
                Ok(bytes) => {
                    info!(index = last_index, bytes, "snapshot taken");
                    let _ = inner.to_raft.send(Cmd::SnapshotTaken { term, index: last_index });
                }
                Err(e) => warn!(index = last_index, error = %e, "taking a snapshot failed; the log keeps growing"),
            }
            since_snapshot = 0;
        }
    }
    inner.mailbox.close();
}

/// The proposals of a group entry (see `group_proposals`): request ids
/// and where each payload is; None unless the entry is whole.
pub(crate) fn split_group(data: &[u8]) -> Option<Vec<(u64, std::ops::Range<usize>)>> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let count = u32_at(HEADER)? as usize;
    let mut parts = Vec::with_capacity(count.min(4096));
    let mut at = HEADER + 4;
    for _ in 0..count {
        let req_id = u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?);
        let len = u32_at(at + 8)? as usize;
        let start = at + 12;
        let end = start.checked_add(len).filter(|&end| end <= data.len())?;
        parts.push((req_id, start..end));
        at = end;
    }
    (at == data.len()).then_some(parts)
}

/// Writes the state at `index` to a snapshot file, chunk by chunk.
fn take_snapshot(inner: &Inner, sm: &mut dyn StateMachine, term: u64, index: u64) -> Result<u64, String> {
    let mut w = inner.storage.snapshot_writer(term, index).map_err(|e| e.to_string())?;
    let mut sink = |chunk: &[u8]| w.write_chunk(chunk).map_err(|e| e.to_string());
    sm.snapshot(&mut sink)?;
    let len = w.len();
    w.finish().map_err(|e| e.to_string())?;
    Ok(len)
}
