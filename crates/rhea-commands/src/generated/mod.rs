//! Redis's own command metadata, generated from a real redis-server by
//! `scripts/gen-command-docs.py`: the COMMAND INFO entry (key specs, tips,
//! subcommands) and COMMAND DOCS entry (arguments, history, doc flags) of
//! every Redis 7.0 command. COMMAND replies with these for the commands Rhea
//! implements, so clients that build their command tables from COMMAND (or
//! cluster clients that read key specs) see exactly what Redis would tell
//! them; a test checks the hand-written table agrees with them.

use rhea_resp::Out;

#[rustfmt::skip]
pub mod redis_commands;

/// A reply value with the exact RESP3 type Redis gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Bulk(&'static str),
    Simple(&'static str),
    Int(i64),
    Array(&'static [Doc]),
    Set(&'static [Doc]),
    Map(&'static [(Doc, Doc)]),
}

impl Doc {
    /// Writes the value in the client's protocol (sets and maps degrade to
    /// arrays in RESP2, as Redis degrades them).
    pub fn write(&self, out: &mut Out) {
        match *self {
            Doc::Bulk(s) => out.bulk_str(s),
            Doc::Simple(s) => out.simple(s),
            Doc::Int(n) => out.int(n),
            Doc::Array(items) => {
                out.array(items.len());
                items.iter().for_each(|d| d.write(out));
            }
            Doc::Set(items) => {
                out.set(items.len());
                items.iter().for_each(|d| d.write(out));
            }
            Doc::Map(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }

    pub fn as_str(&self) -> Option<&'static str> {
        match *self {
            Doc::Bulk(s) | Doc::Simple(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Doc::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The elements of an array or a set (empty for anything else).
    pub fn items(&self) -> &'static [Doc] {
        match *self {
            Doc::Array(items) | Doc::Set(items) => items,
            _ => &[],
        }
    }

    /// The pairs of a map (empty for anything else).
    pub fn pairs(&self) -> &'static [(Doc, Doc)] {
        match *self {
            Doc::Map(pairs) => pairs,
            _ => &[],
        }
    }

    /// A map's value by string key.
    pub fn get(&self, key: &str) -> Option<&'static Doc> {
        self.pairs().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }
}

/// Positions in a COMMAND INFO entry.
pub mod info_field {
    pub const NAME: usize = 0;
    pub const ARITY: usize = 1;
    pub const FLAGS: usize = 2;
    pub const FIRST_KEY: usize = 3;
    pub const LAST_KEY: usize = 4;
    pub const STEP: usize = 5;
    pub const ACL: usize = 6;
    pub const TIPS: usize = 7;
    pub const KEY_SPECS: usize = 8;
    pub const SUBCOMMANDS: usize = 9;
}

fn top(name: &str) -> Option<&'static (&'static str, Doc, Doc)> {
    let all = redis_commands::COMMANDS;
    all.binary_search_by(|(n, _, _)| (*n).cmp(name)).ok().and_then(|i| all.get(i))
}

/// The COMMAND INFO entry of a command by lower-case full name (`get`,
/// `client|list`).
pub fn info(name: &str) -> Option<&'static Doc> {
    match name.split_once('|') {
        None => top(name).map(|(_, info, _)| info),
        Some((parent, _)) => top(parent)?
            .1
            .items()
            .get(info_field::SUBCOMMANDS)?
            .items()
            .iter()
            .find(|e| e.items().first().and_then(Doc::as_str) == Some(name)),
    }
}

/// The COMMAND DOCS entry (the map after the name) of a command by
/// lower-case full name.
pub fn docs(name: &str) -> Option<&'static Doc> {
    match name.split_once('|') {
        None => top(name).map(|(_, _, docs)| docs),
        Some((parent, _)) => top(parent)?.2.get("subcommands")?.get(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{flags, CommandSpec, CommandTable};

    #[test]
    fn data_is_sorted_and_complete() {
        let all = redis_commands::COMMANDS;
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "commands must be sorted for binary search");
        assert!(all.len() >= 240, "Redis 7.0 has 240 commands, got {}", all.len());
        for (name, info, docs) in all {
            assert_eq!(info.items().first().and_then(Doc::as_str), Some(*name));
            assert!(docs.get("summary").is_some(), "{name} has no summary");
        }
        assert_eq!(info("client|list").and_then(|e| e.items()[info_field::ARITY].as_int()), Some(-2));
        assert!(docs("client|list").and_then(|d| d.get("summary")).is_some());
        assert!(info("client|nosuch").is_none());
        assert!(info("nosuch").is_none());
        assert!(docs("get|x").is_none());
    }

    #[test]
    fn writes_resp2_and_resp3_like_redis() {
        let doc = info("get").copied().unwrap_or(Doc::Int(0));
        let mut out = Out::new(true);
        doc.write(&mut out);
        let resp3 = String::from_utf8_lossy(&out.buf).into_owned();
        assert!(resp3.starts_with("*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n"));
        assert!(resp3.contains("~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n"));
        let mut out = Out::new(false);
        doc.write(&mut out);
        let resp2 = String::from_utf8_lossy(&out.buf).into_owned();
        assert!(resp2.contains("*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n"));
    }

    /// The flag names Rhea's table can express; Redis's others are derived
    /// (movablekeys) or concern features Rhea lacks (modules, async loading,
    /// cluster ASKING).
    fn redis_flags(entry: &Doc) -> Vec<&'static str> {
        let known: Vec<&str> = flags::NAMES.iter().map(|(_, n)| *n).collect();
        let mut v: Vec<&str> = entry.items()[info_field::FLAGS]
            .items()
            .iter()
            .filter_map(Doc::as_str)
            .filter(|f| known.contains(f))
            .collect();
        v.sort_unstable();
        v
    }

    fn rhea_flags(c: &CommandSpec) -> Vec<&'static str> {
        let mut v: Vec<&str> = flags::NAMES.iter().filter(|(f, _)| c.flags & f != 0).map(|(_, n)| *n).collect();
        v.sort_unstable();
        v
    }

    /// Compares one command; false if Redis does not know it.
    fn check(full: &str, c: &CommandSpec, problems: &mut Vec<String>) -> bool {
        let Some(entry) = info(full) else { return false };
        let f = entry.items();
        let int = |i: usize| f[i].as_int().unwrap_or(i64::MIN);
        if int(info_field::ARITY) != c.arity as i64 {
            problems.push(format!("{full}: arity {} but Redis has {}", c.arity, int(info_field::ARITY)));
        }
        let (rf, cf) = (redis_flags(entry), rhea_flags(c));
        if rf != cf {
            problems.push(format!("{full}: flags {cf:?} but Redis has {rf:?}"));
        }
        let ours = (c.first_key as i64, c.last_key as i64, c.step as i64);
        let theirs = (int(info_field::FIRST_KEY), int(info_field::LAST_KEY), int(info_field::STEP));
        if ours != theirs {
            problems.push(format!("{full}: keys {ours:?} but Redis has {theirs:?}"));
        }
        let movable = f[info_field::FLAGS].items().iter().any(|x| x.as_str() == Some("movablekeys"));
        if movable != c.keys_fn.is_some() {
            problems.push(format!("{full}: keys_fn {} but Redis movablekeys {movable}", c.keys_fn.is_some()));
        }
        let mut racl: Vec<&str> =
            f[info_field::ACL].items().iter().filter_map(|x| x.as_str()?.strip_prefix('@')).collect();
        let mut cacl: Vec<&str> = c.acl.to_vec();
        racl.sort_unstable();
        cacl.sort_unstable();
        if racl != cacl {
            problems.push(format!("{full}: acl {cacl:?} but Redis has {racl:?}"));
        }
        true
    }

    /// Dispatch uses the table's metadata and COMMAND INFO reports Redis's:
    /// they must not drift apart.
    #[test]
    fn table_agrees_with_redis() {
        let mut problems = Vec::new();
        let mut checked = 0;
        for c in &CommandTable::get().all {
            checked += check(c.name, c, &mut problems) as usize;
            for s in c.subcommands {
                checked += check(&format!("{}|{}", c.name, s.name), s, &mut problems) as usize;
            }
        }
        assert!(checked > 50, "only {checked} commands compared");
        assert!(problems.is_empty(), "{} disagreements with Redis 7.0:\n{}", problems.len(), problems.join("\n"));
    }
}
