//! The Raft log: a [`raft::Storage`] held in memory and, when the node
//! persists, written ahead to segment files; plus the snapshot files beside
//! it.
//!
//! # Layout of the data directory
//!
//! ```text
//! <dir>/LOCK                      held (flock) while a process has the log open
//! <dir>/wal/<seq>.wal             log segments, oldest first (seq: 20 digits)
//! <dir>/snap-<term>-<index>.rhs   the snapshot data (rhea-store's snapshot format)
//! <dir>/snap-<term>-<index>.tmp   a snapshot being written or received
//! ```
//!
//! A segment is a sequence of records, `len u32 LE | crc32 u32 LE | kind u8
//! | body` (`len` counts kind and body, the CRC covers both):
//!
//! - **entries**: protobuf Entries, each preceded by its length (u32 LE). An
//!   entry at an index the log already holds replaces it and everything
//!   after it (Raft's conflicting suffix), as in etcd's WAL;
//! - **meta**: the whole metadata, `flags u8 | trunc index u64 | trunc term
//!   u64` then HardState, ConfState and SnapshotMetadata (protobuf, each
//!   length-prefixed). `trunc` is the entry just before the first one kept:
//!   entries up to it are dropped (a compaction); with flag 1 every entry is
//!   (a snapshot installed from the leader: the log restarts after it).
//!
//! Every segment starts with a meta record, so once the entries of the
//! older segments are all compacted, and a meta record saying so is on
//! disk, those segments are deleted. Reading a log back replays every
//! segment; an entry past the end of what was replayed so far (the older
//! segments were deleted) starts afresh there, and the final `trunc` must
//! then cover the gap, or the log is refused as damaged.
//!
//! Snapshot files are written under a temporary name, fsynced and renamed,
//! and only then referenced from the log; a file is named by its term and
//! index, so a crash between the rename and the metadata write leaves an
//! unreferenced file (removed at the next open), never metadata that points
//! at the wrong data.
//!
//! # Durability
//!
//! Writes go to a buffer; [`DiskStorage::persist`] writes it at the end of
//! the current segment and makes it durable (one `fdatasync`). The Raft
//! loop calls it once per Ready, after the Ready's entries, HardState and
//! snapshot are recorded and before the Ready's persisted messages are sent
//! (group commit: one write and one fsync per Ready, however many entries
//! it carries). A crash can leave the last record of the last segment torn
//! (cut short, or garbage after it): its CRC or length gives it away and
//! the segment is cut back to the last whole record, which is the state the
//! last `persist` made durable or one written after it (never acknowledged).
//!
//! A node without persistence ([`DiskStorage::memory`]) keeps the same log
//! in memory only; its data directory holds just its snapshot files.
//!
//! # Memory
//!
//! The entries since the last compaction are kept in memory (Raft reads
//! them back to send to followers and to apply them); the log is compacted
//! after each snapshot, so it holds about `snapshot_bytes` of entries at
//! most, plus the tail kept for lagging followers. [`DiskStorage::log_bytes`]
//! says how much, for memory accounting.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("raft log i/o: {0}")]
    Io(#[from] io::Error),
    #[error("raft log in {0:?} is in use by another process")]
    Locked(PathBuf),
    #[error("raft log is corrupt: {0}")]
    Corrupt(String),
    #[error("append at index {index} would overwrite compacted entries (first index {first})")]
    Compacted { index: u64, first: u64 },
    #[error("append at index {index} leaves a gap after the last index {last}")]
    Gap { index: u64, last: u64 },
    #[error("can't compact to index {index}: entries before {limit} only")]
    CompactBeyond { index: u64, limit: u64 },
    #[error("snapshot at index {index} is older than the log's first index {first}")]
    SnapshotOutOfDate { index: u64, first: u64 },
    #[error("no snapshot file for term {term} index {index}")]
    NoSnapshotFile { term: u64, index: u64 },
}

impl From<LogError> for raft::Error {
    fn from(e: LogError) -> Self {
        raft::Error::Store(raft::StorageError::Other(Box::new(e)))
    }
}

/// A segment is closed and a new one started once it holds this much.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Heap a node holds for Raft besides the log's entries, which are counted
/// apart ([`log_bytes_in_process`]): the write buffer, the peers' send and
/// receive buffers (up to 1 MB batches each), entries on their way to the
/// apply thread. Left out of the eviction budget with the entries.
pub const CACHE_BYTES: u64 = 8 << 20;

const REC_ENTRIES: u8 = 1;
const REC_META: u8 = 2;
const META_RESET: u8 = 1;
/// len + crc + kind.
const REC_HEADER: usize = 9;
/// A record longer than this is damage, not data (an entry is at most
/// raft's max_size_per_msg, a few MB; a Ready's batch stays well under).
const REC_MAX: usize = 1 << 30;

fn corrupt(what: impl Into<String>) -> LogError {
    LogError::Corrupt(what.into())
}

/// What an entry costs in memory, for `log_bytes`.
fn entry_cost(e: &Entry) -> u64 {
    (e.data.len() + e.context.len() + std::mem::size_of::<Entry>()) as u64
}

/// The log and its metadata, as they are now (in memory; on disk too up to
/// the last `persist`).
#[derive(Debug, Default)]
struct State {
    hard: HardState,
    conf: ConfState,
    snap: SnapshotMetadata,
    /// Index and term of the entry just before the first one kept.
    trunc: (u64, u64),
    /// The entries from `trunc.0 + 1` on.
    ents: VecDeque<Entry>,
    /// What `ents` costs (`entry_cost`); every change is also made to
    /// `LOG_BYTES`, and a dropped State takes its share back out.
    bytes: u64,
}

impl Drop for State {
    fn drop(&mut self) {
        LOG_BYTES.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl State {
    fn first_index(&self) -> u64 {
        self.trunc.0 + 1
    }

    fn last(&self) -> u64 {
        self.trunc.0 + self.ents.len() as u64
    }

    fn forget(&mut self, cost: u64) {
        self.bytes -= cost;
        LOG_BYTES.fetch_sub(cost, Ordering::Relaxed);
    }

    /// Drops every entry: the log restarts after `trunc`.
    fn reset(&mut self, trunc: (u64, u64)) {
        self.ents.clear();
        self.forget(self.bytes);
        self.trunc = trunc;
    }

    /// Drops the entries from `index` on.
    fn truncate_from(&mut self, index: u64) {
        let keep = index.saturating_sub(self.first_index()) as usize;
        let cost: u64 = self.ents.drain(keep.min(self.ents.len())..).map(|e| entry_cost(&e)).sum();
        self.forget(cost);
    }

    /// Drops the entries up to `index` (which becomes `trunc`, with `term`).
    fn drop_through(&mut self, index: u64, term: u64) {
        if index >= self.last() {
            return self.reset((index, term));
        }
        let n = index.saturating_sub(self.trunc.0) as usize;
        let cost: u64 = self.ents.drain(..n).map(|e| entry_cost(&e)).sum();
        self.forget(cost);
        self.trunc = (index, term);
    }

    fn push(&mut self, e: Entry) {
        let cost = entry_cost(&e);
        self.bytes += cost;
        LOG_BYTES.fetch_add(cost, Ordering::Relaxed);
        self.ents.push_back(e);
    }

    fn meta_record(&self, flags: u8, out: &mut Vec<u8>) -> Result<(), LogError> {
        let mut body = vec![flags];
        body.extend_from_slice(&self.trunc.0.to_le_bytes());
        body.extend_from_slice(&self.trunc.1.to_le_bytes());
        for m in [&self.hard as &dyn protobuf::Message, &self.conf, &self.snap] {
            let b = m.write_to_bytes().map_err(|e| corrupt(format!("encoding metadata: {e}")))?;
            body.extend_from_slice(&(b.len() as u32).to_le_bytes());
            body.extend_from_slice(&b);
        }
        push_record(out, REC_META, &body);
        Ok(())
    }
}

fn push_record(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let at = begin_record(out, kind);
    out.extend_from_slice(body);
    finish_record(out, at);
}

/// Starts a record at the end of `out` (header to be filled in by
/// `finish_record`); returns where it starts.
fn begin_record(out: &mut Vec<u8>, kind: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(kind);
    at
}

fn finish_record(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 8) as u32;
    let crc = crc32fast::hash(&out[at + 8..]);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The next whole record in `buf` at `*pos`: (kind, body), or None at the
/// end or at a torn or damaged record.
fn next_record<'a>(buf: &'a [u8], pos: &mut usize) -> Option<(u8, &'a [u8])> {
    let rest = buf.get(*pos..)?;
    if rest.len() < REC_HEADER {
        return None;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().ok()?);
    if len == 0 || len > REC_MAX || rest.len() < 8 + len {
        return None;
    }
    let payload = &rest[8..8 + len];
    if crc32fast::hash(payload) != crc {
        return None;
    }
    *pos += 8 + len;
    Some((payload[0], &payload[1..]))
}

/// Splits a length-prefixed field off the front of `b`.
fn field<'a>(b: &mut &'a [u8], what: &str) -> Result<&'a [u8], LogError> {
    let len = b.get(..4).and_then(|l| l.try_into().ok()).map(u32::from_le_bytes).ok_or_else(|| corrupt(what))?;
    let len = len as usize;
    let f = b.get(4..4 + len).ok_or_else(|| corrupt(format!("{what} is cut short")))?;
    *b = &b[4 + len..];
    Ok(f)
}

fn u64_at(b: &[u8], at: usize, what: &str) -> Result<u64, LogError> {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes).ok_or_else(|| corrupt(what))
}

/// Replays one record into `s`. `gap` is set to the index before an entry
/// that followed a hole (see the module doc), and cleared by the meta
/// record that covers it.
fn replay(s: &mut State, kind: u8, mut body: &[u8], gap: &mut u64) -> Result<(), LogError> {
    match kind {
        REC_ENTRIES => {
            while !body.is_empty() {
                let b = field(&mut body, "entry")?;
                let e = Entry::parse_from_bytes(b).map_err(|err| corrupt(format!("entry: {err}")))?;
                if e.index <= s.trunc.0 {
                    return Err(corrupt(format!("entry {} rewrites the compacted log (up to {})", e.index, s.trunc.0)));
                }
                if e.index > s.last() + 1 {
                    // Older segments were deleted: the log restarts here.
                    *gap = e.index - 1;
                    s.drop_through(e.index - 1, 0);
                }
                s.truncate_from(e.index);
                s.push(e);
            }
            Ok(())
        }
        REC_META => {
            let flags = *body.first().ok_or_else(|| corrupt("empty meta record"))?;
            let trunc = (u64_at(body, 1, "meta record")?, u64_at(body, 9, "meta record")?);
            body = &body[17.min(body.len())..];
            let hard = HardState::parse_from_bytes(field(&mut body, "hard state")?)
                .map_err(|e| corrupt(format!("hard state: {e}")))?;
            let conf = ConfState::parse_from_bytes(field(&mut body, "conf state")?)
                .map_err(|e| corrupt(format!("conf state: {e}")))?;
            let snap = SnapshotMetadata::parse_from_bytes(field(&mut body, "snapshot metadata")?)
                .map_err(|e| corrupt(format!("snapshot metadata: {e}")))?;
            if flags & META_RESET != 0 || trunc.0 >= *gap {
                *gap = 0;
            }
            if flags & META_RESET != 0 {
                s.reset(trunc);
            } else if trunc.0 > s.trunc.0 {
                s.drop_through(trunc.0, trunc.1);
            } else if trunc.0 == s.trunc.0 {
                // The term of a restart after a hole is only known here.
                s.trunc.1 = trunc.1;
            }
            s.hard = hard;
            s.conf = conf;
            s.snap = snap;
            Ok(())
        }
        k => Err(corrupt(format!("unknown record kind {k}"))),
    }
}

/// The segment files, oldest first, as (seq, path).
fn list_segments(wal: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut segs = Vec::new();
    for de in fs::read_dir(wal)? {
        let path = de?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(seq) = name.strip_suffix(".wal").and_then(|s| s.parse::<u64>().ok()) {
            segs.push((seq, path));
        }
    }
    segs.sort();
    Ok(segs)
}

fn segment_path(wal: &Path, seq: u64) -> PathBuf {
    wal.join(format!("{seq:020}.wal"))
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// What waits to be written: records are added here under their own lock,
/// so that the Raft thread recording a Ready never waits for an fsync in
/// progress on another thread.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// The hard state changed since the last meta record: `Some(true)` if
    /// its term or vote did (durable before the next message goes out),
    /// `Some(false)` for the commit index alone (written with the next
    /// records; losing it in a crash is harmless, Raft learns it again).
    hard_dirty: Option<bool>,
    /// Highest entry index in `buf`.
    top: u64,
    /// The trunc index of the last meta record in `buf`.
    trunc: Option<u64>,
}

impl Pending {
    fn meta(&mut self, s: &State, flags: u8) -> Result<(), LogError> {
        s.meta_record(flags, &mut self.buf)?;
        self.hard_dirty = None;
        self.trunc = Some(s.trunc.0);
        Ok(())
    }
}

/// The segment files: the one being written and the closed ones.
struct Segments {
    dir: PathBuf,
    /// A segment is closed once it holds this much (SEGMENT_BYTES; less in
    /// tests).
    segment_bytes: u64,
    file: File,
    seq: u64,
    len: u64,
    /// Closed segments: (seq, highest entry index written in it).
    closed: Vec<(u64, u64)>,
    /// Highest entry index written in the current segment.
    top: u64,
    /// The trunc index of the last meta record on disk: segments whose
    /// entries are all at or below it can go.
    durable_trunc: u64,
}

impl Segments {
    /// Starts segment `seq` with a meta record of `s` (the whole state, all
    /// of it on disk already) and makes it durable.
    fn create(dir: &Path, seq: u64, s: &State, closed: Vec<(u64, u64)>, segment_bytes: u64) -> Result<Self, LogError> {
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
        let mut buf = Vec::new();
        s.meta_record(0, &mut buf)?;
        file.write_all(&buf)?;
        file.sync_data()?;
        sync_dir(dir)?;
        Ok(Segments {
            dir: dir.to_path_buf(),
            segment_bytes,
            file,
            seq,
            len: buf.len() as u64,
            closed,
            top: 0,
            durable_trunc: s.trunc.0,
        })
    }

    /// Closes the current segment and starts the next one.
    fn rotate(&mut self, s: &State) -> Result<(), LogError> {
        let mut closed = std::mem::take(&mut self.closed);
        closed.push((self.seq, self.top));
        *self = Segments::create(&self.dir.clone(), self.seq + 1, s, closed, self.segment_bytes)?;
        Ok(())
    }

    /// Deletes the closed segments whose entries are all compacted.
    fn delete_compacted(&mut self) -> Result<(), LogError> {
        let before = self.closed.len();
        let mut keep = Vec::with_capacity(before);
        for &(seq, top) in &self.closed {
            if top <= self.durable_trunc {
                fs::remove_file(segment_path(&self.dir, seq))?;
            } else {
                keep.push((seq, top));
            }
        }
        if keep.len() != before {
            sync_dir(&self.dir)?;
        }
        self.closed = keep;
        Ok(())
    }
}

struct Inner {
    dir: PathBuf,
    state: RwLock<State>,
    /// None (both): memory only. Lock order: segments, pending, state.
    segments: Mutex<Option<Segments>>,
    pending: Mutex<Option<Pending>>,
    _lock: File,
}

/// Heap held by the entries of every log open in this process: memory
/// accounting is per process (the allocator's count), so is this.
static LOG_BYTES: AtomicU64 = AtomicU64::new(0);

/// Heap held in this process by Raft log entries ([`DiskStorage::log_bytes`]
/// of every open log).
pub fn log_bytes_in_process() -> u64 {
    LOG_BYTES.load(Ordering::Relaxed)
}

/// The Raft log, HardState, ConfState and snapshot metadata of one node,
/// in a data directory. Cheap to clone (the clones share the log).
#[derive(Clone)]
pub struct DiskStorage {
    inner: Arc<Inner>,
}

impl DiskStorage {
    /// Opens (or creates) the log in `dir`: replays its segments, checks
    /// what they hold (entries contiguous with non-decreasing terms, a
    /// commit index within the log, metadata decodable), cuts a torn last
    /// record off, and removes snapshot files it does not reference.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LogError> {
        Self::open_with(dir.as_ref(), Some(SEGMENT_BYTES))
    }

    /// A log kept in memory only (a node without persistence); snapshot
    /// files still go to `dir`, which is emptied first.
    pub fn memory(dir: impl AsRef<Path>) -> Result<Self, LogError> {
        let dir = dir.as_ref();
        let _ = fs::remove_dir_all(dir);
        Self::open_with(dir, None)
    }

    /// `segment_bytes`: None for a log in memory.
    fn open_with(dir: &Path, segment_bytes: Option<u64>) -> Result<Self, LogError> {
        let dir = dir.to_path_buf();
        fs::create_dir_all(&dir)?;
        if dir.join("log").join("db").exists() {
            return Err(corrupt(format!(
                "{} holds a log in the old (sled) format; move it away to rejoin the cluster empty",
                dir.display()
            )));
        }
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK"))?;
        // A log closed a moment ago in this process may still be held by a
        // thread that is finishing; another process holding it is an error.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(LogError::Locked(dir)),
                Err(fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
        let mut s = State::default();
        let segments = if let Some(segment_bytes) = segment_bytes {
            let wal_dir = dir.join("wal");
            fs::create_dir_all(&wal_dir)?;
            let segs = list_segments(&wal_dir)?;
            let mut gap = 0;
            let mut closed = Vec::new();
            for (n, (seq, path)) in segs.iter().enumerate() {
                let buf = fs::read(path)?;
                let mut pos = 0;
                let mut top = 0;
                while let Some((kind, body)) = next_record(&buf, &mut pos) {
                    replay(&mut s, kind, body, &mut gap).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
                    top = top.max(s.last());
                }
                if pos < buf.len() {
                    if n + 1 < segs.len() {
                        return Err(corrupt(format!("{} is damaged at byte {pos}", path.display())));
                    }
                    // A torn last record: what follows the last whole one
                    // was never made durable.
                    let f = OpenOptions::new().write(true).open(path)?;
                    f.set_len(pos as u64)?;
                    f.sync_all()?;
                }
                closed.push((*seq, top));
            }
            if gap != 0 {
                return Err(corrupt(format!("log has a hole: entries before {} missing", gap + 1)));
            }
            let next = segs.last().map_or(1, |(seq, _)| seq + 1);
            Some(Segments::create(&wal_dir, next, &s, closed, segment_bytes)?)
        } else {
            None
        };
        // Replaying keeps the entries contiguous; their terms it does not check.
        let mut last_term = s.trunc.1;
        for e in &s.ents {
            if e.term < last_term {
                return Err(corrupt(format!("entry {} has term {} below {last_term}", e.index, e.term)));
            }
            last_term = e.term;
        }
        if s.hard.commit > s.last() {
            return Err(corrupt(format!("commit index {} beyond the last entry {}", s.hard.commit, s.last())));
        }
        let storage = DiskStorage {
            inner: Arc::new(Inner {
                dir,
                state: RwLock::new(s),
                pending: Mutex::new(segments.as_ref().map(|_| Pending::default())),
                segments: Mutex::new(segments),
                _lock: lock,
            }),
        };
        if let Some(g) = storage.inner.segments.lock().as_mut() {
            g.delete_compacted()?;
        }
        storage.remove_stale_snapshot_files()?;
        Ok(storage)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Heap held by the entries in memory.
    pub fn log_bytes(&self) -> u64 {
        self.inner.state.read().bytes
    }

    /// Makes every write so far durable: one write and one fsync (none if
    /// nothing is waiting). Call once per Ready, before sending the Ready's
    /// persisted messages; another thread may call it meanwhile (records
    /// keep being added while the fsync runs, and go with the next one).
    /// Returns the bytes written (0 for a log in memory).
    pub fn persist(&self) -> Result<usize, LogError> {
        let mut g = self.inner.segments.lock();
        let Some(g) = g.as_mut() else { return Ok(0) };
        let (buf, top, trunc) = {
            let mut p = self.inner.pending.lock();
            let Some(p) = p.as_mut() else { return Ok(0) };
            if p.hard_dirty == Some(true) || (p.hard_dirty.is_some() && !p.buf.is_empty()) {
                p.meta(&self.inner.state.read(), 0)?;
            }
            (std::mem::take(&mut p.buf), std::mem::take(&mut p.top), p.trunc.take())
        };
        let n = buf.len();
        if n == 0 {
            return Ok(0);
        }
        g.file.write_all(&buf)?;
        g.len += n as u64;
        g.top = g.top.max(top);
        g.file.sync_data()?;
        if let Some(t) = trunc {
            g.durable_trunc = t;
        }
        let mut p = self.inner.pending.lock();
        if let Some(p) = p.as_mut() {
            if p.buf.is_empty() {
                if g.len >= g.segment_bytes {
                    // Nothing is waiting, so the state is what is on disk:
                    // the next segment's first record.
                    let s = self.inner.state.read();
                    g.rotate(&s)?;
                    p.hard_dirty = None;
                }
                // Keep the buffer's allocation for the next Ready.
                let mut buf = buf;
                buf.clear();
                p.buf = buf;
            }
        }
        drop(p);
        g.delete_compacted()?;
        Ok(n)
    }

    /// Applies `f` to the state, then records the metadata (a meta record
    /// with `flags`) while both are locked, so the log on disk sees changes
    /// in the order they happened.
    fn change_meta(&self, flags: u8, f: impl FnOnce(&mut State)) -> Result<(), LogError> {
        let mut p = self.inner.pending.lock();
        let mut s = self.inner.state.write();
        f(&mut s);
        if let Some(p) = p.as_mut() {
            p.meta(&s, flags)?;
        }
        Ok(())
    }

    /// A fresh log (no entries, no term, no configuration).
    pub fn is_fresh(&self) -> bool {
        let s = self.inner.state.read();
        s.last() == 0 && s.hard.term == 0 && s.conf.voters.is_empty() && s.conf.learners.is_empty()
    }

    /// Bootstraps a new cluster's log with its initial voters, as
    /// `MemStorage::new_with_conf_state` does. Does nothing (returns false)
    /// if the log already holds state: a restarted node keeps its own.
    pub fn initialize_with_conf_state(&self, cs: ConfState) -> Result<bool, LogError> {
        if !self.is_fresh() {
            return Ok(false);
        }
        self.set_conf_state(cs)?;
        Ok(true)
    }

    pub fn hard_state(&self) -> HardState {
        self.inner.state.read().hard.clone()
    }

    pub fn conf_state(&self) -> ConfState {
        self.inner.state.read().conf.clone()
    }

    /// The newest snapshot's metadata (index 0: none).
    pub fn snapshot_metadata(&self) -> SnapshotMetadata {
        self.inner.state.read().snap.clone()
    }

    /// Records the hard state; durable with the next `persist` (one meta
    /// record however many times it changed), except a change of the
    /// commit index alone, which waits for the next `persist` that writes
    /// something else: it needs no fsync of its own.
    pub fn set_hardstate(&self, hs: HardState) -> Result<(), LogError> {
        let mut p = self.inner.pending.lock();
        let mut s = self.inner.state.write();
        let vote_or_term = hs.term != s.hard.term || hs.vote != s.hard.vote;
        s.hard = hs;
        if let Some(p) = p.as_mut() {
            p.hard_dirty = Some(vote_or_term || p.hard_dirty == Some(true));
        }
        Ok(())
    }

    /// Records a new commit index (a LightReady's); durable with the next
    /// `persist` (losing it in a crash is harmless: Raft learns it again).
    pub fn set_commit(&self, commit: u64) -> Result<(), LogError> {
        let mut hs = self.hard_state();
        hs.commit = commit;
        self.set_hardstate(hs)
    }

    pub fn set_conf_state(&self, cs: ConfState) -> Result<(), LogError> {
        self.change_meta(0, |s| s.conf = cs)
    }

    /// Appends entries, replacing any existing entries from the first new
    /// index on (Raft's conflicting suffix).
    pub fn append(&self, ents: &[Entry]) -> Result<(), LogError> {
        let Some(first_new) = ents.first() else {
            return Ok(());
        };
        let mut p = self.inner.pending.lock();
        let mut s = self.inner.state.write();
        if first_new.index < s.first_index() {
            return Err(LogError::Compacted { index: first_new.index, first: s.first_index() });
        }
        if first_new.index > s.last() + 1 {
            return Err(LogError::Gap { index: first_new.index, last: s.last() });
        }
        for (i, e) in ents.iter().enumerate() {
            if e.index != first_new.index + i as u64 {
                return Err(LogError::Gap { index: e.index, last: first_new.index + i as u64 - 1 });
            }
        }
        if let Some(p) = p.as_mut() {
            let rec = begin_record(&mut p.buf, REC_ENTRIES);
            for e in ents {
                let at = p.buf.len();
                p.buf.extend_from_slice(&[0; 4]);
                if let Err(err) = e.write_to_vec(&mut p.buf) {
                    p.buf.truncate(rec);
                    return Err(corrupt(format!("encoding entry {}: {err}", e.index)));
                }
                let len = (p.buf.len() - at - 4) as u32;
                p.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
            }
            finish_record(&mut p.buf, rec);
            p.top = p.top.max(first_new.index + ents.len() as u64 - 1);
        }
        s.truncate_from(first_new.index);
        for e in ents {
            s.push(e.clone());
        }
        Ok(())
    }

    /// The first index of the longest run of entries ending at `upto` that
    /// holds at most `max_bytes` (`log_bytes` terms): compacting there
    /// bounds what a kept tail costs in memory, however large the entries.
    pub fn tail_start(&self, upto: u64, max_bytes: u64) -> u64 {
        let s = self.inner.state.read();
        let end = upto.min(s.last()).saturating_sub(s.trunc.0) as usize;
        let mut bytes = 0;
        for (i, e) in s.ents.range(..end).enumerate().rev() {
            bytes += entry_cost(e);
            if bytes > max_bytes {
                return s.first_index() + i as u64 + 1;
            }
        }
        s.first_index()
    }

    /// Drops the entries before `compact_index` (which becomes the first
    /// index). Only entries a snapshot covers can go: `compact_index` may
    /// be at most the snapshot's index + 1.
    pub fn compact(&self, compact_index: u64) -> Result<(), LogError> {
        let term = {
            let s = self.inner.state.read();
            if compact_index <= s.first_index() {
                return Ok(());
            }
            if compact_index > s.last() + 1 {
                return Err(LogError::CompactBeyond { index: compact_index, limit: s.last() + 1 });
            }
            if compact_index > s.snap.index + 1 {
                return Err(LogError::CompactBeyond { index: compact_index, limit: s.snap.index + 1 });
            }
            self.term_locked(&s, compact_index - 1)
                .map_err(|e| corrupt(format!("term of entry {}: {e}", compact_index - 1)))?
        };
        self.change_meta(0, |s| s.drop_through(compact_index - 1, term))
    }

    /// Installs a snapshot received from the leader (after its data was
    /// loaded into the store): the log restarts after it, the commit index
    /// and configuration become the snapshot's.
    pub fn apply_snapshot(&self, meta: SnapshotMetadata) -> Result<(), LogError> {
        {
            let s = self.inner.state.read();
            if meta.index < s.first_index() {
                return Err(LogError::SnapshotOutOfDate { index: meta.index, first: s.first_index() });
            }
        }
        self.change_meta(META_RESET, |s| {
            s.reset((meta.index, meta.term));
            s.hard.term = s.hard.term.max(meta.term);
            s.hard.commit = meta.index;
            s.conf = meta.get_conf_state().clone();
            s.snap = meta;
        })?;
        self.remove_stale_snapshot_files()
    }

    // ------------------------------------------------------------ snapshots

    fn snapshot_file(&self, term: u64, index: u64, ext: &str) -> PathBuf {
        self.inner.dir.join(format!("snap-{term:020}-{index:020}.{ext}"))
    }

    /// The file holding the data of the snapshot at (term, index).
    pub fn snapshot_path(&self, term: u64, index: u64) -> PathBuf {
        self.snapshot_file(term, index, "rhs")
    }

    /// Starts writing the data of a snapshot at (term, index), chunk by
    /// chunk: a snapshot this node takes, or one it receives.
    pub fn snapshot_writer(&self, term: u64, index: u64) -> Result<SnapshotFileWriter, LogError> {
        let tmp = self.snapshot_file(term, index, "tmp");
        let file = File::create(&tmp)?;
        Ok(SnapshotFileWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            tmp,
            path: self.snapshot_path(term, index),
            dir: self.inner.dir.clone(),
            len: 0,
            synced: 0,
        })
    }

    /// Records a snapshot this node took (its file written and finished):
    /// Raft may now send it to followers, and the log can be compacted up
    /// to its index. Durable on return; older snapshot files are removed.
    pub fn record_snapshot(&self, meta: SnapshotMetadata) -> Result<(), LogError> {
        if !self.snapshot_path(meta.term, meta.index).is_file() {
            return Err(LogError::NoSnapshotFile { term: meta.term, index: meta.index });
        }
        {
            let s = self.inner.state.read();
            if meta.index < s.snap.index || meta.index > s.last() {
                return Err(LogError::SnapshotOutOfDate { index: meta.index, first: s.snap.index });
            }
        }
        self.change_meta(0, |s| s.snap = meta)?;
        self.persist()?;
        self.remove_stale_snapshot_files()
    }

    /// The newest snapshot's metadata and a reader over its data, if there
    /// is one.
    pub fn open_snapshot(&self) -> Result<Option<(SnapshotMetadata, SnapshotFileReader)>, LogError> {
        let meta = self.snapshot_metadata();
        if meta.index == 0 {
            return Ok(None);
        }
        let reader = SnapshotFileReader::open(&self.snapshot_path(meta.term, meta.index))?;
        Ok(Some((meta, reader)))
    }

    /// Removes snapshot files other than the current one, and unfinished
    /// ones (a node never resumes a half-written snapshot).
    fn remove_stale_snapshot_files(&self) -> Result<(), LogError> {
        let keep = {
            let snap = &self.inner.state.read().snap;
            self.snapshot_path(snap.term, snap.index)
        };
        for de in fs::read_dir(&self.inner.dir)? {
            let path = de?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("snap-") && (name.ends_with(".rhs") || name.ends_with(".tmp")) && path != keep {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    fn term_locked(&self, s: &State, idx: u64) -> raft::Result<u64> {
        if idx == s.trunc.0 {
            return Ok(s.trunc.1);
        }
        if idx < s.first_index() {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        match s.ents.get((idx - s.first_index()) as usize) {
            Some(e) => Ok(e.term),
            None => Err(raft::Error::Store(raft::StorageError::Unavailable)),
        }
    }
}

impl Storage for DiskStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let s = self.inner.state.read();
        Ok(RaftState::new(s.hard.clone(), s.conf.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let s = self.inner.state.read();
        if low < s.first_index() {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        if high > s.last() + 1 {
            return Err(raft::Error::Store(raft::StorageError::Unavailable));
        }
        let from = (low - s.first_index()) as usize;
        let to = (high - s.first_index()) as usize;
        let mut out = Vec::with_capacity(to.saturating_sub(from).min(1024));
        let mut size = 0u64;
        for e in s.ents.range(from..to.max(from)) {
            if max_size != u64::MAX {
                size += u64::from(e.compute_size());
                // At least one entry, then as many as fit in max_size.
                if !out.is_empty() && size > max_size {
                    break;
                }
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let s = self.inner.state.read();
        self.term_locked(&s, idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.inner.state.read().first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.inner.state.read().last())
    }

    /// The newest snapshot taken by this node (its data is the file's
    /// length, little-endian u64: the transport streams the file itself).
    /// Unavailable until one at least as new as `request_index` exists: the
    /// caller should then take one.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let meta = self.snapshot_metadata();
        let unavailable = raft::Error::Store(raft::StorageError::SnapshotTemporarilyUnavailable);
        if meta.index == 0 || meta.index < request_index {
            return Err(unavailable);
        }
        let Ok(fmeta) = fs::metadata(self.snapshot_path(meta.term, meta.index)) else {
            return Err(unavailable);
        };
        let mut snap = Snapshot::default();
        snap.set_data(fmeta.len().to_le_bytes().to_vec().into());
        snap.set_metadata(meta);
        Ok(snap)
    }
}

/// A snapshot's data being written to disk, chunk by chunk.
pub struct SnapshotFileWriter {
    file: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    len: u64,
    synced: u64,
}

/// Dirty snapshot bytes allowed before they are written back. A whole
/// snapshot's worth of dirty pages flushed by one final fsync stalls the
/// Raft log's own fsync behind it (ext4 commits ordered data with its
/// journal): a 31 MB snapshot held the raft threads of all three nodes of
/// a test cluster past the election timeout. Syncing every few MB keeps
/// each of the log's fsyncs waiting for a few MB at most.
const SNAPSHOT_SYNC_BYTES: u64 = 4 << 20;

impl SnapshotFileWriter {
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), LogError> {
        self.file.write_all(chunk)?;
        self.len += chunk.len() as u64;
        if self.len - self.synced >= SNAPSHOT_SYNC_BYTES {
            self.file.flush()?;
            self.file.get_ref().sync_data()?;
            self.synced = self.len;
        }
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes the file durable under its final name; returns that name.
    pub fn finish(self) -> Result<PathBuf, LogError> {
        let file = self.file.into_inner().map_err(|e| LogError::Io(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(self.path)
    }
}

/// Reads a snapshot file back in chunks (to send it, or to rebuild the
/// store from it).
pub struct SnapshotFileReader {
    file: File,
    len: u64,
}

impl SnapshotFileReader {
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(SnapshotFileReader { file, len })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next chunk of at most `max` bytes, or None at the end.
    pub fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, LogError> {
        let mut buf = vec![0u8; max.max(1)];
        let mut n = 0;
        while n < buf.len() {
            match self.file.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(n);
        Ok((n > 0).then_some(buf))
    }
}

#[cfg(test)]
mod tests {
    //! raft-rs's MemStorage tests (src/storage.rs), ported to the disk log,
    //! plus reopen and crash tests. raft-rs sets up its log by assigning
    //! entries 3..=5 directly; here the same log is a snapshot at index 2
    //! (term 2) followed by appended entries 3..=5, so `term(2)` answers the
    //! retained term of the entry before the first index (2) where raft-rs's
    //! setup has none, and index 1 is the compacted one.
    #![allow(clippy::field_reassign_with_default)]
    use super::*;
    use raft::{Error as RaftError, StorageError};

    fn new_entry(index: u64, term: u64) -> Entry {
        let mut e = Entry::default();
        e.term = term;
        e.index = index;
        e
    }

    fn entry_with_data(index: u64, term: u64, data: &[u8]) -> Entry {
        let mut e = new_entry(index, term);
        e.data = data.to_vec().into();
        e
    }

    fn meta(index: u64, term: u64, voters: Vec<u64>) -> SnapshotMetadata {
        let mut m = SnapshotMetadata::default();
        m.index = index;
        m.term = term;
        m.mut_conf_state().voters = voters;
        m
    }

    /// A log holding entries `ents` (contiguous), after a snapshot at the
    /// index before the first.
    fn storage_with(dir: &Path, ents: &[Entry]) -> DiskStorage {
        let s = DiskStorage::open(dir).expect("open");
        if let Some(first) = ents.first() {
            s.apply_snapshot(meta(first.index - 1, first.term - 1, vec![1, 2, 3])).expect("base");
        }
        s.append(ents).expect("append");
        s
    }

    /// Takes a (dataless) snapshot at `index`, as the apply thread would.
    fn take_snapshot(s: &DiskStorage, index: u64, voters: Vec<u64>) {
        let term = s.term(index).expect("term");
        let mut w = s.snapshot_writer(term, index).expect("writer");
        w.write_chunk(b"snapshot data").expect("write");
        w.finish().expect("finish");
        s.record_snapshot(meta(index, term, voters)).expect("record");
    }

    fn three() -> Vec<Entry> {
        vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5)]
    }

    fn all(s: &DiskStorage) -> Vec<Entry> {
        let (first, last) = (s.first_index().unwrap(), s.last_index().unwrap());
        s.entries(first, last + 1, None, GetEntriesContext::empty(false)).unwrap()
    }

    #[test]
    fn test_storage_term() {
        let tests = [
            (1, Err(RaftError::Store(StorageError::Compacted))),
            (2, Ok(2)),
            (3, Ok(3)),
            (4, Ok(4)),
            (5, Ok(5)),
            (6, Err(RaftError::Store(StorageError::Unavailable))),
        ];
        for (i, (idx, wterm)) in tests.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let storage = storage_with(dir.path(), &three());
            assert_eq!(storage.term(idx), wterm, "#{i}");
        }
    }

    #[test]
    fn test_storage_entries() {
        let ents = vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5), new_entry(6, 6)];
        let size = |i: usize| u64::from(ents[i].compute_size());
        let max = u64::MAX;
        let tests = vec![
            (2, 6, max, Err(RaftError::Store(StorageError::Compacted))),
            (3, 4, max, Ok(vec![new_entry(3, 3)])),
            (4, 5, max, Ok(vec![new_entry(4, 4)])),
            (4, 6, max, Ok(vec![new_entry(4, 4), new_entry(5, 5)])),
            (4, 7, max, Ok(vec![new_entry(4, 4), new_entry(5, 5), new_entry(6, 6)])),
            // even if maxsize is zero, the first entry should be returned
            (4, 7, 0, Ok(vec![new_entry(4, 4)])),
            // limit to 2
            (4, 7, size(1) + size(2), Ok(vec![new_entry(4, 4), new_entry(5, 5)])),
            (4, 7, size(1) + size(2) + size(3) / 2, Ok(vec![new_entry(4, 4), new_entry(5, 5)])),
            (4, 7, size(1) + size(2) + size(3) - 1, Ok(vec![new_entry(4, 4), new_entry(5, 5)])),
            // all
            (4, 7, size(1) + size(2) + size(3), Ok(vec![new_entry(4, 4), new_entry(5, 5), new_entry(6, 6)])),
            // beyond the last index: an error, not raft-rs's panic
            (4, 8, max, Err(RaftError::Store(StorageError::Unavailable))),
        ];
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_with(dir.path(), &ents);
        for (i, (lo, hi, maxsize, wentries)) in tests.into_iter().enumerate() {
            let e = storage.entries(lo, hi, maxsize, GetEntriesContext::empty(false));
            assert_eq!(e, wentries, "#{i}");
        }
    }

    #[test]
    fn test_storage_last_index() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_with(dir.path(), &three());
        assert_eq!(storage.last_index(), Ok(5));
        storage.append(&[new_entry(6, 5)]).unwrap();
        assert_eq!(storage.last_index(), Ok(6));
    }

    #[test]
    fn test_storage_first_index() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_with(dir.path(), &three());
        assert_eq!(storage.first_index(), Ok(3));
        take_snapshot(&storage, 5, vec![1]);
        storage.compact(4).unwrap();
        assert_eq!(storage.first_index(), Ok(4));
        assert_eq!(storage.term(3), Ok(3), "the term before the first index is kept");
    }

    #[test]
    fn test_storage_compact() {
        let tests = [(2, 3, 3, 3), (3, 3, 3, 3), (4, 4, 4, 2), (5, 5, 5, 1)];
        for (i, (idx, windex, wterm, wlen)) in tests.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let storage = storage_with(dir.path(), &three());
            take_snapshot(&storage, 5, vec![1]);
            storage.compact(idx).unwrap();
            let index = storage.first_index().unwrap();
            assert_eq!(index, windex, "#{i}");
            let term = storage
                .entries(index, index + 1, 1, GetEntriesContext::empty(false))
                .map_or(0, |v| v.first().map_or(0, |e| e.term));
            assert_eq!(term, wterm, "#{i}");
            let last = storage.last_index().unwrap();
            let len = storage.entries(index, last + 1, 100, GetEntriesContext::empty(false)).unwrap().len();
            assert_eq!(len, wlen, "#{i}");
        }
        // Only what a snapshot covers, and nothing past the log.
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_with(dir.path(), &three());
        take_snapshot(&storage, 4, vec![1]);
        assert!(matches!(storage.compact(6), Err(LogError::CompactBeyond { index: 6, limit: 5 })));
        assert!(matches!(storage.compact(7), Err(LogError::CompactBeyond { index: 7, limit: 6 })));
        assert_eq!(storage.first_index(), Ok(3));
    }

    #[test]
    fn test_storage_create_snapshot() {
        let nodes = vec![1, 2, 3];
        let unavailable = || Err(RaftError::Store(StorageError::SnapshotTemporarilyUnavailable));
        // (snapshot taken at, requested index, expected (index, term) or unavailable)
        let tests = [(4, 0, Ok((4, 4))), (5, 5, Ok((5, 5))), (5, 6, unavailable()), (0, 0, unavailable())];
        for (i, (at, request, want)) in tests.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let storage = storage_with(dir.path(), &three());
            // storage_with's base snapshot has no file: it cannot be sent.
            if at > 0 {
                take_snapshot(&storage, at, nodes.clone());
            }
            let got = storage.snapshot(request, 0).map(|s| {
                assert_eq!(s.get_metadata().get_conf_state().voters, nodes, "#{i}");
                assert_eq!(s.data.as_ref(), &13u64.to_le_bytes()[..], "#{i}: data is the file length");
                (s.get_metadata().index, s.get_metadata().term)
            });
            assert_eq!(got, want, "#{i}");
        }
    }

    #[test]
    fn test_storage_append() {
        let tests = vec![
            (three(), Some(three())),
            (
                vec![new_entry(3, 3), new_entry(4, 6), new_entry(5, 6)],
                Some(vec![new_entry(3, 3), new_entry(4, 6), new_entry(5, 6)]),
            ),
            (
                vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5), new_entry(6, 5)],
                Some(vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5), new_entry(6, 5)]),
            ),
            // overwrite compacted raft logs is not allowed (an error here)
            (vec![new_entry(2, 3), new_entry(3, 3), new_entry(4, 5)], None),
            // truncate the existing entries and append
            (vec![new_entry(4, 5)], Some(vec![new_entry(3, 3), new_entry(4, 5)])),
            // direct append
            (vec![new_entry(6, 6)], Some(vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5), new_entry(6, 6)])),
            // a gap is not allowed
            (vec![new_entry(7, 6)], None),
        ];
        for (i, (entries, wentries)) in tests.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let storage = storage_with(dir.path(), &three());
            let res = storage.append(&entries);
            match wentries {
                Some(w) => {
                    res.unwrap();
                    assert_eq!(all(&storage), w, "#{i}");
                    assert_eq!(storage.last_index(), Ok(w.last().unwrap().index), "#{i}");
                }
                None => {
                    assert!(res.is_err(), "#{i}");
                    assert_eq!(all(&storage), three(), "#{i}: unchanged");
                }
            }
        }
    }

    #[test]
    fn test_storage_apply_snapshot() {
        let nodes = vec![1, 2, 3];
        let dir = tempfile::tempdir().unwrap();
        let storage = DiskStorage::open(dir.path()).unwrap();
        storage.apply_snapshot(meta(4, 4, nodes.clone())).unwrap();
        assert_eq!((storage.first_index(), storage.last_index()), (Ok(5), Ok(4)));
        assert_eq!(storage.term(4), Ok(4));
        assert_eq!(storage.hard_state().commit, 4);
        assert_eq!(storage.conf_state().voters, nodes);
        assert!(matches!(storage.apply_snapshot(meta(3, 3, nodes)), Err(LogError::SnapshotOutOfDate { .. })));
    }

    /// Writes a bit of everything and returns what a reopened log must show.
    fn populate(s: &DiskStorage) -> (Vec<Entry>, HardState, ConfState) {
        s.initialize_with_conf_state(ConfState::from((vec![1, 2, 3], vec![]))).unwrap();
        let ents: Vec<Entry> =
            (1..=200).map(|i| entry_with_data(i, 1 + i / 50, format!("payload {i}").as_bytes())).collect();
        s.append(&ents).unwrap();
        // A new leader overwrites a suffix.
        let tail: Vec<Entry> = (150..=180).map(|i| entry_with_data(i, 9, b"new")).collect();
        s.append(&tail).unwrap();
        let mut hs = HardState::default();
        hs.term = 9;
        hs.vote = 2;
        hs.commit = 170;
        s.set_hardstate(hs.clone()).unwrap();
        take_snapshot(s, 100, vec![1, 2, 3]);
        s.compact(90).unwrap();
        s.persist().unwrap();
        let mut want: Vec<Entry> = ents[89..149].to_vec();
        want.extend(tail);
        (want, hs, ConfState::from((vec![1, 2, 3], vec![])))
    }

    #[test]
    fn reopen_finds_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (want, hs, cs) = {
            let s = DiskStorage::open(dir.path()).unwrap();
            populate(&s)
        };
        let s = DiskStorage::open(dir.path()).unwrap();
        assert!(!s.is_fresh());
        // A second open of a log in use waits a moment for it, then says so.
        assert!(matches!(DiskStorage::open(dir.path()), Err(LogError::Locked(_))));
        assert!(!s.initialize_with_conf_state(ConfState::from((vec![7], vec![]))).unwrap());
        assert_eq!(s.first_index(), Ok(90));
        assert_eq!(s.last_index(), Ok(180));
        assert_eq!(s.term(89), Ok(2));
        assert_eq!(all(&s), want);
        let st = s.initial_state().unwrap();
        assert_eq!(st.hard_state, hs);
        assert_eq!(st.conf_state, cs);
        let (m, mut r) = s.open_snapshot().unwrap().expect("snapshot recorded");
        assert_eq!((m.index, m.term), (100, 3));
        assert_eq!(r.next_chunk(4).unwrap().as_deref(), Some(&b"snap"[..]));
        assert_eq!(r.next_chunk(100).unwrap().as_deref(), Some(&b"shot data"[..]));
        assert_eq!(r.next_chunk(100).unwrap(), None);
        // Appending after reopen continues the same log.
        s.append(&[entry_with_data(181, 9, b"x")]).unwrap();
        assert_eq!(s.last_index(), Ok(181));
    }

    #[test]
    fn unpersisted_writes_vanish_in_a_crash_persisted_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let crash = tempfile::tempdir().unwrap();
        let s = DiskStorage::open(dir.path()).unwrap();
        let (want, hs, _) = populate(&s);
        // Written but never persisted: a crash now loses them.
        s.append(&[entry_with_data(181, 9, b"lost")]).unwrap();
        let mut hs2 = hs.clone();
        hs2.commit = 175;
        s.set_hardstate(hs2).unwrap();
        // "Crash": the disk as it is now, while the log is still open.
        copy_dir(dir.path(), crash.path());
        let r = DiskStorage::open(crash.path()).unwrap();
        assert_eq!(r.last_index(), Ok(180));
        assert_eq!(all(&r), want);
        assert_eq!(r.hard_state(), hs);
    }

    fn last_segment(dir: &Path) -> PathBuf {
        list_segments(&dir.join("wal")).unwrap().pop().expect("a segment").1
    }

    /// A crash while the last `persist` writes (before its fsync returned):
    /// the last segment holds the last durable state plus part of the new
    /// records, or garbage after it; every such state is the file cut short
    /// or extended.
    #[test]
    fn torn_last_record_recovers_to_the_last_durable_state() {
        let dir = tempfile::tempdir().unwrap();
        let (want, hs, durable, after, seg) = {
            let s = DiskStorage::open(dir.path()).unwrap();
            let (want, hs, _) = populate(&s);
            let seg = last_segment(dir.path());
            let durable = fs::read(&seg).unwrap();
            s.append(&[entry_with_data(181, 9, &[b'x'; 300])]).unwrap();
            let mut hs2 = hs.clone();
            hs2.commit = 181;
            s.set_hardstate(hs2).unwrap();
            s.persist().unwrap();
            assert_eq!(last_segment(dir.path()), seg, "no new segment");
            (want, hs, durable, fs::read(&seg).unwrap(), seg)
        };
        let name = seg.file_name().unwrap().to_owned();
        assert!(after.len() > durable.len() && after[..durable.len()] == durable[..], "appended");
        let mut rng_state = 0x1234_5678_u32;
        let mut garbage = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    rng_state ^= rng_state << 13;
                    rng_state ^= rng_state >> 17;
                    rng_state ^= rng_state << 5;
                    rng_state as u8
                })
                .collect()
        };
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let step = ((after.len() - durable.len()) / 40).max(1);
        for k in (1..after.len() - durable.len()).step_by(step) {
            cases.push(after[..durable.len() + k].to_vec());
        }
        for n in [1, 17, 200, 4096] {
            let mut c = durable.clone();
            c.extend(garbage(n));
            cases.push(c);
        }
        let torn = cases.len();
        // The new records with one byte flipped, at several places.
        for at in (durable.len()..after.len()).step_by(((after.len() - durable.len()) / 20).max(1)) {
            let mut c = after.clone();
            c[at] ^= 0x40;
            cases.push(c);
        }
        let mut flips_caught = 0;
        for (i, bytes) in cases.iter().enumerate() {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(dir.path(), copy.path());
            // The segments the reopen above started are not part of the crash.
            for (_, p) in list_segments(&copy.path().join("wal")).unwrap() {
                if p.file_name().unwrap() > name.as_os_str() {
                    fs::remove_file(p).unwrap();
                }
            }
            fs::write(copy.path().join("wal").join(&name), bytes).unwrap();
            let r = match DiskStorage::open(copy.path()) {
                Ok(r) => r,
                Err(e) => panic!("case {i}: the last durable state is on disk, yet: {e}"),
            };
            if r.last_index() == Ok(181) {
                // The entries record came through whole, with or without the
                // meta record written after it. Both are states the node
                // went through; neither was acknowledged yet.
                let e = r.entries(181, 182, None, GetEntriesContext::empty(false)).unwrap();
                assert_eq!(e[0].data.as_ref(), &[b'x'; 300][..], "case {i}: corrupted data accepted");
                assert!([170, 181].contains(&r.hard_state().commit), "case {i}");
                assert_eq!(all(&r)[..want.len()], want[..], "case {i}");
                continue;
            }
            flips_caught += usize::from(i >= torn);
            assert_eq!(r.last_index(), Ok(180), "case {i}");
            assert_eq!(all(&r), want, "case {i}");
            assert_eq!(r.hard_state(), hs, "case {i}");
            drop(r);
            // The torn tail was cut off: a second open sees the same.
            let again = DiskStorage::open(copy.path()).unwrap();
            assert_eq!((again.last_index(), again.hard_state()), (Ok(180), hs.clone()), "case {i}");
        }
        assert!(flips_caught > 0, "a flipped byte in the entries record must roll it back");
        let r = DiskStorage::open(dir.path()).unwrap();
        assert_eq!(r.last_index(), Ok(181));
        assert_eq!(r.hard_state().commit, 181);
    }

    /// Losing bytes that were already fsynced (media damage, not a crash):
    /// open must not panic; it recovers an older state or refuses what it
    /// can tell is inconsistent (a commit index past the log, a hole).
    #[test]
    fn damaged_durable_data_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = DiskStorage::open(dir.path()).unwrap();
            populate(&s);
        }
        let seg = last_segment(dir.path());
        let name = seg.file_name().unwrap().to_owned();
        let full = fs::read(&seg).unwrap();
        let (mut opened, mut refused) = (0, 0);
        for cut in [64, 500, 2000, full.len() / 2] {
            for flip in [None, Some(cut / 2)] {
                let copy = tempfile::tempdir().unwrap();
                copy_dir(dir.path(), copy.path());
                let mut bytes = full[..full.len().saturating_sub(cut)].to_vec();
                if let Some(back) = flip {
                    let i = bytes.len().saturating_sub(back + 1);
                    bytes[i] ^= 0x5A;
                }
                fs::write(copy.path().join("wal").join(&name), &bytes).unwrap();
                match DiskStorage::open(copy.path()) {
                    Ok(r) => {
                        opened += 1;
                        let (first, last) = (r.first_index().unwrap(), r.last_index().unwrap());
                        assert!(r.hard_state().commit <= last);
                        // Whatever was recovered reads back whole.
                        let got = r.entries(first, last + 1, None, GetEntriesContext::empty(false));
                        assert!(got.is_ok_and(|v| v.len() as u64 == last + 1 - first));
                    }
                    Err(e) => {
                        refused += 1;
                        assert!(!e.to_string().is_empty());
                    }
                }
            }
        }
        assert_eq!(opened + refused, 8);
        eprintln!("damaged durable data: {opened} opened with an older state, {refused} refused");
    }

    /// Appends a record to the last segment, as a bug or damage would.
    fn append_raw(dir: &Path, kind: u8, body: &[u8]) {
        let mut rec = Vec::new();
        push_record(&mut rec, kind, body);
        let mut f = OpenOptions::new().append(true).open(last_segment(dir)).unwrap();
        f.write_all(&rec).unwrap();
    }

    #[test]
    fn corrupt_metadata_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        drop(DiskStorage::open(dir.path()).unwrap());
        let mut body = vec![0u8; 17];
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(b"\xff\xff\xff");
        append_raw(dir.path(), REC_META, &body);
        assert!(matches!(DiskStorage::open(dir.path()), Err(LogError::Corrupt(_))));
        // A hole in the log: entry 10 after 3..=5, no compaction covers 6..=9.
        let dir = tempfile::tempdir().unwrap();
        drop(storage_with(dir.path(), &three()));
        let e = new_entry(10, 6);
        let mut body = (e.compute_size()).to_le_bytes().to_vec();
        e.write_to_vec(&mut body).unwrap();
        append_raw(dir.path(), REC_ENTRIES, &body);
        let err = DiskStorage::open(dir.path()).err().expect("a hole is refused");
        assert!(matches!(err, LogError::Corrupt(_)), "{err}");
        // An unknown record kind.
        let dir = tempfile::tempdir().unwrap();
        drop(storage_with(dir.path(), &three()));
        append_raw(dir.path(), 99, b"?");
        assert!(matches!(DiskStorage::open(dir.path()), Err(LogError::Corrupt(_))));
    }

    /// With small segments: full ones are closed, the ones whose entries
    /// are all compacted are deleted once a compaction is durable, and the
    /// log reads back from what is left (the replay starts mid-log).
    #[test]
    fn segments_rotate_and_compacted_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let small = |d: &Path| DiskStorage::open_with(d, Some(4096));
        let s = small(dir.path()).unwrap();
        s.initialize_with_conf_state(ConfState::from((vec![1], vec![]))).unwrap();
        let mut hs = HardState::default();
        hs.term = 1;
        for i in 1..=1000u64 {
            s.append(&[entry_with_data(i, 1, &[b'v'; 100])]).unwrap();
            if i % 10 == 0 {
                hs.commit = i;
                s.set_hardstate(hs.clone()).unwrap();
                s.persist().unwrap();
            }
        }
        let segs = list_segments(&dir.path().join("wal")).unwrap().len();
        assert!(segs > 20, "{segs} segments for ~120 KB in 4 KB segments");
        let bytes = s.log_bytes();
        assert!(bytes >= 100_000 && log_bytes_in_process() >= bytes, "{bytes}");
        let per = bytes / 1000;
        assert_eq!(s.tail_start(1000, 10 * per), 991, "ten entries of {per} bytes");
        assert_eq!(s.tail_start(500, 10 * per + per / 2), 491);
        assert_eq!(s.tail_start(1000, 0), 1001);
        assert_eq!(s.tail_start(500, u64::MAX), 1);
        take_snapshot(&s, 900, vec![1]);
        s.compact(850).unwrap();
        s.persist().unwrap();
        let left = list_segments(&dir.path().join("wal")).unwrap().len();
        assert!(left < segs / 4, "{left} of {segs} segments left after compacting 85% of the log");
        assert!(s.log_bytes() * 5 < bytes, "{} of {bytes} left for 15% of the entries", s.log_bytes());
        drop(s);
        let r = small(dir.path()).unwrap();
        assert_eq!((r.first_index(), r.last_index(), r.term(849)), (Ok(850), Ok(1000), Ok(1)));
        assert_eq!(r.hard_state().commit, 1000);
        assert_eq!(all(&r).len(), 151);
        assert_eq!(r.snapshot_metadata().index, 900);
        r.append(&[entry_with_data(1001, 2, b"after")]).unwrap();
        r.persist().unwrap();
        drop(r);
        let r = small(dir.path()).unwrap();
        assert_eq!(r.last_index(), Ok(1001));
        drop(r);
        // Losing the oldest segment still needed is a hole, refused.
        let oldest = list_segments(&dir.path().join("wal")).unwrap().remove(0).1;
        fs::remove_file(oldest).unwrap();
        assert!(matches!(small(dir.path()), Err(LogError::Corrupt(_))));
    }

    /// A snapshot installed and entries appended after it in one Ready:
    /// the log on disk replays them in that order.
    #[test]
    fn snapshot_install_then_append_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = storage_with(dir.path(), &three());
            s.persist().unwrap();
            s.apply_snapshot(meta(40, 7, vec![1, 2])).unwrap();
            s.append(&[entry_with_data(41, 7, b"a"), entry_with_data(42, 8, b"b")]).unwrap();
            s.persist().unwrap();
        }
        let r = DiskStorage::open(dir.path()).unwrap();
        assert_eq!((r.first_index(), r.last_index(), r.term(40)), (Ok(41), Ok(42), Ok(7)));
        assert_eq!(all(&r).iter().map(|e| e.data.to_vec()).collect::<Vec<_>>(), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(r.hard_state().commit, 40);
        assert_eq!(r.conf_state().voters, vec![1, 2]);
    }

    #[test]
    fn a_memory_log_writes_no_segments_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mem");
        {
            let s = DiskStorage::memory(&path).unwrap();
            let (want, hs, _) = populate(&s);
            assert_eq!(all(&s), want);
            assert_eq!(s.hard_state(), hs);
            assert_eq!(s.persist().unwrap(), 0);
            assert!(!path.join("wal").exists());
            assert!(s.open_snapshot().unwrap().is_some(), "snapshot files still go to disk");
        }
        let s = DiskStorage::memory(&path).unwrap();
        assert!(s.is_fresh());
    }

    #[test]
    fn snapshot_files_are_replaced_and_unfinished_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage_with(dir.path(), &three());
        take_snapshot(&s, 4, vec![1]);
        let mut w = s.snapshot_writer(5, 5).unwrap();
        w.write_chunk(b"half").unwrap();
        drop(w);
        take_snapshot(&s, 5, vec![1]);
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let snaps: Vec<&String> = names.iter().filter(|n| n.starts_with("snap-")).collect();
        assert_eq!(snaps.len(), 1, "{names:?}");
        assert!(snaps[0].ends_with(&format!("{:020}.rhs", 5)));
        // Recording a snapshot without its file is refused.
        assert!(matches!(s.record_snapshot(meta(5, 5, vec![1])), Ok(())));
        assert!(matches!(s.record_snapshot(meta(5, 4, vec![1])), Err(LogError::NoSnapshotFile { .. })));
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for de in fs::read_dir(from).unwrap() {
            let de = de.unwrap();
            let target = to.join(de.file_name());
            if de.file_type().unwrap().is_dir() {
                copy_dir(&de.path(), &target);
            } else {
                fs::copy(de.path(), target).unwrap();
            }
        }
    }
}
