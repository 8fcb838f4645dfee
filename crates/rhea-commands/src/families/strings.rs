//! The string family: GET, SET and friends.

use bytes::Bytes;
use rhea_resp::parse_i64;
use rhea_store::{Sds, Value};

use super::{arg_i64, is, lookup_read, lookup_write, lookup_write_slot, At};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

use long_double::{Ext, Ld};

const fn string(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "string";
    c
}

const READ_FAST: &[&str] = &["read", "string", "fast"];
const READ_SLOW: &[&str] = &["read", "string", "slow"];
const WRITE_FAST: &[&str] = &["write", "string", "fast"];
const WRITE_SLOW: &[&str] = &["write", "string", "slow"];
const RANGE_COMPLEXITY: &str = "O(N) where N is the length of the returned string. The complexity is ultimately \
    determined by the returned length, but because creating a substring from an existing string is very cheap, it \
    can be considered O(1) for small strings.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the value of a key",
        complexity: "O(1)",
        ..string("get", 2, READONLY | FAST, get)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Set the string value of a key",
        complexity: "O(1)",
        ..string("set", -3, WRITE | DENYOOM, set)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Set the value of a key, only if the key does not exist",
        complexity: "O(1)",
        ..string("setnx", 3, WRITE | DENYOOM | FAST, setnx)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Set the value and expiration of a key",
        since: "2.0.0",
        complexity: "O(1)",
        ..string("setex", 4, WRITE | DENYOOM, setex)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Set the value and expiration in milliseconds of a key",
        since: "2.6.0",
        complexity: "O(1)",
        ..string("psetex", 4, WRITE | DENYOOM, psetex)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the values of all the given keys",
        complexity: "O(N) where N is the number of keys to retrieve.",
        ..string("mget", -2, READONLY | FAST, mget).keys(1, -1, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Set multiple keys to multiple values",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
        ..string("mset", -3, WRITE | DENYOOM, mset).keys(1, -1, 2)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Set multiple keys to multiple values, only if none of the keys exist",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
        ..string("msetnx", -3, WRITE | DENYOOM, msetnx).keys(1, -1, 2)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Set the string value of a key and return its old value",
        complexity: "O(1)",
        ..string("getset", 3, WRITE | DENYOOM | FAST, getset)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Get the value of a key and delete the key",
        since: "6.2.0",
        complexity: "O(1)",
        ..string("getdel", 2, WRITE | FAST, getdel)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Get the value of a key and optionally set its expiration",
        since: "6.2.0",
        complexity: "O(1)",
        ..string("getex", -2, WRITE | FAST, getex)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Append a value to a key",
        since: "2.0.0",
        complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the \
            already present value is of any size, since the dynamic string library used by Redis will double the \
            free space available on every reallocation.",
        ..string("append", 3, WRITE | DENYOOM | FAST, append)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the length of the value stored in a key",
        since: "2.2.0",
        complexity: "O(1)",
        ..string("strlen", 2, READONLY | FAST, strlen)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Increment the integer value of a key by one",
        complexity: "O(1)",
        ..string("incr", 2, WRITE | DENYOOM | FAST, incr)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Decrement the integer value of a key by one",
        complexity: "O(1)",
        ..string("decr", 2, WRITE | DENYOOM | FAST, decr)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Increment the integer value of a key by the given amount",
        complexity: "O(1)",
        ..string("incrby", 3, WRITE | DENYOOM | FAST, incrby)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Decrement the integer value of a key by the given number",
        complexity: "O(1)",
        ..string("decrby", 3, WRITE | DENYOOM | FAST, decrby)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Increment the float value of a key by the given amount",
        since: "2.6.0",
        complexity: "O(1)",
        ..string("incrbyfloat", 3, WRITE | DENYOOM | FAST, incrbyfloat)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get a substring of the string stored at a key",
        since: "2.4.0",
        complexity: RANGE_COMPLEXITY,
        ..string("getrange", 4, READONLY, getrange)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Overwrite part of a string at key starting at the specified offset",
        since: "2.2.0",
        complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is \
            very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length \
            of the value argument.",
        ..string("setrange", 4, WRITE | DENYOOM, setrange)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get a substring of the string stored at a key",
        complexity: RANGE_COMPLEXITY,
        ..string("substr", 4, READONLY, getrange)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Find longest common substring",
        since: "7.0.0",
        complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        ..string("lcs", -3, READONLY, lcs).keys(1, 2, 1)
    },
];

/// The string payload of a value, WRONGTYPE for any other type. Every
/// command of the family goes through here, so new value types need only
/// this one function changed.
fn as_str(v: &Value) -> Result<&Sds, CmdError> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Takes the bytes out of a string value without copying a heap buffer
/// (APPEND and SETRANGE then grow it, which `realloc` can often do in place).
fn take_bytes(v: &mut Value) -> Result<Vec<u8>, CmdError> {
    match v {
        Value::Str(Sds::Heap(b)) => Ok(std::mem::take(b).into_vec()),
        Value::Str(s) => Ok(s.to_vec()),
        _ => Err(CmdError::WrongType),
    }
}

fn get(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    match lookup_read(ctx.store, at, &argv[1], true) {
        Some(e) => ctx.out.bulk(as_str(&e.value)?),
        None => ctx.out.null(),
    }
    Ok(())
}

/// How a write treats the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the existing TTL (KEEPTTL).
    Keep,
    /// Expire at this absolute unix time in ms. Relative EX/PX are resolved
    /// against the request's time stamp when parsed, so the parsed form is
    /// the same on every replica.
    At(i64),
    /// GETEX PERSIST.
    Persist,
}

/// The options of SET and GETEX, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetOptions {
    pub nx: bool,
    pub xx: bool,
    pub get: bool,
    pub ttl: Ttl,
}

/// SET's or GETEX's options before the expire argument is checked: Redis
/// reports syntax errors first, and GETEX checks the time only once it
/// knows the key exists.
struct RawOptions<'a> {
    opts: SetOptions,
    /// EX/PX/EXAT/PXAT (lower case) and its argument.
    expire: Option<(&'static str, &'a Bytes)>,
}

/// Parses SET's (or, with `for_set` false, GETEX's) options from
/// `argv[start..]` exactly as Redis's `parseExtendedStringArgumentsOrReply`:
/// the same accepted combinations, the same errors, last EX/PX/... wins.
fn parse_raw_options(argv: &[Bytes], start: usize, for_set: bool) -> Result<RawOptions<'_>, CmdError> {
    let mut o = SetOptions { nx: false, xx: false, get: false, ttl: if for_set { Ttl::Clear } else { Ttl::Keep } };
    let (mut keepttl, mut persist) = (false, false);
    let mut expire: Option<(&'static str, &Bytes)> = None;
    let mut j = start;
    while j < argv.len() {
        let opt = &argv[j];
        let next = argv.get(j + 1);
        let other_expire = |name: &str| expire.is_some_and(|(n, _)| n != name);
        if for_set && is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if for_set && is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if for_set && is(opt, "get") {
            o.get = true;
        } else if for_set && is(opt, "keepttl") && expire.is_none() {
            keepttl = true;
        } else if !for_set && is(opt, "persist") && expire.is_none() {
            persist = true;
        } else if let Some(name) = ["ex", "px", "exat", "pxat"].into_iter().find(|n| is(opt, n)) {
            match next {
                Some(v) if !keepttl && !persist && !other_expire(name) => {
                    expire = Some((name, v));
                    j += 1;
                }
                _ => return Err(CmdError::Syntax),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if keepttl {
        o.ttl = Ttl::Keep;
    }
    if persist {
        o.ttl = Ttl::Persist;
    }
    Ok(RawOptions { opts: o, expire })
}

impl RawOptions<'_> {
    /// Checks and resolves the expire argument (Redis's
    /// `getExpireMillisecondsOrReply`).
    fn resolve(&self, now_ms: i64, cmd: &str) -> Result<SetOptions, CmdError> {
        let mut o = self.opts;
        if let Some((unit, v)) = self.expire {
            o.ttl = Ttl::At(expire_at(now_ms, unit, v, cmd)?);
        }
        Ok(o)
    }
}

/// Parses SET's (or, with `for_set` false, GETEX's) options from
/// `argv[start..]`, syntax first, then the expire time.
pub fn parse_set_options(ctx: &Ctx, argv: &[Bytes], start: usize, for_set: bool) -> Result<SetOptions, CmdError> {
    parse_raw_options(argv, start, for_set)?.resolve(ctx.now_ms, if for_set { "set" } else { "getex" })
}

/// Resolves an EX/PX/EXAT/PXAT argument to absolute unix ms, with Redis's
/// checks: positive, and no overflow.
pub fn expire_at(now_ms: i64, unit: &str, arg: &[u8], cmd: &str) -> Result<i64, CmdError> {
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    let mut ms = arg_i64(arg)?;
    let seconds = unit == "ex" || unit == "exat";
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if seconds {
        ms *= 1000;
    }
    if unit == "ex" || unit == "px" {
        ms = ms.checked_add(now_ms).ok_or_else(invalid)?;
    }
    Ok(ms)
}

/// Redis's `setGenericCommand`: the replies for "set" and "not set" are the
/// caller's (OK / null for SET, 1 / 0 for SETNX).
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    val: &[u8],
    o: SetOptions,
    on_set: fn(&mut Ctx),
    on_abort: fn(&mut Ctx),
) -> CmdResult {
    let at = At::of(ctx);
    if o.get {
        match lookup_read(ctx.store, at, key, true) {
            Some(e) => ctx.out.bulk(as_str(&e.value)?),
            None => ctx.out.null(),
        }
    }
    let db = &mut ctx.store.dbs[at.db];
    let (slot, existing) = lookup_write_slot(db, at, key).map(|(i, e)| (i, e.expire_at())).unzip();
    if (o.nx && existing.is_some()) || (o.xx && existing.is_none()) {
        if !o.get {
            on_abort(ctx);
        }
        return Ok(());
    }
    let expire = match o.ttl {
        Ttl::At(t) => t,
        Ttl::Keep => existing.flatten().unwrap_or(0),
        Ttl::Clear | Ttl::Persist => 0,
    };
    db.insert_at(slot, key, Value::Str(Sds::new(val)), expire, at.lru);
    ctx.notify(notify::STRING, "set", key);
    if matches!(o.ttl, Ttl::At(_)) {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    if !o.get {
        on_set(ctx);
    }
    Ok(())
}

fn reply_ok(ctx: &mut Ctx) {
    ctx.out.ok();
}

fn reply_null(ctx: &mut Ctx) {
    ctx.out.null();
}

fn reply_one(ctx: &mut Ctx) {
    ctx.out.int(1);
}

fn reply_zero(ctx: &mut Ctx) {
    ctx.out.int(0);
}

fn set(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = parse_set_options(ctx, argv, 3, true)?;
    set_generic(ctx, &argv[1], &argv[2], o, reply_ok, reply_null)
}

fn setnx(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = SetOptions { nx: true, xx: false, get: false, ttl: Ttl::Clear };
    set_generic(ctx, &argv[1], &argv[2], o, reply_one, reply_zero)
}

fn setex_generic(ctx: &mut Ctx, argv: &[Bytes], unit: &str) -> CmdResult {
    let cmd = if unit == "ex" { "setex" } else { "psetex" };
    let t = expire_at(ctx.now_ms, unit, &argv[2], cmd)?;
    let o = SetOptions { nx: false, xx: false, get: false, ttl: Ttl::At(t) };
    set_generic(ctx, &argv[1], &argv[3], o, reply_ok, reply_null)
}

fn setex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setex_generic(ctx, argv, "ex")
}

fn psetex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setex_generic(ctx, argv, "px")
}

fn getset(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = SetOptions { nx: false, xx: false, get: true, ttl: Ttl::Clear };
    set_generic(ctx, &argv[1], &argv[2], o, reply_ok, reply_null)
}

fn mget(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    ctx.out.array(argv.len() - 1);
    for key in &argv[1..] {
        match lookup_read(ctx.store, at, key, true).map(|e| as_str(&e.value)) {
            Some(Ok(s)) => ctx.out.bulk(s),
            // MGET answers null for a key of another type, not WRONGTYPE.
            Some(Err(_)) | None => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, argv: &[Bytes], nx: bool) -> CmdResult {
    if argv.len() & 1 == 0 {
        return Err(CmdError::Arity(if nx { "msetnx" } else { "mset" }.into()));
    }
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    if nx && argv[1..].chunks(2).any(|kv| lookup_write(db, at, &kv[0]).is_some()) {
        ctx.out.int(0);
        return Ok(());
    }
    for kv in argv[1..].chunks_exact(2) {
        ctx.store.dbs[at.db].insert(&kv[0], Value::Str(Sds::new(&kv[1])), 0, at.lru);
        ctx.notify(notify::STRING, "set", &kv[0]);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    mset_generic(ctx, argv, false)
}

fn msetnx(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    mset_generic(ctx, argv, true)
}

fn getdel(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    match lookup_read(ctx.store, at, &argv[1], true) {
        Some(e) => ctx.out.bulk(as_str(&e.value)?),
        None => {
            ctx.out.null();
            return Ok(());
        }
    }
    ctx.store.dbs[at.db].remove(&argv[1]);
    ctx.notify(notify::GENERIC, "del", &argv[1]);
    Ok(())
}

fn getex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let raw = parse_raw_options(argv, 2, false)?;
    let at = At::of(ctx);
    let key = &argv[1];
    let Some(e) = lookup_read(ctx.store, at, key, true) else {
        ctx.out.null();
        return Ok(());
    };
    let had_ttl = e.expire_at().is_some();
    let s = as_str(&e.value)?;
    let o = raw.resolve(at.now, "getex")?;
    ctx.out.bulk(s);
    let db = &mut ctx.store.dbs[at.db];
    let absolute = matches!(raw.expire, Some(("exat" | "pxat", _)));
    match o.ttl {
        // An absolute time already past deletes the key (checkAlreadyExpired).
        Ttl::At(t) if absolute && t <= at.now => {
            db.remove(key);
            ctx.notify(notify::GENERIC, "del", key);
        }
        Ttl::At(t) => {
            db.set_expire(key, t);
            ctx.notify(notify::GENERIC, "expire", key);
        }
        // Like removeExpire: a key without a TTL is left alone, so WATCH
        // does not see a modification.
        Ttl::Persist if had_ttl => {
            db.set_expire(key, 0);
            ctx.notify(notify::GENERIC, "persist", key);
        }
        Ttl::Persist => {}
        Ttl::Keep | Ttl::Clear => {}
    }
    Ok(())
}

fn append(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let (key, tail) = (&argv[1], &argv[2]);
    let db = &mut ctx.store.dbs[at.db];
    let len = match lookup_write(db, at, key) {
        None => {
            db.insert(key, Value::Str(Sds::new(tail)), 0, at.lru);
            tail.len()
        }
        Some(e) => {
            let cur = as_str(&e.value)?.len() as u64;
            if !fits(ctx.shared, cur, tail.len()) {
                return Err(too_big());
            }
            let mut v = take_bytes(&mut e.value)?;
            v.extend_from_slice(tail);
            let len = v.len();
            e.value = Value::Str(Sds::from_vec(v));
            e.raw = true;
            len
        }
    };
    ctx.db().touch(key);
    ctx.notify(notify::STRING, "append", key);
    ctx.out.int(len as i64);
    Ok(())
}

/// Redis's `checkStringLength`: a string may not grow past
/// proto-max-bulk-len.
fn fits(shared: &crate::Shared, size: u64, append: usize) -> bool {
    let max = shared.config.read().proto_max_bulk_len as u64;
    size.checked_add(append as u64).is_some_and(|total| total <= max)
}

fn too_big() -> CmdError {
    CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)")
}

fn strlen(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let len = match lookup_read(ctx.store, at, &argv[1], true) {
        Some(e) => as_str(&e.value)?.len(),
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// Redis's `incrDecrCommand`: the key keeps its TTL.
fn incr_by(ctx: &mut Ctx, key: &[u8], incr: i64) -> CmdResult {
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let (old, expire) = match lookup_write(db, at, key) {
        None => (0, 0),
        Some(e) => {
            let old = parse_i64(as_str(&e.value)?).ok_or(CmdError::NotInteger)?;
            (old, e.expire_at().unwrap_or(0))
        }
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    db.insert(key, Value::Str(Sds::new(new.to_string().as_bytes())), expire, at.lru);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    incr_by(ctx, &argv[1], 1)
}

fn decr(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    incr_by(ctx, &argv[1], -1)
}

fn incrby(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = arg_i64(&argv[2])?;
    incr_by(ctx, &argv[1], n)
}

fn decrby(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = arg_i64(&argv[2])?;
    let n = n.checked_neg().ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_by(ctx, &argv[1], n)
}

fn incrbyfloat(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let (old, expire) = match lookup_write(db, at, key) {
        None => (Ld::Num(Ext { neg: false, m: 0, e: 0 }), 0),
        Some(e) => {
            let old = long_double::parse(as_str(&e.value)?).ok_or(CmdError::NotFloat)?;
            (old, e.expire_at().unwrap_or(0))
        }
    };
    let incr = long_double::parse(&argv[2]).ok_or(CmdError::NotFloat)?;
    let sum = match (old, incr) {
        (Ld::Num(a), Ld::Num(b)) => long_double::add(a, b),
        _ => Ld::Inf,
    };
    let Ld::Num(v) = sum else {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    };
    let text = long_double::format_human(v);
    db.insert(key, Value::Str(Sds::new(text.as_bytes())), expire, at.lru);
    // Redis stores this result without trying the integer encoding.
    if let Some(e) = db.get_mut(key, at.now) {
        e.no_int_encoding = true;
    }
    ctx.notify(notify::STRING, "incrbyfloat", key);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// The byte range GETRANGE returns, Redis's index arithmetic included (the
/// additions wrap as the C code's unsigned conversions do).
fn range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len_i = len as i64;
    let start = if start < 0 { start.wrapping_add(len_i) } else { start }.max(0);
    let mut end = if end < 0 { end.wrapping_add(len_i) } else { end }.max(0);
    if end >= len_i {
        end = len_i - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let start = arg_i64(&argv[2])?;
    let end = arg_i64(&argv[3])?;
    let at = At::of(ctx);
    let Some(e) = lookup_read(ctx.store, at, &argv[1], true) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let s = as_str(&e.value)?;
    match range(s.len(), start, end).and_then(|(a, b)| s.get(a..=b)) {
        Some(part) => ctx.out.bulk(part),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let offset = arg_i64(&argv[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let (key, value) = (&argv[1], &argv[3]);
    let at = At::of(ctx);
    let fits = fits(ctx.shared, offset as u64, value.len());
    let db = &mut ctx.store.dbs[at.db];
    let mut written = !value.is_empty();
    let len = match lookup_write(db, at, key) {
        None if value.is_empty() => 0,
        None => {
            if !fits {
                return Err(too_big());
            }
            let mut v = vec![0u8; offset as usize];
            v.extend_from_slice(value);
            let len = v.len();
            db.insert(key, Value::Str(Sds::from_vec(v)), 0, at.lru);
            // Redis builds this string in place: OBJECT ENCODING says "raw".
            if let Some(e) = db.get_mut(key, at.now) {
                e.raw = true;
            }
            len
        }
        Some(e) => {
            let cur = as_str(&e.value)?.len();
            if value.is_empty() {
                written = false;
                cur
            } else {
                if !fits {
                    return Err(too_big());
                }
                let off = offset as usize;
                let mut v = take_bytes(&mut e.value)?;
                if v.len() < off + value.len() {
                    v.resize(off + value.len(), 0);
                }
                v[off..off + value.len()].copy_from_slice(value);
                let len = v.len();
                e.value = Value::Str(Sds::from_vec(v));
                e.raw = true;
                len
            }
        }
    };
    if written {
        ctx.db().touch(key);
        ctx.notify(notify::STRING, "setrange", key);
    }
    ctx.out.int(len as i64);
    Ok(())
}

/// LCS's options.
struct LcsOptions {
    idx: bool,
    len: bool,
    with_match_len: bool,
    min_match_len: i64,
}

fn lcs(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let a = lookup_read(ctx.store, at, &argv[1], true).map(|e| as_str(&e.value).cloned());
    let b = lookup_read(ctx.store, at, &argv[2], true).map(|e| as_str(&e.value).cloned());
    let (a, b) = match (a.transpose(), b.transpose()) {
        (Ok(a), Ok(b)) => (a.unwrap_or_else(|| Sds::new(b"")), b.unwrap_or_else(|| Sds::new(b""))),
        _ => return Err(CmdError::err("The specified keys must contain string values")),
    };
    let mut o = LcsOptions { idx: false, len: false, with_match_len: false, min_match_len: 0 };
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        if is(opt, "idx") {
            o.idx = true;
        } else if is(opt, "len") {
            o.len = true;
        } else if is(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if is(opt, "minmatchlen") && j + 1 < argv.len() {
            o.min_match_len = arg_i64(&argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(CmdError::err("If you want both the length and indexes, please just use IDX."));
    }
    let (a, b): (&[u8], &[u8]) = (&a, &b);
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.shared.config.read().proto_max_bulk_len as u64 {
        return Err(CmdError::err("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    lcs_reply(ctx, a, b, &o);
    Ok(())
}

/// The dynamic-programming LCS, walked back exactly as Redis does so that
/// the same matches are reported in the same order.
fn lcs_reply(ctx: &mut Ctx, a: &[u8], b: &[u8], o: &LcsOptions) {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    if o.len && !o.idx {
        ctx.out.int(i64::from(total));
        return;
    }
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    // (a_start, a_end, b_start, b_end, len) of the ranges to emit.
    let mut matches: Vec<[usize; 5]> = Vec::new();
    let (mut ast, mut aend, mut bst, mut bend) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            if let Some(slot) = idx.checked_sub(1).and_then(|k| result.get_mut(k)) {
                *slot = a[i - 1];
            }
            if ast == alen {
                (ast, aend, bst, bend) = (i - 1, i - 1, j - 1, j - 1);
            } else if ast == i && bst == j {
                ast -= 1;
                bst -= 1;
            } else {
                emit = true;
            }
            if ast == 0 || bst == 0 {
                emit = true;
            }
            idx = idx.saturating_sub(1);
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if ast != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = aend.wrapping_sub(ast).wrapping_add(1);
            if o.min_match_len == 0 || match_len as u64 >= o.min_match_len as u64 {
                matches.push([ast, aend, bst, bend, match_len]);
            }
            ast = alen;
        }
    }
    if !o.idx {
        ctx.out.bulk(&result);
        return;
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(matches.len());
    for m in &matches {
        ctx.out.array(2 + usize::from(o.with_match_len));
        ctx.out.array(2);
        ctx.out.int(m[0] as i64);
        ctx.out.int(m[1] as i64);
        ctx.out.array(2);
        ctx.out.int(m[2] as i64);
        ctx.out.int(m[3] as i64);
        if o.with_match_len {
            ctx.out.int(m[4] as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(i64::from(total));
}

/// INCRBYFLOAT's arithmetic: an exact software emulation of the x87 80-bit
/// `long double` Redis computes with on x86-64 (64-bit significand, 15-bit
/// exponent, subnormals, round-to-nearest-even), of glibc's `strtold` (which
/// rounds correctly) and of `printf("%.17Lf")` (exact, ties to even).
/// Emulating the type rather than using decimal arithmetic matters: Redis
/// prints "0.3" after adding 0.1 three times, but also "100000000000000000000"
/// for 1e20 + 0.1, and both follow from the 64-bit significand.
///
/// Where it can still differ from Redis: Redis builds for platforms whose
/// `long double` is not the x87 format (aarch64: IEEE quad; some: plain
/// double) print other digits; that is a difference between Redis builds too.
pub(crate) mod long_double {
    use std::cmp::Ordering;

    /// value = m * 2^e; the smallest subnormal is 2^EMIN.
    const EMIN: i64 = -16445;
    /// Values of 2^LIMIT and above overflow to infinity.
    const LIMIT: i64 = 16384;
    /// Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are not valid floats.
    const MAX_CHARS: usize = 5 * 1024;

    /// A finite long double: (-1)^neg * m * 2^e.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Ext {
        pub neg: bool,
        pub m: u64,
        pub e: i64,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Ld {
        Num(Ext),
        Inf,
    }

    const ZERO: Ext = Ext { neg: false, m: 0, e: 0 };

    /// A minimal unsigned big integer (little-endian 32-bit limbs, no
    /// high zero limbs): just what exact rounding and printing need.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Big(Vec<u32>);

    impl Big {
        fn from_u128(v: u128) -> Big {
            let mut b = Big((0..4).map(|i| (v >> (32 * i)) as u32).collect());
            b.trim();
            b
        }

        fn trim(&mut self) {
            while self.0.last() == Some(&0) {
                self.0.pop();
            }
        }

        fn is_zero(&self) -> bool {
            self.0.is_empty()
        }

        fn bit_len(&self) -> i64 {
            match self.0.last() {
                None => 0,
                Some(&top) => (self.0.len() as i64 - 1) * 32 + i64::from(32 - top.leading_zeros()),
            }
        }

        fn mul_add_small(&mut self, mul: u32, add: u32) {
            let mut carry = u64::from(add);
            for l in self.0.iter_mut() {
                let v = u64::from(*l) * u64::from(mul) + carry;
                *l = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                self.0.push(carry as u32);
            }
            self.trim();
        }

        /// Divides in place, returning the remainder (`d` > 0).
        fn div_small(&mut self, d: u32) -> u32 {
            let mut rem = 0u64;
            for l in self.0.iter_mut().rev() {
                let v = (rem << 32) | u64::from(*l);
                *l = (v / u64::from(d)) as u32;
                rem = v % u64::from(d);
            }
            self.trim();
            rem as u32
        }

        fn pow10(k: i64) -> Big {
            let mut b = Big(vec![1]);
            for _ in 0..k / 9 {
                b.mul_add_small(1_000_000_000, 0);
            }
            b.mul_add_small(10u32.pow((k % 9) as u32), 0);
            b
        }

        fn shl(&self, bits: i64) -> Big {
            let (limbs, sh) = ((bits / 32) as usize, (bits % 32) as u32);
            let mut out = vec![0u32; limbs];
            if sh == 0 {
                out.extend_from_slice(&self.0);
            } else {
                let mut carry = 0u32;
                for &l in &self.0 {
                    out.push((l << sh) | carry);
                    carry = l >> (32 - sh);
                }
                out.push(carry);
            }
            let mut b = Big(out);
            b.trim();
            b
        }

        /// Bits `lo..lo+64` as a u64.
        fn bits_at(&self, lo: i64) -> u64 {
            (0..64).filter(|i| self.bit(lo + i)).fold(0u64, |acc, i| acc | (1u64 << i))
        }

        fn bit(&self, i: i64) -> bool {
            i >= 0 && self.0.get((i / 32) as usize).is_some_and(|&l| (l >> (i % 32)) & 1 == 1)
        }

        /// Is any bit below position `bits` set?
        fn any_below(&self, bits: i64) -> bool {
            let full = (bits / 32) as usize;
            if self.0.iter().take(full).any(|&l| l != 0) {
                return true;
            }
            let rem = bits % 32;
            rem > 0 && self.0.get(full).is_some_and(|&l| l & ((1u32 << rem) - 1) != 0)
        }

        fn cmp(&self, o: &Big) -> Ordering {
            self.0.len().cmp(&o.0.len()).then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
        }

        /// self -= o, for self >= o.
        fn sub_assign(&mut self, o: &Big) {
            let mut borrow = 0i64;
            for (i, l) in self.0.iter_mut().enumerate() {
                let v = i64::from(*l) - i64::from(o.0.get(i).copied().unwrap_or(0)) - borrow;
                borrow = i64::from(v < 0);
                *l = v.rem_euclid(1 << 32) as u32;
            }
            self.trim();
        }

        fn add(&self, o: &Big) -> Big {
            let n = self.0.len().max(o.0.len());
            let mut out = Vec::with_capacity(n + 1);
            let mut carry = 0u64;
            for i in 0..n {
                let v = u64::from(self.0.get(i).copied().unwrap_or(0))
                    + u64::from(o.0.get(i).copied().unwrap_or(0))
                    + carry;
                out.push(v as u32);
                carry = v >> 32;
            }
            out.push(carry as u32);
            let mut b = Big(out);
            b.trim();
            b
        }

        fn to_decimal(&self) -> String {
            let mut b = self.clone();
            let mut chunks = Vec::new();
            while !b.is_zero() {
                chunks.push(b.div_small(1_000_000_000));
            }
            let mut s = chunks.pop().unwrap_or(0).to_string();
            for c in chunks.iter().rev() {
                s.push_str(&format!("{c:09}"));
            }
            s
        }
    }

    /// Rounds the exact value (-1)^neg * x * 2^e to a long double.
    fn round(neg: bool, x: &Big, e: i64) -> Ld {
        if x.is_zero() {
            return Ld::Num(Ext { neg, m: 0, e: 0 });
        }
        let shift = (x.bit_len() - 64).max(EMIN - e);
        let (m, e) = if shift <= 0 {
            (x.bits_at(0), e)
        } else {
            let mut m = x.bits_at(shift);
            let mut e = e + shift;
            if x.bit(shift - 1) && (x.any_below(shift - 1) || m & 1 == 1) {
                m = match m.checked_add(1) {
                    Some(m) => m,
                    None => {
                        e += 1;
                        1 << 63
                    }
                };
            }
            (m, e)
        };
        if m != 0 && i64::from(64 - m.leading_zeros()) + e > LIMIT {
            return Ld::Inf;
        }
        Ld::Num(Ext { neg, m, e })
    }

    /// num / den for a quotient known to be below 2^69: (quotient, inexact).
    fn divide(num: &Big, den: &Big) -> (u128, bool) {
        let mut r = num.clone();
        let mut q = 0u128;
        for i in (0..=num.bit_len() - den.bit_len()).rev() {
            let d = den.shl(i);
            q <<= 1;
            if r.cmp(&d) != Ordering::Less {
                r.sub_assign(&d);
                q |= 1;
            }
        }
        (q, !r.is_zero())
    }

    /// Saturating decimal exponent digits, as strtold reads them.
    fn exponent(s: &[u8]) -> Option<(i64, usize)> {
        let (neg, start) = match s.first() {
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            _ => (false, 0),
        };
        let digits = s[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let v = s[start..start + digits].iter().fold(0i64, |acc, &c| (acc * 10 + i64::from(c - b'0')).min(1 << 40));
        Some((if neg { -v } else { v }, start + digits))
    }

    /// Parses a number as Redis's `string2ld` does (strtold on the whole
    /// argument, no leading space, no trailing bytes, overflow and underflow
    /// to zero rejected, NaN rejected, "inf" accepted). None = not a float.
    pub fn parse(s: &[u8]) -> Option<Ld> {
        if s.is_empty() || s.len() >= MAX_CHARS || matches!(s[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(Ld::Inf);
        }
        let hex = body.len() > 2
            && body[0] == b'0'
            && (body[1] | 0x20) == b'x'
            && (body[2].is_ascii_hexdigit() || (body[2] == b'.' && body.get(3).is_some_and(|c| c.is_ascii_hexdigit())));
        let (radix, mut i) = if hex { (16u32, 2) } else { (10u32, 0) };
        let mut x = Big(Vec::new());
        let (mut any, mut frac_digits, mut dot) = (false, 0i64, false);
        while let Some(&c) = body.get(i) {
            if c == b'.' && !dot {
                dot = true;
            } else if let Some(d) = (c as char).to_digit(radix) {
                any = true;
                x.mul_add_small(radix, d);
                frac_digits += i64::from(dot);
            } else {
                break;
            }
            i += 1;
        }
        if !any {
            return None;
        }
        let mut exp = 0;
        if body.get(i).is_some_and(|&c| (c | 0x20) == if hex { b'p' } else { b'e' }) {
            if let Some((e, used)) = exponent(&body[i + 1..]) {
                exp = e;
                i += 1 + used;
            }
        }
        if i != body.len() {
            return None;
        }
        if x.is_zero() {
            return Some(Ld::Num(Ext { neg, ..ZERO }));
        }
        let r = if hex {
            let e2 = exp - 4 * frac_digits;
            let mag = x.bit_len() + e2;
            if mag > LIMIT + 1 {
                return None;
            }
            if mag < EMIN - 2 {
                return None;
            }
            round(neg, &x, e2)
        } else {
            let mut e10 = exp - frac_digits;
            while x.div_small_exact(10) {
                e10 += 1;
            }
            // x < 10^digits, so the value is below 10^mag.
            let mag = (x.bit_len() * 30103 / 100_000 + 1) + e10;
            if mag > 4934 {
                return None;
            }
            if mag < -4955 {
                return None;
            }
            if e10 >= 0 {
                let mut v = x;
                for _ in 0..e10 {
                    v.mul_add_small(10, 0);
                }
                round(neg, &v, 0)
            } else {
                let p = Big::pow10(-e10);
                let t = x.bit_len() - p.bit_len() - 67;
                let (q, inexact) = if t >= 0 { divide(&x, &p.shl(t)) } else { divide(&x.shl(-t), &p) };
                // One sticky bit below the quotient keeps the rounding exact.
                round(neg, &Big::from_u128((q << 1) | u128::from(inexact)), t - 1)
            }
        };
        match r {
            // strtold's ERANGE: overflow to infinity, or underflow to zero.
            Ld::Inf | Ld::Num(Ext { m: 0, .. }) => None,
            r => Some(r),
        }
    }

    impl Big {
        /// Divides by `d` if it divides exactly (and self is not zero).
        fn div_small_exact(&mut self, d: u32) -> bool {
            let mut q = self.clone();
            if self.is_zero() || q.div_small(d) != 0 {
                return false;
            }
            *self = q;
            true
        }
    }

    /// a + b, rounded.
    pub fn add(a: Ext, b: Ext) -> Ld {
        if a.m == 0 && b.m == 0 {
            return Ld::Num(Ext { neg: a.neg && b.neg, ..ZERO });
        }
        if a.m == 0 {
            return Ld::Num(b);
        }
        if b.m == 0 {
            return Ld::Num(a);
        }
        let e = a.e.min(b.e);
        let x = Big::from_u128(a.m.into()).shl(a.e - e);
        let y = Big::from_u128(b.m.into()).shl(b.e - e);
        if a.neg == b.neg {
            return round(a.neg, &x.add(&y), e);
        }
        match x.cmp(&y) {
            Ordering::Equal => Ld::Num(ZERO),
            Ordering::Greater => {
                let mut d = x;
                d.sub_assign(&y);
                round(a.neg, &d, e)
            }
            Ordering::Less => {
                let mut d = y;
                d.sub_assign(&x);
                round(b.neg, &d, e)
            }
        }
    }

    /// Redis's `ld2string(LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and a
    /// trailing point removed, "-0" printed as "0".
    pub fn format_human(v: Ext) -> String {
        let mut s = String::new();
        if v.neg {
            s.push('-');
        }
        if v.e >= 0 {
            s.push_str(&Big::from_u128(v.m.into()).shl(v.e).to_decimal());
        } else {
            // m * 10^17 < 2^121: the scaled value fits in a u128.
            let n = u128::from(v.m) * 10u128.pow(17);
            let sh = -v.e;
            let q = if sh >= 128 {
                0
            } else {
                let q = n >> sh;
                let rem = n & ((1u128 << sh) - 1);
                let half = 1u128 << (sh - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            let digits = format!("{q:018}");
            let (int, frac) = digits.split_at(digits.len() - 17);
            s.push_str(int);
            let frac = frac.trim_end_matches('0');
            if !frac.is_empty() {
                s.push('.');
                s.push_str(frac);
            }
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn incr(a: &str, b: &str) -> Option<String> {
            match (parse(a.as_bytes())?, parse(b.as_bytes())?) {
                (Ld::Num(x), Ld::Num(y)) => match add(x, y) {
                    Ld::Num(v) => Some(format_human(v)),
                    Ld::Inf => Some("inf".into()),
                },
                _ => Some("inf".into()),
            }
        }

        #[test]
        fn sums_print_like_redis() {
            // Expected values from redis-server 7.0 on x86-64.
            assert_eq!(incr("0.1", "0.1").as_deref(), Some("0.2"));
            assert_eq!(incr("0.2", "0.1").as_deref(), Some("0.3"));
            assert_eq!(incr("10.5", "0.1").as_deref(), Some("10.6"));
            assert_eq!(incr("1e20", "0.1").as_deref(), Some("100000000000000000000"));
            assert_eq!(incr("0", "0.000003814697265625").as_deref(), Some("0.00000381469726562"));
            assert_eq!(incr("0", "-1e-30").as_deref(), Some("0"));
            assert_eq!(incr("-0", "-0").as_deref(), Some("0"));
            assert_eq!(incr("3", "-5").as_deref(), Some("-2"));
            assert_eq!(incr("5.0e3", "2.0e2").as_deref(), Some("5200"));
            assert_eq!(incr("0x1.8p1", "0").as_deref(), Some("3"));
            assert_eq!(incr("0", "0x.8").as_deref(), Some("0.5"));
            assert_eq!(incr("0", "1e-4950").as_deref(), Some("0"));
            assert_eq!(incr("9223372036854775807", "1").as_deref(), Some("9223372036854775808"));
            assert_eq!(incr("1.1", "2.2").as_deref(), Some("3.3"));
            assert_eq!(incr("0", "1.23456789012345678").as_deref(), Some("1.23456789012345678"));
            assert_eq!(incr("0.1", "-0.3").as_deref(), Some("-0.2"));
            assert_eq!(incr("1e-17", "0").as_deref(), Some("0.00000000000000001"));
            assert_eq!(incr("5e-18", "0").as_deref(), Some("0"));
            assert_eq!(incr("15e-18", "0").as_deref(), Some("0.00000000000000002"));
            assert_eq!(incr("1.5", "1e18").as_deref(), Some("1000000000000000001.5"));
            assert_eq!(incr("0.7", "1e17").as_deref(), Some("100000000000000000.703125"));
            assert_eq!(incr("123.456", "1e-10").as_deref(), Some("123.4560000001"));
            assert_eq!(incr("1e4932", "1e4932").as_deref(), Some("inf"));
            assert_eq!(incr("inf", "1").as_deref(), Some("inf"));
            let big = incr("0", "1e4932").unwrap_or_default();
            assert!(big.starts_with("1000000000000000000006018949387963891323837774254533114773785041352533"), "{big}");
            assert_eq!(big.len(), 4933);
        }

        #[test]
        fn parses_like_string2ld() {
            for bad in ["", " 1", "1 ", "1e", "1e+", "abc", "nan", "-nan", "0x", ".", "-", "1e-5000", "1e5000", "1\0"] {
                assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
            }
            for good in ["1", "+3", ".5", "5.", "1E2", "0x1p3", "INF", "-Infinity", "0e99999", "00012"] {
                assert!(parse(good.as_bytes()).is_some(), "{good:?}");
            }
            assert_eq!(parse(&[b'1'; MAX_CHARS]), None);
            assert_eq!(parse(b"0.5"), Some(Ld::Num(Ext { neg: false, m: 1 << 63, e: -64 })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_indexes_follow_redis() {
        assert_eq!(range(5, 0, -1), Some((0, 4)));
        assert_eq!(range(5, -3, -1), Some((2, 4)));
        assert_eq!(range(5, -1, -5), None);
        assert_eq!(range(5, 0, -100), Some((0, 0)));
        assert_eq!(range(5, -100, -100), Some((0, 0)));
        assert_eq!(range(5, 5, 3), None);
        assert_eq!(range(5, 2, 100), Some((2, 4)));
        assert_eq!(range(0, 0, -1), None);
        assert_eq!(range(5, i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(range(5, i64::MAX, i64::MAX), None);
    }
}
