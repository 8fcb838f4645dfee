//! Server settings: one table of parameters shared by the config file, the
//! command line (`--name value`, as redis-server takes them) and CONFIG
//! GET/SET.

use rhea_resp::split_args;

/// The settings Rhea has.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub requirepass: String,
    pub databases: usize,
    pub proto_max_bulk_len: usize,
    pub maxclients: usize,
    /// Close connections idle for this many seconds (0 = never).
    pub timeout: u64,
    pub tcp_keepalive: u64,
    /// Background task frequency (active expiry), per second.
    pub hz: u32,
    pub loglevel: String,
    /// Worker threads for connections (0 = one per core).
    pub io_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["127.0.0.1".into()],
            port: 6379,
            requirepass: String::new(),
            databases: 16,
            proto_max_bulk_len: 512 * 1024 * 1024,
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            hz: 10,
            loglevel: "notice".into(),
            io_threads: 0,
        }
    }
}

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &[String]) -> Result<(), String>;

/// One parameter: its name, how to read it, how to set it, and whether
/// CONFIG SET may change it while running.
pub struct Param {
    pub name: &'static str,
    pub get: Getter,
    pub set: Setter,
    pub mutable: bool,
}

fn one(v: &[String]) -> Result<&str, String> {
    match v {
        [s] => Ok(s),
        _ => Err("wrong number of arguments".into()),
    }
}

fn num<T: std::str::FromStr>(v: &[String]) -> Result<T, String> {
    let s = one(v)?;
    parse_memory(s)
        .and_then(|n| n.to_string().parse().ok())
        .ok_or_else(|| "argument couldn't be parsed into an integer".into())
}

/// Parses "100", "1kb", "1k", "2mb", "1gb" as Redis's `memtoull` does.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| lower.strip_suffix(suf).map(|d| (d.to_string(), *m)))
    .unwrap_or((lower.clone(), 1));
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

pub const PARAMS: &[Param] = &[
    Param {
        name: "bind",
        get: |c| c.bind.join(" "),
        set: |c, v| {
            c.bind = v.iter().flat_map(|s| s.split_whitespace().map(String::from)).collect();
            Ok(())
        },
        mutable: false,
    },
    Param { name: "port", get: |c| c.port.to_string(), set: |c, v| num(v).map(|n| c.port = n), mutable: false },
    Param {
        name: "requirepass",
        get: |c| c.requirepass.clone(),
        set: |c, v| one(v).map(|s| c.requirepass = s.to_string()),
        mutable: true,
    },
    Param {
        name: "databases",
        get: |c| c.databases.to_string(),
        set: |c, v| {
            let n: usize = num(v)?;
            if n == 0 {
                return Err("argument must be between 1 and 2147483647 inclusive".into());
            }
            c.databases = n;
            Ok(())
        },
        mutable: false,
    },
    Param {
        name: "proto-max-bulk-len",
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| num(v).map(|n| c.proto_max_bulk_len = n),
        mutable: true,
    },
    Param {
        name: "maxclients",
        get: |c| c.maxclients.to_string(),
        set: |c, v| num(v).map(|n| c.maxclients = n),
        mutable: true,
    },
    Param { name: "timeout", get: |c| c.timeout.to_string(), set: |c, v| num(v).map(|n| c.timeout = n), mutable: true },
    Param {
        name: "tcp-keepalive",
        get: |c| c.tcp_keepalive.to_string(),
        set: |c, v| num(v).map(|n| c.tcp_keepalive = n),
        mutable: true,
    },
    Param {
        name: "hz",
        get: |c| c.hz.to_string(),
        set: |c, v| num::<u32>(v).map(|n| c.hz = n.clamp(1, 500)),
        mutable: true,
    },
    Param {
        name: "loglevel",
        get: |c| c.loglevel.clone(),
        set: |c, v| {
            let s = one(v)?.to_ascii_lowercase();
            if !["debug", "verbose", "notice", "warning", "nothing"].contains(&s.as_str()) {
                return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into());
            }
            c.loglevel = s;
            Ok(())
        },
        mutable: true,
    },
    Param {
        name: "io-threads",
        get: |c| c.io_threads.to_string(),
        set: |c, v| num(v).map(|n| c.io_threads = n),
        mutable: false,
    },
];

pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

impl Config {
    /// Applies a config file's text (`name value ...` lines, `#` comments).
    pub fn apply_text(&mut self, text: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let args = split_args(line.as_bytes()).ok_or_else(|| format!("line {}: unbalanced quotes", n + 1))?;
            let args: Vec<String> = args.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect();
            let Some((name, values)) = args.split_first() else {
                continue;
            };
            let p = param(name)
                .ok_or_else(|| format!("line {}: Bad directive or wrong number of arguments ({name})", n + 1))?;
            (p.set)(self, values).map_err(|e| format!("line {}: {name}: {e}", n + 1))?;
        }
        Ok(())
    }

    /// Builds a config from redis-server style arguments:
    /// `[configfile] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config::default();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text =
                    std::fs::read_to_string(first).map_err(|e| format!("can't open config file '{first}': {e}"))?;
                cfg.apply_text(&text)?;
                rest = &args[1..];
            }
        }
        // Everything after the file is `--name value...` lines, as Redis
        // turns them into config text.
        let mut text = String::new();
        for a in rest {
            if let Some(name) = a.strip_prefix("--") {
                text.push('\n');
                text.push_str(name);
            } else {
                text.push(' ');
                text.push('"');
                text.push_str(&a.replace('\\', "\\\\").replace('"', "\\\""));
                text.push('"');
            }
        }
        cfg.apply_text(&text)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_file_syntax() {
        let c =
            Config::from_args(&["--port".into(), "7000".into(), "--requirepass".into(), "s3 cr\"et".into()]).unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.requirepass, "s3 cr\"et");
        assert!(Config::from_args(&["--nosuch".into(), "1".into()]).is_err());
        assert!(Config::from_args(&["--port".into(), "x".into()]).is_err());
        assert_eq!(parse_memory("1mb"), Some(1 << 20));
        assert_eq!(parse_memory("2k"), Some(2000));
    }
}
