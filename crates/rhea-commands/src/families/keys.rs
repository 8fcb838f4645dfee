//! The generic (keyspace) family: DEL, EXISTS, EXPIRE, SCAN, OBJECT...

use bytes::Bytes;
use rhea_resp::parse_i64;
use rhea_store::{evict, glob_match, Entry, ScanFilter, Sds, Value};

use super::{arg_i64, is, parse_cursor, At};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn generic(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "generic";
    c
}

/// An OBJECT subcommand: its key is the second argument.
const fn object_sub(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = generic(name, arity, flags, handler).keys(2, 2, 1);
    c.acl = &["keyspace", "read", "slow"];
    c.complexity = "O(1)";
    c.since = "2.2.3";
    c
}

const EXPIRE_ACL: &[&str] = &["keyspace", "write", "fast"];
const READ_FAST: &[&str] = &["keyspace", "read", "fast"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["keyspace", "write", "slow"],
        summary: "Delete a key",
        complexity:
            "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other \
                     than a string, the individual complexity for this key is O(M) where M is the number of elements \
                     in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        ..generic("del", -2, WRITE, del).keys(1, -1, 1)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        since: "4.0.0",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different \
                     thread in order to reclaim memory, where N is the number of allocations the deleted objects where \
                     composed of.",
        ..generic("unlink", -2, WRITE | FAST, del).keys(1, -1, 1)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Determine if a key exists",
        complexity: "O(N) where N is the number of keys to check.",
        ..generic("exists", -2, READONLY | FAST, exists).keys(1, -1, 1)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        since: "3.2.1",
        complexity: "O(N) where N is the number of keys that will be touched.",
        ..generic("touch", -2, READONLY | FAST, touch).keys(1, -1, 1)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Determine the type stored at key",
        complexity: "O(1)",
        ..generic("type", 2, READONLY | FAST, type_cmd)
    },
    CommandSpec {
        acl: &["keyspace", "write", "slow"],
        summary: "Rename a key",
        complexity: "O(1)",
        ..generic("rename", 3, WRITE, rename).keys(1, 2, 1)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Rename a key, only if the new key does not exist",
        complexity: "O(1)",
        ..generic("renamenx", 3, WRITE | FAST, renamenx).keys(1, 2, 1)
    },
    CommandSpec {
        acl: &["keyspace", "write", "slow"],
        summary: "Copy a key",
        since: "6.2.0",
        complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        ..generic("copy", -3, WRITE | DENYOOM, copy).keys(1, 2, 1)
    },
    CommandSpec {
        acl: &["keyspace", "read", "slow", "dangerous"],
        summary: "Find all keys matching the given pattern",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names \
                     in the database and the given pattern have limited length.",
        ..generic("keys", 2, READONLY, keys).keys(0, 0, 0)
    },
    CommandSpec {
        acl: &["keyspace", "read", "slow"],
        summary: "Incrementally iterate the keys space",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the \
                     cursor to return back to 0. N is the number of elements inside the collection.",
        ..generic("scan", -2, READONLY, scan).keys(0, 0, 0)
    },
    CommandSpec {
        acl: &["keyspace", "read", "slow"],
        summary: "Return a random key from the keyspace",
        complexity: "O(1)",
        ..generic("randomkey", 1, READONLY, randomkey).keys(0, 0, 0)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Move a key to another database",
        complexity: "O(1)",
        ..generic("move", 3, WRITE | FAST, move_cmd)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Set a key's time to live in seconds",
        complexity: "O(1)",
        ..generic("expire", -3, WRITE | FAST, expire)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Set a key's time to live in milliseconds",
        since: "2.6.0",
        complexity: "O(1)",
        ..generic("pexpire", -3, WRITE | FAST, pexpire)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Set the expiration for a key as a UNIX timestamp",
        since: "1.2.0",
        complexity: "O(1)",
        ..generic("expireat", -3, WRITE | FAST, expireat)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        since: "2.6.0",
        complexity: "O(1)",
        ..generic("pexpireat", -3, WRITE | FAST, pexpireat)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the time to live for a key in seconds",
        complexity: "O(1)",
        ..generic("ttl", 2, READONLY | FAST, ttl)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the time to live for a key in milliseconds",
        since: "2.6.0",
        complexity: "O(1)",
        ..generic("pttl", 2, READONLY | FAST, pttl)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the expiration Unix timestamp for a key",
        since: "7.0.0",
        complexity: "O(1)",
        ..generic("expiretime", 2, READONLY | FAST, expiretime)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the expiration Unix timestamp for a key in milliseconds",
        since: "7.0.0",
        complexity: "O(1)",
        ..generic("pexpiretime", 2, READONLY | FAST, pexpiretime)
    },
    CommandSpec {
        acl: EXPIRE_ACL,
        summary: "Remove the expiration from a key",
        since: "2.2.0",
        complexity: "O(1)",
        ..generic("persist", 2, WRITE | FAST, persist)
    },
    CommandSpec {
        acl: &["slow"],
        summary: "A container for object introspection commands",
        since: "2.2.3",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                summary: "Get the logarithmic access frequency counter of a Redis object",
                since: "4.0.0",
                ..object_sub("freq", 3, READONLY, object_freq)
            },
            CommandSpec {
                summary: "Get the time since a Redis object was last accessed",
                ..object_sub("idletime", 3, READONLY, object_idletime)
            },
            CommandSpec {
                summary: "Inspect the internal encoding of a Redis object",
                ..object_sub("encoding", 3, READONLY, object_encoding)
            },
            CommandSpec {
                acl: &["keyspace", "slow"],
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                ..object_sub("help", 2, LOADING | STALE, object_help).keys(0, 0, 0)
            },
            CommandSpec {
                summary: "Get the number of references to the value of the key",
                ..object_sub("refcount", 3, READONLY, object_refcount)
            },
        ],
        ..generic("object", -2, 0, object).keys(0, 0, 0)
    },
];

/// Redis's shared-object refcount (`OBJ_SHARED_REFCOUNT`, INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Integers below this are stored as shared objects (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// Strings up to this length are "embstr" (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
const EMBSTR_SIZE_LIMIT: usize = 44;

/// Redis's `lookupKeyRead` for the calling client's database.
fn lookup_read<'a>(ctx: &'a mut Ctx<'_>, key: &[u8], touch: bool) -> Option<&'a mut Entry> {
    let at = At::of(ctx);
    super::lookup_read(ctx.store, at, key, touch)
}

/// Redis's `lookupKeyWrite` for the calling client's database.
fn lookup_write<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Option<&'a mut Entry> {
    let at = At::of(ctx);
    super::lookup_write(ctx.db(), at, key)
}

fn del(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let mut n = 0;
    for k in &argv[1..] {
        let db = ctx.db();
        db.expire_if_needed(k, now);
        if db.remove(k).is_some() {
            n += 1;
            ctx.notify(notify::GENERIC, "del", k);
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = argv[1..].iter().filter(|k| lookup_read(ctx, k, false).is_some()).count();
    ctx.out.int(n as i64);
    Ok(())
}

fn touch(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = argv[1..].iter().filter(|k| lookup_read(ctx, k, true).is_some()).count();
    ctx.out.int(n as i64);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let name = lookup_read(ctx, &argv[1], false).map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
    Ok(())
}

fn rename(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// RENAME and RENAMENX: the entry moves as is (value, TTL, LRU, encoding).
fn rename_generic(ctx: &mut Ctx, argv: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&argv[1], &argv[2]);
    if lookup_write(ctx, src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    // Same name: nothing to do, but a missing key was still an error above.
    let done = src == dst || (nx && db.get_mut(dst, now).is_some());
    if !done {
        if let Some((_, entry)) = db.remove_entry(src) {
            db.insert_entry(Sds::new(dst), entry);
        }
        let dbi = ctx.client.db;
        ctx.store.signal_if_poppable(dbi, dst, now);
        ctx.notify(notify::GENERIC, "rename_from", src);
        ctx.notify(notify::GENERIC, "rename_to", dst);
    }
    match (nx, done) {
        (false, _) => ctx.out.ok(),
        (true, done) => ctx.out.int(!done as i64),
    }
    Ok(())
}

/// A database index argument (MOVE, COPY DB), checked like Redis's
/// `getIntFromObjectOrReply` followed by `selectDb`.
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let n = arg_i64(arg)?;
    let n = i32::try_from(n)
        .map_err(|_| CmdError::err("value is out of range, value must between -2147483648 and 2147483647"))?;
    usize::try_from(n).ok().filter(|&i| i < ctx.store.dbs.len()).ok_or(CmdError::DbIndexOutOfRange)
}

fn same_object() -> CmdError {
    CmdError::err("source and destination objects are the same")
}

fn move_cmd(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1];
    let dst = db_index(ctx, &argv[2])?;
    let src = ctx.client.db;
    if src == dst {
        return Err(same_object());
    }
    if lookup_write(ctx, key).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let now = ctx.now_ms;
    if ctx.store.dbs[dst].get_mut(key, now).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    if let Some((k, entry)) = ctx.store.dbs[src].remove_entry(key) {
        ctx.store.dbs[dst].insert_entry(k, entry);
    }
    ctx.store.signal_if_poppable(dst, key, now);
    ctx.notify_db(notify::GENERIC, "move_from", key, src);
    ctx.notify_db(notify::GENERIC, "move_to", key, dst);
    ctx.out.int(1);
    Ok(())
}

/// COPY's options, parsed.
struct CopyOptions {
    dst_db: usize,
    replace: bool,
}

fn parse_copy_options(ctx: &Ctx, argv: &[Bytes]) -> Result<CopyOptions, CmdError> {
    let mut o = CopyOptions { dst_db: ctx.client.db, replace: false };
    let mut j = 3;
    while j < argv.len() {
        if is(&argv[j], "replace") {
            o.replace = true;
        } else if is(&argv[j], "db") && j + 1 < argv.len() {
            o.dst_db = db_index(ctx, &argv[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn copy(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = parse_copy_options(ctx, argv)?;
    let (src, dst) = (&argv[1], &argv[2]);
    if o.dst_db == ctx.client.db && src == dst {
        return Err(same_object());
    }
    let lru = At::of(ctx).lru;
    let Some(entry) = lookup_read(ctx, src, true) else {
        ctx.out.int(0);
        return Ok(());
    };
    // A copy is a new object: fresh LRU, same value, TTL and encoding.
    let mut entry = entry.clone();
    entry.lru = lru;
    // Redis's dupStringObject never returns a shared integer.
    entry.unshared = true;
    let now = ctx.now_ms;
    let db = &mut ctx.store.dbs[o.dst_db];
    if db.get_mut(dst, now).is_some() && !o.replace {
        ctx.out.int(0);
        return Ok(());
    }
    db.insert_entry(Sds::new(dst), entry);
    ctx.store.signal_if_poppable(o.dst_db, dst, now);
    ctx.notify_db(notify::GENERIC, "copy_to", dst, o.dst_db);
    ctx.out.int(1);
    Ok(())
}

fn keys(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let pattern = &argv[1][..];
    let all = pattern == b"*";
    let found: Vec<&Sds> = ctx.store.dbs[ctx.client.db]
        .iter(now)
        .filter(|(k, _)| all || glob_match(pattern, k, false))
        .map(|(k, _)| k)
        .collect();
    ctx.out.array(found.len());
    for k in found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// SCAN's options, parsed.
struct ScanOptions<'a> {
    cursor: u64,
    count: usize,
    pattern: Option<&'a [u8]>,
    type_name: Option<&'a [u8]>,
}

fn parse_scan_options(argv: &[Bytes]) -> Result<ScanOptions<'_>, CmdError> {
    let mut o = ScanOptions { cursor: parse_cursor(&argv[1])?, count: 10, pattern: None, type_name: None };
    let mut j = 2;
    while j < argv.len() {
        let value = argv.get(j + 1).ok_or(CmdError::Syntax)?;
        if is(&argv[j], "count") {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&argv[j], "match") {
            // "*" matches everything: same as no pattern, but cheaper.
            o.pattern = (&value[..] != b"*").then_some(&value[..]);
        } else if is(&argv[j], "type") {
            o.type_name = Some(&value[..]);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

fn scan(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = parse_scan_options(argv)?;
    let now = ctx.now_ms;
    let filter = ScanFilter { pattern: o.pattern, type_name: o.type_name };
    let mut found = Vec::new();
    let next = ctx.store.dbs[ctx.client.db].scan(o.cursor, o.count, now, &filter, |k| found.push(k.clone()));
    ctx.out.array(2);
    ctx.out.bulk_str(&next.to_string());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let i = ctx.client.db;
    match ctx.store.dbs[i].random_live_key(now, &mut ctx.rng) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

fn expire(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    expire_generic(ctx, argv, now, true, "expire")
}

fn pexpire(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    expire_generic(ctx, argv, now, false, "pexpire")
}

fn expireat(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 0, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 0, false, "pexpireat")
}

/// The NX/XX/GT/LT condition of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Parses the EXPIRE family's arguments as Redis's `expireGenericCommand`
/// does, in its order (options first, then the time), into the absolute unix
/// ms the key should expire at.
fn parse_expire(argv: &[Bytes], basetime: i64, seconds: bool, cmd: &str) -> Result<(i64, ExpireFlags), CmdError> {
    let mut f = ExpireFlags::default();
    for opt in &argv[3..] {
        if is(opt, "nx") {
            f.nx = true;
        } else if is(opt, "xx") {
            f.xx = true;
        } else if is(opt, "gt") {
            f.gt = true;
        } else if is(opt, "lt") {
            f.lt = true;
        } else {
            // Redis formats the option with %s, which stops at a NUL byte.
            let end = opt.iter().position(|&b| b == 0).unwrap_or(opt.len());
            return Err(CmdError::err(format!("Unsupported option {}", String::from_utf8_lossy(&opt[..end]))));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::err("NX and XX, GT or LT options at the same time are not compatible"));
    }
    if f.gt && f.lt {
        return Err(CmdError::err("GT and LT options at the same time are not compatible"));
    }
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    let mut when = arg_i64(&argv[2])?;
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let when = when.checked_add(basetime).ok_or_else(invalid)?;
    Ok((when, f))
}

fn expire_generic(ctx: &mut Ctx, argv: &[Bytes], basetime: i64, seconds: bool, cmd: &str) -> CmdResult {
    let (when, f) = parse_expire(argv, basetime, seconds, cmd)?;
    let key = &argv[1];
    let Some(entry) = lookup_write(ctx, key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = entry.expire_at();
    // No TTL counts as an infinite one: GT always fails on it, LT succeeds.
    let refused = (f.nx && current.is_some())
        || (f.xx && current.is_none())
        || (f.gt && current.unwrap_or(i64::MAX) >= when)
        || (f.lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    if when <= now {
        // Redis deletes rather than stores a TTL already passed.
        db.remove(key);
        ctx.notify(notify::GENERIC, "del", key);
        ctx.out.int(1);
    } else {
        db.set_expire(key, when);
        // Redis replies before notifying here (a client subscribed to its
        // own events sees the order).
        ctx.out.int(1);
        ctx.notify(notify::GENERIC, "expire", key);
    }
    Ok(())
}

fn ttl(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, argv, false, false)
}

fn pttl(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, argv, true, false)
}

fn expiretime(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, argv, false, true)
}

fn pexpiretime(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, argv, true, true)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without a
/// TTL, else the remaining (or absolute) time, seconds rounded to nearest.
fn ttl_generic(ctx: &mut Ctx, argv: &[Bytes], ms: bool, absolute: bool) -> CmdResult {
    let now = ctx.now_ms;
    let reply = match lookup_read(ctx, &argv[1], false) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                let t = if absolute { at } else { at.saturating_sub(now).max(0) };
                if ms {
                    t
                } else {
                    // Redis's (ttl+500)/1000 behaves as unsigned arithmetic
                    // at the top of the range (t is never negative here).
                    ((u64::try_from(t).unwrap_or(0) + 500) / 1000) as i64
                }
            }
        },
    };
    ctx.out.int(reply);
    Ok(())
}

fn persist(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1];
    let had_ttl = lookup_write(ctx, key).is_some_and(|e| e.expire_at().is_some());
    if had_ttl {
        ctx.db().set_expire(key, 0);
        ctx.notify(notify::GENERIC, "persist", key);
    }
    ctx.out.int(had_ttl as i64);
    Ok(())
}

fn object(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Only reached if the table routes a bare OBJECT here; the dispatcher
    // rejects unknown subcommands and wrong arities itself.
    let sub = argv.get(1).map_or(String::new(), |s| String::from_utf8_lossy(s).into_owned());
    Err(CmdError::UnknownSubcommand(sub, "OBJECT".into()))
}

/// How Redis would encode a string value (`tryObjectEncoding`), given the
/// entry's history flags, and whether it would be one of the shared small
/// integer objects.
fn str_encoding(s: &[u8], raw: bool, no_int: bool, unshared: bool) -> (&'static str, bool) {
    if raw {
        return ("raw", false);
    }
    if !no_int && s.len() <= 20 {
        if let Some(n) = parse_i64(s) {
            return ("int", !unshared && (0..SHARED_INTEGERS).contains(&n));
        }
    }
    (if s.len() <= EMBSTR_SIZE_LIMIT { "embstr" } else { "raw" }, false)
}

fn entry_encoding(e: &Entry) -> (&'static str, bool) {
    match &e.value {
        Value::Str(s) => str_encoding(s, e.raw, e.no_int_encoding, e.unshared),
        Value::List(l) => (l.encoding(), false),
        Value::Hash(h) => (h.encoding(), false),
        Value::Set(s) => (s.encoding(), false),
        Value::ZSet(z) => (z.encoding(), false),
    }
}

fn object_encoding(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    match lookup_read(ctx, &argv[2], false).map(|e| entry_encoding(e).0) {
        Some(enc) => ctx.out.bulk_str(enc),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Redis stops sharing small integers when maxmemory is set with an LRU
    // or LFU policy: each key needs its own access metadata.
    let sharing = ctx.shared.maxmemory.load(std::sync::atomic::Ordering::Relaxed) == 0
        || matches!(
            ctx.store.eviction().policy,
            evict::Policy::NoEviction
                | evict::Policy::AllKeysRandom
                | evict::Policy::VolatileRandom
                | evict::Policy::VolatileTtl
        );
    match lookup_read(ctx, &argv[2], false).map(|e| entry_encoding(e).1 && sharing) {
        Some(shared) => ctx.out.int(if shared { SHARED_REFCOUNT } else { 1 }),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let Some(lru) = lookup_read(ctx, &argv[2], false).map(|e| e.lru) else {
        ctx.out.null();
        return Ok(());
    };
    if ctx.store.eviction().policy.is_lfu() {
        return Err(CmdError::err(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between \
             policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    ctx.out.int((evict::idle_ms(lru, ctx.now_ms) / 1000) as i64);
    Ok(())
}

fn object_freq(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let Some(lru) = lookup_read(ctx, &argv[2], false).map(|e| e.lru) else {
        ctx.out.null();
        return Ok(());
    };
    let cfg = ctx.store.eviction();
    if !cfg.policy.is_lfu() {
        return Err(CmdError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching \
             between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    // Decayed now, as Redis does: the counter is only rewritten on access.
    ctx.out.int(i64::from(evict::lfu_count(lru, ctx.now_ms, cfg.lfu_decay_time)));
    Ok(())
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.array(OBJECT_HELP.len());
    for line in OBJECT_HELP {
        ctx.out.simple(line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"").ok(), Some(0));
        assert_eq!(parse_cursor(b"+7").ok(), Some(7));
        assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615").ok(), Some(u64::MAX));
        for bad in [&b"18446744073709551616"[..], b" 1", b"1 ", b"-", b"+", b"0x10", b"1a"] {
            assert!(parse_cursor(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn string_encodings() {
        let e = |s: &[u8], raw| str_encoding(s, raw, false, false);
        assert_eq!(e(b"5", false), ("int", true));
        assert_eq!(e(b"9999", false), ("int", true));
        assert_eq!(e(b"10000", false), ("int", false));
        assert_eq!(e(b"-1", false), ("int", false));
        assert_eq!(e(b"5", true), ("raw", false));
        assert_eq!(e(b"05", false), ("embstr", false));
        assert_eq!(e(&[b'a'; 44], false), ("embstr", false));
        assert_eq!(e(&[b'a'; 45], false), ("raw", false));
        assert_eq!(e(b"", false), ("embstr", false));
        assert_eq!(str_encoding(b"3", false, true, false), ("embstr", false));
        assert_eq!(str_encoding(b"3", false, false, true), ("int", false));
    }

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn expire_overflow_and_conflicts() {
        let e = |v: &[&str], base, secs| parse_expire(&args(v), base, secs, "expire");
        assert!(e(&["expire", "k", "9223372036854775"], 1000, true).is_err());
        assert_eq!(e(&["expire", "k", "-9223372036854775"], 1000, true).map(|r| r.0).ok(), Some(-9223372036854774000));
        assert!(e(&["expire", "k", "9223372036854775807"], 1, false).is_err());
        assert_eq!(e(&["expire", "k", "10", "nx", "nx"], 0, true).map(|r| r.0).ok(), Some(10_000));
        assert_eq!(
            e(&["expire", "k", "x", "nx", "gt"], 0, true).err(),
            Some(CmdError::err("NX and XX, GT or LT options at the same time are not compatible"))
        );
        assert_eq!(e(&["expire", "k", "10", "foo"], 0, true).err(), Some(CmdError::err("Unsupported option foo")));
        assert_eq!(e(&["expire", "k", "x"], 0, true).err(), Some(CmdError::NotInteger));
    }
}
