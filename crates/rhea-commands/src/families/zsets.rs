//! The sorted_set family: ZADD, ZRANGE and friends, with Redis 7.0's
//! replies, errors and encoding rules.
//!
//! Every range command is reduced to an interval of ascending ranks in the
//! set's order (`ZSet::count_while` finds either end in O(log n)), then walked
//! forwards or backwards.

use bytes::Bytes;
use indexmap::IndexMap;
use rhea_resp::{fmt_double, Out};
use rhea_store::set::Member;
use rhea_store::zset::AddResult;
use rhea_store::{glob_match, Db, Sds, Set, Store, Value, ZSet};

use super::lists::parse_timeout;
use super::{arg_i64, is, lookup_read, lookup_write, parse_cursor, At};
use crate::blocking::TimeoutReply;
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec, Handler};
use crate::Ctx;

const fn zset(name: &'static str, arity: i32, flags: u32, handler: Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "sorted_set";
    c
}

const READ_FAST: &[&str] = &["read", "sortedset", "fast"];
const READ_SLOW: &[&str] = &["read", "sortedset", "slow"];
const WRITE_FAST: &[&str] = &["write", "sortedset", "fast"];
const WRITE_SLOW: &[&str] = &["write", "sortedset", "slow"];
const WRITE_FAST_BLOCKING: &[&str] = &["write", "sortedset", "fast", "blocking"];
const WRITE_SLOW_BLOCKING: &[&str] = &["write", "sortedset", "slow", "blocking"];
const BY_LIMIT: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
    elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can \
    consider it O(log(N)).";
const REMOVED: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
    elements removed by the operation.";
const UNION: &str = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the \
    number of elements in the resulting sorted set.";
const INTER: &str = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number \
    of input sorted sets and M being the number of elements in the resulting sorted set.";
const DIFF: &str = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the \
    size of the first set, and K is the size of the result set.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Add one or more members to a sorted set, or update its score if it already exists",
        since: "1.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        ..zset("zadd", -4, WRITE | DENYOOM | FAST, zadd)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Increment the score of a member in a sorted set",
        since: "1.2.0",
        complexity: "O(log(N)) where N is the number of elements in the sorted set.",
        ..zset("zincrby", 4, WRITE | DENYOOM | FAST, zincrby)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove one or more members from a sorted set",
        since: "1.2.0",
        complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of \
            elements to be removed.",
        ..zset("zrem", -3, WRITE | FAST, zrem)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the score associated with the given member in a sorted set",
        since: "1.2.0",
        complexity: "O(1)",
        ..zset("zscore", 3, READONLY | FAST, zscore)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the score associated with the given members in a sorted set",
        since: "6.2.0",
        complexity: "O(N) where N is the number of members being requested.",
        ..zset("zmscore", -3, READONLY | FAST, zmscore)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Get the number of members in a sorted set",
        since: "1.2.0",
        complexity: "O(1)",
        ..zset("zcard", 2, READONLY | FAST, zcard)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Count the members in a sorted set with scores within the given values",
        since: "2.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        ..zset("zcount", 4, READONLY | FAST, zcount)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Count the number of members in a sorted set between a given lexicographical range",
        since: "2.8.9",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        ..zset("zlexcount", 4, READONLY | FAST, zlexcount)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return a range of members in a sorted set",
        since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
            elements returned.",
        ..zset("zrange", -4, READONLY, zrange)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return a range of members in a sorted set, by score",
        since: "1.0.5",
        complexity: BY_LIMIT,
        ..zset("zrangebyscore", -4, READONLY, zrangebyscore)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        since: "2.2.0",
        complexity: BY_LIMIT,
        ..zset("zrevrangebyscore", -4, READONLY, zrevrangebyscore)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return a range of members in a sorted set, by lexicographical range",
        since: "2.8.9",
        complexity: BY_LIMIT,
        ..zset("zrangebylex", -4, READONLY, zrangebylex)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to \
            lower strings.",
        since: "2.8.9",
        complexity: BY_LIMIT,
        ..zset("zrevrangebylex", -4, READONLY, zrevrangebylex)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
            elements returned.",
        ..zset("zrevrange", -4, READONLY, zrevrange)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Determine the index of a member in a sorted set",
        since: "2.0.0",
        complexity: "O(log(N))",
        ..zset("zrank", 3, READONLY | FAST, zrank)
    },
    CommandSpec {
        acl: READ_FAST,
        summary: "Determine the index of a member in a sorted set, with scores ordered from high to low",
        since: "2.0.0",
        complexity: "O(log(N))",
        ..zset("zrevrank", 3, READONLY | FAST, zrevrank)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Store a range of members from sorted set into another key",
        since: "6.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
            elements stored into the destination key.",
        ..zset("zrangestore", -5, WRITE | DENYOOM, zrangestore).keys(1, 2, 1)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove and return members with the lowest scores in a sorted set",
        since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of \
            elements popped.",
        ..zset("zpopmin", -2, WRITE | FAST, zpopmin)
    },
    CommandSpec {
        acl: WRITE_FAST,
        summary: "Remove and return members with the highest scores in a sorted set",
        since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of \
            elements popped.",
        ..zset("zpopmax", -2, WRITE | FAST, zpopmax)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Remove and return members with scores in a sorted set",
        since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in \
            the sorted set, and M being the number of elements popped.",
        keys_fn: Some(numkeys_keys_at_1),
        ..zset("zmpop", -4, WRITE, zmpop).keys(0, 0, 0)
    },
    CommandSpec {
        acl: WRITE_FAST_BLOCKING,
        summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until \
            one is available",
        since: "5.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        ..zset("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, bzpopmin).keys(1, -2, 1)
    },
    CommandSpec {
        acl: WRITE_FAST_BLOCKING,
        summary: "Remove and return the member with the highest score from one or more sorted sets, or block until \
            one is available",
        since: "5.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        ..zset("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, bzpopmax).keys(1, -2, 1)
    },
    CommandSpec {
        acl: WRITE_SLOW_BLOCKING,
        summary: "Remove and return members with scores in a sorted set or block until one is available",
        since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in \
            the sorted set, and M being the number of elements popped.",
        keys_fn: Some(bzmpop_keys),
        ..zset("bzmpop", -5, WRITE | BLOCKING, bzmpop).keys(0, 0, 0)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Add multiple sorted sets",
        since: "6.2.0",
        complexity: UNION,
        keys_fn: Some(numkeys_keys_at_1),
        ..zset("zunion", -3, READONLY, zunion).keys(0, 0, 0)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Intersect multiple sorted sets",
        since: "6.2.0",
        complexity: INTER,
        keys_fn: Some(numkeys_keys_at_1),
        ..zset("zinter", -3, READONLY, zinter).keys(0, 0, 0)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Subtract multiple sorted sets",
        since: "6.2.0",
        complexity: DIFF,
        keys_fn: Some(numkeys_keys_at_1),
        ..zset("zdiff", -3, READONLY, zdiff).keys(0, 0, 0)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Add multiple sorted sets and store the resulting sorted set in a new key",
        since: "2.0.0",
        complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the \
            number of elements in the resulting sorted set.",
        keys_fn: Some(store_keys),
        ..zset("zunionstore", -4, WRITE | DENYOOM, zunionstore)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        since: "2.0.0",
        complexity: INTER,
        keys_fn: Some(store_keys),
        ..zset("zinterstore", -4, WRITE | DENYOOM, zinterstore)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        since: "6.2.0",
        complexity: DIFF,
        keys_fn: Some(store_keys),
        ..zset("zdiffstore", -4, WRITE | DENYOOM, zdiffstore)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Intersect multiple sorted sets and return the cardinality of the result",
        since: "7.0.0",
        complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input \
            sorted sets.",
        keys_fn: Some(numkeys_keys_at_1),
        ..zset("zintercard", -3, READONLY, zintercard).keys(0, 0, 0)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Remove all members in a sorted set within the given scores",
        since: "1.2.0",
        complexity: REMOVED,
        ..zset("zremrangebyscore", 4, WRITE, zremrangebyscore)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Remove all members in a sorted set within the given indexes",
        since: "2.0.0",
        complexity: REMOVED,
        ..zset("zremrangebyrank", 4, WRITE, zremrangebyrank)
    },
    CommandSpec {
        acl: WRITE_SLOW,
        summary: "Remove all members in a sorted set between the given lexicographical range",
        since: "2.8.9",
        complexity: REMOVED,
        ..zset("zremrangebylex", 4, WRITE, zremrangebylex)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Get one or multiple random elements from a sorted set",
        since: "6.2.0",
        complexity: "O(N) where N is the number of elements returned",
        tips: &["nondeterministic_output"],
        ..zset("zrandmember", -2, READONLY, zrandmember)
    },
    CommandSpec {
        acl: READ_SLOW,
        summary: "Incrementally iterate sorted sets elements and associated scores",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the \
            cursor to return back to 0. N is the number of elements inside the collection..",
        tips: &["nondeterministic_output"],
        ..zset("zscan", -3, READONLY, zscan)
    },
];

/// Keys of `CMD numkeys key...` (ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZMPOP).
fn numkeys_keys_at_1(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 1)
}

/// Keys of `BZMPOP timeout numkeys key...`.
fn bzmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 2)
}

/// Keys of `CMD destination numkeys key...`.
fn store_keys(argv: &[Bytes]) -> Vec<usize> {
    crate::table::numkeys_positions(argv, Some(1), 2, 3)
}

fn numkeys_keys(argv: &[Bytes], at: usize) -> Vec<usize> {
    crate::table::numkeys_positions(argv, None, at, at + 1)
}

// ---------------------------------------------------------------------------
// Number parsing.

/// C's `strtod` on a prefix of `s`: returns the value, how many bytes it
/// consumed (0 = no number) and whether the result over- or underflowed
/// (ERANGE).
fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    if (1..=15).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit) {
        let n = rest.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        return (sign * n as f64, s.len(), false);
    }
    let starts = |p: &[u8]| rest.get(..p.len()).is_some_and(|r| r.eq_ignore_ascii_case(p));
    if starts(b"inf") {
        let n = if starts(b"infinity") { 8 } else { 3 };
        return (sign * f64::INFINITY, i + n, false);
    }
    if starts(b"nan") {
        return (f64::NAN, i + 3, false);
    }
    if starts(b"0x") {
        if let Some((v, n)) = hex_float(&rest[2..]) {
            return (sign * v, i + 2 + n, v.is_infinite());
        }
    }
    let digits = |j: usize| rest[j..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    let mut j = int;
    let mut frac = 0;
    if rest.get(j) == Some(&b'.') {
        frac = digits(j + 1);
        if int + frac > 0 {
            j += 1 + frac;
        }
    }
    if int + frac == 0 {
        return (0.0, 0, false);
    }
    if matches!(rest.get(j), Some(b'e' | b'E')) {
        let k = j + 1 + usize::from(matches!(rest.get(j + 1), Some(b'+' | b'-')));
        let e = digits(k.min(rest.len()));
        if e > 0 {
            j = k + e;
        }
    }
    let text = std::str::from_utf8(&rest[..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    let nonzero_digits = rest[..j].iter().take_while(|c| !matches!(c, b'e' | b'E')).any(|c| (b'1'..=b'9').contains(c));
    let erange = v.is_infinite() || (v == 0.0 && nonzero_digits);
    (sign * v, i + j, erange)
}

/// The digits after "0x" of a hexadecimal float: value and bytes consumed.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let mut mant = 0f64;
    let mut exp: i64 = 0;
    let mut i = 0;
    let mut any = false;
    while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(16)) {
        mant = mant * 16.0 + f64::from(d);
        any = true;
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        let mut k = i + 1;
        while let Some(d) = s.get(k).and_then(|c| (*c as char).to_digit(16)) {
            mant = mant * 16.0 + f64::from(d);
            exp -= 4;
            any = true;
            k += 1;
        }
        if any {
            i = k;
        }
    }
    if !any {
        return None;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let k = i + 1 + usize::from(matches!(s.get(i + 1), Some(b'+' | b'-')));
        let n = s[k.min(s.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            let text = std::str::from_utf8(&s[i + 1..k + n]).unwrap_or("0");
            exp = exp.saturating_add(text.parse::<i64>().unwrap_or(0).clamp(-100_000, 100_000));
            i = k + n;
        }
    }
    Some((mant * 2f64.powi(exp.clamp(-2000, 2000) as i32), i))
}

/// Redis's `string2d` (scores, increments, weights): the whole argument is
/// the number, no leading space, no overflow, not NaN.
fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || matches!(s[0], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (v, n, erange) = strtod(s);
    if n != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

fn arg_score(arg: &[u8]) -> Result<f64, CmdError> {
    string2d(arg).ok_or(CmdError::NotFloat)
}

/// A score bound of `zslParseRange`: strtod, then nothing may follow (C
/// string rules: a NUL byte ends the argument).
fn range_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (ex, body) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let (v, n, _) = strtod(body);
    if v.is_nan() || !matches!(body.get(n), None | Some(0)) {
        return None;
    }
    Some((v, ex))
}

// ---------------------------------------------------------------------------
// Ranges.

#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let err = || CmdError::err("min or max is not a float");
    let (min, minex) = range_bound(min).ok_or_else(err)?;
    let (max, maxex) = range_bound(max).ok_or_else(err)?;
    Ok(ScoreRange { min, minex, max, maxex })
}

#[derive(Debug, Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

fn lex_bound(arg: &Bytes) -> Option<LexBound> {
    match arg.first() {
        Some(b'+') if arg.len() == 1 => Some(LexBound::Max),
        Some(b'-') if arg.len() == 1 => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Excl(arg.slice(1..))),
        Some(b'[') => Some(LexBound::Incl(arg.slice(1..))),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

fn parse_lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, CmdError> {
    let err = || CmdError::err("min or max not valid string range item");
    Ok(LexRange { min: lex_bound(min).ok_or_else(err)?, max: lex_bound(max).ok_or_else(err)? })
}

/// The ascending ranks `start..end` of the elements in a score range.
fn score_span(z: &ZSet, r: &ScoreRange) -> (usize, usize) {
    let start = z.count_while(|s, _| if r.minex { s <= r.min } else { s < r.min });
    let end = z.count_while(|s, _| if r.maxex { s < r.max } else { s <= r.max });
    (start, end.max(start))
}

/// The ascending ranks `start..end` of the elements in a lex range. Lex
/// ranges are only meaningful when all scores are equal; when they are not,
/// a listpack-encoded zset answers what Redis's linear listpack walk
/// answers (zzlIsInLexRange, then zzlFirstInLexRange forwards or
/// zzlLastInLexRange with `rev`), so replies stay comparable.
fn lex_span(z: &ZSet, r: &LexRange, rev: bool) -> (usize, usize) {
    if z.is_listpack() {
        return listpack_lex_span(z, r, rev);
    }
    let below = |b: &LexBound, inclusive_end: bool| match b {
        LexBound::Min => 0,
        LexBound::Max => z.len(),
        LexBound::Incl(v) => z.count_while(|_, m| if inclusive_end { m <= &v[..] } else { m < &v[..] }),
        LexBound::Excl(v) => z.count_while(|_, m| if inclusive_end { m < &v[..] } else { m <= &v[..] }),
    };
    let start = below(&r.min, false);
    let end = below(&r.max, true);
    (start, end.max(start))
}

fn lex_gte_min(r: &LexRange, m: &[u8]) -> bool {
    match &r.min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Incl(v) => m >= &v[..],
        LexBound::Excl(v) => m > &v[..],
    }
}

fn lex_lte_max(r: &LexRange, m: &[u8]) -> bool {
    match &r.max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(v) => m <= &v[..],
        LexBound::Excl(v) => m < &v[..],
    }
}

/// Where Redis's listpack walk starts: zzlFirstInLexRange (or, with `rev`,
/// zzlLastInLexRange) as an ascending rank.
fn listpack_lex_anchor(members: &[&[u8]], r: &LexRange, rev: bool) -> Option<usize> {
    // sdscmplex on the bounds, with "-" below and "+" above every string.
    let order = |b: &LexBound| match b {
        LexBound::Min => (0, None),
        LexBound::Incl(v) | LexBound::Excl(v) => (1, Some(v.clone())),
        LexBound::Max => (2, None),
    };
    let excl = |b: &LexBound| matches!(b, LexBound::Excl(_));
    let cmp = order(&r.min).cmp(&order(&r.max));
    if cmp.is_gt() || (cmp.is_eq() && (excl(&r.min) || excl(&r.max))) {
        return None;
    }
    let (first, last) = (members.first()?, members.last()?);
    if !lex_gte_min(r, last) || !lex_lte_max(r, first) {
        return None;
    }
    if rev {
        let hi = members.iter().rposition(|m| lex_lte_max(r, m))?;
        lex_gte_min(r, members[hi]).then_some(hi)
    } else {
        let lo = members.iter().position(|m| lex_gte_min(r, m))?;
        lex_lte_max(r, members[lo]).then_some(lo)
    }
}

fn listpack_lex_span(z: &ZSet, r: &LexRange, rev: bool) -> (usize, usize) {
    let members: Vec<&[u8]> = z.iter().map(|(m, _)| &m[..]).collect();
    let Some(anchor) = listpack_lex_anchor(&members, r, rev) else {
        return (0, 0);
    };
    if rev {
        let lo = members[..anchor].iter().rposition(|m| !lex_gte_min(r, m)).map_or(0, |i| i + 1);
        (lo, anchor + 1)
    } else {
        let hi = members[anchor..].iter().position(|m| !lex_lte_max(r, m)).map_or(members.len(), |i| anchor + i);
        (anchor, hi)
    }
}

/// ZRANGE BYLEX with LIMIT on a listpack, as genericZrangebylexCommand
/// walks it: the offset is skipped without looking at the elements, then
/// elements are taken while they are within the far bound. Returns the
/// first ascending rank and how many elements to walk.
fn listpack_lex_walk(z: &ZSet, r: &LexRange, rev: bool, offset: usize, limit: i64) -> (usize, usize) {
    let members: Vec<&[u8]> = z.iter().map(|(m, _)| &m[..]).collect();
    let Some(anchor) = listpack_lex_anchor(&members, r, rev) else {
        return (0, 0);
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rev {
        let Some(first) = anchor.checked_sub(offset) else {
            return (0, 0);
        };
        let n = members[..=first].iter().rev().take_while(|m| lex_gte_min(r, m)).count();
        (first, n.min(limit))
    } else {
        let first = anchor.saturating_add(offset);
        let Some(tail) = members.get(first..) else {
            return (0, 0);
        };
        let n = tail.iter().take_while(|m| lex_lte_max(r, m)).count();
        (first, n.min(limit))
    }
}

/// Redis's index normalisation for rank ranges: the inclusive ascending
/// (or, with `rev`, descending) ranks `start..=end` clamped to the set.
fn rank_span(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen.saturating_add(start) } else { start };
    let mut end = if end < 0 { llen.saturating_add(end) } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

#[derive(Debug, Clone)]
enum RangeKind {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-family request.
#[derive(Debug, Clone)]
struct RangeCmd {
    kind: RangeKind,
    rev: bool,
    offset: i64,
    limit: i64,
    withscores: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Parses `min max [options]` starting at `argv[at]`, as
/// `zrangeGenericCommand` does: options first, then conflicts, then the
/// range itself. `kind`/`rev` are preset by the legacy commands.
fn parse_range_cmd(
    argv: &[Bytes],
    at: usize,
    store: bool,
    preset: Kind,
    rev: Option<bool>,
) -> Result<RangeCmd, CmdError> {
    let (mut kind, mut dir) = (preset, rev);
    let (mut offset, mut limit, mut withscores) = (0i64, -1i64, false);
    let mut j = at + 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = arg_i64(&argv[j + 1])?;
            limit = arg_i64(&argv[j + 2])?;
            j += 2;
        } else if dir.is_none() && is(a, "rev") {
            dir = Some(true);
        } else if kind == Kind::Auto && is(a, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && is(a, "byscore") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = dir.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::err("syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (mut lo, mut hi) = (&argv[at], &argv[at + 1]);
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let kind = match kind {
        Kind::Score => RangeKind::Score(parse_score_range(lo, hi)?),
        Kind::Lex => RangeKind::Lex(parse_lex_range(lo, hi)?),
        _ => RangeKind::Rank(arg_i64(lo)?, arg_i64(hi)?),
    };
    Ok(RangeCmd { kind, rev, offset, limit, withscores })
}

/// Where a range starts (an ascending rank) and how many elements it has;
/// with `rev` the walk goes downwards from `first`.
fn resolve_range(z: &ZSet, r: &RangeCmd) -> (usize, usize) {
    let (start, end) = match &r.kind {
        RangeKind::Rank(s, e) => {
            return match rank_span(z.len(), *s, *e) {
                None => (0, 0),
                Some((start, n)) if r.rev => (z.len() - 1 - start, n),
                Some((start, n)) => (start, n),
            };
        }
        RangeKind::Score(sr) => score_span(z, sr),
        RangeKind::Lex(lr) => lex_span(z, lr, r.rev),
    };
    let total = end - start;
    // A negative offset walks off the end in Redis: nothing is returned.
    let Ok(offset) = usize::try_from(r.offset) else {
        return (0, 0);
    };
    if let RangeKind::Lex(lr) = &r.kind {
        if z.is_listpack() {
            return listpack_lex_walk(z, lr, r.rev, offset, r.limit);
        }
    }
    if offset >= total {
        return (0, 0);
    }
    let n = total - offset;
    let n = if r.limit < 0 { n } else { n.min(usize::try_from(r.limit).unwrap_or(usize::MAX)) };
    if r.rev {
        (end - 1 - offset, n)
    } else {
        (start + offset, n)
    }
}

fn walk(z: &ZSet, first: usize, n: usize, rev: bool) -> impl Iterator<Item = (&Sds, f64)> {
    let it = if rev { z.iter_rev_from(first) } else { z.iter_from(first) };
    it.take(n)
}

// ---------------------------------------------------------------------------
// Access and replies.

#[derive(Clone, Copy)]
struct Limits {
    entries: usize,
    value: usize,
}

fn limits(ctx: &Ctx) -> Limits {
    let c = ctx.shared.config.read();
    Limits { entries: c.zset_max_listpack_entries, value: c.zset_max_listpack_value }
}

/// `zsetAdd`'s conversion: would adding `member` make this listpack a
/// skiplist, as OBJECT ENCODING names it (a new member over either threshold)?
fn needs_conversion(z: &ZSet, member: &[u8], lim: Limits) -> bool {
    z.is_listpack() && (z.len() + 1 > lim.entries || member.len() > lim.value) && !z.contains(member)
}

/// A zset built whole (stores): listpack if it fits, as
/// `zsetConvertToListpackIfNeeded` decides.
fn fit_encoding(z: &mut ZSet, lim: Limits) {
    z.set_listpack(z.len() <= lim.entries && z.max_member_len() <= lim.value);
}

fn zset_read<'a>(store: &'a mut Store, at: At, key: &[u8]) -> Result<Option<&'a ZSet>, CmdError> {
    match lookup_read(store, at, key, true) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

fn zset_write<'a>(db: &'a mut Db, at: At, key: &[u8]) -> Result<Option<&'a mut ZSet>, CmdError> {
    match lookup_write(db, at, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Elements as ZRANGE replies them: members, or member/score pairs (flat
/// in RESP2, nested in RESP3).
fn reply_elements<'a>(out: &mut Out, n: usize, items: impl Iterator<Item = (&'a Sds, f64)>, withscores: bool) {
    if withscores && !out.resp3 {
        out.array(2 * n);
    } else {
        out.array(n);
    }
    for (m, s) in items {
        if withscores {
            if out.resp3 {
                out.array(2);
            }
            out.bulk(m);
            out.double(s);
        } else {
            out.bulk(m);
        }
    }
}

/// After removals: deletes the key if the set became empty and reports
/// the change.
fn after_removal(ctx: &mut Ctx, key: &[u8], removed: usize, event: &str) {
    if removed == 0 {
        return;
    }
    let db = ctx.db();
    let empty = db.get(key, i64::MIN).is_some_and(|e| matches!(&e.value, Value::ZSet(z) if z.is_empty()));
    if empty {
        db.remove(key);
    } else {
        db.touch(key);
    }
    ctx.notify(notify::ZSET, event, key);
    if empty {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

// ---------------------------------------------------------------------------
// ZADD / ZINCRBY.

#[derive(Debug, Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let mut f = AddFlags::default();
    let mut j = 2;
    while j < argv.len() {
        let a = &argv[j];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        j += 1;
    }
    let elements = argv.len() - j;
    if elements & 1 == 1 || elements == 0 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::err("XX and NX options at the same time are not compatible"));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::err("GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && elements > 2 {
        return Err(CmdError::err("INCR option supports a single increment-element pair"));
    }
    let pairs = argv[j..].chunks(2).map(|p| Ok((arg_score(&p[0])?, &p[1]))).collect::<Result<Vec<_>, CmdError>>()?;
    add_generic(ctx, &argv[1], f, &pairs)
}

fn zincrby(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let incr = arg_score(&argv[2])?;
    add_generic(ctx, &argv[1], AddFlags { incr: true, ..AddFlags::default() }, &[(incr, &argv[3])])
}

fn add_generic(ctx: &mut Ctx, key: &[u8], f: AddFlags, pairs: &[(f64, &Bytes)]) -> CmdResult {
    let at = At::of(ctx);
    let lim = limits(ctx);
    let db = &mut ctx.store.dbs[at.db];
    if zset_write(db, at, key)?.is_none() {
        if f.xx {
            if f.incr {
                ctx.out.null();
            } else {
                ctx.out.int(0);
            }
            return Ok(());
        }
        db.insert(key, Value::ZSet(Box::default()), 0, at.lru);
    }
    let Some(z) = zset_write(db, at, key)? else {
        return Ok(());
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut failed = false;
    for &(score, member) in pairs {
        if !f.xx && needs_conversion(z, member, lim) {
            z.set_listpack(false);
        }
        // One hash of the member: the flags decide inside the lookup.
        let result = z.upsert(member, |cur| {
            let Some(cur) = cur else {
                if f.xx {
                    return None;
                }
                processed += 1;
                last = score;
                return Some(score);
            };
            if f.nx {
                return None;
            }
            let mut score = score;
            if f.incr {
                score += cur;
                if score.is_nan() {
                    failed = true;
                    return None;
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return None;
            }
            last = score;
            processed += 1;
            Some(score)
        });
        match result {
            AddResult::Added => added += 1,
            AddResult::Updated => updated += 1,
            AddResult::Unchanged => {}
        }
        if failed {
            break;
        }
    }
    let changed = added + updated > 0;
    if changed {
        db.touch(key);
    }
    if added > 0 {
        ctx.signal_ready(key);
    }
    if failed {
        // Only INCR, with its single pair, can fail, so nothing changed.
        return Err(CmdError::err("resulting score is not a number (NaN)"));
    }
    if f.incr {
        if processed > 0 {
            ctx.out.double(last);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
    // Redis replies first and publishes the event afterwards.
    if changed {
        ctx.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Point reads and removals.

fn zrem(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let Some(z) = zset_write(&mut ctx.store.dbs[at.db], at, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|m| z.remove(m).is_some()).count();
    after_removal(ctx, &argv[1], removed, "zrem");
    ctx.out.int(removed as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    match zset_read(ctx.store, at, &argv[1])?.and_then(|z| z.score(&argv[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let z = zset_read(ctx.store, at, &argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zcard(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let n = zset_read(ctx.store, at, &argv[1])?.map_or(0, ZSet::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let r = parse_score_range(&argv[2], &argv[3])?;
    let at = At::of(ctx);
    let n = zset_read(ctx.store, at, &argv[1])?.map_or(0, |z| {
        let (a, b) = score_span(z, &r);
        b - a
    });
    ctx.out.int(n as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let r = parse_lex_range(&argv[2], &argv[3])?;
    let at = At::of(ctx);
    let n = zset_read(ctx.store, at, &argv[1])?.map_or(0, |z| {
        let (a, b) = lex_span(z, &r, false);
        b - a
    });
    ctx.out.int(n as i64);
    Ok(())
}

fn rank_generic(ctx: &mut Ctx, argv: &[Bytes], rev: bool) -> CmdResult {
    let at = At::of(ctx);
    let z = zset_read(ctx.store, at, &argv[1])?;
    match z.and_then(|z| z.rank(&argv[2]).map(|r| if rev { z.len() - 1 - r } else { r })) {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    rank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    rank_generic(ctx, argv, true)
}

// ---------------------------------------------------------------------------
// ZRANGE family.

fn range_generic(ctx: &mut Ctx, argv: &[Bytes], kind: Kind, rev: Option<bool>) -> CmdResult {
    let r = parse_range_cmd(argv, 2, false, kind, rev)?;
    let at = At::of(ctx);
    let Some(z) = zset_read(ctx.store, at, &argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let (first, n) = resolve_range(z, &r);
    reply_elements(ctx.out, n, walk(z, first, n, r.rev), r.withscores);
    Ok(())
}

fn zrange(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, Kind::Auto, None)
}

fn zrevrange(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, Kind::Rank, Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, Kind::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, Kind::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, Kind::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, Kind::Lex, Some(true))
}

/// Stores `result` at `dst` (or deletes `dst` when it is empty) and replies
/// with its size, as the *STORE commands do.
fn store_result(ctx: &mut Ctx, dst: &[u8], mut result: ZSet, event: &str) {
    let at = At::of(ctx);
    let n = result.len();
    if n > 0 {
        fit_encoding(&mut result, limits(ctx));
        ctx.store.dbs[at.db].insert(dst, Value::ZSet(Box::new(result)), 0, at.lru);
        ctx.notify(notify::ZSET, event, dst);
        ctx.signal_ready(dst);
    } else if ctx.store.dbs[at.db].remove(dst).is_some() {
        ctx.notify(notify::GENERIC, "del", dst);
    }
    ctx.out.int(n as i64);
}

fn zrangestore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let r = parse_range_cmd(argv, 3, true, Kind::Auto, None)?;
    let at = At::of(ctx);
    let mut result = ZSet::with_encoding(false);
    if let Some(z) = zset_read(ctx.store, at, &argv[2])? {
        let (first, n) = resolve_range(z, &r);
        for (m, s) in walk(z, first, n, r.rev) {
            result.add(m, s);
        }
    }
    store_result(ctx, &argv[1], result, "zrangestore");
    Ok(())
}

// ---------------------------------------------------------------------------
// Removal by range.

fn zremrange_generic(ctx: &mut Ctx, argv: &[Bytes], kind: Kind) -> CmdResult {
    let kind = match kind {
        Kind::Score => RangeKind::Score(parse_score_range(&argv[2], &argv[3])?),
        Kind::Lex => RangeKind::Lex(parse_lex_range(&argv[2], &argv[3])?),
        _ => RangeKind::Rank(arg_i64(&argv[2])?, arg_i64(&argv[3])?),
    };
    let at = At::of(ctx);
    let Some(z) = zset_write(&mut ctx.store.dbs[at.db], at, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (start, end) = match &kind {
        RangeKind::Rank(s, e) => rank_span(z.len(), *s, *e).map_or((0, 0), |(s, n)| (s, s + n)),
        RangeKind::Score(r) => score_span(z, r),
        RangeKind::Lex(r) => lex_span(z, r, false),
    };
    let removed = z.remove_range(start, end);
    let event = match kind {
        RangeKind::Rank(..) => "zremrangebyrank",
        RangeKind::Score(_) => "zremrangebyscore",
        RangeKind::Lex(_) => "zremrangebylex",
    };
    after_removal(ctx, &argv[1], removed, event);
    ctx.out.int(removed as i64);
    Ok(())
}

fn zremrangebyscore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    zremrange_generic(ctx, argv, Kind::Score)
}

fn zremrangebyrank(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    zremrange_generic(ctx, argv, Kind::Rank)
}

fn zremrangebylex(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    zremrange_generic(ctx, argv, Kind::Lex)
}

// ---------------------------------------------------------------------------
// Pops.

/// The first of `keys` holding a sorted set, after a type check of each
/// key looked at; `Ok(None)` if none holds one. Shared with the blocking
/// variants, which wait when this finds nothing.
pub(crate) fn first_nonempty(db: &mut Db, at: At, keys: &[Bytes]) -> Result<Option<usize>, CmdError> {
    for (i, k) in keys.iter().enumerate() {
        if zset_write(db, at, k)?.is_some() {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The reply shapes of Redis's `genericZpopCommand`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopShape {
    /// ZPOPMIN/ZPOPMAX (RESP2, or RESP3 without COUNT): `[member, score...]`.
    Flat,
    /// ZPOPMIN/ZPOPMAX with COUNT in RESP3: `[[member, score]...]`.
    Nested,
    /// BZPOPMIN/BZPOPMAX: `[key, member, score]`.
    KeyFlat,
    /// ZMPOP/BZMPOP: `[key, [[member, score]...]]`.
    KeyNested,
}

/// Pops up to `count` elements from the low (`max` false) or high end of
/// the sorted set at `key` and replies, deleting the key when it empties.
/// The caller checked the key holds a sorted set. Events interleave with
/// the reply as in Redis, which publishes the pop event after the reply's
/// header (seen by a RESP3 client subscribed to its own events) and `del`
/// after the elements.
pub(crate) fn pop_and_reply(ctx: &mut Ctx, key: &[u8], max: bool, count: usize, shape: PopShape) {
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let (popped, empty) = match zset_write(db, at, key) {
        Ok(Some(z)) => {
            let n = count.min(z.len());
            let popped = if max { z.range_owned(z.len() - n, z.len()) } else { z.range_owned(0, n) };
            let popped: Vec<(Sds, f64)> = if max { popped.into_iter().rev().collect() } else { popped };
            for (m, _) in &popped {
                z.remove(m);
            }
            (popped, z.is_empty())
        }
        _ => (Vec::new(), false),
    };
    let n = popped.len();
    match shape {
        PopShape::Flat => ctx.out.array(n * 2),
        PopShape::Nested => ctx.out.array(n),
        PopShape::KeyFlat => {
            ctx.out.array(n * 2 + 1);
            ctx.out.bulk(key);
        }
        PopShape::KeyNested => {
            ctx.out.array(2);
            ctx.out.bulk(key);
            ctx.out.array(n);
        }
    }
    if n > 0 {
        if !empty {
            ctx.store.dbs[at.db].touch(key);
        }
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    let nested = matches!(shape, PopShape::Nested | PopShape::KeyNested);
    for (m, s) in &popped {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
    if n > 0 && empty {
        ctx.store.dbs[at.db].remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn zpop_generic(ctx: &mut Ctx, argv: &[Bytes], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        Some(a) => {
            let n = rhea_resp::parse_i64(a).filter(|n| *n >= 0);
            n.ok_or_else(|| CmdError::err("value is out of range, must be positive"))?
        }
        None => 1,
    };
    let at = At::of(ctx);
    if first_nonempty(&mut ctx.store.dbs[at.db], at, &argv[1..2])?.is_none() || count == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let shape = if argv.len() == 3 && ctx.out.resp3 { PopShape::Nested } else { PopShape::Flat };
    pop_and_reply(ctx, &argv[1], max, usize::try_from(count).unwrap_or(usize::MAX), shape);
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, argv, true)
}

/// ZMPOP's arguments from `numkeys` (at `argv[at]`) on.
pub(crate) struct MpopArgs {
    pub keys: std::ops::Range<usize>,
    pub max: bool,
    pub count: usize,
}

pub(crate) fn parse_mpop(argv: &[Bytes], at: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = rhea_resp::parse_i64(&argv[at])
        .filter(|n| *n >= 1)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let where_idx = usize::try_from(numkeys).ok().and_then(|n| n.checked_add(at + 1)).filter(|&w| w < argv.len());
    let where_idx = where_idx.ok_or(CmdError::Syntax)?;
    let max = if is(&argv[where_idx], "min") {
        false
    } else if is(&argv[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            let n = rhea_resp::parse_i64(&argv[j + 1])
                .filter(|n| *n >= 1)
                .ok_or_else(|| CmdError::err("count should be greater than 0"))?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs { keys: at + 1..where_idx, max, count: count.unwrap_or(1) })
}

fn zmpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let a = parse_mpop(argv, 1)?;
    let at = At::of(ctx);
    let keys = &argv[a.keys];
    let Some(i) = first_nonempty(&mut ctx.store.dbs[at.db], at, keys)? else {
        ctx.out.null_array();
        return Ok(());
    };
    pop_and_reply(ctx, &keys[i], a.max, a.count, PopShape::KeyNested);
    Ok(())
}

/// What a blocking pop replies with once it found elements.
#[derive(Clone, Copy)]
enum BzReply {
    /// BZPOPMIN / BZPOPMAX: `[key, member, score]`.
    One,
    /// BZMPOP: `[key, [[member, score]...]]`, up to `count` elements.
    Many(usize),
}

/// Pops from `key` (known to hold a sorted set) and replies.
fn bz_serve(ctx: &mut Ctx, key: &[u8], max: bool, reply: BzReply) {
    match reply {
        BzReply::One => pop_and_reply(ctx, key, max, 1, PopShape::KeyFlat),
        BzReply::Many(n) => pop_and_reply(ctx, key, max, n, PopShape::KeyNested),
    }
}

/// Redis's `blockingGenericZpopCommand`: pop from the first key holding a
/// sorted set, else block on all of them (or reply nil at once where
/// blocking is not allowed). Re-run for a blocked client, it serves from
/// the key that got data only, and stays blocked if that key holds no
/// sorted set any more.
fn blocking_zpop(ctx: &mut Ctx, keys: &[Bytes], max: bool, reply: BzReply, deadline: Option<i64>) -> CmdResult {
    let at = At::of(ctx);
    if let Some(ready) = ctx.client.ready_key.clone() {
        let has = matches!(zset_write(&mut ctx.store.dbs[at.db], at, &ready), Ok(Some(z)) if !z.is_empty());
        if has {
            bz_serve(ctx, &ready, max, reply);
        } else {
            ctx.block(Vec::new(), deadline, TimeoutReply::NullArray);
        }
        return Ok(());
    }
    if let Some(i) = first_nonempty(&mut ctx.store.dbs[at.db], at, keys)? {
        bz_serve(ctx, &keys[i], max, reply);
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.block(keys.iter().map(|k| Sds::new(k)).collect(), deadline, TimeoutReply::NullArray);
    Ok(())
}

/// BZPOPMIN / BZPOPMAX key [key ...] timeout.
fn bzpop_generic(ctx: &mut Ctx, argv: &[Bytes], max: bool) -> CmdResult {
    let last = argv.len() - 1;
    let deadline = parse_timeout(&argv[last], ctx.now_ms)?;
    blocking_zpop(ctx, &argv[1..last], max, BzReply::One, deadline)
}

fn bzpopmin(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    bzpop_generic(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    bzpop_generic(ctx, argv, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: the timeout
/// is checked after the rest, as in Redis.
fn bzmpop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let a = parse_mpop(argv, 2)?;
    let deadline = parse_timeout(&argv[1], ctx.now_ms)?;
    blocking_zpop(ctx, &argv[a.keys], a.max, BzReply::Many(a.count), deadline)
}

// ---------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF / ZINTERCARD.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// An input of the set operations: a sorted set, or a plain set whose
/// members all score 1.
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Src::S(s) => s.iter().for_each(|m: Member<'_>| m.with_bytes(|b| f(b, 1.0))),
        }
    }
}

struct SetOpArgs {
    keys: std::ops::Range<usize>,
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    limit: usize,
}

/// `zunionInterDiffGenericCommand`: numkeys, then the keys are looked up
/// (type errors come before option errors), then options. Returns the
/// parsed arguments; keys have been looked up for expiry and statistics.
fn parse_setop(
    ctx: &mut Ctx,
    argv: &[Bytes],
    at_numkeys: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<SetOpArgs, CmdError> {
    let numkeys = arg_i64(&argv[at_numkeys])?;
    if numkeys < 1 {
        let name = String::from_utf8_lossy(&argv[0]).to_lowercase();
        return Err(CmdError::err(format!("at least 1 input key is needed for '{name}' command")));
    }
    let first = at_numkeys + 1;
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if n > argv.len() - first {
        return Err(CmdError::Syntax);
    }
    let keys = first..first + n;
    let at = At::of(ctx);
    for k in &argv[keys.clone()] {
        let e =
            if store { lookup_write(&mut ctx.store.dbs[at.db], at, k) } else { lookup_read(ctx.store, at, k, true) };
        if let Some(e) = e {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(CmdError::WrongType);
            }
        }
    }
    let mut a =
        SetOpArgs { keys: keys.clone(), weights: vec![1.0; n], how: Aggregate::Sum, withscores: false, limit: 0 };
    let mut j = keys.end;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let o = &argv[j];
        if op != SetOp::Diff && !card && remaining > n && is(o, "weights") {
            for (i, w) in argv[j + 1..j + 1 + n].iter().enumerate() {
                a.weights[i] = string2d(w).ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && !card && remaining >= 2 && is(o, "aggregate") {
            let v = &argv[j + 1];
            a.how = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if !store && !card && is(o, "withscores") {
            a.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && is(o, "limit") {
            let l = rhea_resp::parse_i64(&argv[j + 1]).filter(|l| *l >= 0);
            let l = l.ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            a.limit = usize::try_from(l).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(a)
}

fn sources<'a>(db: &'a Db, now: i64, keys: &[Bytes]) -> Vec<Src<'a>> {
    keys.iter()
        .map(|k| match db.get(k, now).map(|e| &e.value) {
            Some(Value::ZSet(z)) => Src::Z(z),
            Some(Value::Set(s)) => Src::S(s),
            _ => Src::Missing,
        })
        .collect()
}

/// The result of a set operation, as a sorted set.
fn compute_setop(srcs: &[Src], weights: &[f64], how: Aggregate, op: SetOp) -> ZSet {
    let mut acc: IndexMap<Sds, f64, ahash::RandomState> = IndexMap::default();
    match op {
        SetOp::Union | SetOp::Inter => {
            // Smallest first, as Redis sorts its inputs: the order of the
            // additions decides floating-point sums.
            let mut order: Vec<usize> = (0..srcs.len()).collect();
            order.sort_by_key(|&i| srcs[i].len());
            if op == SetOp::Union {
                for &i in &order {
                    srcs[i].for_each(|m, s| {
                        let mut score = weights[i] * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        match acc.get_mut(m) {
                            Some(t) => aggregate(t, score, how),
                            None => {
                                acc.insert(Sds::new(m), score);
                            }
                        }
                    });
                }
            } else if let Some((&first, rest)) = order.split_first() {
                srcs[first].for_each(|m, s| {
                    let mut score = weights[first] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for &j in rest {
                        match srcs[j].score(m) {
                            Some(v) => aggregate(&mut score, v * weights[j], how),
                            None => return,
                        }
                    }
                    acc.insert(Sds::new(m), score);
                });
            }
        }
        SetOp::Diff => {
            if let Some((first, rest)) = srcs.split_first() {
                first.for_each(|m, s| {
                    if rest.iter().all(|r| r.score(m).is_none()) {
                        acc.insert(Sds::new(m), s);
                    }
                });
            }
        }
    }
    let mut z = ZSet::with_encoding(false);
    for (m, s) in acc {
        z.add(&m, s);
    }
    z
}

fn setop_generic(ctx: &mut Ctx, argv: &[Bytes], op: SetOp, store: bool) -> CmdResult {
    let at_numkeys = if store { 2 } else { 1 };
    let a = parse_setop(ctx, argv, at_numkeys, op, store, false)?;
    let at = At::of(ctx);
    let result = {
        let srcs = sources(&ctx.store.dbs[at.db], at.now, &argv[a.keys.clone()]);
        compute_setop(&srcs, &a.weights, a.how, op)
    };
    if store {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        store_result(ctx, &argv[1], result, event);
    } else {
        reply_elements(ctx.out, result.len(), result.iter(), a.withscores);
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setop_generic(ctx, argv, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setop_generic(ctx, argv, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setop_generic(ctx, argv, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setop_generic(ctx, argv, SetOp::Union, true)
}

fn zinterstore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setop_generic(ctx, argv, SetOp::Inter, true)
}

fn zdiffstore(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    setop_generic(ctx, argv, SetOp::Diff, true)
}

fn zintercard(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let a = parse_setop(ctx, argv, 1, SetOp::Inter, false, true)?;
    let at = At::of(ctx);
    let srcs = sources(&ctx.store.dbs[at.db], at.now, &argv[a.keys.clone()]);
    let mut order: Vec<usize> = (0..srcs.len()).collect();
    order.sort_by_key(|&i| srcs[i].len());
    let mut n = 0usize;
    if let Some((&first, rest)) = order.split_first() {
        let mut done = false;
        srcs[first].for_each(|m, _| {
            if done {
                return;
            }
            if rest.iter().all(|&j| srcs[j].score(m).is_some()) {
                n += 1;
                if a.limit > 0 && n >= a.limit {
                    done = true;
                }
            }
        });
    }
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER / ZSCAN.

fn zrandmember(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    if argv.len() == 2 {
        let z = zset_read(ctx.store, at, &argv[1])?;
        match z.filter(|z| !z.is_empty()) {
            Some(z) => {
                let (m, _) = z.get_index(ctx.rng.usize(..z.len())).ok_or(CmdError::Syntax)?;
                ctx.out.bulk(m);
            }
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let l = arg_i64(&argv[2])?;
    if l == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if argv.len() > 4 || (argv.len() == 4 && !is(&argv[3], "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = argv.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err("value is out of range"));
    }
    let Some(z) = zset_read(ctx.store, at, &argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let size = z.len();
    let count = l.unsigned_abs() as usize;
    if count == 0 || size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let rng = &mut ctx.rng;
    let out = &mut *ctx.out;
    if l < 0 {
        // With repetitions: each pick is independent.
        reply_elements(out, count, (0..count).filter_map(|_| z.get_index(rng.usize(..size))), withscores);
    } else if count >= size {
        // The whole set, as Redis replies it: highest first.
        reply_elements(out, size, z.iter_rev_from(size - 1), withscores);
    } else {
        // Distinct picks: a partial Fisher-Yates shuffle of the positions.
        let mut pos: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = rng.usize(i..size);
            pos.swap(i, j);
        }
        reply_elements(out, count, pos[..count].iter().filter_map(|&p| z.get_index(p)), withscores);
    }
    Ok(())
}

fn zscan(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&argv[2])?;
    let (mut count, mut pattern) = (10usize, None);
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
    let at = At::of(ctx);
    let mut found: Vec<(Sds, f64)> = Vec::new();
    let mut next = 0u64;
    if let Some(z) = zset_read(ctx.store, at, &argv[1])? {
        let keep = |m: &[u8]| match pattern {
            Some(p) => glob_match(p, m, false),
            None => true,
        };
        if z.is_listpack() {
            found.extend(z.iter().filter(|(m, _)| keep(m)).map(|(m, s)| (m.clone(), s)));
        } else {
            // Positions walk downwards: removal moves the last element into
            // the hole, so an element present for the whole scan is seen.
            let len = z.len() as u64;
            let mut pos = if cursor == 0 || cursor > len { len } else { cursor };
            let mut visited = 0;
            while pos > 0 && visited < count {
                pos -= 1;
                visited += 1;
                if let Some((m, s)) = z.get_index(pos as usize) {
                    if keep(m) {
                        found.push((m.clone(), s));
                    }
                }
            }
            next = pos;
        }
    }
    ctx.out.array(2);
    ctx.out.bulk_str(&next.to_string());
    ctx.out.array(found.len() * 2);
    for (m, s) in &found {
        ctx.out.bulk(m);
        ctx.out.bulk_str(&fmt_double(*s));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_prefixes() {
        assert_eq!(strtod(b"1.5x"), (1.5, 3, false));
        assert_eq!(strtod(b"  -2"), (-2.0, 4, false));
        assert_eq!(strtod(b""), (0.0, 0, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"-Infinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(strtod(b"1e5e"), (1e5, 3, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b".5"), (0.5, 2, false));
        assert_eq!(strtod(b"."), (0.0, 0, false));
        assert!(strtod(b"1e400").2);
        assert!(strtod(b"1e-400").2);
        assert!(!strtod(b"0e-400").2);
    }

    #[test]
    fn string2d_is_strict() {
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"x", b"1x"] {
            assert_eq!(string2d(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn range_bounds_follow_zsl_parse_range() {
        assert_eq!(range_bound(b""), Some((0.0, false)));
        assert_eq!(range_bound(b"("), Some((0.0, true)));
        assert_eq!(range_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(range_bound(b" 2"), Some((2.0, false)));
        assert_eq!(range_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(range_bound(b"3\x00junk"), Some((3.0, false)));
        assert_eq!(range_bound(b"nan"), None);
        assert_eq!(range_bound(b"1 "), None);
        assert_eq!(range_bound(b"[1"), None);
    }

    #[test]
    fn rank_spans() {
        assert_eq!(rank_span(5, 0, -1), Some((0, 5)));
        assert_eq!(rank_span(5, -100, 100), Some((0, 5)));
        assert_eq!(rank_span(5, 3, 1), None);
        assert_eq!(rank_span(5, 5, 10), None);
        assert_eq!(rank_span(5, i64::MIN, i64::MAX), Some((0, 5)));
        assert_eq!(rank_span(0, 0, -1), None);
    }
}
