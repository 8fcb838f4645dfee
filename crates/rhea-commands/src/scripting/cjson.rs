//! The `cjson` library (lua-cjson 2.1 as Redis bundles it), in Rust:
//! numbers as %.14g, empty tables as {}, sparse-array and depth limits and
//! error texts as lua-cjson has them.

use mlua::{Lua, Table, Value, Variadic};

const MAX_DEPTH: usize = 1000;

/// C's `%.<prec>g`.
pub fn fmt_g(d: f64, prec: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let p = prec.max(1) as i32;
    let sci = format!("{:.*e}", (p - 1) as usize, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    if x < -4 || x >= p {
        let sign = if x < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), x.abs())
    } else {
        let decimals = (p - 1 - x).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn escape(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, n: f64) -> Result<(), String> {
    if n.is_nan() || n.is_infinite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    out.extend_from_slice(fmt_g(n, 14).as_bytes());
    Ok(())
}

/// lua-cjson's `lua_array_length`: Some(max index) for an array, None for
/// an object.
fn array_length(t: &Table) -> Result<Option<usize>, String> {
    let (mut max, mut items) = (0f64, 0f64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let k = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if k.floor() != k || k < 1.0 {
            return Ok(None);
        }
        max = f64::max(max, k);
        items += 1.0;
    }
    if max > items * 2.0 && max > 10.0 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(if max > 0.0 { Some(max as usize) } else { None })
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => number(out, *i as f64)?,
        Value::Number(n) => number(out, *n)?,
        Value::String(s) => escape(out, &s.as_bytes()),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(t)? {
                Some(len) => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let e: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        encode(out, &e, depth)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, e) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => escape(out, &s.as_bytes()),
                            Value::Integer(i) => {
                                out.push(b'"');
                                number(out, *i as f64)?;
                                out.push(b'"');
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                number(out, *n)?;
                                out.push(b'"');
                            }
                            _ => return Err("Cannot serialise table: table key must be a number or string".into()),
                        }
                        out.push(b':');
                        encode(out, &e, depth)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(format!("Cannot serialise {}: type not supported", other.type_name())),
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(m) => m,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// The next token and its 0-based index.
    fn next(&mut self) -> (Tok, usize) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.s.get(self.pos) else { return (Tok::End, start) };
        let simple = |p: &mut Self, t: Tok| {
            p.pos += 1;
            (t, start)
        };
        match c {
            b'{' => simple(self, Tok::ObjBegin),
            b'}' => simple(self, Tok::ObjEnd),
            b'[' => simple(self, Tok::ArrBegin),
            b']' => simple(self, Tok::ArrEnd),
            b':' => simple(self, Tok::Colon),
            b',' => simple(self, Tok::Comma),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                for (word, tok) in [(&b"true"[..], Tok::Bool(true)), (b"false", Tok::Bool(false)), (b"null", Tok::Null)]
                {
                    if self.s[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        return (tok, start);
                    }
                }
                (Tok::Error("invalid token"), start)
            }
        }
    }

    fn number(&mut self) -> (Tok, usize) {
        let start = self.pos;
        let mut end = start;
        while matches!(self.s.get(end), Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E')) {
            end += 1;
        }
        let text = &self.s[start..end];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        let leading_zero = digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit();
        match std::str::from_utf8(text).ok().filter(|_| !leading_zero).and_then(|t| t.parse::<f64>().ok()) {
            Some(n) => {
                self.pos = end;
                (Tok::Num(n), start)
            }
            None => (Tok::Error("invalid number"), start),
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self) -> (Tok, usize) {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else { return (Tok::Error("unexpected end of string"), start) };
            match c {
                b'"' => {
                    self.pos += 1;
                    return (Tok::Str(out), start);
                }
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos + 1) else {
                        return (Tok::Error("unexpected end of string"), start);
                    };
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let Some(mut cp) = self.hex4(self.pos + 2) else {
                                return (Tok::Error("invalid unicode escape code"), self.pos);
                            };
                            let mut used = 6;
                            if (0xD800..0xDC00).contains(&cp) {
                                let low = if self.s.get(self.pos + 6..self.pos + 8) == Some(b"\\u") {
                                    self.hex4(self.pos + 8)
                                } else {
                                    None
                                };
                                match low {
                                    Some(l) if (0xDC00..0xE000).contains(&l) => {
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (l - 0xDC00);
                                        used = 12;
                                    }
                                    _ => return (Tok::Error("invalid unicode escape code"), self.pos),
                                }
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return (Tok::Error("invalid unicode escape code"), self.pos);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            self.pos += used;
                            continue;
                        }
                        _ => return (Tok::Error("invalid escape code"), self.pos),
                    }
                    self.pos += 2;
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn value(&mut self, lua: &Lua, tok: Tok, at: usize, depth: usize) -> Result<Value, String> {
        let e = |m: mlua::Error| m.to_string();
        match tok {
            Tok::ObjBegin | Tok::ArrBegin => {
                let depth = depth + 1;
                if depth > MAX_DEPTH {
                    return Err(format!("Found too many nested data structures ({depth}) at character {}", at + 1));
                }
                let t = lua.create_table().map_err(e)?;
                if tok == Tok::ObjBegin {
                    let (mut tok, mut at) = self.next();
                    if tok == Tok::ObjEnd {
                        return Ok(Value::Table(t));
                    }
                    loop {
                        let Tok::Str(key) = tok else { return Err(expected("object key string", &tok, at)) };
                        let (colon, cat) = self.next();
                        if colon != Tok::Colon {
                            return Err(expected("colon", &colon, cat));
                        }
                        let (vt, vat) = self.next();
                        let v = self.value(lua, vt, vat, depth)?;
                        t.raw_set(lua.create_string(&key).map_err(e)?, v).map_err(e)?;
                        let (sep, sat) = self.next();
                        match sep {
                            Tok::ObjEnd => return Ok(Value::Table(t)),
                            Tok::Comma => (tok, at) = self.next(),
                            _ => return Err(expected("comma or object end", &sep, sat)),
                        }
                    }
                } else {
                    let (mut tok, mut at) = self.next();
                    if tok == Tok::ArrEnd {
                        return Ok(Value::Table(t));
                    }
                    let mut i = 1;
                    loop {
                        let v = self.value(lua, tok, at, depth)?;
                        t.raw_set(i, v).map_err(e)?;
                        i += 1;
                        let (sep, sat) = self.next();
                        match sep {
                            Tok::ArrEnd => return Ok(Value::Table(t)),
                            Tok::Comma => (tok, at) = self.next(),
                            _ => return Err(expected("comma or array end", &sep, sat)),
                        }
                    }
                }
            }
            Tok::Str(s) => Ok(Value::String(lua.create_string(&s).map_err(e)?)),
            Tok::Num(n) => Ok(Value::Number(n)),
            Tok::Bool(b) => Ok(Value::Boolean(b)),
            Tok::Null => Ok(Value::NULL),
            other => Err(expected("value", &other, at)),
        }
    }
}

fn expected(what: &str, found: &Tok, at: usize) -> String {
    format!("Expected {what} but found {} at character {}", found.name(), at + 1)
}

fn decode(lua: &Lua, s: &[u8]) -> Result<Value, String> {
    let mut p = Parser { s, pos: 0 };
    let (tok, at) = p.next();
    let v = p.value(lua, tok, at, 0)?;
    let (end, at) = p.next();
    if end != Tok::End {
        return Err(expected("the end", &end, at));
    }
    Ok(v)
}

type Raised = (bool, Value);

fn fail(lua: &Lua, m: &str) -> mlua::Result<Raised> {
    Ok((false, Value::String(lua.create_string(m)?)))
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, a: Variadic<Value>| {
            if a.len() != 1 {
                return fail(lua, "bad argument #1 to 'encode' (expected 1 argument)");
            }
            let mut out = Vec::new();
            match encode(&mut out, &a[0], 0) {
                Ok(()) => Ok((true, Value::String(lua.create_string(&out)?))),
                Err(m) => fail(lua, &m),
            }
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, a: Variadic<Value>| {
            if a.len() != 1 {
                return fail(lua, "bad argument #1 to 'decode' (expected 1 argument)");
            }
            let s = match &a[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => i.to_string().into_bytes(),
                Value::Number(n) => fmt_g(*n, 14).into_bytes(),
                v => {
                    return fail(lua, &format!("bad argument #1 to 'decode' (string expected, got {})", v.type_name()))
                }
            };
            match decode(lua, &s) {
                Ok(v) => Ok((true, v)),
                Err(m) => fail(lua, &m),
            }
        })?,
    )?;
    for name in [
        "encode_keep_buffer",
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_sparse_array",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
    ] {
        t.raw_set(name, lua.create_function(|_, _: Variadic<Value>| Ok((true, Value::Nil)))?)?;
    }
    t.raw_set("null", Value::NULL)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g14() {
        assert_eq!(fmt_g(1e15, 14), "1e+15");
        assert_eq!(fmt_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(fmt_g(0.1, 14), "0.1");
        assert_eq!(fmt_g(1.5, 14), "1.5");
        assert_eq!(fmt_g(100.0, 14), "100");
        assert_eq!(fmt_g(0.0001, 14), "0.0001");
        assert_eq!(fmt_g(0.00001, 14), "1e-05");
    }
}
