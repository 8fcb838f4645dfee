//! The `bit` library (LuaBitOp 1.0, as Redis bundles it), in Rust.

use mlua::{Lua, Table, Value, Variadic};

/// `luaL_checknumber` with Lua's argument error text.
pub fn check_num(args: &[Value], i: usize, fname: &str) -> Result<f64, String> {
    let got = match args.get(i) {
        None => "no value",
        Some(Value::Integer(n)) => return Ok(*n as f64),
        Some(Value::Number(n)) => return Ok(*n),
        Some(Value::String(s)) => match s.to_str().ok().and_then(|s| parse_lua_number(&s)) {
            Some(n) => return Ok(n),
            None => "string",
        },
        Some(v) => v.type_name(),
    };
    Err(format!("bad argument #{} to '{fname}' (number expected, got {got})", i + 1))
}

/// Lua 5.1's string-to-number coercion (decimal or 0x hex, spaces around).
fn parse_lua_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|n| n as f64);
    }
    if t.is_empty() || t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("nan") || t.contains("infinity") {
        return None;
    }
    t.parse::<f64>().ok()
}

/// LuaBitOp's normalisation: the low 32 bits of n + 2^52 + 2^51.
fn tobit(n: f64) -> i32 {
    (n + 6755399441055744.0).to_bits() as u32 as i32
}

type Raised = (bool, Value);

fn result(lua: &Lua, r: Result<Value, String>) -> mlua::Result<Raised> {
    match r {
        Ok(v) => Ok((true, v)),
        Err(m) => Ok((false, Value::String(lua.create_string(&m)?))),
    }
}

fn arg(args: &[Value], i: usize, f: &str) -> Result<i32, String> {
    check_num(args, i, f).map(tobit)
}

fn num(b: i32) -> Value {
    Value::Number(b as f64)
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    type F = fn(&[Value]) -> Result<Value, String>;
    let fns: [(&str, F); 11] = [
        ("tobit", |a| arg(a, 0, "tobit").map(num)),
        ("bnot", |a| arg(a, 0, "bnot").map(|b| num(!b))),
        ("band", |a| fold(a, "band", |x, y| x & y)),
        ("bor", |a| fold(a, "bor", |x, y| x | y)),
        ("bxor", |a| fold(a, "bxor", |x, y| x ^ y)),
        ("lshift", |a| shift(a, "lshift", |b, n| ((b as u32) << n) as i32)),
        ("rshift", |a| shift(a, "rshift", |b, n| ((b as u32) >> n) as i32)),
        ("arshift", |a| shift(a, "arshift", |b, n| b >> n)),
        ("rol", |a| shift(a, "rol", |b, n| (b as u32).rotate_left(n) as i32)),
        ("ror", |a| shift(a, "ror", |b, n| (b as u32).rotate_right(n) as i32)),
        ("bswap", |a| arg(a, 0, "bswap").map(|b| num(b.swap_bytes()))),
    ];
    for (name, f) in fns {
        t.raw_set(name, lua.create_function(move |lua, a: Variadic<Value>| result(lua, f(&a)))?)?;
    }
    t.raw_set(
        "tohex",
        lua.create_function(|lua, a: Variadic<Value>| {
            let b = match arg(&a, 0, "tohex") {
                Ok(b) => b as u32,
                Err(m) => return result(lua, Err(m)),
            };
            let mut n = if a.len() > 1 {
                match arg(&a, 1, "tohex") {
                    Ok(n) => n,
                    Err(m) => return result(lua, Err(m)),
                }
            } else {
                8
            };
            let digits: &[u8] = if n < 0 {
                n = n.wrapping_neg();
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let n = n.clamp(0, 8) as usize;
            let mut out = vec![b'0'; n];
            let mut x = b;
            for slot in out.iter_mut().rev() {
                *slot = digits[(x & 15) as usize];
                x >>= 4;
            }
            Ok((true, Value::String(lua.create_string(&out)?)))
        })?,
    )?;
    Ok(t)
}

fn fold(a: &[Value], f: &str, op: fn(i32, i32) -> i32) -> Result<Value, String> {
    let mut b = arg(a, 0, f)?;
    for i in 1..a.len() {
        b = op(b, arg(a, i, f)?);
    }
    Ok(num(b))
}

fn shift(a: &[Value], f: &str, op: fn(i32, u32) -> i32) -> Result<Value, String> {
    let b = arg(a, 0, f)?;
    let n = (arg(a, 1, f)? & 31) as u32;
    Ok(num(op(b, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_luabitop() {
        assert_eq!(tobit(4294967301.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
    }
}
