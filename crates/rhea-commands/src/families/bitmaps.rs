//! The bitmap family: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO. Bitmaps are plain strings; bit 0 is the most significant
//! bit of byte 0, as in Redis.

use bytes::Bytes;
use rhea_resp::parse_i64;
use rhea_store::{Db, Sds, Value};

use super::{arg_i64, is, lookup_read, lookup_write, At};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn bitmap(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "bitmap";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["write", "bitmap", "slow"],
        summary: "Sets or clears the bit at offset in the string value stored at key",
        since: "2.2.0",
        complexity: "O(1)",
        ..bitmap("setbit", 4, WRITE | DENYOOM, setbit)
    },
    CommandSpec {
        acl: &["read", "bitmap", "fast"],
        summary: "Returns the bit value at offset in the string value stored at key",
        since: "2.2.0",
        complexity: "O(1)",
        ..bitmap("getbit", 3, READONLY | FAST, getbit)
    },
    CommandSpec {
        acl: &["read", "bitmap", "slow"],
        summary: "Count set bits in a string",
        since: "2.6.0",
        complexity: "O(N)",
        ..bitmap("bitcount", -2, READONLY, bitcount)
    },
    CommandSpec {
        acl: &["read", "bitmap", "slow"],
        summary: "Find first bit set or clear in a string",
        since: "2.8.7",
        complexity: "O(N)",
        ..bitmap("bitpos", -3, READONLY, bitpos)
    },
    CommandSpec {
        acl: &["write", "bitmap", "slow"],
        summary: "Perform bitwise operations between strings",
        since: "2.6.0",
        complexity: "O(N)",
        ..bitmap("bitop", -4, WRITE | DENYOOM, bitop).keys(2, -1, 1)
    },
    CommandSpec {
        acl: &["write", "bitmap", "slow"],
        summary: "Perform arbitrary bitfield integer operations on strings",
        since: "3.2.0",
        complexity: "O(1) for each subcommand specified",
        ..bitmap("bitfield", -2, WRITE | DENYOOM, bitfield)
    },
    CommandSpec {
        acl: &["read", "bitmap", "fast"],
        summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        since: "6.0.0",
        complexity: "O(1) for each subcommand specified",
        ..bitmap("bitfield_ro", -2, READONLY | FAST, bitfield_ro)
    },
];

fn as_str(v: &Value) -> Result<&[u8], CmdError> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Takes the bytes out of a string value to modify them (a heap buffer is
/// moved, not copied).
fn take_bytes(v: &mut Value) -> Vec<u8> {
    match v {
        Value::Str(Sds::Heap(b)) => std::mem::take(b).into_vec(),
        Value::Str(s) => s.to_vec(),
        _ => Vec::new(),
    }
}

/// Redis's `getBitOffsetFromArgument`: a bit offset below
/// proto-max-bulk-len bytes; with `hash_bits` > 0, "#N" means N times that
/// many bits (BITFIELD).
fn bit_offset(ctx: &Ctx, arg: &[u8], hash_bits: u64) -> Result<u64, CmdError> {
    let err = || CmdError::err("bit offset is not an integer or out of range");
    let (digits, mul) = match arg.split_first() {
        Some((b'#', rest)) if hash_bits > 0 => (rest, hash_bits as i64),
        _ => (arg, 1),
    };
    // Redis multiplies without an overflow check; the wrapped product is
    // then range-checked like any other offset.
    let off = parse_i64(digits).ok_or_else(err)?.wrapping_mul(mul);
    let max = ctx.shared.config.read().proto_max_bulk_len as u64;
    if off < 0 || (off as u64 >> 3) >= max {
        return Err(err());
    }
    Ok(off as u64)
}

/// Redis's `lookupStringForBitCommand`: the string at `key` zero-padded to
/// hold bit `maxbit` (created if missing, raw-encoded from then on), handed
/// to `f` with whether it was created or grown; `f` says whether the key
/// changed (signalled for WATCH, and returned for keyspace events).
fn with_bit_string<R>(
    db: &mut Db,
    at: At,
    key: &[u8],
    maxbit: u64,
    f: impl FnOnce(&mut Vec<u8>, bool) -> (R, bool),
) -> Result<(R, bool), CmdError> {
    let need = (maxbit >> 3) as usize + 1;
    match lookup_write(db, at, key) {
        None => {
            let mut v = vec![0u8; need];
            let (r, changed) = f(&mut v, true);
            db.insert(key, Value::Str(Sds::from_vec(v)), 0, at.lru);
            if let Some(e) = db.get_mut(key, at.now) {
                e.raw = true;
            }
            Ok((r, changed))
        }
        Some(e) => {
            as_str(&e.value)?;
            let mut v = take_bytes(&mut e.value);
            let grown = v.len() < need;
            if grown {
                v.resize(need, 0);
            }
            let (r, changed) = f(&mut v, grown);
            e.value = Value::Str(Sds::from_vec(v));
            e.raw = true;
            if changed {
                db.touch(key);
            }
            Ok((r, changed))
        }
    }
}

fn setbit(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &argv[2], 0)?;
    let bad_bit = || CmdError::err("bit is not an integer or out of range");
    let on = parse_i64(&argv[3]).ok_or_else(bad_bit)?;
    if on & !1 != 0 {
        return Err(bad_bit());
    }
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let (old, changed) = with_bit_string(db, at, &argv[1], offset, |v, dirty| {
        let byte = (offset >> 3) as usize;
        let mask = 1u8 << (7 - (offset & 7));
        let old = v[byte] & mask != 0;
        if on == 1 {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
        (old, dirty || old != (on == 1))
    })?;
    if changed {
        ctx.notify(notify::STRING, "setbit", &argv[1]);
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

fn getbit(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &argv[2], 0)?;
    let at = At::of(ctx);
    let bit = match lookup_read(ctx.store, at, &argv[1], true) {
        None => false,
        Some(e) => {
            let s = as_str(&e.value)?;
            s.get((offset >> 3) as usize).is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0)
        }
    };
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// A BITCOUNT/BITPOS range resolved as Redis does: `Some((start, end,
/// first_mask, last_mask))` in bytes, the masks covering the bits outside
/// a BIT range in its edge bytes; None for an empty range.
fn resolve_range(len: usize, mut start: i64, mut end: i64, bit_unit: bool) -> Option<(usize, usize, u8, u8)> {
    let mut total = len as i64;
    if bit_unit {
        total <<= 3;
    }
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if bit_unit {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Some((start as usize, end as usize, first_mask, last_mask))
}

/// BYTE or BIT, or a syntax error.
fn parse_unit(arg: &Bytes) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn bitcount(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    // Redis 7.0 looks the key up before parsing the range: a missing key
    // answers 0 whatever the arguments.
    let Some(e) = lookup_read(ctx.store, at, &argv[1], true) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = as_str(&e.value)?;
    let range = match argv.len() {
        2 => resolve_range(s.len(), 0, -1, false),
        4 | 5 => {
            let start = arg_i64(&argv[2])?;
            let end = arg_i64(&argv[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let bit_unit = match argv.get(4) {
                Some(u) => parse_unit(u)?,
                None => false,
            };
            resolve_range(s.len(), start, end, bit_unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    let count = match range {
        None => 0,
        Some((start, end, first_mask, last_mask)) => {
            let mut n: i64 = s[start..=end].iter().map(|b| i64::from(b.count_ones())).sum();
            n -= i64::from((s[start] & first_mask).count_ones());
            n -= i64::from((s[end] & last_mask).count_ones());
            n
        }
    };
    ctx.out.int(count);
    Ok(())
}

fn bitpos(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let bit = arg_i64(&argv[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let want = bit == 1;
    let at = At::of(ctx);
    let Some(e) = lookup_read(ctx.store, at, &argv[1], true) else {
        // A missing key is an infinite run of zeros.
        ctx.out.int(if want { -1 } else { 0 });
        return Ok(());
    };
    let s = as_str(&e.value)?;
    let mut end_given = false;
    let range = match argv.len() {
        3 => resolve_range(s.len(), 0, -1, false),
        4..=6 => {
            let start = arg_i64(&argv[3])?;
            let bit_unit = match argv.get(5) {
                Some(u) => parse_unit(u)?,
                None => false,
            };
            let end = match argv.get(4) {
                Some(a) => {
                    end_given = true;
                    arg_i64(a)?
                }
                None => -1,
            };
            resolve_range(s.len(), start, end, bit_unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    let Some((start, end, first_mask, last_mask)) = range else {
        ctx.out.int(-1);
        return Ok(());
    };
    // Bits outside a BIT range are forced to the opposite of the one
    // searched for, so they can never match.
    let found = (start..=end).find_map(|i| {
        let mut b = s[i];
        let mut outside = 0u8;
        if i == start {
            outside |= first_mask;
        }
        if i == end {
            outside |= last_mask;
        }
        if want {
            b &= !outside;
        } else {
            b |= outside;
            b = !b;
        }
        (b != 0).then(|| (i as i64) * 8 + i64::from(b.leading_zeros()))
    });
    let pos = match found {
        Some(p) => p,
        // Looking for a clear bit without an explicit end: the string
        // continues with zeros on the right.
        None if !want && !end_given => (end as i64 + 1) * 8,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let op = if is(&argv[1], "and") {
        BitOp::And
    } else if is(&argv[1], "or") {
        BitOp::Or
    } else if is(&argv[1], "xor") {
        BitOp::Xor
    } else if is(&argv[1], "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::err("BITOP NOT must be called with a single source key."));
    }
    let at = At::of(ctx);
    let mut srcs: Vec<Option<Vec<u8>>> = Vec::with_capacity(argv.len() - 3);
    for key in &argv[3..] {
        match lookup_read(ctx.store, at, key, true) {
            None => srcs.push(None),
            Some(e) => srcs.push(Some(as_str(&e.value)?.to_vec())),
        }
    }
    let maxlen = srcs.iter().map(|s| s.as_ref().map_or(0, Vec::len)).max().unwrap_or(0);
    let dest = &argv[2];
    let db = &mut ctx.store.dbs[at.db];
    if maxlen == 0 {
        if db.remove(dest).is_some() {
            ctx.notify(notify::GENERIC, "del", dest);
        }
        ctx.out.int(0);
        return Ok(());
    }
    let byte_at = |s: &Option<Vec<u8>>, i: usize| s.as_ref().and_then(|v| v.get(i).copied()).unwrap_or(0);
    let mut res = vec![0u8; maxlen];
    for (i, out) in res.iter_mut().enumerate() {
        let mut acc = byte_at(&srcs[0], i);
        if op == BitOp::Not {
            acc = !acc;
        }
        for s in &srcs[1..] {
            let b = byte_at(s, i);
            match op {
                BitOp::And => acc &= b,
                BitOp::Or => acc |= b,
                BitOp::Xor => acc ^= b,
                BitOp::Not => {}
            }
        }
        *out = acc;
    }
    // setKey: any TTL is dropped; the result is a raw-encoded string.
    db.insert(dest, Value::Str(Sds::from_vec(res)), 0, at.lru);
    if let Some(e) = db.get_mut(dest, at.now) {
        e.raw = true;
    }
    ctx.notify(notify::STRING, "set", dest);
    ctx.out.int(maxlen as i64);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

struct FieldCmd {
    op: FieldOp,
    offset: u64,
    bits: u32,
    signed: bool,
    overflow: Overflow,
}

/// Redis's `getBitfieldTypeFromArgument`: i1..i64 or u1..u63. Redis reads
/// the argument as a C string, so it ends at a NUL byte.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || {
        CmdError::err("Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    };
    let arg = arg.split(|&b| b == 0).next().unwrap_or(&[]);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = parse_i64(&arg[1..]).ok_or_else(err)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

fn parse_bitfield(ctx: &Ctx, argv: &[Bytes]) -> Result<Vec<FieldCmd>, CmdError> {
    let mut cmds = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = &argv[j];
        let kind = if is(sub, "get") && remaining >= 2 {
            0
        } else if is(sub, "set") && remaining >= 3 {
            1
        } else if is(sub, "incrby") && remaining >= 3 {
            2
        } else if is(sub, "overflow") && remaining >= 1 {
            let t = &argv[j + 1];
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(&argv[j + 1])?;
        let offset = bit_offset(ctx, &argv[j + 2], u64::from(bits))?;
        let op = match kind {
            0 => FieldOp::Get,
            1 => FieldOp::Set(arg_i64(&argv[j + 3])?),
            _ => FieldOp::IncrBy(arg_i64(&argv[j + 3])?),
        };
        cmds.push(FieldCmd { op, offset, bits, signed, overflow });
        j += if kind == 0 { 3 } else { 4 };
    }
    Ok(cmds)
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for k in 0..u64::from(bits) {
        let o = offset + k;
        let bit = p.get((o >> 3) as usize).map_or(0, |b| (b >> (7 - (o & 7))) & 1);
        value = (value << 1) | u64::from(bit);
    }
    value
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for k in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - k)) & 1;
        let o = offset + k;
        if let Some(b) = p.get_mut((o >> 3) as usize) {
            let mask = 1u8 << (7 - (o & 7));
            if bit == 1 {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves
/// the `bits`-wide range, and the value WRAP or SAT turns it into.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if incr < 0 && incr < minincr {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => min,
        })
    } else {
        None
    }
}

/// Runs one SET/INCRBY on the bytes: the reply value and whether the field
/// changed, or None when OVERFLOW FAIL refuses it (nothing is written then).
fn apply_write(v: &mut [u8], c: &FieldCmd) -> Option<(i64, bool)> {
    let (is_incr, arg) = match c.op {
        FieldOp::Set(x) => (false, x),
        FieldOp::IncrBy(x) => (true, x),
        FieldOp::Get => return Some((0, false)),
    };
    if c.signed {
        let old = get_signed(v, c.offset, c.bits);
        let (ovf, newval, ret) = if is_incr {
            let ovf = signed_overflow(old, arg, c.bits, c.overflow);
            let n = ovf.unwrap_or(old.wrapping_add(arg));
            (ovf.is_some(), n, n)
        } else {
            let ovf = signed_overflow(arg, 0, c.bits, c.overflow);
            (ovf.is_some(), ovf.unwrap_or(arg), old)
        };
        if ovf && c.overflow == Overflow::Fail {
            return None;
        }
        set_unsigned(v, c.offset, c.bits, newval as u64);
        Some((ret, old != newval))
    } else {
        let old = get_unsigned(v, c.offset, c.bits);
        let (ovf, newval, ret) = if is_incr {
            let ovf = unsigned_overflow(old, arg, c.bits, c.overflow);
            let n = ovf.unwrap_or(old.wrapping_add(arg as u64));
            (ovf.is_some(), n, n)
        } else {
            let ovf = unsigned_overflow(arg as u64, 0, c.bits, c.overflow);
            (ovf.is_some(), ovf.unwrap_or(arg as u64), old)
        };
        if ovf && c.overflow == Overflow::Fail {
            return None;
        }
        set_unsigned(v, c.offset, c.bits, newval);
        Some((ret as i64, old != newval))
    }
}

fn read_field(s: &[u8], c: &FieldCmd) -> i64 {
    if c.signed {
        get_signed(s, c.offset, c.bits)
    } else {
        get_unsigned(s, c.offset, c.bits) as i64
    }
}

fn bitfield_generic(ctx: &mut Ctx, argv: &[Bytes], read_only_cmd: bool) -> CmdResult {
    let cmds = parse_bitfield(ctx, argv)?;
    let at = At::of(ctx);
    let writes = cmds.iter().any(|c| c.op != FieldOp::Get);
    if !writes {
        let s = match lookup_read(ctx.store, at, &argv[1], true) {
            None => None,
            Some(e) => Some(as_str(&e.value)?),
        };
        let empty: &[u8] = &[];
        let s = s.unwrap_or(empty);
        let replies: Vec<i64> = cmds.iter().map(|c| read_field(s, c)).collect();
        ctx.out.array(replies.len());
        for r in replies {
            ctx.out.int(r);
        }
        return Ok(());
    }
    if read_only_cmd {
        return Err(CmdError::err("BITFIELD_RO only supports the GET subcommand"));
    }
    let highest =
        cmds.iter().filter(|c| c.op != FieldOp::Get).map(|c| c.offset + u64::from(c.bits) - 1).max().unwrap_or(0);
    let db = &mut ctx.store.dbs[at.db];
    let (replies, changed) = with_bit_string(db, at, &argv[1], highest, |v, dirty| {
        // As in Redis 7.0, the key is signalled when an applied SET/INCRBY
        // changed its field, or any applied one if the string was created
        // or grown; ops refused by OVERFLOW FAIL never count.
        let mut changed = false;
        let replies: Vec<Option<i64>> = cmds
            .iter()
            .map(|c| match c.op {
                FieldOp::Get => Some(read_field(v, c)),
                _ => apply_write(v, c).map(|(r, ch)| {
                    changed |= dirty || ch;
                    r
                }),
            })
            .collect();
        (replies, changed)
    })?;
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(n) => ctx.out.int(n),
            None => ctx.out.null(),
        }
    }
    // Redis publishes BITFIELD's event after its reply is written.
    if changed {
        ctx.notify(notify::STRING, "setbit", &argv[1]);
    }
    Ok(())
}

fn bitfield(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfield_get_set_round_trip() {
        let mut v = vec![0u8; 16];
        set_unsigned(&mut v, 5, 13, 0x1abc);
        assert_eq!(get_unsigned(&v, 5, 13), 0x1abc);
        set_unsigned(&mut v, 64, 64, (-3i64) as u64);
        assert_eq!(get_signed(&v, 64, 64), -3);
        set_unsigned(&mut v, 0, 4, 0b1010);
        assert_eq!(v[0] >> 4, 0b1010);
        assert_eq!(get_signed(&v, 0, 4), -6);
        // Reads past the end are zeros.
        assert_eq!(get_unsigned(&v, 127, 8), u64::from(v[15] & 1) << 7);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -5, 8, Overflow::Sat), None);
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Overflow::Wrap), Some(255));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), Some(-126));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Overflow::Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(-1, 1, 64, Overflow::Sat), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(resolve_range(3, 0, -1, false), Some((0, 2, 0, 0)));
        assert_eq!(resolve_range(3, 5, 10, false), None);
        assert_eq!(resolve_range(3, 1, 10, true), Some((0, 1, 0x80, 0x1f)));
        assert_eq!(resolve_range(3, 1, 100, true), Some((0, 2, 0x80, 0)));
        assert_eq!(resolve_range(0, 0, -1, false), None);
    }
}
