//! One module per Redis command family, each declaring its commands in a
//! `COMMANDS` slice that the table collects.

pub mod bitmaps;
pub mod cluster;
pub mod connection;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod observability;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zsets;

use bytes::Bytes;
use rhea_resp::parse_i64;

use rhea_store::evict::Access;
use rhea_store::{Db, Entry, Store};

use crate::{error::CmdError, table::CommandSpec, Ctx};

/// Every family's declarations; the command table is built from these.
pub const ALL: &[&[CommandSpec]] = &[
    strings::COMMANDS,
    keys::COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
    hashes::COMMANDS,
    lists::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    bitmaps::COMMANDS,
    hyperloglog::COMMANDS,
    transactions::COMMANDS,
    scripting::COMMANDS,
    pubsub::COMMANDS,
    cluster::COMMANDS,
    memory::COMMANDS,
    observability::COMMANDS,
];

/// An integer argument, with Redis's error when it is not one.
pub fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &Bytes, name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// Where and when a command runs, copied out of the `Ctx` so the store and
/// the reply writer can be borrowed separately.
#[derive(Clone, Copy)]
pub(crate) struct At {
    pub db: usize,
    pub now: i64,
    /// The `lru` field of a key created by this command.
    pub lru: u32,
    /// How an access updates an existing key's `lru` field.
    pub access: Access,
}

impl At {
    pub fn of(ctx: &Ctx) -> At {
        let access = ctx.store.access(ctx.now_ms);
        At { db: ctx.client.db, now: ctx.now_ms, lru: access.initial(), access }
    }

    /// Records an access to `e` for eviction (LRU stamp or LFU counter).
    /// The LFU counter's coin is not the request's seeded generator: access
    /// metadata is local to each node (a replica's reads differ anyway), and
    /// drawing from `ctx.rng` here would shift every later draw of the
    /// command, making replies depend on the eviction policy.
    pub fn touch(&self, e: &mut Entry) {
        self.access.touch(&mut e.lru, fastrand::f64);
    }
}

/// Redis's `lookupKeyRead`: lazy expiry, a keyspace hit or miss counted,
/// and the LRU clock refreshed unless `touch` is false (LOOKUP_NOTOUCH:
/// OBJECT, TYPE, TTL...).
pub(crate) fn lookup_read<'a>(store: &'a mut Store, at: At, key: &[u8], touch: bool) -> Option<&'a mut Entry> {
    match store.dbs[at.db].get_mut(key, at.now) {
        Some(e) => {
            store.stats.keyspace_hits += 1;
            if touch {
                at.touch(e);
            }
            Some(e)
        }
        None => {
            store.stats.keyspace_misses += 1;
            None
        }
    }
}

/// Redis's `lookupKeyWrite`: lazy expiry and an LRU refresh, no statistics.
pub(crate) fn lookup_write<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Option<&'a mut Entry> {
    lookup_write_slot(db, at, key).map(|(_, e)| e)
}

/// `lookup_write` that also gives the entry's slot, for a write that then
/// replaces it (`Db::insert_at`) without hashing the key again.
pub(crate) fn lookup_write_slot<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Option<(usize, &'a mut Entry)> {
    let i = db.live_index(key, at.now)?;
    let e = db.entry_at_mut(i)?;
    at.touch(e);
    Some((i, e))
}

/// A SCAN-family cursor, accepted exactly as Redis's `strtoul`-based parser
/// does: an optional sign (a negative cursor wraps), decimal digits, no
/// leading space; the empty string is cursor 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let (neg, digits) = match arg.split_first() {
        None => return Ok(0),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))).ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}
