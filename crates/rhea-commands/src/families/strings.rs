//! The string family: GET, SET and friends.

use bytes::Bytes;
use rhea_store::{Sds, Value};

use super::{arg_i64, is};
use crate::error::{CmdError, CmdResult};
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn string(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "string";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["read", "string", "fast"],
        summary: "Get the value of a key",
        complexity: "O(1)",
        ..string("get", 2, READONLY | FAST, get)
    },
    CommandSpec {
        acl: &["write", "string", "slow"],
        summary: "Set the string value of a key",
        complexity: "O(1)",
        ..string("set", -3, WRITE | DENYOOM, set)
    },
];

/// The string at `key`: `Ok(None)` if missing, WRONGTYPE if not a string.
pub(crate) fn get_str<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Sds>, CmdError> {
    let now = ctx.now_ms;
    match ctx.db().get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => Ok(Some(s)),
        },
    }
}

fn get(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let lru = ctx.lru_clock();
    let now = ctx.now_ms;
    let i = ctx.client.db;
    let db = &mut ctx.store.dbs[i];
    match db.get_mut(&argv[1], now) {
        Some(e) => {
            e.lru = lru;
            let Value::Str(s) = &e.value;
            ctx.out.bulk(s);
            ctx.store.stats.keyspace_hits += 1;
        }
        None => {
            ctx.out.null();
            ctx.store.stats.keyspace_misses += 1;
        }
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

/// Parses SET's (or, with `for_set` false, GETEX's) options from
/// `argv[start..]` exactly as Redis's `parseExtendedStringArgumentsOrReply`:
/// the same accepted combinations, the same errors, last EX/PX/... wins.
pub fn parse_set_options(ctx: &Ctx, argv: &[Bytes], start: usize, for_set: bool) -> Result<SetOptions, CmdError> {
    let mut o = SetOptions { nx: false, xx: false, get: false, ttl: if for_set { Ttl::Clear } else { Ttl::Keep } };
    let (mut keepttl, mut persist) = (false, false);
    // Which of EX/PX/EXAT/PXAT was given, with its argument.
    let mut expire: Option<(&str, &Bytes)> = None;
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
    if let Some((unit, v)) = expire {
        let cmd = if for_set { "set" } else { "getex" };
        o.ttl = Ttl::At(expire_at(ctx.now_ms, unit, v, cmd)?);
    }
    Ok(o)
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

fn set(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let o = parse_set_options(ctx, argv, 3, true)?;
    let key = &argv[1];
    if o.get {
        match get_str(ctx, key)? {
            Some(old) => {
                let old = old.clone();
                ctx.out.bulk(&old);
            }
            None => ctx.out.null(),
        }
    }
    let now = ctx.now_ms;
    let lru = ctx.lru_clock();
    let db = ctx.db();
    let existing = db.get_mut(key, now).map(|e| e.expire_at());
    if (o.nx && existing.is_some()) || (o.xx && existing.is_none()) {
        if !o.get {
            ctx.out.null();
        }
        return Ok(());
    }
    let expire = match o.ttl {
        Ttl::At(t) => t,
        Ttl::Keep => existing.flatten().unwrap_or(0),
        Ttl::Clear | Ttl::Persist => 0,
    };
    db.insert(key, Value::Str(Sds::new(&argv[2])), expire, lru);
    if !o.get {
        ctx.out.ok();
    }
    Ok(())
}
