//! The set family: SADD, SREM, SMEMBERS, SPOP, SINTER, SSCAN...
//!
//! Reply order follows the encoding as in Redis 7.0: intsets reply sorted,
//! hash tables in their (operation-determined) internal order.

use bytes::Bytes;
use rhea_resp::{parse_i64, Out};
use rhea_store::set::Member;
use rhea_store::{glob_match, Db, Set, Store, Value};

use super::{arg_i64, is, lookup_read, lookup_write, parse_cursor, At};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn set_cmd(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "set";
    c
}

const WRITE_FAST: &[&str] = &["write", "set", "fast"];
const WRITE_SLOW: &[&str] = &["write", "set", "slow"];
const READ_FAST: &[&str] = &["read", "set", "fast"];
const READ_SLOW: &[&str] = &["read", "set", "slow"];
const ORDER: &[&str] = &["nondeterministic_output_order"];
const RANDOM: &[&str] = &["nondeterministic_output"];
const INTER_COMPLEXITY: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";
const UNION_COMPLEXITY: &str = "O(N) where N is the total number of elements in all given sets.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Add one or more members to a set",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple \
                     arguments.",
        ..set_cmd("sadd", -3, WRITE | DENYOOM | FAST, sadd)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove one or more members from a set",
        complexity: "O(N) where N is the number of members to be removed.",
        ..set_cmd("srem", -3, WRITE | FAST, srem)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get all the members in a set",
        complexity: "O(N) where N is the set cardinality.",
        tips: ORDER,
        ..set_cmd("smembers", 2, READONLY, sinter)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Determine if a given value is a member of a set",
        complexity: "O(1)",
        ..set_cmd("sismember", 3, READONLY | FAST, sismember)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Returns the membership associated with the given elements for a set",
        since: "6.2.0",
        complexity: "O(N) where N is the number of elements being checked for membership",
        ..set_cmd("smismember", -3, READONLY | FAST, smismember)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the number of members in a set",
        complexity: "O(1)",
        ..set_cmd("scard", 2, READONLY | FAST, scard)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove and return one or multiple random members from a set",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        tips: RANDOM,
        ..set_cmd("spop", -2, WRITE | FAST, spop)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get one or multiple random members from a set",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed \
                     count.",
        tips: RANDOM,
        ..set_cmd("srandmember", -2, READONLY, srandmember)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Move a member from one set to another",
        complexity: "O(1)",
        ..set_cmd("smove", 4, WRITE | FAST, smove).keys(1, 2, 1)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Intersect multiple sets",
        complexity: INTER_COMPLEXITY,
        tips: ORDER,
        ..set_cmd("sinter", -2, READONLY, sinter).keys(1, -1, 1)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Add multiple sets",
        complexity: UNION_COMPLEXITY,
        tips: ORDER,
        ..set_cmd("sunion", -2, READONLY, sunion).keys(1, -1, 1)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Subtract multiple sets",
        complexity: UNION_COMPLEXITY,
        tips: ORDER,
        ..set_cmd("sdiff", -2, READONLY, sdiff).keys(1, -1, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Intersect multiple sets and store the resulting set in a key",
        complexity: INTER_COMPLEXITY,
        ..set_cmd("sinterstore", -3, WRITE | DENYOOM, sinterstore).keys(1, -1, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Add multiple sets and store the resulting set in a key",
        complexity: UNION_COMPLEXITY,
        ..set_cmd("sunionstore", -3, WRITE | DENYOOM, sunionstore).keys(1, -1, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Subtract multiple sets and store the resulting set in a key",
        complexity: UNION_COMPLEXITY,
        ..set_cmd("sdiffstore", -3, WRITE | DENYOOM, sdiffstore).keys(1, -1, 1)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Intersect multiple sets and return the cardinality of the result",
        since: "7.0.0",
        complexity: INTER_COMPLEXITY,
        keys_fn: Some(sintercard_keys),
        ..set_cmd("sintercard", -3, READONLY, sintercard).keys(0, 0, 0)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Incrementally iterate Set elements",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the \
                     cursor to return back to 0. N is the number of elements inside the collection..",
        tips: RANDOM,
        ..set_cmd("sscan", -3, READONLY, sscan)
    },
];

/// SINTERCARD's keys: `numkeys` of them after the count, found as Redis's
/// COMMAND GETKEYS finds them.
fn sintercard_keys(argv: &[Bytes]) -> Vec<usize> {
    crate::table::numkeys_positions(argv, None, 1, 2)
}

/// Longest reply SRANDMEMBER builds for a negative count. Redis would try
/// to stream any length (until it runs out of memory); Rhea builds replies
/// in memory, so it refuses absurd counts instead.
const MAX_RANDOM_REPLY: u64 = 1 << 26;

fn max_intset(ctx: &Ctx) -> usize {
    ctx.shared.config.read().set_max_intset_entries
}

fn reply_member(out: &mut Out, m: Member<'_>) {
    match m {
        Member::Int(i) => out.bulk_int(i),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// The set at `key` for reading (Redis's lookupKeyRead + checkType).
fn read_set<'a>(store: &'a mut Store, at: At, key: &[u8]) -> Result<Option<&'a Set>, CmdError> {
    match lookup_read(store, at, key, true) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The set at `key` for modification (lookupKeyWrite + checkType).
fn write_set<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Result<Option<&'a mut Set>, CmdError> {
    match lookup_write(db, at, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The set at `key`, created (with the encoding its first member calls
/// for) when missing.
fn set_or_create<'a>(db: &'a mut Db, at: At, key: &[u8], first: &[u8]) -> Result<&'a mut Set, CmdError> {
    if write_set(db, at, key)?.is_none() {
        db.insert(key, Value::Set(Box::new(Set::for_member(first))), 0, at.lru);
    }
    match db.get_mut(key, at.now).map(|e| &mut e.value) {
        Some(Value::Set(s)) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

fn sadd(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1];
    let at = At::of(ctx);
    let max = max_intset(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let set = set_or_create(db, at, key, &argv[2])?;
    let added = argv[2..].iter().filter(|m| set.insert(m, max)).count();
    if added > 0 {
        db.touch(key);
        ctx.notify(notify::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1];
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let Some(set) = write_set(db, at, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut removed = 0;
    for m in &argv[2..] {
        if set.remove(m) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    let emptied = set.is_empty();
    if emptied {
        db.remove(key);
    } else if removed > 0 {
        db.touch(key);
    }
    if removed > 0 {
        ctx.notify(notify::SET, "srem", key);
    }
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
    ctx.out.int(removed);
    Ok(())
}

fn sismember(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let found = read_set(ctx.store, at, &argv[1])?.is_some_and(|s| s.contains(&argv[2]));
    ctx.out.int(i64::from(found));
    Ok(())
}

fn smismember(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let set = read_set(ctx.store, at, &argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        ctx.out.int(i64::from(set.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let n = read_set(ctx.store, at, &argv[1])?.map_or(0, Set::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// `count` distinct positions in `0..len` (count <= len), chosen with
/// Floyd's algorithm: O(count) draws from the request's RNG.
fn distinct_positions(rng: &mut fastrand::Rng, len: usize, count: usize) -> Vec<usize> {
    let mut chosen = std::collections::HashSet::with_capacity(count);
    let mut order = Vec::with_capacity(count);
    for j in len - count..len {
        let t = rng.usize(..=j);
        let pick = if chosen.contains(&t) { j } else { t };
        chosen.insert(pick);
        order.push(pick);
    }
    // Floyd's picks are uniform as a set but biased in order; a shuffle
    // makes the reply order random too, as Redis's is.
    rng.shuffle(&mut order);
    order
}

fn spop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Err(CmdError::err("value is out of range, must be positive")),
        },
    };
    let key = &argv[1];
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    // Empty sets are never stored; treating one as missing keeps the
    // random draws below in a non-empty range.
    let Some(set) = write_set(db, at, key)?.filter(|s| !s.is_empty()) else {
        match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.set(0),
        }
        return Ok(());
    };
    let len = set.len();
    if count == Some(0) {
        ctx.out.set(0);
        return Ok(());
    }
    // None: the whole set goes (count >= size).
    let popped = match count {
        Some(n) if n >= len as u64 => None,
        Some(n) => Some(set.remove_indices(&distinct_positions(&mut ctx.rng, len, n as usize))),
        None => Some(set.remove_indices(&[ctx.rng.usize(..len)])),
    };
    let emptied = popped.is_none() || set.is_empty();
    let whole = if emptied { db.remove(key) } else { None };
    if !emptied {
        db.touch(key);
    }
    // Redis publishes `spop` before replying and `del` after.
    ctx.notify(notify::SET, "spop", key);
    match (count, popped) {
        (None, Some(p)) => match p.first() {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        (Some(_), Some(p)) => {
            ctx.out.set(p.len());
            p.iter().for_each(|m| ctx.out.bulk(m));
        }
        (_, None) => match whole.as_ref().map(|e| &e.value) {
            Some(Value::Set(s)) => reply_set(ctx.out, s),
            _ => ctx.out.set(0),
        },
    }
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => {
            let n = arg_i64(a)?;
            if n == i64::MIN {
                return Err(CmdError::err(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(n)
        }
    };
    let at = At::of(ctx);
    // Empty sets are never stored; treating one as missing keeps the
    // random draws below in a non-empty range.
    let set = read_set(ctx.store, at, &argv[1])?.filter(|s| !s.is_empty());
    let Some(count) = count else {
        match set {
            Some(s) => match s.get_index(ctx.rng.usize(..s.len())) {
                Some(m) => reply_member(ctx.out, m),
                None => ctx.out.null(),
            },
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(set) = set else {
        ctx.out.array(0);
        return Ok(());
    };
    let (n, unique) = (count.unsigned_abs(), count >= 0);
    let len = set.len();
    if n == 0 {
        ctx.out.array(0);
    } else if !unique || n == 1 {
        if n > MAX_RANDOM_REPLY {
            return Err(CmdError::err("count is too large for a reply"));
        }
        ctx.out.array(n as usize);
        for _ in 0..n {
            if let Some(m) = set.get_index(ctx.rng.usize(..len)) {
                reply_member(ctx.out, m);
            }
        }
    } else if n >= len as u64 {
        ctx.out.array(len);
        set.iter().for_each(|m| reply_member(ctx.out, m));
    } else {
        let positions = distinct_positions(&mut ctx.rng, len, n as usize);
        ctx.out.array(positions.len());
        for p in positions {
            if let Some(m) = set.get_index(p) {
                reply_member(ctx.out, m);
            }
        }
    }
    Ok(())
}

fn smove(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    let at = At::of(ctx);
    let max = max_intset(ctx);
    let db = &mut ctx.store.dbs[at.db];
    // Both lookups first, as Redis does (lazy expiry of both keys).
    let src_kind = lookup_write(db, at, src).map(|e| matches!(e.value, Value::Set(_)));
    let dst_kind = lookup_write(db, at, dst).map(|e| matches!(e.value, Value::Set(_)));
    match (src_kind, dst_kind) {
        (None, _) => {
            ctx.out.int(0);
            return Ok(());
        }
        (Some(false), _) | (_, Some(false)) => return Err(CmdError::WrongType),
        _ => {}
    }
    let Some(src_set) = write_set(db, at, src)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if src == dst {
        ctx.out.int(i64::from(src_set.contains(member)));
        return Ok(());
    }
    if !src_set.remove(member) {
        ctx.out.int(0);
        return Ok(());
    }
    let src_emptied = src_set.is_empty();
    if src_emptied {
        db.remove(src);
    } else {
        db.touch(src);
    }
    let added = set_or_create(db, at, dst, member)?.insert(member, max);
    if added {
        db.touch(dst);
    }
    ctx.notify(notify::SET, "srem", src);
    if src_emptied {
        ctx.notify(notify::GENERIC, "del", src);
    }
    if added {
        ctx.notify(notify::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}

/// Looks up every key of a multi-key set operation in order, as Redis
/// does (lookupKeyRead, even for the STORE variants: they count keyspace
/// hits and misses): a missing key is an empty set, the first key of
/// another type stops everything with WRONGTYPE.
fn lookup_all(store: &mut Store, at: At, keys: &[Bytes]) -> Result<(), CmdError> {
    for k in keys {
        if lookup_read(store, at, k, true).is_some_and(|e| !matches!(e.value, Value::Set(_))) {
            return Err(CmdError::WrongType);
        }
    }
    Ok(())
}

/// The sets at `keys` (None = missing), after `lookup_all` has checked them.
fn sets_of<'a>(db: &'a Db, at: At, keys: &[Bytes]) -> Vec<Option<&'a Set>> {
    keys.iter()
        .map(|k| match db.get(k, at.now).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect()
}

/// Members of the intersection, in the order of the smallest set (stable
/// on ties, like glibc's merge-sorting qsort), stopping at `limit` (0 = no
/// limit). Empty as soon as one set is missing.
fn intersection<'a>(sets: &[Option<&'a Set>], limit: usize) -> Vec<Member<'a>> {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return Vec::new();
    };
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in first.iter() {
        if rest.iter().all(|s| m.with_bytes(|b| s.contains(b))) {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// Redis's `sunionDiffGenericCommand` result: a fresh set built the way
/// Redis builds it (starting as an intset), so its encoding, and therefore
/// its reply order, matches; for SDIFF the algorithm choice matters, since
/// adding everything and then removing can convert where adding only the
/// survivors would not.
fn union_diff(sets: &[Option<&Set>], same_as_first: &[bool], op: SetOp, max: usize) -> Set {
    let mut dst = Set::default();
    match op {
        SetOp::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    m.with_bytes(|b| dst.insert(b, max));
                }
            }
        }
        SetOp::Diff => {
            let Some(Some(first)) = sets.first() else {
                return dst;
            };
            if same_as_first.iter().skip(1).any(|&same| same) {
                return dst;
            }
            let mut one: u64 = 0;
            let mut two: u64 = 0;
            for s in sets.iter().flatten() {
                one += first.len() as u64;
                two += s.len() as u64;
            }
            if one / 2 <= two {
                let mut others: Vec<&Set> = sets.iter().skip(1).flatten().copied().collect();
                // Biggest first: a shared member is more likely found early.
                others.sort_by_key(|s| std::cmp::Reverse(s.len()));
                for m in first.iter() {
                    if !m.with_bytes(|b| others.iter().any(|s| s.contains(b))) {
                        m.with_bytes(|b| dst.insert(b, max));
                    }
                }
            } else {
                for (j, s) in sets.iter().enumerate() {
                    let Some(s) = s else { continue };
                    for m in s.iter() {
                        m.with_bytes(|b| if j == 0 { dst.insert(b, max) } else { dst.remove(b) });
                    }
                    if dst.is_empty() {
                        break;
                    }
                }
            }
        }
    }
    dst
}

fn reply_set(out: &mut Out, set: &Set) {
    out.set(set.len());
    set.iter().for_each(|m| reply_member(out, m));
}

/// SINTER and SMEMBERS (which Redis 7.0 implements as a one-key SINTER).
fn sinter(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let keys = &argv[1..];
    lookup_all(ctx.store, at, keys)?;
    let sets = sets_of(&ctx.store.dbs[at.db], at, keys);
    let members = intersection(&sets, 0);
    ctx.out.set(members.len());
    for m in members {
        reply_member(ctx.out, m);
    }
    Ok(())
}

/// SINTERCARD's arguments, parsed.
struct InterCardOptions {
    numkeys: usize,
    limit: usize,
}

fn parse_sintercard(argv: &[Bytes]) -> Result<InterCardOptions, CmdError> {
    let numkeys = match parse_i64(&argv[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let numkeys = match usize::try_from(numkeys) {
        Ok(n) if n <= argv.len() - 2 => n,
        _ => return Err(CmdError::err("Number of keys can't be greater than number of args")),
    };
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        match argv.get(j + 1) {
            Some(v) if is(&argv[j], "limit") => {
                limit = match parse_i64(v) {
                    Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                    _ => return Err(CmdError::err("LIMIT can't be negative")),
                };
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(InterCardOptions { numkeys, limit })
}

fn sintercard(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = parse_sintercard(argv)?;
    let at = At::of(ctx);
    let keys = &argv[2..2 + o.numkeys];
    lookup_all(ctx.store, at, keys)?;
    let sets = sets_of(&ctx.store.dbs[at.db], at, keys);
    let n = intersection(&sets, o.limit).len();
    ctx.out.int(n as i64);
    Ok(())
}

fn sunion(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    union_diff_reply(ctx, argv, SetOp::Union)
}

fn sdiff(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    union_diff_reply(ctx, argv, SetOp::Diff)
}

fn union_diff_reply(ctx: &mut Ctx, argv: &[Bytes], op: SetOp) -> CmdResult {
    let at = At::of(ctx);
    let max = max_intset(ctx);
    let keys = &argv[1..];
    lookup_all(ctx.store, at, keys)?;
    let sets = sets_of(&ctx.store.dbs[at.db], at, keys);
    let same: Vec<bool> = keys.iter().map(|k| k == &keys[0]).collect();
    let result = union_diff(&sets, &same, op, max);
    reply_set(ctx.out, &result);
    Ok(())
}

fn sinterstore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    store_generic(ctx, argv, None)
}

fn sunionstore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    store_generic(ctx, argv, Some(SetOp::Union))
}

fn sdiffstore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    store_generic(ctx, argv, Some(SetOp::Diff))
}

/// The STORE variants (`op` None = intersection): the result replaces the
/// destination whatever its type (and TTL), and an empty result deletes it.
fn store_generic(ctx: &mut Ctx, argv: &[Bytes], op: Option<SetOp>) -> CmdResult {
    let at = At::of(ctx);
    let max = max_intset(ctx);
    let (dst, keys) = (&argv[1], &argv[2..]);
    lookup_all(ctx.store, at, keys)?;
    let sets = sets_of(&ctx.store.dbs[at.db], at, keys);
    // SINTERSTORE with a missing key takes Redis's early exit, which
    // publishes `del` before replying; the other empty results reply first.
    let early_exit = op.is_none() && sets.iter().any(Option::is_none);
    let result = match op {
        None => {
            let mut s = Set::default();
            for m in intersection(&sets, 0) {
                m.with_bytes(|b| s.insert(b, max));
            }
            s
        }
        Some(op) => {
            let same: Vec<bool> = keys.iter().map(|k| k == &keys[0]).collect();
            union_diff(&sets, &same, op, max)
        }
    };
    let db = &mut ctx.store.dbs[at.db];
    let n = result.len();
    if n == 0 {
        let deleted = db.remove(dst).is_some();
        if early_exit && deleted {
            ctx.notify(notify::GENERIC, "del", dst);
        }
        ctx.out.int(0);
        if !early_exit && deleted {
            ctx.notify(notify::GENERIC, "del", dst);
        }
    } else {
        db.insert(dst, Value::Set(Box::new(result)), 0, at.lru);
        ctx.out.int(n as i64);
        let event = match op {
            None => "sinterstore",
            Some(SetOp::Union) => "sunionstore",
            Some(SetOp::Diff) => "sdiffstore",
        };
        ctx.notify(notify::SET, event, dst);
    }
    Ok(())
}

/// SSCAN's options, parsed (after the key lookup, as in Redis: a missing
/// key answers an empty scan whatever the options).
struct ScanOptions<'a> {
    count: usize,
    pattern: Option<&'a [u8]>,
}

fn parse_scan_options(args: &[Bytes]) -> Result<ScanOptions<'_>, CmdError> {
    let mut o = ScanOptions { count: 10, pattern: None };
    let mut j = 0;
    while j < args.len() {
        let value = args.get(j + 1).ok_or(CmdError::Syntax)?;
        if is(&args[j], "count") {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&args[j], "match") {
            o.pattern = (&value[..] != b"*").then_some(&value[..]);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

fn sscan(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&argv[2])?;
    let at = At::of(ctx);
    let Some(set) = read_set(ctx.store, at, &argv[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let o = parse_scan_options(&argv[3..])?;
    let mut found: Vec<Member> = Vec::new();
    let next = set.scan(cursor, o.count, |m| {
        if o.pattern.is_none_or(|p| m.with_bytes(|b| glob_match(p, b, false))) {
            found.push(m);
        }
    });
    ctx.out.array(2);
    ctx.out.bulk_str(&next.to_string());
    ctx.out.array(found.len());
    for m in found {
        reply_member(ctx.out, m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn sintercard_parsing() {
        let err = |v: &[&str]| parse_sintercard(&args(v)).err().map(|e| e.to_string());
        assert_eq!(err(&["sintercard", "0", "a"]).as_deref(), Some("ERR numkeys should be greater than 0"));
        assert_eq!(err(&["sintercard", "x", "a"]).as_deref(), Some("ERR numkeys should be greater than 0"));
        assert_eq!(
            err(&["sintercard", "3", "a", "b"]).as_deref(),
            Some("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(err(&["sintercard", "1", "a", "limit", "-1"]).as_deref(), Some("ERR LIMIT can't be negative"));
        assert_eq!(err(&["sintercard", "1", "a", "limit"]).as_deref(), Some("ERR syntax error"));
        let o = parse_sintercard(&args(&["sintercard", "2", "a", "b", "LIMIT", "5", "limit", "3"])).unwrap();
        assert_eq!((o.numkeys, o.limit), (2, 3));
        assert_eq!(sintercard_keys(&args(&["sintercard", "2", "a", "b", "LIMIT", "5"])), vec![2, 3]);
        assert!(sintercard_keys(&args(&["sintercard", "3", "a", "b"])).is_empty());
    }

    #[test]
    fn distinct_positions_are_distinct_and_in_range() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (len, count) in [(1, 1), (10, 3), (10, 9), (10, 10), (1000, 500)] {
            let mut p = distinct_positions(&mut rng, len, count);
            assert_eq!(p.len(), count);
            assert!(p.iter().all(|&i| i < len));
            p.sort_unstable();
            p.dedup();
            assert_eq!(p.len(), count);
        }
    }

    #[test]
    fn diff_algorithms_agree() {
        let mk = |ms: &[&str]| {
            let mut s = Set::for_member(ms[0].as_bytes());
            for m in ms {
                s.insert(m.as_bytes(), 512);
            }
            s
        };
        let a = mk(&["1", "2", "3", "4", "5", "6", "7", "8"]);
        let b = mk(&["2", "x"]);
        let small = mk(&["3"]);
        let big = mk(&["1", "2", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21"]);
        // algorithm 1 (first set small relative to the rest) and 2.
        let r1 = union_diff(&[Some(&a), Some(&b), Some(&big)], &[true, false, false], SetOp::Diff, 512);
        let r2 = union_diff(&[Some(&a), Some(&small), None], &[true, false, false], SetOp::Diff, 512);
        let v = |s: &Set| s.iter().map(|m| m.to_sds().to_vec()).collect::<Vec<_>>();
        assert_eq!(v(&r1), ["3", "4", "5", "6", "7", "8"].map(|x| x.as_bytes().to_vec()));
        assert_eq!(v(&r2), ["1", "2", "4", "5", "6", "7", "8"].map(|x| x.as_bytes().to_vec()));
        let same = union_diff(&[Some(&a), Some(&a)], &[true, true], SetOp::Diff, 512);
        assert!(same.is_empty());
    }
}
