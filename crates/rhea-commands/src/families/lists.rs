//! The list family: LPUSH, LPOP, LRANGE, LPOS, LMOVE, LMPOP... and the
//! blocking BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP.
//!
//! A blocking command first tries what its non-blocking twin does; when
//! there is nothing to pop it asks the dispatcher to block it (see
//! `crate::blocking`). When a write later feeds one of its keys, the command
//! is re-run on its behalf with `Client::ready_key` set: as in Redis, it is
//! then served from that key alone, and stays blocked if the key has nothing
//! for it (emptied or retyped by the same transaction).

use bytes::Bytes;
use rhea_resp::parse_i64;
use rhea_store::list::End;
use rhea_store::{Db, List, Sds, Value};

use super::strings::long_double::{self, Ld};
use super::{is, lookup_read, lookup_write, At};
use crate::blocking::TimeoutReply;
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn list(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "list";
    c
}

const READ_FAST: &[&str] = &["read", "list", "fast"];
const READ_SLOW: &[&str] = &["read", "list", "slow"];
const WRITE_FAST: &[&str] = &["write", "list", "fast"];
const WRITE_SLOW: &[&str] = &["write", "list", "slow"];
const WRITE_BLOCKING: &[&str] = &["write", "list", "slow", "blocking"];
const PUSH_COMPLEXITY: &str =
    "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
const MPOP_COMPLEXITY: &str = "O(N+M) where N is the number of provided keys and M is the number of elements returned.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Prepend one or multiple elements to a list",
        complexity: PUSH_COMPLEXITY,
        ..list("lpush", -3, WRITE | DENYOOM | FAST, lpush)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Append one or multiple elements to a list",
        complexity: PUSH_COMPLEXITY,
        ..list("rpush", -3, WRITE | DENYOOM | FAST, rpush)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Prepend an element to a list, only if the list exists",
        since: "2.2.0",
        complexity: PUSH_COMPLEXITY,
        ..list("lpushx", -3, WRITE | DENYOOM | FAST, lpushx)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Append an element to a list, only if the list exists",
        since: "2.2.0",
        complexity: PUSH_COMPLEXITY,
        ..list("rpushx", -3, WRITE | DENYOOM | FAST, rpushx)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove and get the first elements in a list",
        complexity: "O(N) where N is the number of elements returned",
        ..list("lpop", -2, WRITE | FAST, lpop)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove and get the last elements in a list",
        complexity: "O(N) where N is the number of elements returned",
        ..list("rpop", -2, WRITE | FAST, rpop)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the length of a list",
        complexity: "O(1)",
        ..list("llen", 2, READONLY | FAST, llen)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get a range of elements from a list",
        complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end \
            (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        ..list("lrange", 4, READONLY, lrange)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get an element from a list by its index",
        complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes \
            asking for the first or the last element of the list O(1).",
        ..list("lindex", 3, READONLY, lindex)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Set the value of an element in a list by its index",
        complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the \
            list is O(1).",
        ..list("lset", 4, WRITE | DENYOOM, lset)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Insert an element before or after another element in a list",
        since: "2.2.0",
        complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means \
            that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting \
            somewhere on the right end (tail) is O(N).",
        ..list("linsert", 5, WRITE | DENYOOM, linsert)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Remove elements from a list",
        complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
        ..list("lrem", 4, WRITE, lrem)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Trim a list to the specified range",
        complexity: "O(N) where N is the number of elements to be removed by the operation.",
        ..list("ltrim", 4, WRITE, ltrim)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return the index of matching elements on a list",
        since: "6.0.6",
        complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for \
            elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may \
            run in constant time.",
        ..list("lpos", -3, READONLY, lpos)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Pop an element from a list, push it to another list and return it",
        since: "6.2.0",
        complexity: "O(1)",
        ..list("lmove", 5, WRITE | DENYOOM, lmove).keys(1, 2, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Remove the last element in a list, prepend it to another list and return it",
        since: "1.2.0",
        complexity: "O(1)",
        ..list("rpoplpush", 3, WRITE | DENYOOM, rpoplpush).keys(1, 2, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Pop elements from a list",
        since: "7.0.0",
        complexity: MPOP_COMPLEXITY,
        keys_fn: Some(lmpop_keys),
        ..list("lmpop", -4, WRITE, lmpop).keys(0, 0, 0)
    },
    CommandSpec {
        acl: WRITE_BLOCKING,
        summary: "Remove and get the first element in a list, or block until one is available",
        since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        ..list("blpop", -3, WRITE | NOSCRIPT | BLOCKING, blpop).keys(1, -2, 1)
    },
    CommandSpec {
        acl: WRITE_BLOCKING,
        summary: "Remove and get the last element in a list, or block until one is available",
        since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        ..list("brpop", -3, WRITE | NOSCRIPT | BLOCKING, brpop).keys(1, -2, 1)
    },
    CommandSpec {
        acl: WRITE_BLOCKING,
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        since: "6.2.0",
        complexity: "O(1)",
        ..list("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, blmove).keys(1, 2, 1)
    },
    CommandSpec {
        acl: WRITE_BLOCKING,
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        since: "2.2.0",
        complexity: "O(1)",
        ..list("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, brpoplpush).keys(1, 2, 1)
    },
    CommandSpec {
        acl: WRITE_BLOCKING,
        summary: "Pop elements from a list, or block until one is available",
        since: "7.0.0",
        complexity: MPOP_COMPLEXITY,
        keys_fn: Some(blmpop_keys),
        ..list("blmpop", -5, WRITE | BLOCKING, blmpop).keys(0, 0, 0)
    },
];

/// Key positions of LMPOP / BLMPOP: `numkeys` at `at`, the keys after it.
fn numkeys_keys(argv: &[Bytes], at: usize) -> Vec<usize> {
    crate::table::numkeys_positions(argv, None, at, at + 1)
}

fn lmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 1)
}

fn blmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 2)
}

fn as_list(v: &Value) -> Result<&List, CmdError> {
    match v {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

fn as_list_mut(v: &mut Value) -> Result<&mut List, CmdError> {
    match v {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// Redis's `lookupKeyRead` + type check: None for a missing key.
fn read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a List>, CmdError> {
    let at = At::of(ctx);
    match lookup_read(ctx.store, at, key, true) {
        Some(e) => as_list(&e.value).map(Some),
        None => Ok(None),
    }
}

/// Redis's `lookupKeyWrite` + type check: None for a missing key.
fn write<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Result<Option<&'a mut List>, CmdError> {
    match lookup_write(db, at, key) {
        Some(e) => as_list_mut(&mut e.value).map(Some),
        None => Ok(None),
    }
}

/// After elements were removed in place: Redis never keeps an empty list.
fn removed_from(db: &mut Db, key: &[u8], now_empty: bool) {
    if now_empty {
        db.remove(key);
    } else {
        db.touch(key);
    }
}

/// The keyspace event of a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// Redis's `listElementsRemoved` events: the pop, then `del` if the list
/// was deleted.
fn notify_removed(ctx: &mut Ctx, key: &[u8], event: &str, deleted: bool) {
    ctx.notify(notify::LIST, event, key);
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

/// Pushes `items` at `end` of the list at `key`, creating it when missing;
/// the new length. The caller has checked the key holds no other type.
fn push_items<'a>(
    db: &mut Db,
    at: At,
    key: &[u8],
    end: End,
    items: impl IntoIterator<Item = &'a [u8]>,
) -> Result<usize, CmdError> {
    let len = match write(db, at, key)? {
        Some(l) => {
            items.into_iter().for_each(|v| l.push(end, Sds::new(v)));
            l.len()
        }
        None => {
            let mut l = List::default();
            items.into_iter().for_each(|v| l.push(end, Sds::new(v)));
            let n = l.len();
            db.insert(key, Value::List(Box::new(l)), 0, at.lru);
            return Ok(n);
        }
    };
    db.touch(key);
    Ok(len)
}

/// LEFT | RIGHT, case-insensitive; anything else is a syntax error.
fn parse_end(arg: &Bytes) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Redis's `getLongFromObjectOrReply` with a custom error for both a
/// non-integer and a value below `min`.
fn int_at_least(arg: &[u8], min: i64, msg: &str) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= min => Ok(n),
        _ => Err(CmdError::err(msg)),
    }
}

fn int_arg(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Redis's `getPositiveLongFromObjectOrReply` without a custom message,
/// which answers the same error for a non-integer as for a negative one.
fn positive(arg: &[u8]) -> Result<i64, CmdError> {
    int_at_least(arg, 0, "value is out of range, must be positive")
}

/// A blocking command's timeout (seconds, a long double) as Redis's
/// `getTimeoutFromObjectOrReply` computes it: milliseconds rounded up,
/// 0 = forever (None), otherwise an absolute deadline.
pub(crate) fn parse_timeout(arg: &[u8], now_ms: i64) -> Result<Option<i64>, CmdError> {
    let secs = match long_double::parse(arg) {
        None => return Err(CmdError::err("timeout is not a float or out of range")),
        Some(Ld::Inf) => f64::INFINITY,
        Some(Ld::Num(x)) => {
            let mag = if x.m == 0 {
                0.0
            } else if x.e < -200 {
                // Far below a millisecond; only its sign matters once rounded up.
                f64::MIN_POSITIVE
            } else {
                x.m as f64 * 2f64.powi(x.e.min(20_000) as i32)
            };
            if x.neg {
                -mag
            } else {
                mag
            }
        }
    };
    let ms = (secs * 1000.0).ceil();
    // C's (long long) cast of an out-of-range value yields LLONG_MIN on the
    // platforms Redis runs on, which then reads as a negative timeout.
    let ms = if ms.is_finite() && ms > -9.223_372_036_854_775e18 && ms < 9.223_372_036_854_775e18 {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok(if ms == 0 { None } else { Some(now_ms.saturating_add(ms)) })
}

fn lpush(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Left, false)
}

fn rpush(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Right, true)
}

/// LPUSH / RPUSH, and the X variants that only push onto an existing list.
fn push(ctx: &mut Ctx, argv: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let exists = write(db, at, key)?.is_some();
    if only_existing && !exists {
        ctx.out.int(0);
        return Ok(());
    }
    let len = push_items(db, at, key, end, argv[2..].iter().map(|a| &a[..]))?;
    ctx.signal_ready(key);
    ctx.out.int(len as i64);
    ctx.notify(notify::LIST, push_event(end), key);
    Ok(())
}

fn lpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    pop(ctx, argv, End::Left)
}

fn rpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    pop(ctx, argv, End::Right)
}

/// LPOP / RPOP key [count]: a bulk without count, an array with one.
fn pop(ctx: &mut Ctx, argv: &[Bytes], end: End) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Arity(if end == End::Left { "lpop" } else { "rpop" }.into()));
    }
    let count = match argv.get(2) {
        Some(a) => Some(positive(a)?),
        None => None,
    };
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let Some(l) = write(db, at, key)? else {
        if count.is_some() {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    match count {
        None => {
            let v = l.pop(end);
            let empty = l.is_empty();
            removed_from(db, key, empty);
            match v {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
            notify_removed(ctx, key, pop_event(end), empty);
        }
        Some(0) => ctx.out.array(0),
        Some(n) => {
            let items = l.pop_many(end, usize::try_from(n).unwrap_or(usize::MAX));
            let empty = l.is_empty();
            removed_from(db, key, empty);
            ctx.out.array(items.len());
            for v in &items {
                ctx.out.bulk(v);
            }
            notify_removed(ctx, key, pop_event(end), empty);
        }
    }
    Ok(())
}

fn llen(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = read(ctx, &argv[1])?.map_or(0, List::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let start = int_arg(&argv[2])?;
    let end = int_arg(&argv[3])?;
    let at = At::of(ctx);
    let Some(e) = lookup_read(ctx.store, at, &argv[1], true) else {
        ctx.out.array(0);
        return Ok(());
    };
    let l = as_list(&e.value)?;
    let items = l.range(start, end);
    ctx.out.array(items.len());
    for v in items {
        ctx.out.bulk(v);
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let Some(e) = lookup_read(ctx.store, at, &argv[1], true) else {
        ctx.out.null();
        return Ok(());
    };
    let l = as_list(&e.value)?;
    let index = int_arg(&argv[2])?;
    match l.get(index) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let l = write(db, at, key)?.ok_or(CmdError::NoSuchKey)?;
    let index = int_arg(&argv[2])?;
    if !l.set(index, Sds::new(&argv[3])) {
        return Err(CmdError::err("index out of range"));
    }
    db.touch(key);
    ctx.out.ok();
    ctx.notify(notify::LIST, "lset", key);
    Ok(())
}

fn linsert(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let before = if is(&argv[2], "before") {
        true
    } else if is(&argv[2], "after") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let Some(l) = write(db, at, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !l.insert(&argv[3], Sds::new(&argv[4]), before) {
        ctx.out.int(-1);
        return Ok(());
    }
    let len = l.len();
    db.touch(key);
    ctx.signal_ready(key);
    ctx.notify(notify::LIST, "linsert", key);
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let count = int_arg(&argv[2])?;
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let Some(l) = write(db, at, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = l.remove(&argv[3], count);
    let empty = l.is_empty();
    if removed > 0 {
        removed_from(db, key, empty);
        notify_removed(ctx, key, "lrem", empty);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let start = int_arg(&argv[2])?;
    let end = int_arg(&argv[3])?;
    let at = At::of(ctx);
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    if let Some(l) = write(db, at, key)? {
        l.trim(start, end);
        let empty = l.is_empty();
        // Redis signals the key as modified even when nothing was trimmed.
        removed_from(db, key, empty);
        notify_removed(ctx, key, "ltrim", empty);
    }
    ctx.out.ok();
    Ok(())
}

fn lpos(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0u64);
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if is(&argv[j], "rank") && more {
            j += 1;
            rank = int_arg(&argv[j])?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use \
                     negative to start from the end of the list",
                ));
            }
        } else if is(&argv[j], "count") && more {
            j += 1;
            count = Some(int_at_least(&argv[j], 0, "COUNT can't be negative")? as u64);
        } else if is(&argv[j], "maxlen") && more {
            j += 1;
            maxlen = int_at_least(&argv[j], 0, "MAXLEN can't be negative")? as u64;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let Some(l) = read(ctx, &argv[1])? else {
        if count.is_some() {
            ctx.out.array(0);
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    let found = l.positions(&argv[2], rank, count, maxlen);
    if count.is_some() {
        ctx.out.array(found.len());
        for p in found {
            ctx.out.int(p as i64);
        }
    } else {
        match found.first() {
            Some(&p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// LMOVE's core (Redis's `lmoveGenericCommand`): pops from `src`, pushes
/// onto `dst` and replies with the element; nil when `src` is missing.
fn move_element(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    if write(db, at, src)?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    if src != dst {
        write(db, at, dst)?;
    }
    let Some(l) = write(db, at, src)? else {
        ctx.out.null();
        return Ok(());
    };
    let Some(v) = l.pop(from) else {
        ctx.out.null();
        return Ok(());
    };
    let src_empty = l.is_empty() && src != dst;
    if src != dst {
        removed_from(db, src, src_empty);
    }
    push_items(db, at, dst, to, [&v[..]])?;
    ctx.signal_ready(dst);
    // Redis's order: the push event, the reply, then the pop (and del).
    ctx.notify(notify::LIST, push_event(to), dst);
    ctx.out.bulk(&v);
    notify_removed(ctx, src, pop_event(from), src_empty);
    Ok(())
}

fn lmove(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let from = parse_end(&argv[3])?;
    let to = parse_end(&argv[4])?;
    move_element(ctx, &argv[1], &argv[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    move_element(ctx, &argv[1], &argv[2], End::Right, End::Left)
}

/// The parsed tail of LMPOP / BLMPOP: `numkeys key... LEFT|RIGHT [COUNT n]`.
struct Mpop<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

/// Parses from `numkeys` at `at`, as Redis's `lmpopGenericCommand`.
fn parse_mpop(argv: &[Bytes], at: usize) -> Result<Mpop<'_>, CmdError> {
    let numkeys = int_at_least(&argv[at], 1, "numkeys should be greater than 0")?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    let end_at = match (at + 1).checked_add(numkeys) {
        Some(i) if i < argv.len() => i,
        _ => return Err(CmdError::Syntax),
    };
    let end = parse_end(&argv[end_at])?;
    let mut count = None;
    let mut j = end_at + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            j += 1;
            count = Some(int_at_least(&argv[j], 1, "count should be greater than 0")?);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    Ok(Mpop { keys: &argv[at + 1..end_at], end, count })
}

/// What a pop of several keys replies with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PopReply {
    /// BLPOP / BRPOP: `[key, element]`.
    One,
    /// LMPOP / BLMPOP: `[key, [element...]]`.
    Many(usize),
}

/// Pops from `key` if it holds a non-empty list and replies; Ok(false) when
/// the key is missing, WRONGTYPE for another type.
fn pop_from(ctx: &mut Ctx, key: &[u8], end: End, reply: PopReply) -> Result<bool, CmdError> {
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let Some(l) = write(db, at, key)? else { return Ok(false) };
    if l.is_empty() {
        return Ok(false);
    }
    let n = match reply {
        PopReply::One => 1,
        PopReply::Many(n) => n,
    };
    let items = l.pop_many(end, n);
    let empty = l.is_empty();
    removed_from(db, key, empty);
    ctx.out.array(2);
    ctx.out.bulk(key);
    if let PopReply::Many(_) = reply {
        ctx.out.array(items.len());
    }
    for v in &items {
        ctx.out.bulk(v);
    }
    notify_removed(ctx, key, pop_event(end), empty);
    Ok(true)
}

fn lmpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let m = parse_mpop(argv, 1)?;
    for key in m.keys {
        if pop_from(ctx, key, m.end, PopReply::Many(m.count))? {
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// Redis's `blockingPopGenericCommand`: serve from the first key with
/// elements, else block on all of them (or, where blocking is not allowed,
/// reply nil at once).
fn blocking_pop(ctx: &mut Ctx, keys: &[Bytes], end: End, reply: PopReply, deadline: Option<i64>) -> CmdResult {
    if let Some(ready) = ctx.client.ready_key.clone() {
        // A key that was retyped since it got data does not serve anyone.
        if !pop_from(ctx, &ready, end, reply).unwrap_or(false) {
            ctx.block(Vec::new(), deadline, TimeoutReply::NullArray);
        }
        return Ok(());
    }
    for key in keys {
        if pop_from(ctx, key, end, reply)? {
            return Ok(());
        }
    }
    if !ctx.can_block() {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.block(keys.iter().map(|k| Sds::new(k)).collect(), deadline, TimeoutReply::NullArray);
    Ok(())
}

fn blpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    bpop(ctx, argv, End::Left)
}

fn brpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    bpop(ctx, argv, End::Right)
}

/// BLPOP / BRPOP key [key ...] timeout.
fn bpop(ctx: &mut Ctx, argv: &[Bytes], end: End) -> CmdResult {
    let last = argv.len() - 1;
    let deadline = parse_timeout(&argv[last], ctx.now_ms)?;
    blocking_pop(ctx, &argv[1..last], end, PopReply::One, deadline)
}

fn blmpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let m = parse_mpop(argv, 2)?;
    let deadline = parse_timeout(&argv[1], ctx.now_ms)?;
    blocking_pop(ctx, m.keys, m.end, PopReply::Many(m.count), deadline)
}

/// Redis's `blmoveGenericCommand`: LMOVE when the source has elements,
/// else block on the source (or nil at once where blocking is not allowed).
fn blocking_move(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End, deadline: Option<i64>) -> CmdResult {
    let at = At::of(ctx);
    let serving = ctx.client.ready_key.is_some();
    let found = match write(&mut ctx.store.dbs[at.db], at, src) {
        Ok(l) => l.is_some_and(|l| !l.is_empty()),
        // A source retyped since it got data serves nobody.
        Err(_) if serving => false,
        Err(e) => return Err(e),
    };
    if found {
        return move_element(ctx, src, dst, from, to);
    }
    if serving {
        ctx.block(Vec::new(), deadline, TimeoutReply::NullArray);
    } else if !ctx.can_block() {
        ctx.out.null();
    } else {
        // The timeout reply is `*-1` here too: Redis answers every timed-out
        // list pop with a null array.
        ctx.block(vec![Sds::new(src)], deadline, TimeoutReply::NullArray);
    }
    Ok(())
}

fn blmove(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let from = parse_end(&argv[3])?;
    let to = parse_end(&argv[4])?;
    let deadline = parse_timeout(&argv[5], ctx.now_ms)?;
    blocking_move(ctx, &argv[1], &argv[2], from, to, deadline)
}

fn brpoplpush(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let deadline = parse_timeout(&argv[3], ctx.now_ms)?;
    blocking_move(ctx, &argv[1], &argv[2], End::Right, End::Left, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        assert_eq!(parse_timeout(b"0", 1000).ok(), Some(None));
        assert_eq!(parse_timeout(b"1", 1000).ok(), Some(Some(2000)));
        assert_eq!(parse_timeout(b"0.0001", 1000).ok(), Some(Some(1001)));
        assert_eq!(parse_timeout(b"1e-300", 1000).ok(), Some(Some(1001)));
        assert_eq!(parse_timeout(b"-0.0009", 1000).ok(), Some(None));
        assert_eq!(parse_timeout(b"0x10", 1000).ok(), Some(Some(17000)));
        assert_eq!(parse_timeout(b"1.5", 0).ok(), Some(Some(1500)));
        assert_eq!(parse_timeout(b"9.2e15", i64::MAX - 5).ok(), Some(Some(i64::MAX)));
        for bad in [&b"abc"[..], b"", b" 1", b"1 ", b"nan", b"1e5000"] {
            let e = parse_timeout(bad, 0).err().map(|e| e.to_string());
            assert_eq!(e.as_deref(), Some("ERR timeout is not a float or out of range"), "{bad:?}");
        }
        for neg in [&b"-1"[..], b"inf", b"-inf", b"1e300", b"-0.002"] {
            let e = parse_timeout(neg, 0).err().map(|e| e.to_string());
            assert_eq!(e.as_deref(), Some("ERR timeout is negative"), "{neg:?}");
        }
    }

    #[test]
    fn mpop_arguments() {
        let argv: Vec<Bytes> =
            ["lmpop", "2", "a", "b", "right", "count", "3"].iter().map(|s| Bytes::from(s.to_string())).collect();
        let m = parse_mpop(&argv, 1).ok();
        assert!(m.as_ref().is_some_and(|m| m.keys.len() == 2 && m.end == End::Right && m.count == 3));
        let bad = |args: &[&str]| {
            let argv: Vec<Bytes> = args.iter().map(|s| Bytes::from(s.to_string())).collect();
            parse_mpop(&argv, 1).err().map(|e| e.to_string())
        };
        assert_eq!(bad(&["lmpop", "0", "a", "left"]).as_deref(), Some("ERR numkeys should be greater than 0"));
        assert_eq!(bad(&["lmpop", "9223372036854775807", "a", "left"]).as_deref(), Some("ERR syntax error"));
        assert_eq!(bad(&["lmpop", "1", "a", "up"]).as_deref(), Some("ERR syntax error"));
        assert_eq!(bad(&["lmpop", "1", "a", "left", "count"]).as_deref(), Some("ERR syntax error"));
        assert_eq!(
            bad(&["lmpop", "1", "a", "left", "count", "0"]).as_deref(),
            Some("ERR count should be greater than 0")
        );
        assert_eq!(bad(&["lmpop", "1", "a", "left", "count", "1", "count", "1"]).as_deref(), Some("ERR syntax error"));
    }
}
