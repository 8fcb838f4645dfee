//! Writes as Raft log entries, and the state machine that applies them.
//!
//! An entry is a request stamped once by the node that received it: the
//! database, the protocol, the time and the random seed, and the commands.
//! Handlers are functions of (store, argv, time, seed) that iterate in
//! operation order, so applying the same entries in the same order gives
//! the same keyspace on every node. Time never goes backwards in the log:
//! an entry is applied at the later of its stamp and the previous entry's
//! (nodes' clocks differ, and a proposal forwarded by a follower may carry
//! an older stamp than the leader's last one).

use std::sync::Arc;

use bytes::Bytes;
use rhea_cluster::{Applied, Proposal, StateMachine};
use rhea_resp::Out;
use rhea_store::snapshot::{SnapshotReader, SnapshotWriter, DEFAULT_CHUNK_SIZE};
use rhea_store::{Sds, Store};
use tokio::sync::Notify;
use tracing::warn;

use crate::blocking::TimeoutReply;
use crate::client::{Client, ClientInfo};
use crate::table::{flags, CommandSpec, CommandTable};
use crate::{dispatch, Ctx, Shared};

const VERSION: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Independent commands (a pipelined run of writes): each replies.
    Batch = 0,
    /// A MULTI/EXEC transaction: atomic, one array reply.
    Exec = 1,
    /// The leader's active expiry: each `[db, key]` is removed if it has
    /// expired by the entry's time (and only then: it may have been
    /// rewritten since the leader looked).
    Expire = 2,
    /// The leader's eviction: each `[db, key]` is deleted (if it exists)
    /// and counted and announced as evicted.
    Evict = 3,
    /// A transaction with WATCHed keys: `cmds[0]` is `[n]`, the next n are
    /// `[db, key, state]` as `key_state` saw them when EXEC was checked,
    /// the rest the queue. If any key's state differs when the entry is
    /// applied, the transaction is discarded (nil), on every node alike.
    WatchedExec = 4,
}

/// What a WATCHed key looked like: its value digest and expiry, or
/// "none" (missing or logically expired).
pub fn key_state(store: &Store, db: usize, key: &[u8], now_ms: i64) -> Bytes {
    match store.dbs.get(db).and_then(|d| d.get(key, now_ms)) {
        Some(e) => Bytes::from(format!("{:016x}:{}", e.value.digest(), e.expire_at().unwrap_or(0))),
        None => Bytes::from_static(b"none"),
    }
}

/// One log entry's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub kind: Kind,
    pub resp3: bool,
    pub db: u32,
    pub now_ms: i64,
    pub seed: u64,
    pub cmds: Vec<Vec<Bytes>>,
}

/// version, kind, resp3, db u32, now_ms i64, seed u64, command count u32.
const REQUEST_HEADER: usize = 27;

fn write_header(b: &mut [u8], kind: Kind, resp3: bool, db: u32, now_ms: i64, seed: u64, n: u32) {
    b[0] = VERSION;
    b[1] = kind as u8;
    b[2] = resp3 as u8;
    b[3..7].copy_from_slice(&db.to_le_bytes());
    b[7..15].copy_from_slice(&now_ms.to_le_bytes());
    b[15..23].copy_from_slice(&seed.to_le_bytes());
    b[23..27].copy_from_slice(&n.to_le_bytes());
}

fn write_command(p: &mut Proposal, argv: &[Bytes]) {
    p.extend_from_slice(&(argv.len() as u32).to_le_bytes());
    for a in argv {
        p.extend_from_slice(&(a.len() as u32).to_le_bytes());
        p.extend_from_slice(a);
    }
}

impl Request {
    pub fn encode(&self) -> Proposal {
        let size: usize = self.cmds.iter().flatten().map(|a| a.len() + 4).sum::<usize>() + 4 * self.cmds.len();
        let mut p = Proposal::with_capacity(REQUEST_HEADER + size);
        p.extend_from_slice(&[0; REQUEST_HEADER]);
        write_header(p.payload_mut(), self.kind, self.resp3, self.db, self.now_ms, self.seed, self.cmds.len() as u32);
        for argv in &self.cmds {
            write_command(&mut p, argv);
        }
        p
    }

    /// None if the bytes are not an entry this version wrote. The
    /// arguments are slices of `data`, not copies.
    pub fn decode(data: &Bytes) -> Option<Request> {
        let mut r = Reader { data, pos: 0 };
        if r.u8()? != VERSION {
            return None;
        }
        let kind = match r.u8()? {
            0 => Kind::Batch,
            1 => Kind::Exec,
            2 => Kind::Expire,
            3 => Kind::Evict,
            4 => Kind::WatchedExec,
            _ => return None,
        };
        let resp3 = r.u8()? != 0;
        let db = r.u32()?;
        let now_ms = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let seed = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let n = r.u32()? as usize;
        let mut cmds = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let argc = r.u32()? as usize;
            let mut argv = Vec::with_capacity(argc.min(4096));
            for _ in 0..argc {
                let len = r.u32()? as usize;
                let at = r.pos;
                r.take(len)?;
                argv.push(data.slice(at..at + len));
            }
            cmds.push(argv);
        }
        (r.pos == data.len()).then_some(Request { kind, resp3, db, now_ms, seed, cmds })
    }
}

/// A pipelined run of writes, encoded as the commands arrive: one entry
/// of kind Batch, stamped when it is taken.
#[derive(Default)]
pub struct Batch {
    p: Option<Proposal>,
    n: u32,
}

impl Batch {
    pub fn push(&mut self, argv: &[Bytes]) {
        let p = self.p.get_or_insert_with(|| {
            let mut p = Proposal::with_capacity(1024);
            p.extend_from_slice(&[0; REQUEST_HEADER]);
            p
        });
        write_command(p, argv);
        self.n += 1;
    }

    pub fn len(&self) -> usize {
        self.n as usize
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The entry so far, stamped with the client's protocol and database,
    /// the time and a seed; None if no command was pushed. The batch is
    /// empty afterwards.
    pub fn take(&mut self, resp3: bool, db: u32, now_ms: i64, seed: u64) -> Option<Proposal> {
        let mut p = self.p.take()?;
        write_header(p.payload_mut(), Kind::Batch, resp3, db, now_ms, seed, std::mem::take(&mut self.n));
        Some(p)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// What applying an entry answered its proposer.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// RESP bytes, and the client's database afterwards (a transaction may
    /// SELECT).
    Done { db: usize, resp: &'a [u8] },
    /// A blocking command found nothing: the proposer waits for one of its
    /// keys to get data (or the deadline), then proposes it again.
    Block { deadline_ms: Option<i64>, timeout_reply: TimeoutReply },
}

pub fn decode_reply(reply: &[u8]) -> Option<Reply<'_>> {
    let db = u32::from_le_bytes(reply.get(..4)?.try_into().ok()?) as usize;
    match reply.get(4)? {
        0 => Some(Reply::Done { db, resp: &reply[5..] }),
        1 => {
            let d = i64::from_le_bytes(reply.get(5..13)?.try_into().ok()?);
            let timeout_reply = if *reply.get(13)? == 0 { TimeoutReply::NullArray } else { TimeoutReply::Null };
            Some(Reply::Block { deadline_ms: (d >= 0).then_some(d), timeout_reply })
        }
        _ => None,
    }
}

/// Connections waiting for keys to get data (blocking commands on a
/// cluster node): the apply thread wakes them after each entry that fed a
/// key they wait on.
#[derive(Default)]
pub struct Wakeups {
    by_key: parking_lot::Mutex<WaitersByKey>,
}

type WaitersByKey = ahash::HashMap<(usize, Sds), Vec<Arc<Notify>>>;

impl Wakeups {
    /// Starts watching `keys` of `db`: a later write that gives one of them
    /// data wakes `notify` (a permit is kept if nobody is waiting yet).
    pub fn register(&self, store: &mut Store, db: usize, keys: &[Sds], notify: &Arc<Notify>) {
        let mut map = self.by_key.lock();
        for k in keys {
            store.block_on(db, k);
            map.entry((db, k.clone())).or_default().push(notify.clone());
        }
    }

    pub fn unregister(&self, store: &mut Store, db: usize, keys: &[Sds], notify: &Arc<Notify>) {
        let mut map = self.by_key.lock();
        for k in keys {
            store.unblock_on(db, k);
            let slot = (db, k.clone());
            if let Some(v) = map.get_mut(&slot) {
                if let Some(i) = v.iter().position(|n| Arc::ptr_eq(n, notify)) {
                    v.swap_remove(i);
                }
                if v.is_empty() {
                    map.remove(&slot);
                }
            }
        }
    }

    fn wake_ready(&self, store: &mut Store) {
        if store.ready.is_empty() {
            return;
        }
        let map = self.by_key.lock();
        while let Some(slot) = store.ready.pop_front() {
            for n in map.get(&slot).into_iter().flatten() {
                n.notify_one();
            }
        }
    }
}

/// How a request travels when the node is part of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Connection or server state only (PING, CLIENT, CONFIG, SUBSCRIBE...):
    /// run here.
    Local,
    /// Reads the keyspace: run here after a read barrier.
    Read,
    /// Changes the keyspace (or must reach every node: PUBLISH, SCRIPT
    /// LOAD): through the log.
    Write,
}

/// Where `spec` (with arguments `argv`) goes. Scripts may write unless
/// declared read-only; EXEC goes by what it queued.
pub fn route(cmd: &CommandSpec, sub: Option<&CommandSpec>, argv: &[Bytes], client: &Client) -> Route {
    let spec = sub.unwrap_or(cmd);
    match cmd.name {
        "eval" | "evalsha" | "fcall" | "publish" | "spublish" => return Route::Write,
        "script" if sub.is_some_and(|s| s.name == "load" || s.name == "flush") => return Route::Write,
        "exec" => {
            let Some(queue) = &client.multi else { return Route::Local };
            let table = CommandTable::get();
            let writes = queue.iter().any(|q| match table.resolve(q) {
                Ok((c, s)) => route(c, s, q, client) == Route::Write,
                Err(_) => false,
            });
            return if client.multi_dirty {
                Route::Local
            } else if writes {
                Route::Write
            } else {
                Route::Read
            };
        }
        _ => {}
    }
    let _ = argv;
    if spec.has(flags::WRITE) {
        Route::Write
    } else if spec.has(flags::READONLY) {
        Route::Read
    } else {
        Route::Local
    }
}

/// Takes the client's queued transaction for the log, unless a WATCHed key
/// changed (then None, and the caller lets EXEC answer nil). Unwatches.
/// With WATCHed keys, the entry carries their state as seen now, so that a
/// write committed between this check and the entry's turn is caught where
/// the entry is applied.
pub fn take_transaction(shared: &Shared, client: &mut Client) -> Option<(Kind, Vec<Vec<Bytes>>)> {
    let mut store = shared.store.lock();
    let now = crate::now_ms();
    let changed = client.watched.iter().any(|w| {
        let db = &store.dbs[w.db];
        db.watched_version(&w.key) != w.version || (w.live && db.is_expired_present(&w.key, now))
    });
    if changed {
        return None;
    }
    let guards: Vec<Vec<Bytes>> = client
        .watched
        .iter()
        .map(|w| {
            let key = Bytes::copy_from_slice(w.key.as_bytes());
            vec![Bytes::from(w.db.to_string()), key.clone(), key_state(&store, w.db, &key, now)]
        })
        .collect();
    dispatch::unwatch_all(&mut store, client);
    client.multi_dirty = false;
    let queue = client.multi.take()?;
    if guards.is_empty() {
        return Some((Kind::Exec, queue));
    }
    let mut cmds = Vec::with_capacity(1 + guards.len() + queue.len());
    cmds.push(vec![Bytes::from(guards.len().to_string())]);
    cmds.extend(guards);
    cmds.extend(queue);
    Some((Kind::WatchedExec, cmds))
}

/// Applies committed entries to the node's store.
pub struct Applier {
    shared: Arc<Shared>,
    info: Arc<ClientInfo>,
    last_now: i64,
    /// `prefetch`'s (database, key hash) pairs, kept for their allocation.
    prefetch_hashes: Vec<(usize, u64)>,
}

/// Keys prefetched per log entry at most: what they load (a slot line and
/// an entry or two each) stays well inside the L2 cache until used.
const PREFETCH_MAX: usize = 1024;

/// Calls `f(db, first argument)` for each command of a batch or
/// transaction entry's payload, without decoding the rest; stops at the
/// first thing out of place (`Request::decode` reports it when applying).
fn first_args<'a>(payload: &'a [u8], mut f: impl FnMut(usize, &'a [u8])) {
    let mut r = Reader { data: payload, pos: 0 };
    let _ = (|| {
        // The header as `Request::decode` reads it.
        if r.u8()? != VERSION {
            return None;
        }
        let kind = r.u8()?;
        if kind != Kind::Batch as u8 && kind != Kind::Exec as u8 {
            return None;
        }
        r.u8()?; // resp3
        let db = r.u32()? as usize;
        r.take(16)?; // now_ms, seed
        for _ in 0..r.u32()? {
            for i in 0..r.u32()? {
                let len = r.u32()? as usize;
                let arg = r.take(len)?;
                if i == 1 {
                    f(db, arg);
                }
            }
        }
        Some(())
    })();
}

impl Applier {
    pub fn new(shared: Arc<Shared>) -> Self {
        // Outside `apply`, reads served by this node alone must not remove
        // expired keys (see `Store::set_keep_expired`).
        shared.store.lock().set_keep_expired(true);
        let (info, _rx) = ClientInfo::new(0, "raft-log".into(), String::new(), 0);
        Applier { shared, info: Arc::new(info), last_now: 0, prefetch_hashes: Vec::new() }
    }
}

impl StateMachine for Applier {
    /// The log's clock (8 bytes), then the store in rhea-store's snapshot
    /// format. The store lock is taken per chunk: entries are not applied
    /// meanwhile (this runs on the apply thread), and reads do not change
    /// replicated state, so the chunks describe one index.
    fn snapshot(&mut self, sink: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        sink(&self.last_now.to_le_bytes())?;
        let mut w = SnapshotWriter::new(&self.shared.store.lock(), DEFAULT_CHUNK_SIZE);
        loop {
            let chunk = {
                let store = self.shared.store.lock();
                w.next_chunk(&store).map_err(|e| e.to_string())?
            };
            match chunk {
                Some(c) => sink(&c)?,
                None => return Ok(()),
            }
        }
    }

    /// Prefetches the first argument of every command (most commands'
    /// first key; for the others one wasted prefetch): all the slots
    /// first, then all the entries they point at, so a batch of writes
    /// waits for memory about twice instead of three times per key.
    fn prefetch(&mut self, payloads: &[&[u8]]) {
        let store = self.shared.store.lock();
        let hashes = &mut self.prefetch_hashes;
        hashes.clear();
        for p in payloads {
            first_args(p, |db, key| {
                if hashes.len() < PREFETCH_MAX {
                    if let Some(d) = store.dbs.get(db) {
                        let h = d.key_hash(key);
                        d.prefetch_slot(h);
                        hashes.push((db, h));
                    }
                }
            });
        }
        for &(db, h) in hashes.iter() {
            store.dbs[db].prefetch_entry(h);
        }
    }

    fn restore(&mut self, source: &mut dyn FnMut() -> Result<Option<Vec<u8>>, String>) -> Result<(), String> {
        // The old data goes first: never two datasets in memory at once.
        // Readers meanwhile see an empty store; linearizable reads wait for
        // the apply index, which moves only once the new one is in.
        {
            let mut store = self.shared.store.lock();
            for i in 0..store.dbs.len() {
                store.reset_db(i);
            }
        }
        // What the node holds with no data is Raft's, not the dataset's.
        let raft = crate::memory::raft_baseline();
        self.shared.not_counted_for_evict.store(raft, std::sync::atomic::Ordering::Relaxed);
        let mut reader = SnapshotReader::new();
        let mut head: Vec<u8> = Vec::with_capacity(8);
        while let Some(chunk) = source()? {
            let mut rest = &chunk[..];
            if head.len() < 8 {
                let take = (8 - head.len()).min(rest.len());
                head.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
            if !rest.is_empty() {
                reader.feed(rest).map_err(|e| e.to_string())?;
            }
        }
        let last_now = i64::from_le_bytes(head.as_slice().try_into().map_err(|_| "snapshot too short".to_string())?);
        let new = reader.finish().map_err(|e| e.to_string())?;
        let mut store = self.shared.store.lock();
        if new.dbs.len() != store.dbs.len() {
            return Err(format!("snapshot has {} databases, this node {}", new.dbs.len(), store.dbs.len()));
        }
        store.adopt_dbs(new.dbs);
        let cfg = *store.eviction();
        store.set_eviction(cfg);
        self.last_now = last_now;
        Ok(())
    }

    fn apply(&mut self, entry: Applied) -> Bytes {
        let Some(req) = Request::decode(&entry.payload) else {
            warn!(index = entry.index, "a log entry this version cannot read was skipped");
            return reply(0, b"-ERR internal error: unreadable log entry\r\n");
        };
        let now = req.now_ms.max(self.last_now);
        self.last_now = now;
        let shared = &*self.shared;
        let mut out = Out::new(req.resp3);
        let mut client = Client::new(self.info.clone(), true);
        // A blocking command that finds nothing blocks only on the node that
        // proposed it (its client is there); elsewhere it behaves as if its
        // timeout had passed. Neither changes the keyspace.
        client.serving_blocked = !entry.mine;
        let mut store = shared.store.lock();
        let db = req.db as usize;
        if db >= store.dbs.len() {
            return reply(req.db, b"-ERR DB index is out of range\r\n");
        }
        client.db = db;
        // Every node applies this entry at the same time `now` to the same
        // keyspace: a key it finds expired is removed on all of them alike.
        store.set_keep_expired(false);
        let rng = fastrand::Rng::with_seed(req.seed);
        let mut ctx = Ctx { store: &mut store, out: &mut out, client: &mut client, shared, now_ms: now, rng };
        match req.kind {
            Kind::Batch => {
                for argv in &req.cmds {
                    dispatch::run_checked(&mut ctx, argv);
                }
            }
            Kind::Exec => {
                ctx.client.multi = Some(req.cmds);
                dispatch::run_checked(&mut ctx, &[Bytes::from_static(b"EXEC")]);
            }
            Kind::WatchedExec => {
                let mut cmds = req.cmds;
                let n = cmds
                    .first()
                    .and_then(|c| c.first())
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                if n >= cmds.len() {
                    ctx.out.error("ERR internal error: malformed transaction entry");
                } else {
                    let queue = cmds.split_off(n + 1);
                    let changed = cmds[1..].iter().any(|g| match (g.first(), g.get(1), g.get(2)) {
                        (Some(d), Some(key), Some(seen)) => {
                            let d = std::str::from_utf8(d).ok().and_then(|d| d.parse::<usize>().ok());
                            d.is_none_or(|d| key_state(ctx.store, d, key, now) != *seen)
                        }
                        _ => true,
                    });
                    if changed {
                        ctx.out.null_array();
                    } else {
                        ctx.client.multi = Some(queue);
                        dispatch::run_checked(&mut ctx, &[Bytes::from_static(b"EXEC")]);
                    }
                }
            }
            Kind::Expire => {
                for pair in &req.cmds {
                    let (Some(d), Some(key)) = (pair.first(), pair.get(1)) else { continue };
                    let d = std::str::from_utf8(d).ok().and_then(|s| s.parse::<usize>().ok());
                    if let Some(db) = d.and_then(|d| ctx.store.dbs.get_mut(d)) {
                        db.expire_if_needed(key, now);
                    }
                }
            }
            Kind::Evict => {
                let victims: Vec<(usize, &[u8])> = req
                    .cmds
                    .iter()
                    .filter_map(|pair| {
                        let db = std::str::from_utf8(pair.first()?).ok()?.parse::<usize>().ok()?;
                        Some((db, &pair.get(1)?[..]))
                    })
                    .collect();
                let mut me = crate::pubsub::SelfOut { id: ctx.client.id, out: ctx.out };
                crate::memory::apply_evictions(shared, ctx.store, &mut me, &victims, now);
            }
        }
        ctx.flush_expired();
        ctx.store.set_keep_expired(true);
        let final_db = ctx.client.db as u32;
        let block = client.block.take();
        shared.wakeups.wake_ready(&mut store);
        drop(store);
        shared.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match block {
            Some(req) => {
                let mut b = Vec::with_capacity(14);
                b.extend_from_slice(&final_db.to_le_bytes());
                b.push(1);
                b.extend_from_slice(&req.deadline_ms.unwrap_or(-1).to_le_bytes());
                b.push((req.timeout_reply == TimeoutReply::Null) as u8);
                Bytes::from(b)
            }
            None => reply(final_db, &out.buf),
        }
    }
}

fn reply(db: u32, resp: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(5 + resp.len());
    b.extend_from_slice(&db.to_le_bytes());
    b.push(0);
    b.extend_from_slice(resp);
    Bytes::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        let r = Request {
            kind: Kind::Exec,
            resp3: true,
            db: 3,
            now_ms: 1_700_000_000_123,
            seed: 42,
            cmds: vec![vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::new()]],
        };
        let bytes = Bytes::copy_from_slice(r.encode().payload());
        assert_eq!(Request::decode(&bytes), Some(r.clone()));
        // A batch built command by command is the same entry.
        let mut b = Batch::default();
        assert!(b.take(true, 3, 1, 42).is_none());
        let batch = Request { kind: Kind::Batch, ..r.clone() };
        for argv in &batch.cmds {
            b.push(argv);
        }
        b.push(&[Bytes::from_static(b"DEL"), Bytes::from_static(b"k")]);
        let got = Bytes::copy_from_slice(b.take(true, 3, r.now_ms, 42).unwrap().payload());
        let mut want = batch.clone();
        want.cmds.push(vec![Bytes::from_static(b"DEL"), Bytes::from_static(b"k")]);
        assert_eq!(Request::decode(&got), Some(want));
        assert!(b.is_empty() && b.take(true, 3, 1, 42).is_none());
        for cut in 0..bytes.len() {
            assert_eq!(Request::decode(&bytes.slice(..cut)), None, "truncated at {cut}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(Request::decode(&Bytes::from(long)), None);
    }

    /// What the apply thread prefetches: each command's first argument, in
    /// batches and transactions only, and nothing past a damaged payload.
    #[test]
    fn first_args_walks_batches_and_transactions() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        let cmds = vec![vec![b("SET"), b("k1"), b("v")], vec![b("PING")], vec![b("DEL"), b("k2"), b("k3")]];
        let collect = |payload: &[u8]| {
            let mut seen = Vec::new();
            first_args(payload, |db, key| seen.push((db, key.to_vec())));
            seen
        };
        let want = vec![(5, b"k1".to_vec()), (5, b"k2".to_vec())];
        for kind in [Kind::Batch, Kind::Exec] {
            let r = Request { kind, resp3: false, db: 5, now_ms: 1, seed: 2, cmds: cmds.clone() };
            let p = r.encode();
            assert_eq!(collect(p.payload()), want, "{kind:?}");
            // Cut inside "k2" (the last command ends with its 2 bytes, then
            // 4 + 2 for "k3"): the commands before it still count.
            let cut = p.payload().len() - 7;
            assert_eq!(collect(&p.payload()[..cut]), want[..1], "{kind:?} cut");
        }
        let expire = Request { kind: Kind::Expire, resp3: false, db: 5, now_ms: 1, seed: 2, cmds };
        assert!(collect(expire.encode().payload()).is_empty());
        assert!(collect(b"").is_empty());
    }
}
