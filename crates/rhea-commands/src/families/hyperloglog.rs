//! The hyperloglog family: PFADD, PFCOUNT, PFMERGE.
//!
//! A HyperLogLog is an ordinary string value holding Redis's exact byte
//! layout (see `hll`), so GET/SET/DUMP-style round trips between Rhea and
//! Redis see the same bytes, and the cached cardinality in the header
//! changes exactly when Redis changes it.

use bytes::Bytes;
use rhea_store::{Sds, Value};

use super::{lookup_read, lookup_write, At};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::notify;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn hll_cmd(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "hyperloglog";
    c.since = "2.8.9";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["write", "hyperloglog", "fast"],
        summary: "Adds the specified elements to the specified HyperLogLog.",
        complexity: "O(1) to add every element.",
        ..hll_cmd("pfadd", -2, WRITE | DENYOOM | FAST, pfadd).keys(1, 1, 1)
    },
    CommandSpec {
        acl: &["read", "hyperloglog", "slow"],
        summary: "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being \
            the number of keys, and much bigger constant times, when called with multiple keys.",
        ..hll_cmd("pfcount", -2, READONLY, pfcount).keys(1, -1, 1)
    },
    CommandSpec {
        acl: &["write", "hyperloglog", "slow"],
        summary: "Merge N different HyperLogLogs into a single one.",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
        ..hll_cmd("pfmerge", -2, WRITE | DENYOOM, pfmerge).keys(1, -1, 1)
    },
    CommandSpec {
        acl: &["write", "hyperloglog", "admin", "slow", "dangerous"],
        summary: "Internal commands for debugging HyperLogLog values",
        complexity: "N/A",
        ..hll_cmd("pfdebug", 3, WRITE | DENYOOM | ADMIN, pfdebug).keys(2, 2, 1)
    },
    CommandSpec {
        acl: &["hyperloglog", "admin", "slow", "dangerous"],
        summary: "An internal command for testing HyperLogLog values",
        complexity: "N/A",
        ..hll_cmd("pfselftest", 1, ADMIN, pfselftest)
    },
];

const INVALID_HLL: &str = "INVALIDOBJ Corrupted HLL object detected";

fn invalid_obj() -> CmdError {
    CmdError::Other(INVALID_HLL.into())
}

fn not_hll() -> CmdError {
    CmdError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

/// Redis's `isHLLObjectOrReply`: a string with a well-formed header.
fn check_hll(v: &Value) -> Result<&[u8], CmdError> {
    match v {
        Value::Str(s) if hll::is_valid(s) => Ok(s),
        Value::Str(_) => Err(not_hll()),
        _ => Err(CmdError::WrongType),
    }
}

/// Takes the bytes of a string value out to modify them (a heap buffer is
/// moved, not copied: dense HLLs are 12 KB).
fn take_bytes(v: &mut Value) -> Vec<u8> {
    match v {
        Value::Str(Sds::Heap(b)) => std::mem::take(b).into_vec(),
        Value::Str(s) => s.to_vec(),
        _ => Vec::new(),
    }
}

fn pfadd(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let max_sparse = ctx.shared.config.read().hll_sparse_max_bytes;
    let key = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    let (mut hll, mut updated, existed) = match lookup_write(db, at, key) {
        None => (hll::new_sparse(), 1, false),
        Some(e) => {
            check_hll(&e.value)?;
            (take_bytes(&mut e.value), 0, true)
        }
    };
    let mut failed = false;
    for ele in &argv[2..] {
        match hll::add(&mut hll, ele, max_sparse) {
            1 => updated += 1,
            0 => {}
            _ => {
                failed = true;
                break;
            }
        }
    }
    if updated > 0 && !failed {
        hll::invalidate_cache(&mut hll);
    }
    // Redis modifies the value in place: registers set before a corrupted
    // part was met stay set even though the command fails.
    let value = Value::Str(Sds::from_vec(hll));
    if existed {
        if let Some(e) = db.get_mut(key, at.now) {
            e.value = value;
            e.raw = true;
        }
        if updated > 0 && !failed {
            db.touch(key);
        }
    } else {
        db.insert(key, value, 0, at.lru);
        // createHLLObject makes a raw-encoded string.
        if let Some(e) = db.get_mut(key, at.now) {
            e.raw = true;
        }
    }
    if failed {
        return Err(invalid_obj());
    }
    if updated > 0 {
        ctx.notify(notify::STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated > 0));
    Ok(())
}

fn pfcount(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    if argv.len() > 2 {
        let mut max = [0u8; hll::REGISTERS];
        for key in &argv[1..] {
            let Some(e) = lookup_read(ctx.store, at, key, true) else { continue };
            let s = check_hll(&e.value)?;
            hll::merge(&mut max, s).map_err(|_| invalid_obj())?;
        }
        ctx.out.int(hll::count_raw(&max) as i64);
        return Ok(());
    }
    let key = &argv[1];
    let Some(e) = lookup_read(ctx.store, at, key, true) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = check_hll(&e.value)?;
    // dbUnshareStringValue: the value is raw-encoded from now on.
    e.raw = true;
    if let Some(card) = hll::cached(s) {
        ctx.out.int(card as i64);
        return Ok(());
    }
    let card = hll::count(s).ok_or_else(invalid_obj)?;
    let mut v = take_bytes(&mut e.value);
    hll::set_cache(&mut v, card);
    e.value = Value::Str(Sds::from_vec(v));
    ctx.store.dbs[at.db].touch(key);
    ctx.out.int(card as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let max_sparse = ctx.shared.config.read().hll_sparse_max_bytes;
    let mut max = [0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &argv[1..] {
        let Some(e) = lookup_read(ctx.store, at, key, true) else { continue };
        let s = check_hll(&e.value)?;
        use_dense |= hll::is_dense(s);
        hll::merge(&mut max, s).map_err(|_| invalid_obj())?;
    }
    let dest = &argv[1];
    let db = &mut ctx.store.dbs[at.db];
    // The destination was validated as the first source above.
    let (mut v, existed) = match lookup_write(db, at, dest) {
        None => (hll::new_sparse(), false),
        Some(e) => (take_bytes(&mut e.value), true),
    };
    let converted = !use_dense || hll::sparse_to_dense(&mut v).is_ok();
    if converted {
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                hll::set_register(&mut v, i, m, max_sparse);
            }
        }
        hll::invalidate_cache(&mut v);
    }
    let value = Value::Str(Sds::from_vec(v));
    if existed {
        if let Some(e) = db.get_mut(dest, at.now) {
            e.value = value;
            e.raw = true;
        }
    } else {
        db.insert(dest, value, 0, at.lru);
        if let Some(e) = db.get_mut(dest, at.now) {
            e.raw = true;
        }
    }
    if !converted {
        return Err(invalid_obj());
    }
    db.touch(dest);
    // A merge is a mass add: Redis publishes `pfadd` for it.
    ctx.notify(notify::STRING, "pfadd", dest);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key. As in Redis, converting to
/// dense here does not signal the key as modified.
fn pfdebug(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let at = At::of(ctx);
    let db = &mut ctx.store.dbs[at.db];
    let Some(e) = lookup_write(db, at, &argv[2]) else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    check_hll(&e.value)?;
    e.raw = true;
    let sub = String::from_utf8_lossy(argv[1].split(|&b| b == 0).next().unwrap_or(&[])).into_owned();
    let sub_lc = sub.to_ascii_lowercase();
    match sub_lc.as_str() {
        "getreg" | "todense" => {
            let mut v = take_bytes(&mut e.value);
            let was_sparse = !hll::is_dense(&v);
            let converted = hll::sparse_to_dense(&mut v);
            e.value = Value::Str(Sds::from_vec(v));
            converted.map_err(|_| invalid_obj())?;
            if sub_lc == "todense" {
                ctx.out.int(i64::from(was_sparse));
            } else if let Value::Str(s) = &e.value {
                ctx.out.array(hll::REGISTERS);
                for i in 0..hll::REGISTERS {
                    ctx.out.int(i64::from(hll::dense_get(&s[hll::HDR..], i)));
                }
            }
        }
        "decode" => {
            let s = check_hll(&e.value)?;
            if hll::is_dense(s) {
                return Err(CmdError::err("HLL encoding is not sparse"));
            }
            ctx.out.bulk(hll::decode(s).as_bytes());
        }
        "encoding" => {
            let s = check_hll(&e.value)?;
            ctx.out.simple(if hll::is_dense(s) { "dense" } else { "sparse" });
        }
        _ => return Err(CmdError::err(format!("Unknown PFDEBUG subcommand '{sub}'"))),
    }
    Ok(())
}

/// PFSELFTEST: checks the register accessors and the estimator (sparse and
/// dense agree, the error stays within bounds). Smaller than Redis's run
/// (which adds ten million elements) but the same checks.
fn pfselftest(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let max_sparse = ctx.shared.config.read().hll_sparse_max_bytes;
    match hll::self_test(&mut ctx.rng, max_sparse) {
        Ok(()) => ctx.out.ok(),
        Err(msg) => ctx.out.error(&format!("TESTFAILED {msg}")),
    }
    Ok(())
}

/// Redis's hyperloglog.c, byte for byte: the same hash, the same sparse
/// and dense layouts, the same sparse editing (so the bytes GET returns
/// match) and the same estimator (so PFCOUNT answers match).
pub(crate) mod hll {
    pub const HDR: usize = 16;
    const P: u32 = 14;
    const Q: usize = 64 - P as usize;
    pub const REGISTERS: usize = 1 << P;
    const P_MASK: u64 = REGISTERS as u64 - 1;
    const BITS: usize = 6;
    const REGISTER_MAX: u8 = (1 << BITS) - 1;
    pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
    const DENSE: u8 = 0;
    const SPARSE: u8 = 1;

    const SPARSE_VAL_MAX_VALUE: u8 = 32;
    const SPARSE_VAL_MAX_LEN: usize = 4;
    const SPARSE_ZERO_MAX_LEN: usize = 64;
    const SPARSE_XZERO_MAX_LEN: usize = 16384;
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

    /// MurmurHash2, 64-bit, little-endian reads as Redis does everywhere.
    pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
        const M: u64 = 0xc6a4_a793_5bd1_e995;
        const R: u32 = 47;
        let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
        let mut chunks = key.chunks_exact(8);
        for c in &mut chunks {
            let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            k = k.wrapping_mul(M);
            k ^= k >> R;
            k = k.wrapping_mul(M);
            h ^= k;
            h = h.wrapping_mul(M);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            for (i, &b) in tail.iter().enumerate() {
                h ^= u64::from(b) << (8 * i);
            }
            h = h.wrapping_mul(M);
        }
        h ^= h >> R;
        h = h.wrapping_mul(M);
        h ^= h >> R;
        h
    }

    /// The register an element maps to and the length of its "000..1"
    /// pattern (Redis's `hllPatLen`).
    pub fn pat_len(ele: &[u8]) -> (usize, u8) {
        // The seed is `0xadc83b19ULL` passed as an `unsigned int`.
        let hash = murmur64a(ele, 0xadc8_3b19);
        let index = (hash & P_MASK) as usize;
        let rest = (hash >> P) | (1u64 << Q);
        (index, rest.trailing_zeros() as u8 + 1)
    }

    pub fn dense_get(regs: &[u8], i: usize) -> u8 {
        let byte = i * BITS / 8;
        let fb = (i * BITS) & 7;
        let b0 = u32::from(regs.get(byte).copied().unwrap_or(0));
        // Redis reads the sds terminator past the last register: a zero.
        let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
        (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
    }

    fn dense_set_raw(regs: &mut [u8], i: usize, val: u8) {
        let byte = i * BITS / 8;
        let fb = (i * BITS) & 7;
        let v = u32::from(val);
        if let Some(b) = regs.get_mut(byte) {
            *b &= !((u32::from(REGISTER_MAX) << fb) as u8);
            *b |= (v << fb) as u8;
        }
        if let Some(b) = regs.get_mut(byte + 1) {
            *b &= !((u32::from(REGISTER_MAX) >> (8 - fb)) as u8);
            *b |= (v >> (8 - fb)) as u8;
        }
    }

    /// Raises register `i` to `count`; 1 if it changed.
    fn dense_set(regs: &mut [u8], i: usize, count: u8) -> i32 {
        if count > dense_get(regs, i) {
            dense_set_raw(regs, i, count);
            1
        } else {
            0
        }
    }

    /// An empty HLL: sparse, all registers in XZERO opcodes.
    pub fn new_sparse() -> Vec<u8> {
        let mut s = vec![0u8; HDR];
        s[..4].copy_from_slice(b"HYLL");
        s[4] = SPARSE;
        let mut aux = REGISTERS;
        while aux > 0 {
            let n = aux.min(SPARSE_XZERO_MAX_LEN);
            push_xzero(&mut s, n);
            aux -= n;
        }
        s
    }

    fn push_xzero(s: &mut Vec<u8>, len: usize) {
        let l = len - 1;
        s.push((l >> 8) as u8 | 0x40);
        s.push((l & 0xff) as u8);
    }

    fn val_op(val: u8, len: usize) -> u8 {
        ((val - 1) << 2) | (len as u8 - 1) | 0x80
    }

    fn is_zero(b: u8) -> bool {
        b & 0xc0 == 0
    }
    fn is_xzero(b: u8) -> bool {
        b & 0xc0 == 0x40
    }
    fn is_val(b: u8) -> bool {
        b & 0x80 != 0
    }
    fn zero_len(b: u8) -> usize {
        usize::from(b & 0x3f) + 1
    }
    /// XZERO's length; its second byte may be the (zero) terminator Redis
    /// reads past a truncated string.
    fn xzero_len(s: &[u8], p: usize) -> usize {
        ((usize::from(s[p] & 0x3f) << 8) | usize::from(s.get(p + 1).copied().unwrap_or(0))) + 1
    }
    fn val_value(b: u8) -> u8 {
        ((b >> 2) & 0x1f) + 1
    }
    fn val_len(b: u8) -> usize {
        usize::from(b & 0x3) + 1
    }

    /// The opcode at `p`: (registers covered, their value, bytes used).
    fn opcode(s: &[u8], p: usize) -> (usize, u8, usize) {
        let b = s[p];
        if is_zero(b) {
            (zero_len(b), 0, 1)
        } else if is_xzero(b) {
            (xzero_len(s, p), 0, 2)
        } else {
            (val_len(b), val_value(b), 1)
        }
    }

    /// Redis's `isHLLObjectOrReply` checks.
    pub fn is_valid(s: &[u8]) -> bool {
        s.len() >= HDR && &s[..4] == b"HYLL" && s[4] <= SPARSE && (s[4] != DENSE || s.len() == DENSE_SIZE)
    }

    pub fn is_dense(s: &[u8]) -> bool {
        s[4] == DENSE
    }

    pub fn invalidate_cache(s: &mut [u8]) {
        s[15] |= 0x80;
    }

    /// The cached cardinality, if still valid.
    pub fn cached(s: &[u8]) -> Option<u64> {
        if s[15] & 0x80 != 0 {
            return None;
        }
        let mut card = [0u8; 8];
        card.copy_from_slice(&s[8..16]);
        Some(u64::from_le_bytes(card))
    }

    pub fn set_cache(s: &mut [u8], card: u64) {
        s[8..16].copy_from_slice(&card.to_le_bytes());
    }

    /// Redis's `hllSparseToDense`; Err if the sparse data is corrupted.
    /// Like the hyperloglog.c the reference server runs (with the
    /// CVE-2025-32023 fix), every walk over sparse opcodes rejects a run
    /// that passes the last register, whatever its opcode.
    pub fn sparse_to_dense(s: &mut Vec<u8>) -> Result<(), ()> {
        if s[4] == DENSE {
            return Ok(());
        }
        let mut dense = vec![0u8; DENSE_SIZE];
        dense[..HDR].copy_from_slice(&s[..HDR]);
        dense[4] = DENSE;
        let mut idx = 0usize;
        let mut p = HDR;
        while p < s.len() {
            let (runlen, val, oplen) = opcode(s, p);
            if runlen + idx > REGISTERS {
                return Err(());
            }
            if val > 0 {
                for i in idx..idx + runlen {
                    dense_set_raw(&mut dense[HDR..], i, val);
                }
            }
            idx += runlen;
            p += oplen;
        }
        if idx != REGISTERS {
            return Err(());
        }
        *s = dense;
        Ok(())
    }

    /// Redis's `hllSparseSet`: raises register `index` to `count`, editing
    /// the opcodes in place, promoting to dense when the value does not fit
    /// a VAL opcode or the string would pass `max_bytes`. 1 if the register
    /// changed, 0 if not, -1 if the sparse data is corrupted.
    fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> i32 {
        if count > SPARSE_VAL_MAX_VALUE {
            return promote(s, index, count);
        }
        // Step 1: find the opcode covering `index`.
        let end = s.len();
        let mut p = HDR;
        let mut first = 0usize;
        let mut prev: Option<usize> = None;
        let mut span = 0usize;
        while p < end {
            let b = s[p];
            let oplen;
            if is_zero(b) {
                span = zero_len(b);
                oplen = 1;
            } else if is_val(b) {
                span = val_len(b);
                oplen = 1;
            } else {
                span = xzero_len(s, p);
                oplen = 2;
            }
            if index < first + span {
                break;
            }
            prev = Some(p);
            p += oplen;
            first += span;
        }
        if span == 0 || p >= end {
            return -1;
        }
        let op = s[p];
        let runlen = if is_zero(op) {
            zero_len(op)
        } else if is_xzero(op) {
            xzero_len(s, p)
        } else {
            val_len(op)
        };

        // Step 2: the trivial in-place updates, else the split sequence.
        let mut in_place = false;
        if is_val(op) {
            let old = val_value(op);
            if old >= count {
                return 0;
            }
            if runlen == 1 {
                s[p] = val_op(count, 1);
                in_place = true;
            }
        }
        if !in_place && is_zero(op) && runlen == 1 {
            s[p] = val_op(count, 1);
            in_place = true;
        }
        if !in_place {
            let mut seq: Vec<u8> = Vec::with_capacity(5);
            let last = first + span - 1;
            if is_val(op) {
                let curval = val_value(op);
                if index != first {
                    seq.push(val_op(curval, index - first));
                }
                seq.push(val_op(count, 1));
                if index != last {
                    seq.push(val_op(curval, last - index));
                }
            } else {
                let push_zeros = |seq: &mut Vec<u8>, len: usize| {
                    if len > SPARSE_ZERO_MAX_LEN {
                        push_xzero(seq, len);
                    } else {
                        seq.push((len - 1) as u8);
                    }
                };
                if index != first {
                    push_zeros(&mut seq, index - first);
                }
                seq.push(val_op(count, 1));
                if index != last {
                    push_zeros(&mut seq, last - index);
                }
            }
            // Step 3: substitute the new sequence for the old opcode.
            let oldlen = if is_xzero(op) { 2 } else { 1 };
            if seq.len() > oldlen && end + seq.len() - oldlen > max_bytes {
                return promote(s, index, count);
            }
            let newlen = end + seq.len() - oldlen;
            s.splice(p..(p + oldlen).min(end), seq);
            // An XZERO whose second byte was the terminator: Redis's
            // length arithmetic drops the sequence's last byte.
            s.truncate(newlen);
        }

        // Step 4: merge adjacent VAL opcodes of equal value, scanning up to
        // five opcodes from the previous one.
        let mut p = prev.unwrap_or(HDR);
        let mut scanlen = 5;
        while p < s.len() && scanlen > 0 {
            scanlen -= 1;
            let b = s[p];
            if is_xzero(b) {
                p += 2;
                continue;
            } else if is_zero(b) {
                p += 1;
                continue;
            }
            if p + 1 < s.len() && is_val(s[p + 1]) {
                let v1 = val_value(b);
                let v2 = val_value(s[p + 1]);
                if v1 == v2 {
                    let len = val_len(b) + val_len(s[p + 1]);
                    if len <= SPARSE_VAL_MAX_LEN {
                        s[p + 1] = val_op(v1, len);
                        s.remove(p);
                        continue;
                    }
                }
            }
            p += 1;
        }
        invalidate_cache(s);
        1
    }

    fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> i32 {
        if sparse_to_dense(s).is_err() {
            return -1;
        }
        // Redis asserts this is 1: a promotion only happens for a register
        // that needs raising.
        dense_set(&mut s[HDR..], index, count)
    }

    /// Raises one register in either representation (PFMERGE's write-back).
    pub fn set_register(s: &mut Vec<u8>, index: usize, count: u8, max_sparse: usize) -> i32 {
        if s[4] == DENSE {
            dense_set(&mut s[HDR..], index, count)
        } else {
            sparse_set(s, index, count, max_sparse)
        }
    }

    /// Redis's `hllAdd`: 1 if a register changed, 0 if not, -1 if corrupted.
    pub fn add(s: &mut Vec<u8>, ele: &[u8], max_sparse: usize) -> i32 {
        let (index, count) = pat_len(ele);
        match s[4] {
            DENSE => dense_set(&mut s[HDR..], index, count),
            SPARSE => sparse_set(s, index, count, max_sparse),
            _ => -1,
        }
    }

    /// Redis's `hllMerge`: `max[i] = MAX(max[i], register i)`.
    pub fn merge(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), ()> {
        if s[4] == DENSE {
            for (i, m) in max.iter_mut().enumerate() {
                let v = dense_get(&s[HDR..], i);
                if v > *m {
                    *m = v;
                }
            }
            return Ok(());
        }
        let mut i = 0usize;
        let mut p = HDR;
        while p < s.len() {
            let (runlen, val, oplen) = opcode(s, p);
            if runlen + i > REGISTERS {
                return Err(());
            }
            for m in &mut max[i..i + runlen] {
                if val > *m {
                    *m = val;
                }
            }
            i += runlen;
            p += oplen;
        }
        if i != REGISTERS {
            return Err(());
        }
        Ok(())
    }

    /// The cardinality of a valid HLL string; None if its sparse data is
    /// corrupted.
    pub fn count(s: &[u8]) -> Option<u64> {
        let mut histo = [0i64; 64];
        if s[4] == DENSE {
            for i in 0..REGISTERS {
                histo[usize::from(dense_get(&s[HDR..], i))] += 1;
            }
        } else {
            let mut idx = 0usize;
            let mut p = HDR;
            while p < s.len() {
                let (runlen, val, oplen) = opcode(s, p);
                if runlen + idx > REGISTERS {
                    return None;
                }
                idx += runlen;
                histo[usize::from(val)] += runlen as i64;
                p += oplen;
            }
            if idx != REGISTERS {
                return None;
            }
        }
        Some(estimate(&histo))
    }

    /// The cardinality of one-byte-per-register data (multi-key PFCOUNT).
    pub fn count_raw(regs: &[u8; REGISTERS]) -> u64 {
        let mut histo = [0i64; 64];
        for &r in regs.iter() {
            histo[usize::from(r & 63)] += 1;
        }
        estimate(&histo)
    }

    /// Ertl's improved estimator ("New cardinality estimation algorithms
    /// for HyperLogLog sketches", arXiv:1702.01284), in Redis's exact
    /// order of floating-point operations.
    fn estimate(histo: &[i64; 64]) -> u64 {
        let m = REGISTERS as f64;
        let mut z = m * tau((m - histo[Q + 1] as f64) / m);
        for j in (1..=Q).rev() {
            z += histo[j] as f64;
            z *= 0.5;
        }
        z += m * sigma(histo[0] as f64 / m);
        let e = (ALPHA_INF * m * m / z).round();
        // C's (uint64_t) of a double: saturating here; Redis's values stay
        // far below the limits.
        e as u64
    }

    fn sigma(mut x: f64) -> f64 {
        if x == 1.0 {
            return f64::INFINITY;
        }
        let mut y = 1.0;
        let mut z = x;
        loop {
            x *= x;
            let z_prime = z;
            z += x * y;
            y += y;
            if z_prime == z {
                return z;
            }
        }
    }

    fn tau(mut x: f64) -> f64 {
        if x == 0.0 || x == 1.0 {
            return 0.0;
        }
        let mut y = 1.0;
        let mut z = 1.0 - x;
        loop {
            x = x.sqrt();
            let z_prime = z;
            y *= 0.5;
            let d = 1.0 - x;
            z -= d * d * y;
            if z_prime == z {
                return z / 3.0;
            }
        }
    }

    /// PFDEBUG DECODE's text: "Z:8436 v:1,1 z:12 ...".
    pub fn decode(s: &[u8]) -> String {
        let mut out = Vec::new();
        let mut p = HDR;
        while p < s.len() {
            let b = s[p];
            let (runlen, val, oplen) = opcode(s, p);
            out.push(if is_zero(b) {
                format!("z:{runlen}")
            } else if is_xzero(b) {
                format!("Z:{runlen}")
            } else {
                format!("v:{val},{runlen}")
            });
            p += oplen;
        }
        out.join(" ")
    }

    pub fn self_test(rng: &mut fastrand::Rng, max_sparse: usize) -> Result<(), String> {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        let mut bytes = vec![0u8; REGISTERS];
        for _ in 0..16 {
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = rng.u8(..) & REGISTER_MAX;
                dense_set_raw(&mut regs, i, *b);
            }
            for (i, &b) in bytes.iter().enumerate() {
                let v = dense_get(&regs, i);
                if v != b {
                    return Err(format!("Register {i} should be {b} but is {v}"));
                }
            }
        }
        let mut dense = new_sparse();
        if sparse_to_dense(&mut dense).is_err() {
            return Err("dense conversion failed".into());
        }
        let mut sparse = new_sparse();
        let relerr = 1.04 / (REGISTERS as f64).sqrt();
        let seed = rng.u64(..);
        let mut checkpoint: u64 = 1;
        for j in 1..=100_000u64 {
            let ele = (j ^ seed).to_le_bytes();
            add(&mut dense, &ele, max_sparse);
            add(&mut sparse, &ele, max_sparse);
            if j != checkpoint {
                continue;
            }
            if (j as usize) < max_sparse / 2 && is_dense(&sparse) {
                return Err("sparse encoding not used".into());
            }
            let card = count(&dense).unwrap_or(0);
            if count(&sparse) != Some(card) {
                return Err("dense/sparse disagree".into());
            }
            let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
            let maxerr = if j == 10 { 1 } else { (relerr * 6.0 * checkpoint as f64).ceil() as u64 };
            if abserr > maxerr {
                return Err(format!("Too big error. card:{checkpoint} abserr:{abserr}"));
            }
            checkpoint *= 10;
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn empty_hll_layout() {
            let s = new_sparse();
            assert_eq!(s, b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff");
            assert!(is_valid(&s));
            assert_eq!(count(&s), Some(0));
        }

        #[test]
        fn dense_registers_round_trip() {
            let mut regs = vec![0u8; DENSE_SIZE - HDR];
            let mut rng = fastrand::Rng::with_seed(7);
            let vals: Vec<u8> = (0..REGISTERS).map(|_| rng.u8(0..64)).collect();
            for (i, &v) in vals.iter().enumerate() {
                dense_set_raw(&mut regs, i, v);
            }
            for (i, &v) in vals.iter().enumerate() {
                assert_eq!(dense_get(&regs, i), v, "register {i}");
            }
        }

        #[test]
        fn sparse_and_dense_agree() {
            let mut sparse = new_sparse();
            let mut dense = new_sparse();
            sparse_to_dense(&mut dense).unwrap();
            for i in 0..2000u32 {
                let e = i.to_string();
                assert_eq!(add(&mut sparse, e.as_bytes(), usize::MAX), add(&mut dense, e.as_bytes(), usize::MAX));
            }
            assert!(!is_dense(&sparse));
            let mut a = [0u8; REGISTERS];
            let mut b = [0u8; REGISTERS];
            merge(&mut a, &sparse).unwrap();
            merge(&mut b, &dense).unwrap();
            assert_eq!(a[..], b[..]);
            assert_eq!(count(&sparse), count(&dense));
            let c = count(&sparse).unwrap();
            assert!((1900..2100).contains(&c), "{c}");
        }

        #[test]
        fn self_test_passes() {
            assert_eq!(self_test(&mut fastrand::Rng::with_seed(1), 3000), Ok(()));
        }

        #[test]
        fn corrupted_sparse_is_detected() {
            let mut s = new_sparse();
            s.truncate(HDR);
            assert_eq!(count(&s), None);
            assert_eq!(add(&mut s, b"a", 3000), -1);
            let mut max = [0u8; REGISTERS];
            assert!(merge(&mut max, &s).is_err());
        }
    }
}
