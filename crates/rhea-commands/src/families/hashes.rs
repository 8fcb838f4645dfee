//! The hash family: HSET, HGET, HGETALL, HINCRBY, HRANDFIELD, HSCAN...

use bytes::Bytes;
use rhea_resp::parse_i64;
use rhea_store::hash::HashLimits;
use rhea_store::{glob_match, Db, Hash, Sds, Value};

use super::strings::long_double::{self, Ext, Ld};
use super::{arg_i64, is, lookup_read, lookup_write, parse_cursor, At};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn hash(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "hash";
    c.since = "2.0.0";
    c
}

const READ_FAST: &[&str] = &["read", "hash", "fast"];
const READ_SLOW: &[&str] = &["read", "hash", "slow"];
const WRITE_FAST: &[&str] = &["write", "hash", "fast"];
const ORDER_TIP: &[&str] = &["nondeterministic_output_order"];
const RANDOM_TIP: &[&str] = &["nondeterministic_output"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Set the string value of a hash field",
        complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is \
            called with multiple field/value pairs.",
        ..hash("hset", -4, WRITE | DENYOOM | FAST, hset)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Set the value of a hash field, only if the field does not exist",
        complexity: "O(1)",
        ..hash("hsetnx", 4, WRITE | DENYOOM | FAST, hsetnx)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the value of a hash field",
        complexity: "O(1)",
        ..hash("hget", 3, READONLY | FAST, hget)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the values of all the given hash fields",
        complexity: "O(N) where N is the number of fields being requested.",
        ..hash("hmget", -3, READONLY | FAST, hmget)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Set multiple hash fields to multiple values",
        complexity: "O(N) where N is the number of fields being set.",
        ..hash("hmset", -4, WRITE | DENYOOM | FAST, hset)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get all the fields and values in a hash",
        complexity: "O(N) where N is the size of the hash.",
        tips: ORDER_TIP,
        ..hash("hgetall", 2, READONLY, hgetall)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Delete one or more hash fields",
        complexity: "O(N) where N is the number of fields to be removed.",
        ..hash("hdel", -3, WRITE | FAST, hdel)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Determine if a hash field exists",
        complexity: "O(1)",
        ..hash("hexists", 3, READONLY | FAST, hexists)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the number of fields in a hash",
        complexity: "O(1)",
        ..hash("hlen", 2, READONLY | FAST, hlen)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the length of the value of a hash field",
        since: "3.2.0",
        complexity: "O(1)",
        ..hash("hstrlen", 3, READONLY | FAST, hstrlen)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get all the fields in a hash",
        complexity: "O(N) where N is the size of the hash.",
        tips: ORDER_TIP,
        ..hash("hkeys", 2, READONLY, hkeys)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get all the values in a hash",
        complexity: "O(N) where N is the size of the hash.",
        tips: ORDER_TIP,
        ..hash("hvals", 2, READONLY, hvals)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Increment the integer value of a hash field by the given number",
        complexity: "O(1)",
        ..hash("hincrby", 4, WRITE | DENYOOM | FAST, hincrby)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Increment the float value of a hash field by the given amount",
        since: "2.6.0",
        complexity: "O(1)",
        ..hash("hincrbyfloat", 4, WRITE | DENYOOM | FAST, hincrbyfloat)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get one or multiple random fields from a hash",
        since: "6.2.0",
        complexity: "O(N) where N is the number of fields returned",
        tips: RANDOM_TIP,
        ..hash("hrandfield", -2, READONLY, hrandfield)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Incrementally iterate hash fields and associated values",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the \
            cursor to return back to 0. N is the number of elements inside the collection..",
        tips: RANDOM_TIP,
        ..hash("hscan", -3, READONLY, hscan)
    },
];

/// The hash payload of a value, WRONGTYPE for any other type.
fn as_hash(v: &Value) -> Result<&Hash, CmdError> {
    match v {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

fn as_hash_mut(v: &mut Value) -> Result<&mut Hash, CmdError> {
    match v {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

fn limits(ctx: &Ctx) -> HashLimits {
    let cfg = ctx.shared.config.read();
    HashLimits { max_entries: cfg.hash_max_listpack_entries, max_value: cfg.hash_max_listpack_value }
}

/// Redis's `lookupKeyRead` + type check: None for a missing key.
fn read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Hash>, CmdError> {
    let at = At::of(ctx);
    match lookup_read(ctx.store, at, key, true) {
        Some(e) => as_hash(&e.value).map(Some),
        None => Ok(None),
    }
}

/// The hash at `key` for a write, WRONGTYPE for other types; None when the
/// key does not exist.
fn write<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Result<Option<&'a mut Hash>, CmdError> {
    match lookup_write(db, at, key) {
        Some(e) => as_hash_mut(&mut e.value).map(Some),
        None => Ok(None),
    }
}

/// Redis's `hashTypeLookupWriteOrCreate`: the hash at `key`, created empty
/// when missing. Callers must leave it non-empty (every caller sets a field
/// right after, and runs all checks that can fail before calling this).
fn write_or_create<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Result<&'a mut Hash, CmdError> {
    if write(db, at, key)?.is_none() {
        db.insert(key, Value::Hash(Box::default()), 0, at.lru);
    }
    match db.get_mut(key, at.now) {
        Some(e) => as_hash_mut(&mut e.value),
        None => Err(CmdError::err("internal error: hash vanished")),
    }
}

/// HSET and HMSET (which differ only in their reply).
fn hset(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let hmset = argv[0].get(1).is_some_and(|c| c.eq_ignore_ascii_case(&b'm'));
    if argv.len() % 2 == 1 {
        return Err(CmdError::Arity(if hmset { "hmset" } else { "hset" }.into()));
    }
    let limits = limits(ctx);
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let h = write_or_create(db, at, &argv[1])?;
    h.convert_for_args(argv[2..].iter().map(|a| &a[..]), limits);
    let created = argv[2..].chunks_exact(2).filter(|fv| h.set(&fv[0], &fv[1], limits)).count();
    db.touch(&argv[1]);
    if hmset {
        ctx.out.ok();
    } else {
        ctx.out.int(created as i64);
    }
    // After the reply, and even when nothing changed, as Redis does.
    ctx.notify(notify::HASH, "hset", &argv[1]);
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let limits = limits(ctx);
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    if write(db, at, &argv[1])?.is_some_and(|h| h.contains(&argv[2])) {
        ctx.out.int(0);
        return Ok(());
    }
    let h = write_or_create(db, at, &argv[1])?;
    h.convert_for_args([&argv[2][..], &argv[3][..]], limits);
    h.set(&argv[2], &argv[3], limits);
    db.touch(&argv[1]);
    ctx.out.int(1);
    ctx.notify(notify::HASH, "hset", &argv[1]);
    Ok(())
}

fn hget(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let v = read(ctx, &argv[1])?.and_then(|h| h.get(&argv[2])).cloned();
    match v {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let h = match lookup_read(ctx.store, at, &argv[1], true) {
        Some(e) => Some(as_hash(&e.value)?),
        None => None,
    };
    let out = &mut *ctx.out;
    out.array(argv.len() - 2);
    for f in &argv[2..] {
        match h.and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

/// HGETALL, HKEYS and HVALS.
fn reply_all(ctx: &mut Ctx, key: &[u8], keys: bool, values: bool) -> CmdResult {
    let at = At::of(ctx);
    let h = match lookup_read(ctx.store, at, key, true) {
        Some(e) => Some(as_hash(&e.value)?),
        None => None,
    };
    let out = &mut *ctx.out;
    let len = h.map_or(0, Hash::len);
    if keys && values {
        out.map(len);
    } else {
        out.array(len);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if keys {
                out.bulk(f);
            }
            if values {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    reply_all(ctx, &argv[1], true, true)
}

fn hkeys(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    reply_all(ctx, &argv[1], true, false)
}

fn hvals(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    reply_all(ctx, &argv[1], false, true)
}

fn hdel(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let Some(h) = write(db, at, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for f in &argv[2..] {
        if h.remove(f) {
            deleted += 1;
            // Redis stops at the first field that empties the hash.
            if h.is_empty() {
                break;
            }
        }
    }
    let removed = h.is_empty();
    if removed {
        db.remove(key);
    } else if deleted > 0 {
        db.touch(key);
    }
    // HDEL publishes before its reply.
    if deleted > 0 {
        ctx.notify(notify::HASH, "hdel", key);
        if removed {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

fn hexists(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let found = read(ctx, &argv[1])?.is_some_and(|h| h.contains(&argv[2]));
    ctx.out.int(i64::from(found));
    Ok(())
}

fn hlen(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let len = read(ctx, &argv[1])?.map_or(0, Hash::len);
    ctx.out.int(len as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let len = read(ctx, &argv[1])?.and_then(|h| h.get(&argv[2])).map_or(0, |v| v.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn hincrby(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let incr = arg_i64(&argv[3])?;
    let limits = limits(ctx);
    let at = At::of(ctx);
    let (key, field) = (&argv[1], &argv[2]);
    let db = &mut ctx.store.dbs[at.db];
    let old = match write(db, at, key)?.and_then(|h| h.get(field)) {
        Some(v) => parse_i64(v).ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    let h = write_or_create(db, at, key)?;
    h.set(field, new.to_string().as_bytes(), limits);
    db.touch(key);
    ctx.out.int(new);
    ctx.notify(notify::HASH, "hincrby", key);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let incr = match long_double::parse(&argv[3]) {
        Some(Ld::Num(n)) => n,
        Some(Ld::Inf) => return Err(CmdError::err("value is NaN or Infinity")),
        None => return Err(CmdError::NotFloat),
    };
    let limits = limits(ctx);
    let at = At::of(ctx);
    let (key, field) = (&argv[1], &argv[2]);
    let db = &mut ctx.store.dbs[at.db];
    let old = match write(db, at, key)?.and_then(|h| h.get(field)) {
        Some(v) => long_double::parse(v).ok_or_else(|| CmdError::err("hash value is not a float"))?,
        None => Ld::Num(Ext { neg: false, m: 0, e: 0 }),
    };
    let sum = match old {
        Ld::Num(a) => long_double::add(a, incr),
        Ld::Inf => Ld::Inf,
    };
    let Ld::Num(v) = sum else {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    };
    let text = long_double::format_human(v);
    let h = write_or_create(db, at, key)?;
    h.set(field, text.as_bytes(), limits);
    db.touch(key);
    ctx.out.bulk(text.as_bytes());
    ctx.notify(notify::HASH, "hincrbyfloat", key);
    Ok(())
}

/// HRANDFIELD's arguments, parsed.
struct RandOptions {
    /// None: no count argument (reply with a single bulk).
    count: Option<i64>,
    withvalues: bool,
}

fn parse_rand_options(argv: &[Bytes]) -> Result<RandOptions, CmdError> {
    let Some(arg) = argv.get(2) else {
        return Ok(RandOptions { count: None, withvalues: false });
    };
    let n = arg_i64(arg)?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match argv.len() {
        3 => false,
        4 if is(&argv[3], "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return Err(CmdError::err("value is out of range"));
    }
    Ok(RandOptions { count: Some(n), withvalues })
}

fn hrandfield(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = parse_rand_options(argv)?;
    let at = At::of(ctx);
    let h = match lookup_read(ctx.store, at, &argv[1], true) {
        Some(e) => Some(as_hash(&e.value)?),
        None => None,
    };
    let out = &mut *ctx.out;
    let rng = &mut ctx.rng;
    let Some(count) = o.count else {
        match h.and_then(|h| h.get_index(rng.usize(..h.len().max(1)))) {
            Some((f, _)) => out.bulk(f),
            None => out.null(),
        }
        return Ok(());
    };
    let h = match h {
        Some(h) if count != 0 => h,
        _ => {
            out.array(0);
            return Ok(());
        }
    };
    let pair = |out: &mut rhea_resp::Out, f: &Sds, v: &Sds| {
        if o.withvalues && out.resp3 {
            out.array(2);
        }
        out.bulk(f);
        if o.withvalues {
            out.bulk(v);
        }
    };
    let header = |out: &mut rhea_resp::Out, n: usize| {
        out.array(if o.withvalues && !out.resp3 { n.saturating_mul(2) } else { n });
    };
    let len = h.len();
    if count < 0 || count == 1 {
        // Picks with replacement; a negative count may repeat fields.
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        header(out, n);
        for _ in 0..n {
            if let Some((f, v)) = h.get_index(rng.usize(..len)) {
                pair(out, f, v);
            }
        }
        return Ok(());
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    if n >= len {
        header(out, len);
        for (f, v) in h.iter() {
            pair(out, f, v);
        }
        return Ok(());
    }
    header(out, n);
    for i in h.random_distinct(n, rng) {
        if let Some((f, v)) = h.get_index(i) {
            pair(out, f, v);
        }
    }
    Ok(())
}

fn hscan(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // As in Redis: the cursor, then the key, and only then the options (a
    // missing key answers an empty scan whatever the options say).
    let cursor = parse_cursor(&argv[2])?;
    let Some(h) = read(ctx, &argv[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut j = 3;
    while j < argv.len() {
        let value = argv.get(j + 1).ok_or(CmdError::Syntax)?;
        if is(&argv[j], "count") {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&argv[j], "match") {
            pattern = (&value[..] != b"*").then_some(&value[..]);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let mut found: Vec<(Sds, Sds)> = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| glob_match(p, f, false)) {
            found.push((f.clone(), v.clone()));
        }
    });
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk_str(&next.to_string());
    out.array(found.len() * 2);
    for (f, v) in &found {
        out.bulk(f);
        out.bulk(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn hrandfield_options_follow_redis() {
        let o = parse_rand_options(&args(&["hrandfield", "h"])).unwrap();
        assert!(o.count.is_none());
        let o = parse_rand_options(&args(&["hrandfield", "h", "-5", "WithValues"])).unwrap();
        assert_eq!(o.count, Some(-5));
        assert!(o.withvalues);
        assert!(parse_rand_options(&args(&["hrandfield", "h", "1", "withvalue"])).is_err());
        assert!(parse_rand_options(&args(&["hrandfield", "h", "1", "withvalues", "x"])).is_err());
        assert_eq!(
            parse_rand_options(&args(&["hrandfield", "h", "4611686018427387904", "withvalues"])).err(),
            Some(CmdError::err("value is out of range"))
        );
        assert!(parse_rand_options(&args(&["hrandfield", "h", "4611686018427387903", "withvalues"])).is_ok());
        assert!(parse_rand_options(&args(&["hrandfield", "h", "-9223372036854775808"])).is_err());
        assert!(parse_rand_options(&args(&["hrandfield", "h", "-9223372036854775807"])).is_ok());
    }

    #[test]
    fn cursor_parses_like_strtoul() {
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"18446744073709551616").is_err());
    }
}
