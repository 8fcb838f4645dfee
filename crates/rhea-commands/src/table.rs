//! The command table: the single declaration of every command, used by the
//! dispatcher (arity, flags), by COMMAND (INFO, DOCS, COUNT, LIST, GETKEYS)
//! and by the cluster layer to tell writes from reads.

use std::sync::OnceLock;

use ahash::HashMap;
use bytes::Bytes;

use crate::{ctx::Ctx, error::CmdResult, families};

pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;
/// Key positions for commands the (first, last, step) triple cannot
/// describe, e.g. those with a `numkeys` argument.
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Command flags, named as in Redis's COMMAND INFO.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;

    /// (flag, name) in the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// One command (or subcommand) of the table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name; for a subcommand, just the subcommand ("setname").
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (command name included),
    /// -N means at least N.
    pub arity: i32,
    pub flags: u32,
    /// Key positions as Redis's legacy triple (0 = no keys; last -1 = to the
    /// end).
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Overrides the triple for commands it cannot describe.
    pub keys_fn: Option<KeysFn>,
    /// ACL categories without the `@` ("string", "fast", ...).
    pub acl: &'static [&'static str],
    /// The command family ("string", "generic", "connection", "server").
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    /// COMMAND INFO's tips ("nondeterministic_output", ...).
    pub tips: &'static [&'static str],
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A spec with no keys, no docs and no subcommands; families fill in
    /// the rest with struct update syntax.
    pub const fn new(name: &'static str, arity: i32, flags: u32, handler: Handler) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            keys_fn: None,
            acl: &[],
            group: "",
            summary: "",
            since: "1.0.0",
            complexity: "",
            tips: &[],
            handler,
            subcommands: &[],
        }
    }

    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    pub fn is_write(&self) -> bool {
        self.flags & flags::WRITE != 0
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Does `argc` (command name included) satisfy the arity?
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// Positions of the key arguments in `argv`.
    pub fn key_positions(&self, argv: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(argv);
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 { argv.len() as i32 + self.last_key } else { self.last_key };
        let step = self.step.max(1);
        (self.first_key..=last).step_by(step as usize).map(|i| i as usize).filter(|&i| i < argv.len()).collect()
    }
}

/// All commands, indexed by lower-case name.
pub struct CommandTable {
    by_name: HashMap<&'static [u8], &'static CommandSpec>,
    pub all: Vec<&'static CommandSpec>,
}

impl CommandTable {
    /// The process-wide table, built once from the families' declarations.
    pub fn get() -> &'static CommandTable {
        static TABLE: OnceLock<CommandTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut by_name = HashMap::default();
            let mut all = Vec::new();
            for family in families::ALL {
                for spec in family.iter() {
                    let prev = by_name.insert(spec.name.as_bytes(), spec);
                    assert!(prev.is_none(), "command {} declared twice", spec.name);
                    all.push(spec);
                }
            }
            CommandTable { by_name, all }
        })
    }

    /// Case-insensitive lookup of a top-level command.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// The command `argv` invokes: a subcommand for container commands
    /// (CLIENT SETNAME) or the command itself. `Err(true)` means the command
    /// exists but the subcommand does not; `Err(false)` an unknown command.
    pub fn resolve(&self, argv: &[Bytes]) -> Result<(&'static CommandSpec, Option<&'static CommandSpec>), bool> {
        let cmd = self.lookup(&argv[0]).ok_or(false)?;
        if cmd.subcommands.is_empty() || argv.len() < 2 {
            return Ok((cmd, None));
        }
        cmd.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(&argv[1]))
            .map(|s| (cmd, Some(s)))
            .ok_or(true)
    }
}

/// Key positions of a `numkeys` command (ZUNIONSTORE, SINTERCARD, EVAL...)
/// exactly as Redis 7.0's COMMAND GETKEYS finds them, for use as a
/// `keys_fn`: `store` is the destination key's position if there is one,
/// `numkeys_at` the count's position, keys follow from `first`. Redis first
/// reads the key specs (strict integer, at least one key, all present; the
/// destination comes first); if they do not apply it falls back to the
/// command's getkeys function (C `atoi` of the count, destination last).
/// No keys means the command would answer a syntax error.
pub fn numkeys_positions(argv: &[Bytes], store: Option<usize>, numkeys_at: usize, first: usize) -> Vec<usize> {
    let Some(count) = argv.get(numkeys_at) else { return Vec::new() };
    let argc = argv.len() as i64;
    if let Some(n) = rhea_resp::parse_i64(count).filter(|&n| n >= 1) {
        if (first as i64).saturating_add(n - 1) < argc {
            return store.into_iter().chain(first..first + n as usize).collect();
        }
    }
    let n = c_atoi(count) as i64;
    if n < 1 || n > (argc - first as i64) {
        return Vec::new();
    }
    (first..first + n as usize).chain(store).collect()
}

/// C's `atoi` as glibc implements it: `(int) strtol(s, NULL, 10)`.
fn c_atoi(s: &[u8]) -> i32 {
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
    let mut v: i64 = 0;
    for &c in s.iter().skip(i).take_while(|c| c.is_ascii_digit()) {
        let d = (c - b'0') as i64;
        v = if neg { v.saturating_mul(10).saturating_sub(d) } else { v.saturating_mul(10).saturating_add(d) };
    }
    v as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_consistent() {
        let t = CommandTable::get();
        assert!(t.lookup(b"GeT").is_some());
        for c in &t.all {
            assert_eq!(c.name, c.name.to_lowercase());
            assert!(c.arity != 0, "{} has arity 0", c.name);
            assert!(!(c.is_write() && c.has(flags::READONLY)), "{} is both write and readonly", c.name);
            for s in c.subcommands {
                assert_eq!(s.name, s.name.to_lowercase());
            }
        }
    }

    #[test]
    fn numkeys_like_redis_getkeys() {
        let argv = |s: &str| s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect::<Vec<_>>();
        let zs = |s: &str| numkeys_positions(&argv(s), Some(1), 2, 3);
        let card = |s: &str| numkeys_positions(&argv(s), None, 1, 2);
        // Answers of redis-server 7.0.15's COMMAND GETKEYS.
        assert_eq!(zs("zunionstore d 2 a b"), vec![1, 3, 4]);
        assert_eq!(zs("zunionstore d 2 a b c"), vec![1, 3, 4]);
        assert_eq!(zs("zunionstore d 2abc a b"), vec![3, 4, 1]);
        assert_eq!(zs("zunionstore d  2 a b").len(), 0, "empty count argument");
        assert_eq!(
            numkeys_positions(&[&b"z"[..], b"d", b" 2", b"a", b"b"].map(Bytes::copy_from_slice), Some(1), 2, 3),
            vec![3, 4, 1]
        );
        assert!(zs("zunionstore d 0 a").is_empty());
        assert!(zs("zunionstore d -1 a").is_empty());
        assert!(zs("zunionstore d x a").is_empty());
        assert!(zs("zunionstore d 3 a b").is_empty());
        assert_eq!(card("sintercard 1 a b"), vec![2]);
        assert!(card("sintercard 2 a").is_empty());
        let eval = |s: &str| numkeys_positions(&argv(s), None, 2, 3);
        assert!(eval("eval s 0").is_empty());
        assert!(eval("eval s 2 a").is_empty());
        assert_eq!(eval("eval s 1 a b"), vec![3]);
        assert!(card("sintercard 99999999999999999999 a").is_empty());
        assert_eq!(c_atoi(b"  -12x"), -12);
        assert_eq!(c_atoi(b"4294967297"), 1);
        assert_eq!(c_atoi(b"99999999999999999999"), -1);
    }
}
