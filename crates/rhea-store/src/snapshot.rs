//! Snapshots: a whole [`Store`] as a stream of bounded chunks, and back.
//!
//! # What is in a snapshot
//!
//! Everything that is replicated state: every database (their number
//! too), and in each the keys *in the order of the dense table* (which
//! SCAN cursors and RANDOMKEY depend on), each with its absolute expiry
//! (keys whose TTL has passed but that are still stored are included:
//! only the leader deletes them, through the log), the reply-affecting
//! flags of [`crate::Entry`] (`raw`, `no_int_encoding`, `unshared`), its
//! `lru` field, and its value in its encoding with its elements in
//! encoding order: list items head to tail, hash pairs and set members in
//! listpack / table order, intsets ascending, sorted-set members in the
//! order of the member index (ZSCAN, ZRANDMEMBER) with their exact scores
//! (`-0.0` included). A rebuilt store
//! therefore iterates in the same order as the original, and seeded random
//! commands (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY, SCAN)
//! make the same choices on it.
//!
//! Not included, because it is node-local: WATCH versions, blocked-client
//! bookkeeping and ready keys, statistics, the active-expiry cursor, the
//! eviction settings and pool (the caller applies its configuration to the
//! rebuilt store with [`Store::set_eviction`]). A sorted set's tree
//! (node boundaries and arena layout) is rebuilt rather than copied: it
//! never shows in replies, only in MEMORY USAGE's estimate.
//!
//! # Format (version 2)
//!
//! One byte stream, cut into chunks anywhere (chunk boundaries carry no
//! meaning). Integers are little-endian; `v` is an unsigned LEB128 varint.
//!
//! ```text
//! header   "RHEASNAP" version:u16 ndbs:v (keys_in_db:v){ndbs}
//! key      type:u8 flags:u8 expire_at:i64 lru:u32 keylen:v key count:v
//! elements string: count raw bytes | list/set table: len:v bytes | hash: len:v field len:v value
//!          | intset: i64 | zset: score:f64-bits len:v member            (count of them)
//! trailer  crc32 (IEEE) of every byte before it: u32
//! ```
//!
//! The reader checks every length, tag, flag, ordering and uniqueness
//! rule it can, and the checksum at the end; a truncated or corrupted
//! stream gives a [`SnapshotError`], never a panic.
//!
//! # Memory and consistency
//!
//! [`SnapshotWriter`] is a cursor (database, position in the dense table,
//! element, byte offset) over the live store: each call encodes the next
//! chunk straight from the store, so writing holds at most one chunk
//! beyond the store itself, whatever the size of a single value (a 512 MB
//! string is cut across chunks like anything else). Each call takes the
//! store by reference, so the caller can lock the store for one chunk and
//! release the lock between chunks.
//!
//! The chunks form a snapshot *of one state* only if the keyspace does not
//! change between the first and the last chunk. Rhea's choice: the apply
//! thread produces the snapshot at its applied index, chunk by chunk, into
//! a file in the data directory, applying no entry until the last chunk is
//! written (read-only commands may run between chunks: in cluster mode
//! reads never delete expired keys, so they do not change the keyspace).
//! Sending the snapshot to a follower then streams that file, so neither
//! side ever holds a second copy of the dataset in memory. As a safety net
//! the writer returns [`SnapshotError::StoreChanged`] when it sees a
//! database or value change size under it; it cannot see every change
//! (an overwrite of the same size), which is why the rule above matters.
//!
//! [`SnapshotReader`] takes chunks in order and inserts each key into a new
//! store as soon as its last element arrives; it buffers at most one chunk
//! plus the element being read. A follower installing a snapshot should drop
//! (or `flush_all`) its old store first if it must not hold two datasets.

use std::collections::VecDeque;

use ahash::RandomState;
use indexmap::{IndexMap, IndexSet};
use smallvec::SmallVec;

use crate::{Entry, Hash, List, Sds, Set, Store, Value, ZSet};

pub const MAGIC: [u8; 8] = *b"RHEASNAP";
pub const VERSION: u16 = 2;
/// Version 1 also gave each sorted set the level generator of the skiplist
/// it then used (8 bytes after `count`); this build reads and drops it.
const OLDEST_READABLE: u16 = 1;
/// The chunk size Rhea uses unless told otherwise: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;
/// More databases than any sane configuration: a header claiming more is
/// corrupt.
const MAX_DATABASES: u64 = 1 << 20;

const T_STR: u8 = 0;
const T_LIST: u8 = 1;
const T_HASH_LISTPACK: u8 = 2;
const T_HASH_TABLE: u8 = 3;
const T_SET_INTSET: u8 = 4;
const T_SET_TABLE: u8 = 5;
const T_ZSET_LISTPACK: u8 = 6;
const T_ZSET_SKIPLIST: u8 = 7;

const F_RAW: u8 = 1;
const F_NO_INT_ENCODING: u8 = 2;
const F_UNSHARED: u8 = 4;
const F_ALL: u8 = F_RAW | F_NO_INT_ENCODING | F_UNSHARED;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a Rhea snapshot (bad magic)")]
    BadMagic,
    #[error("snapshot format version {0} is not supported (this build reads versions {OLDEST_READABLE} to {VERSION})")]
    UnsupportedVersion(u16),
    #[error("snapshot is truncated")]
    Truncated,
    #[error("snapshot checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("corrupt snapshot: {0}")]
    Corrupt(&'static str),
    #[error("data after the end of the snapshot")]
    TrailingData,
    #[error("the store changed while a snapshot of it was being written")]
    StoreChanged,
}

// ---------------------------------------------------------------- crc32

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (IEEE 802.3), computed incrementally.
#[derive(Debug, Clone, Copy)]
struct Crc(u32);

impl Crc {
    fn new() -> Self {
        Crc(0xFFFF_FFFF)
    }

    fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    fn value(self) -> u32 {
        !self.0
    }
}

// ---------------------------------------------------------------- writer

/// A few fixed-size fields, encoded on the stack.
#[derive(Clone, Copy)]
struct Small {
    buf: [u8; 40],
    len: usize,
}

impl Small {
    fn new() -> Self {
        Small { buf: [0; 40], len: 0 }
    }

    fn put(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                self.put(&[byte]);
                return;
            }
            self.put(&[byte | 0x80]);
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn varint_vec(out: &mut Vec<u8>, v: u64) {
    let mut s = Small::new();
    s.varint(v);
    out.extend_from_slice(s.bytes());
}

/// One piece of a unit of the stream: fixed fields, or bytes borrowed from
/// the store.
enum Part<'a> {
    Small(Small),
    Slice(&'a [u8]),
}

impl Part<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Part::Small(s) => s.bytes(),
            Part::Slice(b) => b,
        }
    }
}

/// A unit of the stream (the header, a key, one element, the trailer).
type Unit<'a> = SmallVec<[Part<'a>; 4]>;

/// Copies the rest of `unit` from byte `*offset` into `out`, up to `limit`
/// bytes in `out`. Returns true when the unit is complete.
fn copy_unit(unit: &Unit<'_>, offset: &mut usize, out: &mut Vec<u8>, limit: usize) -> bool {
    let mut skip = *offset;
    for part in unit {
        let b = part.bytes();
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        let room = limit.saturating_sub(out.len());
        let n = (b.len() - skip).min(room);
        out.extend_from_slice(&b[skip..skip + n]);
        *offset += n;
        if skip + n < b.len() {
            return false;
        }
        skip = 0;
    }
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WPos {
    Header,
    /// `elem` 0 is the key's own unit, 1..=units its elements.
    Key {
        db: usize,
        pos: usize,
        elem: usize,
    },
    Trailer(u32),
    Done,
}

/// Encodes a store into chunks of at most `chunk_size` bytes, one chunk
/// per call (see the module documentation for the consistency rule).
#[derive(Debug)]
pub struct SnapshotWriter {
    chunk_size: usize,
    header: Vec<u8>,
    db_lens: Vec<usize>,
    pos: WPos,
    /// Bytes of the current unit already emitted.
    offset: usize,
    /// Element count (string: byte length) of the current key, as its key
    /// unit recorded it.
    count: usize,
    crc: Crc,
    written: u64,
}

impl SnapshotWriter {
    /// Starts a snapshot of `store`; `chunk_size` is the most bytes a chunk
    /// holds (at least 1).
    pub fn new(store: &Store, chunk_size: usize) -> Self {
        let db_lens: Vec<usize> = store.dbs.iter().map(|d| d.len()).collect();
        let mut header = Vec::with_capacity(16 + db_lens.len() * 2);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        varint_vec(&mut header, db_lens.len() as u64);
        for &n in &db_lens {
            varint_vec(&mut header, n as u64);
        }
        SnapshotWriter {
            chunk_size: chunk_size.max(1),
            header,
            db_lens,
            pos: WPos::Header,
            offset: 0,
            count: 0,
            crc: Crc::new(),
            written: 0,
        }
    }

    /// True once every chunk has been returned.
    pub fn is_done(&self) -> bool {
        self.pos == WPos::Done
    }

    /// Bytes returned so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// The next chunk (at most `chunk_size` bytes, only the last one
    /// shorter), or None when the snapshot is complete. `store` must be the
    /// store given to `new`, in the same state.
    pub fn next_chunk(&mut self, store: &Store) -> Result<Option<Vec<u8>>, SnapshotError> {
        if self.pos == WPos::Done {
            return Ok(None);
        }
        if store.dbs.len() != self.db_lens.len() {
            return Err(SnapshotError::StoreChanged);
        }
        let mut out = Vec::with_capacity(self.chunk_size.min(64 * 1024));
        while out.len() < self.chunk_size && self.pos != WPos::Done {
            let start = out.len();
            let complete = match self.pos {
                WPos::Header => {
                    let unit: Unit<'_> = smallvec::smallvec![Part::Slice(&self.header)];
                    copy_unit(&unit, &mut self.offset, &mut out, self.chunk_size)
                }
                WPos::Key { db, pos, elem } => {
                    let unit = key_unit(store, &self.db_lens, db, pos, elem, &mut self.count)?;
                    copy_unit(&unit, &mut self.offset, &mut out, self.chunk_size)
                }
                WPos::Trailer(crc) => {
                    let bytes = crc.to_le_bytes();
                    let unit: Unit<'_> = smallvec::smallvec![Part::Slice(&bytes)];
                    copy_unit(&unit, &mut self.offset, &mut out, self.chunk_size)
                }
                WPos::Done => true,
            };
            if !matches!(self.pos, WPos::Trailer(_)) {
                self.crc.update(&out[start..]);
            }
            if !complete {
                break;
            }
            self.offset = 0;
            self.advance(store);
        }
        self.written += out.len() as u64;
        Ok((!out.is_empty()).then_some(out))
    }

    fn advance(&mut self, store: &Store) {
        self.pos = match self.pos {
            WPos::Header => self.first_key_from(0, 0),
            WPos::Key { db, pos, elem } => {
                let units = match store.dbs.get(db).and_then(|d| d.entry_at(pos)) {
                    Some((_, e)) if matches!(e.value, Value::Str(_)) => 1,
                    _ => self.count,
                };
                if elem < units {
                    WPos::Key { db, pos, elem: elem + 1 }
                } else {
                    self.first_key_from(db, pos + 1)
                }
            }
            WPos::Trailer(_) | WPos::Done => WPos::Done,
        };
    }

    fn first_key_from(&self, mut db: usize, mut pos: usize) -> WPos {
        loop {
            match self.db_lens.get(db) {
                None => return WPos::Trailer(self.crc.value()),
                Some(&n) if pos < n => return WPos::Key { db, pos, elem: 0 },
                Some(_) => {
                    db += 1;
                    pos = 0;
                }
            }
        }
    }
}

fn value_count(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
    }
}

/// The unit at (db, pos, elem). `count` is set by the key unit and checked
/// by the element units.
fn key_unit<'a>(
    store: &'a Store,
    db_lens: &[usize],
    db: usize,
    pos: usize,
    elem: usize,
    count: &mut usize,
) -> Result<Unit<'a>, SnapshotError> {
    let d = store.dbs.get(db).ok_or(SnapshotError::StoreChanged)?;
    if Some(&d.len()) != db_lens.get(db) {
        return Err(SnapshotError::StoreChanged);
    }
    let (key, entry) = d.entry_at(pos).ok_or(SnapshotError::StoreChanged)?;
    let mut unit = Unit::new();
    if elem == 0 {
        let ty = match &entry.value {
            Value::Str(_) => T_STR,
            Value::List(_) => T_LIST,
            Value::Hash(h) => match **h {
                Hash::Listpack(_) => T_HASH_LISTPACK,
                Hash::Table(_) => T_HASH_TABLE,
            },
            Value::Set(s) => match **s {
                Set::Intset(_) => T_SET_INTSET,
                Set::Table(_) => T_SET_TABLE,
            },
            Value::ZSet(z) if z.is_listpack() => T_ZSET_LISTPACK,
            Value::ZSet(_) => T_ZSET_SKIPLIST,
        };
        let flags = (if entry.raw { F_RAW } else { 0 })
            | (if entry.no_int_encoding { F_NO_INT_ENCODING } else { 0 })
            | (if entry.unshared { F_UNSHARED } else { 0 });
        let mut head = Small::new();
        head.put(&[ty, flags]);
        head.put(&entry.expire_at().unwrap_or(0).to_le_bytes());
        head.put(&entry.lru.to_le_bytes());
        head.varint(key.len() as u64);
        unit.push(Part::Small(head));
        unit.push(Part::Slice(key.as_bytes()));
        *count = value_count(&entry.value);
        let mut tail = Small::new();
        tail.varint(*count as u64);
        unit.push(Part::Small(tail));
        return Ok(unit);
    }
    if value_count(&entry.value) != *count {
        return Err(SnapshotError::StoreChanged);
    }
    let i = elem - 1;
    let mut small = Small::new();
    match &entry.value {
        Value::Str(s) => {
            unit.push(Part::Slice(s.as_bytes()));
            return Ok(unit);
        }
        Value::List(l) => {
            let item = l.items.get(i).ok_or(SnapshotError::StoreChanged)?;
            small.varint(item.len() as u64);
            unit.push(Part::Small(small));
            unit.push(Part::Slice(item.as_bytes()));
        }
        Value::Hash(h) => {
            let (f, v) = h.get_index(i).ok_or(SnapshotError::StoreChanged)?;
            small.varint(f.len() as u64);
            unit.push(Part::Small(small));
            unit.push(Part::Slice(f.as_bytes()));
            let mut vl = Small::new();
            vl.varint(v.len() as u64);
            unit.push(Part::Small(vl));
            unit.push(Part::Slice(v.as_bytes()));
        }
        Value::Set(s) => match s.get_index(i).ok_or(SnapshotError::StoreChanged)? {
            crate::set::Member::Int(n) => {
                small.put(&n.to_le_bytes());
                unit.push(Part::Small(small));
            }
            crate::set::Member::Bytes(b) => {
                small.varint(b.len() as u64);
                unit.push(Part::Small(small));
                unit.push(Part::Slice(b));
            }
        },
        Value::ZSet(z) => {
            let (m, score) = z.get_index(i).ok_or(SnapshotError::StoreChanged)?;
            small.put(&score.to_bits().to_le_bytes());
            small.varint(m.len() as u64);
            unit.push(Part::Small(small));
            unit.push(Part::Slice(m.as_bytes()));
        }
    }
    Ok(unit)
}

// ---------------------------------------------------------------- reader

/// Why a unit could not be parsed yet.
enum Need {
    More,
    Bad(SnapshotError),
}

impl From<SnapshotError> for Need {
    fn from(e: SnapshotError) -> Self {
        Need::Bad(e)
    }
}

struct Cur<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], Need> {
        let n = usize::try_from(n).map_err(|_| Need::Bad(SnapshotError::Corrupt("length out of range")))?;
        if self.d.len() - self.at < n {
            return Err(Need::More);
        }
        let s = &self.d[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Need> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, Need> {
        Ok(self.array::<1>()?[0])
    }

    fn varint(&mut self) -> Result<u64, Need> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(Need::Bad(SnapshotError::Corrupt("varint overflows 64 bits")));
            }
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Need::Bad(SnapshotError::Corrupt("varint overflows 64 bits")))
    }

    fn blob(&mut self) -> Result<&'a [u8], Need> {
        let n = self.varint()?;
        self.take(n)
    }
}

/// The value of the key being read.
enum Partial {
    Str(Option<Sds>),
    List(VecDeque<Sds>),
    Hash(IndexMap<Sds, Sds, RandomState>, bool),
    Intset(Vec<i64>),
    SetTable(IndexSet<Sds, RandomState>),
    ZSet(Box<ZSet>),
}

struct Building {
    ty: u8,
    key: Sds,
    expire_at: i64,
    lru: u32,
    flags: u8,
    count: u64,
    read: u64,
    value: Partial,
}

enum RState {
    Header,
    Key,
    Elements(Box<Building>),
    Trailer,
    Done,
}

/// Rebuilds a store from a snapshot's chunks, fed in order.
pub struct SnapshotReader {
    buf: Vec<u8>,
    crc: Crc,
    state: RState,
    store: Option<Store>,
    db_lens: Vec<u64>,
    db: usize,
    /// Keys still to come in `db`.
    left: u64,
    failed: Option<SnapshotError>,
    read: u64,
    /// The format version the header named.
    version: u16,
}

impl Default for SnapshotReader {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotReader {
    pub fn new() -> Self {
        SnapshotReader {
            buf: Vec::new(),
            crc: Crc::new(),
            state: RState::Header,
            store: None,
            db_lens: Vec::new(),
            db: 0,
            left: 0,
            failed: None,
            read: 0,
            version: VERSION,
        }
    }

    /// Bytes fed so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// True once the trailer has been read and checked.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, RState::Done)
    }

    /// Takes the next chunk. After an error the reader stays failed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), SnapshotError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.read += chunk.len() as u64;
        let r = self.feed_inner(chunk);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.store = None;
            self.buf = Vec::new();
        }
        r
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), SnapshotError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if matches!(self.state, RState::Done) {
            return Err(SnapshotError::TrailingData);
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(chunk);
        let mut at = 0;
        let result = loop {
            if matches!(self.state, RState::Done) {
                break if at < buf.len() { Err(SnapshotError::TrailingData) } else { Ok(()) };
            }
            let mut cur = Cur { d: &buf, at };
            match self.step(&mut cur) {
                Ok(()) => at = cur.at,
                Err(Need::More) => break Ok(()),
                Err(Need::Bad(e)) => break Err(e),
            }
        };
        buf.drain(..at);
        self.buf = buf;
        result
    }

    /// Parses and applies one unit; on `Need::More` nothing has changed.
    fn step(&mut self, cur: &mut Cur<'_>) -> Result<(), Need> {
        let start = cur.at;
        match &mut self.state {
            RState::Header => {
                if cur.array::<8>()? != MAGIC {
                    return Err(SnapshotError::BadMagic.into());
                }
                let version = u16::from_le_bytes(cur.array()?);
                if !(OLDEST_READABLE..=VERSION).contains(&version) {
                    return Err(SnapshotError::UnsupportedVersion(version).into());
                }
                self.version = version;
                let ndbs = cur.varint()?;
                if ndbs == 0 || ndbs > MAX_DATABASES {
                    return Err(SnapshotError::Corrupt("number of databases out of range").into());
                }
                let mut lens = Vec::new();
                for _ in 0..ndbs {
                    lens.push(cur.varint()?);
                }
                self.crc.update(&cur.d[start..cur.at]);
                self.store = Some(Store::new(lens.len()));
                self.db_lens = lens;
                self.db = 0;
                self.left = self.db_lens.first().copied().unwrap_or(0);
                self.next_db();
            }
            RState::Key => {
                let ty = cur.u8()?;
                let flags = cur.u8()?;
                let expire_at = i64::from_le_bytes(cur.array()?);
                let lru = u32::from_le_bytes(cur.array()?);
                let key = cur.blob()?;
                let count = cur.varint()?;
                if self.version == 1 && matches!(ty, T_ZSET_LISTPACK | T_ZSET_SKIPLIST) {
                    cur.array::<8>()?;
                }
                if flags & !F_ALL != 0 {
                    return Err(SnapshotError::Corrupt("unknown entry flags").into());
                }
                let cap = count.min(1024) as usize;
                let value = match ty {
                    T_STR => Partial::Str(None),
                    T_LIST => Partial::List(VecDeque::with_capacity(cap)),
                    T_HASH_LISTPACK | T_HASH_TABLE => Partial::Hash(
                        IndexMap::with_capacity_and_hasher(cap, RandomState::default()),
                        ty == T_HASH_LISTPACK,
                    ),
                    T_SET_INTSET => Partial::Intset(Vec::with_capacity(cap)),
                    T_SET_TABLE => Partial::SetTable(IndexSet::with_capacity_and_hasher(cap, RandomState::default())),
                    T_ZSET_LISTPACK | T_ZSET_SKIPLIST => Partial::ZSet(Box::new(ZSet::with_encoding(false))),
                    _ => return Err(SnapshotError::Corrupt("unknown value type").into()),
                };
                let db = self.db_mut()?;
                if db.entry(key).is_some() {
                    return Err(SnapshotError::Corrupt("duplicate key").into());
                }
                self.crc.update(&cur.d[start..cur.at]);
                let b = Building { ty, key: Sds::new(key), expire_at, lru, flags, count, read: 0, value };
                if count == 0 {
                    self.finish_key(b)?;
                } else {
                    self.state = RState::Elements(Box::new(b));
                }
            }
            RState::Elements(b) => {
                match &mut b.value {
                    Partial::Str(s) => {
                        // The whole string at once: `count` is its length.
                        *s = Some(Sds::new(cur.take(b.count)?));
                        b.read = b.count;
                    }
                    Partial::List(items) => {
                        items.push_back(Sds::new(cur.blob()?));
                        b.read += 1;
                    }
                    Partial::Hash(m, _) => {
                        let f = cur.blob()?;
                        let v = cur.blob()?;
                        if m.insert(Sds::new(f), Sds::new(v)).is_some() {
                            return Err(SnapshotError::Corrupt("duplicate hash field").into());
                        }
                        b.read += 1;
                    }
                    Partial::Intset(v) => {
                        let n = i64::from_le_bytes(cur.array()?);
                        if v.last().is_some_and(|&last| last >= n) {
                            return Err(SnapshotError::Corrupt("intset not strictly ascending").into());
                        }
                        v.push(n);
                        b.read += 1;
                    }
                    Partial::SetTable(s) => {
                        if !s.insert(Sds::new(cur.blob()?)) {
                            return Err(SnapshotError::Corrupt("duplicate set member").into());
                        }
                        b.read += 1;
                    }
                    Partial::ZSet(z) => {
                        let score = f64::from_bits(u64::from_le_bytes(cur.array()?));
                        let m = cur.blob()?;
                        if score.is_nan() {
                            return Err(SnapshotError::Corrupt("NaN score").into());
                        }
                        if z.contains(m) {
                            return Err(SnapshotError::Corrupt("duplicate sorted-set member").into());
                        }
                        z.add(m, score);
                        b.read += 1;
                    }
                }
                self.crc.update(&cur.d[start..cur.at]);
                if b.read == b.count {
                    let RState::Elements(b) = std::mem::replace(&mut self.state, RState::Key) else {
                        return Err(SnapshotError::Corrupt("reader state").into());
                    };
                    self.finish_key(*b)?;
                }
            }
            RState::Trailer => {
                let stored = u32::from_le_bytes(cur.array()?);
                let computed = self.crc.value();
                if stored != computed {
                    return Err(SnapshotError::Checksum { stored, computed }.into());
                }
                self.state = RState::Done;
            }
            RState::Done => return Err(SnapshotError::TrailingData.into()),
        }
        Ok(())
    }

    fn db_mut(&mut self) -> Result<&mut crate::Db, Need> {
        self.store
            .as_mut()
            .and_then(|s| s.dbs.get_mut(self.db))
            .ok_or(Need::Bad(SnapshotError::Corrupt("key outside any database")))
    }

    /// Inserts the completed key and moves on.
    fn finish_key(&mut self, b: Building) -> Result<(), Need> {
        let value = match b.value {
            Partial::Str(s) => Value::Str(s.unwrap_or_else(|| Sds::new(b""))),
            Partial::List(items) => Value::List(Box::new(List { items })),
            Partial::Hash(m, listpack) => {
                if listpack {
                    Value::Hash(Box::new(Hash::Listpack(m.into_iter().collect())))
                } else {
                    Value::Hash(Box::new(Hash::Table(Box::new(m))))
                }
            }
            Partial::Intset(v) => Value::Set(Box::new(Set::Intset(v))),
            Partial::SetTable(s) => Value::Set(Box::new(Set::Table(Box::new(s)))),
            Partial::ZSet(mut z) => {
                z.set_listpack(b.ty == T_ZSET_LISTPACK);
                Value::ZSet(z)
            }
        };
        let entry = Entry::from_parts(
            value,
            b.expire_at,
            b.lru,
            b.flags & F_RAW != 0,
            b.flags & F_NO_INT_ENCODING != 0,
            b.flags & F_UNSHARED != 0,
        );
        self.db_mut()?.insert_entry(b.key, entry);
        self.left -= 1;
        self.state = RState::Key;
        self.next_db();
        Ok(())
    }

    /// Skips to the next database with keys still to come, or the trailer.
    fn next_db(&mut self) {
        while self.left == 0 {
            self.db += 1;
            match self.db_lens.get(self.db) {
                Some(&n) => self.left = n,
                None => {
                    self.state = RState::Trailer;
                    return;
                }
            }
        }
        if matches!(self.state, RState::Header) {
            self.state = RState::Key;
        }
    }

    /// The rebuilt store, once the whole snapshot has been fed.
    pub fn finish(self) -> Result<Store, SnapshotError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match (self.state, self.store) {
            (RState::Done, Some(store)) => Ok(store),
            _ => Err(SnapshotError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashLimits;
    use crate::ScanFilter;

    const LIMITS: HashLimits = HashLimits { max_entries: 8, max_value: 16 };

    fn chunks_of(store: &Store, size: usize) -> Vec<Vec<u8>> {
        let mut w = SnapshotWriter::new(store, size);
        let mut out = Vec::new();
        while let Some(c) = w.next_chunk(store).expect("store unchanged") {
            assert!(c.len() <= size.max(1), "chunk of {} bytes over the limit {size}", c.len());
            out.push(c);
        }
        assert!(w.is_done());
        for c in &out[..out.len().saturating_sub(1)] {
            assert_eq!(c.len(), size.max(1), "only the last chunk is short");
        }
        out
    }

    fn rebuild(chunks: &[Vec<u8>]) -> Result<Store, SnapshotError> {
        let mut r = SnapshotReader::new();
        for c in chunks {
            r.feed(c)?;
        }
        r.finish()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Everything observable about a store, position by position.
    fn dump(store: &Store) -> Vec<String> {
        let mut out = vec![format!("dbs={}", store.dbs.len())];
        for (d, db) in store.dbs.iter().enumerate() {
            out.push(format!("db{d} len={} volatile={}", db.len(), db.volatile_len()));
            for i in 0..db.len() {
                let Some((k, e)) = db.entry_at(i) else { panic!("hole at {i}") };
                let mut line = format!(
                    "{d}:{i} {} exp={:?} lru={} raw={} noint={} unshared={} ",
                    text(k),
                    e.expire_at(),
                    e.lru,
                    e.raw,
                    e.no_int_encoding,
                    e.unshared
                );
                match &e.value {
                    Value::Str(s) => line += &format!("str {} {}", s.len(), text(&s[..s.len().min(40)])),
                    Value::List(l) => {
                        line += &format!("list {:?}", l.items.iter().map(|x| text(x)).collect::<Vec<_>>())
                    }
                    Value::Hash(h) => {
                        line += &format!(
                            "hash {} {:?}",
                            h.encoding(),
                            h.iter().map(|(f, v)| (text(f), text(v))).collect::<Vec<_>>()
                        )
                    }
                    Value::Set(s) => {
                        line += &format!(
                            "set {} {:?}",
                            s.encoding(),
                            s.iter().map(|m| m.with_bytes(text)).collect::<Vec<_>>()
                        )
                    }
                    Value::ZSet(z) => {
                        let by_index: Vec<(String, u64)> =
                            (0..z.len()).filter_map(|i| z.get_index(i)).map(|(m, s)| (text(m), s.to_bits())).collect();
                        let sorted: Vec<(String, u64)> = z.iter().map(|(m, s)| (text(m), s.to_bits())).collect();
                        line += &format!("zset {} {by_index:?} {sorted:?}", z.encoding())
                    }
                }
                out.push(line);
            }
        }
        out
    }

    fn str_value(s: &str) -> Value {
        Value::Str(Sds::new(s.as_bytes()))
    }

    /// A store with every type and encoding, flags, expiry, several
    /// databases, holes filled by swap-removal, and one large value.
    fn sample_store(big: usize) -> Store {
        let mut store = Store::new(16);
        {
            let db = &mut store.dbs[0];
            db.insert(b"int", str_value("12345"), 0, 7);
            db.insert(b"empty", str_value(""), 0, 0);
            db.insert(b"ttl", str_value("soon"), 1_700_000_000_123, 0);
            db.insert(b"expired-but-present", str_value("x"), 5, 0);
            db.insert(b"gone", str_value("x"), 0, 0);
            db.insert(b"raw", str_value("abc"), 0, 0);
            db.insert(b"float", str_value("10"), 0, 0);
            db.insert(b"copy", str_value("1"), 0, 0);
            db.remove(b"gone");
            if let Some(e) = db.get_mut(b"raw", 0) {
                e.raw = true;
            }
            if let Some(e) = db.get_mut(b"float", 0) {
                e.no_int_encoding = true;
            }
            if let Some(e) = db.get_mut(b"copy", 0) {
                e.unshared = true;
            }
            let mut l = List::default();
            for i in 0..50 {
                l.push(crate::list::End::Left, Sds::new(format!("item{i}").as_bytes()));
            }
            db.insert(b"list", Value::List(Box::new(l)), 0, 0);
            let mut lp = Hash::default();
            for f in ["z", "a", "m"] {
                lp.set(f.as_bytes(), b"v", LIMITS);
            }
            lp.remove(b"a");
            db.insert(b"hash-lp", Value::Hash(Box::new(lp)), 0, 0);
            let mut ht = Hash::default();
            for i in 0..40 {
                ht.set(format!("f{i}").as_bytes(), format!("value{i}").as_bytes(), LIMITS);
            }
            for i in (0..40).step_by(3) {
                ht.remove(format!("f{i}").as_bytes());
            }
            db.insert(b"hash-ht", Value::Hash(Box::new(ht)), 99_999, 0);
            let mut is = Set::for_member(b"1");
            for i in [5, -3, 100, 7] {
                is.insert(i.to_string().as_bytes(), 512);
            }
            db.insert(b"intset", Value::Set(Box::new(is)), 0, 0);
            let mut st = Set::for_member(b"a");
            for i in 0..60 {
                st.insert(format!("m{i}").as_bytes(), 512);
            }
            st.remove_indices(&[3, 17, 40]);
            db.insert(b"set-ht", Value::Set(Box::new(st)), 0, 0);
            let mut zl = ZSet::new();
            for (m, s) in [("b", 2.0), ("a", 2.0), ("c", -1.5), ("zero", 0.0)] {
                zl.add(m.as_bytes(), s);
            }
            db.insert(b"zset-lp", Value::ZSet(Box::new(zl)), 0, 0);
            let mut zs = ZSet::with_encoding(false);
            for i in 0..200 {
                zs.add(format!("m{i}").as_bytes(), (i % 17) as f64 - 8.0);
            }
            zs.add(b"neg-zero", -0.0);
            zs.add(b"inf", f64::INFINITY);
            zs.add(b"-inf", f64::NEG_INFINITY);
            for i in (0..200).step_by(7) {
                zs.remove(format!("m{i}").as_bytes());
            }
            db.insert(b"zset-sl", Value::ZSet(Box::new(zs)), 0, 0);
        }
        for d in [1, 3, 15] {
            for i in 0..100 {
                store.dbs[d].insert(format!("k{i}").as_bytes(), str_value(&format!("v{d}-{i}")), 0, 0);
            }
            for i in (0..100).step_by(9) {
                store.dbs[d].remove(format!("k{i}").as_bytes());
            }
        }
        let big_str: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
        store.dbs[3].insert(b"big", Value::Str(Sds::from_vec(big_str)), 0, 0);
        let mut big_list = List::default();
        for i in 0..(big / 100) {
            big_list.push(crate::list::End::Right, Sds::new(format!("{i:0>90}").as_bytes()));
        }
        store.dbs[3].insert(b"big-list", Value::List(Box::new(big_list)), 0, 0);
        store
    }

    #[test]
    fn round_trip_every_type_encoding_and_flag() {
        let store = sample_store(3 << 20);
        let want = dump(&store);
        let chunks = chunks_of(&store, DEFAULT_CHUNK_SIZE);
        assert!(chunks.len() >= 6, "{} chunks", chunks.len());
        let back = rebuild(&chunks).expect("valid snapshot");
        assert_eq!(dump(&back), want);
        // The large values came back byte for byte.
        let get = |s: &Store| match s.dbs[3].entry(b"big").map(|e| &e.value) {
            Some(Value::Str(v)) => v.to_vec(),
            _ => panic!("big missing"),
        };
        assert_eq!(get(&back), get(&store));
        assert_eq!(
            back.dbs[0].entry(b"zset-sl").map(|e| e.value.clone()),
            store.dbs[0].entry(b"zset-sl").map(|e| e.value.clone())
        );
        // Encoding of the bytes: the same snapshot whatever the chunk size.
        let whole: Vec<u8> = chunks.concat();
        for size in [1, 7, 4096] {
            let small = sample_store(5000);
            let a: Vec<u8> = chunks_of(&small, size).concat();
            let b: Vec<u8> = chunks_of(&small, 1 << 20).concat();
            assert_eq!(a, b);
            assert_eq!(dump(&rebuild(&chunks_of(&small, size)).expect("valid")), dump(&small));
        }
        // Fed in pieces of any size, not just the writer's.
        let mut r = SnapshotReader::new();
        for piece in whole.chunks(333_333) {
            r.feed(piece).expect("valid");
        }
        assert!(r.is_complete());
        assert_eq!(dump(&r.finish().expect("valid")), want);
    }

    #[test]
    fn empty_store_and_empty_aggregates() {
        let store = Store::new(1);
        let back = rebuild(&chunks_of(&store, 10)).expect("valid");
        assert_eq!(dump(&back), dump(&store));
        let mut store = Store::new(2);
        store.dbs[1].insert(b"l", Value::List(Box::default()), 0, 0);
        let back = rebuild(&chunks_of(&store, 10)).expect("valid");
        assert_eq!(dump(&back), dump(&store));
    }

    /// The same seeded random commands on the original and the rebuilt
    /// store: SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY, SCAN,
    /// ZRANGE, writes that reuse freed positions.
    fn run_commands(store: &mut Store, seed: u64) -> Vec<String> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut out = Vec::new();
        for step in 0..3000 {
            let now = 1_000;
            let d = [0, 1, 3][rng.usize(..3)];
            match rng.usize(..9) {
                0 => out.push(format!("{:?}", store.dbs[d].random_key(now, false, &mut rng))),
                1 => {
                    let mut keys = Vec::new();
                    let cursor = rng.u64(..store.dbs[d].len() as u64 + 1);
                    let next = store.dbs[d].scan(cursor, 10, now, &ScanFilter::default(), |k| keys.push(text(k)));
                    out.push(format!("scan {next} {keys:?}"));
                }
                2 => {
                    // SPOP 3 from the table set.
                    if let Some(Value::Set(s)) = store.dbs[0].get_mut(b"set-ht", now).map(|e| &mut e.value) {
                        let idx: Vec<usize> = (0..3.min(s.len())).map(|_| rng.usize(..s.len())).collect();
                        let mut idx = idx;
                        idx.dedup();
                        out.push(format!("spop {:?}", s.remove_indices(&idx)));
                        s.insert(format!("new{step}").as_bytes(), 512);
                    }
                }
                3 => {
                    if let Some(Value::Set(s)) = store.dbs[0].entry(b"intset").map(|e| &e.value) {
                        out.push(format!("srand {:?}", s.get_index(rng.usize(..s.len())).map(|m| m.to_sds())));
                    }
                }
                4 => {
                    for k in [&b"hash-ht"[..], b"hash-lp"] {
                        if let Some(Value::Hash(h)) = store.dbs[0].entry(k).map(|e| &e.value) {
                            let picks = h.random_distinct(2, &mut rng);
                            out.push(format!(
                                "hrand {:?}",
                                picks.iter().map(|&i| h.get_index(i).map(|(f, _)| text(f))).collect::<Vec<_>>()
                            ));
                        }
                    }
                }
                5 => {
                    if let Some(Value::ZSet(z)) = store.dbs[0].get_mut(b"zset-sl", now).map(|e| &mut e.value) {
                        let i = rng.usize(..z.len());
                        out.push(format!("zrand {:?}", z.get_index(i).map(|(m, s)| (text(m), s))));
                        let m = format!("zn{}", rng.usize(..500));
                        z.add(m.as_bytes(), rng.i32(-10..10) as f64);
                        if rng.bool() {
                            let victim = z.get_index(rng.usize(..z.len())).map(|(m, _)| m.clone());
                            if let Some(v) = victim {
                                z.remove(&v);
                            }
                        }
                        out.push(format!(
                            "zrange {:?}",
                            z.iter_from(z.len() / 3).take(5).map(|(m, s)| (text(m), s)).collect::<Vec<_>>()
                        ));
                        out.push(format!("zrank {:?}", z.rank(m.as_bytes())));
                    }
                }
                6 => {
                    let k = format!("k{}", rng.usize(..150));
                    store.dbs[d].remove(k.as_bytes());
                }
                7 => {
                    let k = format!("k{}", rng.usize(..150));
                    store.dbs[d].insert(k.as_bytes(), str_value("new"), 0, 0);
                }
                _ => {
                    if let Some(Value::List(l)) = store.dbs[0].get_mut(b"list", now).map(|e| &mut e.value) {
                        out.push(format!("lpop {:?}", l.pop(crate::list::End::Left)));
                        l.push(crate::list::End::Right, Sds::new(format!("p{step}").as_bytes()));
                    }
                }
            }
        }
        out.extend(dump(store));
        out
    }

    #[test]
    fn rebuilt_store_makes_the_same_seeded_choices() {
        let mut original = sample_store(1000);
        let mut rebuilt = rebuild(&chunks_of(&original, 4096)).expect("valid");
        for seed in [1, 2, 3] {
            assert_eq!(run_commands(&mut rebuilt, seed), run_commands(&mut original, seed), "seed {seed}");
        }
        // And a snapshot of the rebuilt store is byte-identical to one of
        // the original in the same state.
        assert_eq!(chunks_of(&rebuilt, 1 << 20), chunks_of(&original, 1 << 20));
    }

    /// One key of every type and encoding, a few elements each.
    fn tiny_store() -> Store {
        let mut store = Store::new(2);
        let db = &mut store.dbs[1];
        db.insert(b"s", str_value("v"), 77, 0);
        let mut l = List::default();
        l.push(crate::list::End::Left, Sds::new(b"a"));
        db.insert(b"l", Value::List(Box::new(l)), 0, 0);
        for (k, lim) in [(&b"h1"[..], LIMITS), (b"h2", HashLimits { max_entries: 0, max_value: 0 })] {
            let mut h = Hash::default();
            h.set(b"f", b"v", lim);
            h.set(b"g", b"w", lim);
            db.insert(k, Value::Hash(Box::new(h)), 0, 0);
        }
        for first in [&b"1"[..], b"x"] {
            let mut s = Set::for_member(first);
            s.insert(first, 512);
            s.insert(b"2", 512);
            db.insert(first, Value::Set(Box::new(s)), 0, 0);
        }
        for lp in [true, false] {
            let mut z = ZSet::with_encoding(lp);
            z.add(b"a", 1.0);
            z.add(b"b", -2.0);
            db.insert(if lp { b"z1" } else { b"z2" }, Value::ZSet(Box::new(z)), 0, 0);
        }
        store
    }

    /// A snapshot written by the previous format (version 1, which gave
    /// each sorted set an 8-byte skiplist level seed) still loads: a
    /// cluster restarted on a new release reads the snapshots it has.
    #[test]
    fn reads_a_version_1_snapshot() {
        // Written by the build before version 2 (a2b39a0): db 0 holds "s" =
        // "v" and z1 (listpack) and z2 (skiplist), each {a: 1.5, b: -2, c: 1.5}.
        const V1: &str = "52484541534e4150010001030000000000000000000000000000017301760600000000000000000000\
            000000027a3103d816ebc8de53da44000000000000f83f016100000000000000c00162000000000000f83f01630700000000\
            000000000000000000027a3203d816ebc8de53da44000000000000f83f016100000000000000c00162000000000000f83f01\
            63edb6bfe0";
        let bytes: Vec<u8> =
            (0..V1.len()).step_by(2).map(|i| u8::from_str_radix(&V1[i..i + 2], 16).expect("hex")).collect();
        assert_eq!(&bytes[8..10], &1u16.to_le_bytes());
        let store = rebuild(&[bytes]).expect("a version 1 snapshot loads");
        let db = &store.dbs[0];
        assert_eq!(db.len(), 3);
        assert!(matches!(db.entry(b"s").map(|e| &e.value), Some(Value::Str(v)) if &v[..] == b"v"));
        for (k, enc) in [(&b"z1"[..], "listpack"), (b"z2", "skiplist")] {
            let Some(Value::ZSet(z)) = db.entry(k).map(|e| &e.value) else { panic!("no zset {k:?}") };
            assert_eq!(z.encoding(), enc);
            let all: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(all, vec![(b"b".to_vec(), -2.0), (b"a".to_vec(), 1.5), (b"c".to_vec(), 1.5)]);
            assert_eq!(z.rank(b"c"), Some(2));
        }
        // What this build writes is version 2, and it reads that back alike.
        let again = chunks_of(&store, 1 << 20).concat();
        assert_eq!(&again[8..10], &VERSION.to_le_bytes());
        assert_eq!(dump(&rebuild(&[again]).expect("version 2 loads")), dump(&store));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let store = tiny_store();
        let bytes = chunks_of(&store, 1 << 20).concat();
        for cut in 0..bytes.len() {
            let mut r = SnapshotReader::new();
            let fed = r.feed(&bytes[..cut]);
            let res = fed.and_then(|_| r.finish());
            assert!(res.is_err(), "truncated at {cut} of {} accepted", bytes.len());
            if cut >= 10 {
                assert_eq!(res.err(), Some(SnapshotError::Truncated), "cut at {cut}");
            }
        }
        assert!(rebuild(&[bytes]).is_ok());
    }

    #[test]
    fn every_corruption_is_an_error_never_a_panic() {
        let store = tiny_store();
        let bytes = chunks_of(&store, 1 << 20).concat();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                assert!(rebuild(&[bad]).is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(rebuild(&[bad]).err(), Some(SnapshotError::BadMagic));
        let mut bad = bytes.clone();
        bad[8] = 9;
        assert_eq!(rebuild(&[bad]).err(), Some(SnapshotError::UnsupportedVersion(9)));
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(rebuild(&[extra]).err(), Some(SnapshotError::TrailingData));
        assert_eq!(rebuild(&[bytes.clone(), vec![1]]).err(), Some(SnapshotError::TrailingData));
        // Random garbage after a valid header.
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..2000 {
            let mut g = bytes[..12].to_vec();
            g.extend((0..rng.usize(..200)).map(|_| rng.u8(..)));
            assert!(rebuild(&[g]).is_err());
        }
        // A length that claims far more than there is: truncated, and no
        // huge allocation up front.
        let mut lie = bytes[..12].to_vec();
        lie.extend_from_slice(&[T_LIST, 0]);
        lie.extend_from_slice(&[0; 12]);
        lie.extend_from_slice(&[1, b'k', 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        assert!(rebuild(&[lie]).is_err());
    }

    #[test]
    fn a_failed_reader_stays_failed() {
        let mut r = SnapshotReader::new();
        assert_eq!(r.feed(b"NOTASNAPSHOT"), Err(SnapshotError::BadMagic));
        assert_eq!(r.feed(b"more"), Err(SnapshotError::BadMagic));
        assert_eq!(r.finish().err(), Some(SnapshotError::BadMagic));
    }

    #[test]
    fn writer_notices_a_store_that_changes_under_it() {
        let mut store = sample_store(100_000);
        let mut w = SnapshotWriter::new(&store, 1000);
        assert!(w.next_chunk(&store).expect("first chunk").is_some());
        store.dbs[3].insert(b"new-key", str_value("x"), 0, 0);
        let mut res = Ok(None);
        for _ in 0..10_000 {
            res = w.next_chunk(&store);
            if !matches!(res, Ok(Some(_))) {
                break;
            }
        }
        assert_eq!(res, Err(SnapshotError::StoreChanged));
    }
}
