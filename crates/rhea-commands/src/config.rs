//! Server settings: one table of parameters shared by the config file, the
//! command line (`--name value`, as redis-server takes them) and CONFIG
//! GET/SET.

use rhea_resp::split_args;

use rhea_store::evict::{EvictionConfig, Policy};

use crate::pubsub::{notify, ObufLimit};

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
    /// Worker threads for connections: 1 (the default) runs everything on
    /// one thread, like Redis; 0 = one per core. Measured on 2 cores with the
    /// load generator on the same machine, 1 gave the better p99 and CPU per
    /// request (bench/README.md).
    pub io_threads: usize,
    /// Absolute path of the config file given at startup ("" = none).
    pub config_file: String,
    /// Size limits of the compact encodings (OBJECT ENCODING reports which
    /// one a value has; clients and tests see the switch).
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: usize,
    /// A HyperLogLog's sparse representation grows up to this many bytes
    /// (header included) before it is converted to the dense one.
    pub hll_sparse_max_bytes: usize,
    /// A script running longer than this (ms) makes other clients get BUSY
    /// (busy-reply-threshold, alias lua-time-limit).
    pub busy_reply_threshold: i64,
    /// Keyspace notification classes (`crate::pubsub::notify` flags).
    pub notify_keyspace_events: u32,
    /// `client-output-buffer-limit` for the normal, replica and pubsub
    /// classes, in that order.
    pub obuf_limits: [ObufLimit; 3],
    pub cluster: ClusterParams,
    /// Bytes of memory (as the counting allocator sees it) past which keys
    /// are evicted or writes refused (0 = no limit).
    pub maxmemory: u64,
    /// `maxmemory-policy`, `maxmemory-samples`, `lfu-log-factor`,
    /// `lfu-decay-time`: mirrored into the store, which applies them.
    pub eviction: EvictionConfig,
    /// Commands slower than this many microseconds go to the slow log
    /// (-1 = none, 0 = all).
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    /// Per-command latency histograms (INFO latencystats).
    pub latency_tracking: bool,
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// A client whose unparsed input exceeds this is disconnected.
    pub client_query_buffer_limit: u64,
    /// Port of the Prometheus endpoint (0 = off). Rhea's own setting.
    pub metrics_port: u16,
    /// The cluster's own authoritative DNS server (UDP and TCP, 0 = off),
    /// the zone it serves and its records' TTL. Rhea's own settings.
    pub dns_port: u16,
    pub dns_domain: String,
    pub dns_ttl: u32,
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
            io_threads: 1,
            config_file: String::new(),
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hll_sparse_max_bytes: 3000,
            busy_reply_threshold: 5000,
            notify_keyspace_events: 0,
            obuf_limits: [
                ObufLimit { hard: 0, soft: 0, soft_seconds: 0 },
                ObufLimit { hard: 256 << 20, soft: 64 << 20, soft_seconds: 60 },
                ObufLimit { hard: 32 << 20, soft: 8 << 20, soft_seconds: 60 },
            ],
            cluster: ClusterParams::default(),
            maxmemory: 0,
            eviction: EvictionConfig::default(),
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            client_query_buffer_limit: 1 << 30,
            metrics_port: 0,
            dns_port: 0,
            dns_domain: "rhea.internal".into(),
            dns_ttl: 1,
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

/// An integer parameter within Redis's bounds for it, with Redis's errors.
fn int_in<T: TryFrom<i64>>(v: &[String], min: i64, max: i64) -> Result<T, String> {
    let n: i64 = rhea_resp::parse_i64(one(v)?.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    T::try_from(n).map_err(|_| format!("argument must be between {min} and {max} inclusive"))
}

/// A memory-size parameter ("64mb") of at least `min` bytes.
fn memory_at_least<T: TryFrom<u64>>(v: &[String], min: u64) -> Result<T, String> {
    let n = parse_memory(one(v)?).ok_or("argument must be a memory value")?;
    if n < min || n > i64::MAX as u64 {
        return Err(format!("argument must be between {min} and {} inclusive", i64::MAX));
    }
    T::try_from(n).map_err(|_| "argument must be a memory value".to_string())
}

const INT_MAX: i64 = i32::MAX as i64;

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn parse_yes_no(v: &[String]) -> Result<bool, String> {
    match one(v)?.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Accepts any value: for parameters of features Rhea does not have, so that
/// a redis.conf mentioning them still loads.
fn ignore(_: &mut Config, _: &[String]) -> Result<(), String> {
    Ok(())
}

/// A read-only parameter reporting Redis's default for a feature Rhea does
/// not have (yet), so that `CONFIG GET` answers what clients expect.
const fn fixed(name: &'static str, get: Getter) -> Param {
    Param { name, get, set: ignore, mutable: false }
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
    Param {
        name: "port",
        get: |c| c.port.to_string(),
        set: |c, v| int_in(v, 0, 65535).map(|n| c.port = n),
        mutable: false,
    },
    Param {
        name: "requirepass",
        get: |c| c.requirepass.clone(),
        set: |c, v| one(v).map(|s| c.requirepass = s.to_string()),
        mutable: true,
    },
    Param {
        name: "databases",
        get: |c| c.databases.to_string(),
        set: |c, v| int_in(v, 1, INT_MAX).map(|n| c.databases = n),
        mutable: false,
    },
    Param {
        name: "proto-max-bulk-len",
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| memory_at_least(v, 1024 * 1024).map(|n| c.proto_max_bulk_len = n),
        mutable: true,
    },
    Param {
        name: "maxclients",
        get: |c| c.maxclients.to_string(),
        set: |c, v| int_in(v, 1, u32::MAX as i64).map(|n| c.maxclients = n),
        mutable: true,
    },
    Param {
        name: "timeout",
        get: |c| c.timeout.to_string(),
        set: |c, v| int_in(v, 0, INT_MAX).map(|n| c.timeout = n),
        mutable: true,
    },
    Param {
        name: "tcp-keepalive",
        get: |c| c.tcp_keepalive.to_string(),
        set: |c, v| int_in(v, 0, INT_MAX).map(|n| c.tcp_keepalive = n),
        mutable: true,
    },
    Param {
        name: "hz",
        get: |c| c.hz.to_string(),
        set: |c, v| int_in::<u32>(v, 0, INT_MAX).map(|n| c.hz = n.clamp(1, 500)),
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
        set: |c, v| int_in(v, 0, 128).map(|n| c.io_threads = n),
        mutable: false,
    },
    Param {
        name: "hash-max-listpack-entries",
        get: |c| c.hash_max_listpack_entries.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.hash_max_listpack_entries = n),
        mutable: true,
    },
    Param {
        name: "hash-max-listpack-value",
        get: |c| c.hash_max_listpack_value.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.hash_max_listpack_value = n),
        mutable: true,
    },
    Param {
        name: "set-max-intset-entries",
        get: |c| c.set_max_intset_entries.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.set_max_intset_entries = n),
        mutable: true,
    },
    Param {
        name: "zset-max-listpack-entries",
        get: |c| c.zset_max_listpack_entries.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.zset_max_listpack_entries = n),
        mutable: true,
    },
    Param {
        name: "zset-max-listpack-value",
        get: |c| c.zset_max_listpack_value.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.zset_max_listpack_value = n),
        mutable: true,
    },
    Param {
        name: "list-max-listpack-size",
        get: |c| c.list_max_listpack_size.to_string(),
        set: |c, v| int_in(v, i64::MIN, i64::MAX).map(|n| c.list_max_listpack_size = n),
        mutable: true,
    },
    Param {
        name: "list-compress-depth",
        get: |c| c.list_compress_depth.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.list_compress_depth = n),
        mutable: true,
    },
    Param {
        name: "hll-sparse-max-bytes",
        get: |c| c.hll_sparse_max_bytes.to_string(),
        set: |c, v| memory_at_least(v, 0).map(|n| c.hll_sparse_max_bytes = n),
        mutable: true,
    },
    Param {
        name: "notify-keyspace-events",
        get: |c| notify::to_string(c.notify_keyspace_events),
        set: |c, v| {
            c.notify_keyspace_events =
                notify::parse(one(v)?).ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
        mutable: true,
    },
    Param {
        name: "client-output-buffer-limit",
        get: |c| {
            let [n, r, p] = c.obuf_limits;
            format!(
                "normal {} {} {} slave {} {} {} pubsub {} {} {}",
                n.hard, n.soft, n.soft_seconds, r.hard, r.soft, r.soft_seconds, p.hard, p.soft, p.soft_seconds
            )
        },
        set: |c, v| set_obuf_limits(&mut c.obuf_limits, &v.join(" ")),
        mutable: true,
    },
    Param {
        name: "slowlog-log-slower-than",
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| int_in(v, -1, i64::MAX).map(|n| c.slowlog_log_slower_than = n),
        mutable: true,
    },
    Param {
        name: "slowlog-max-len",
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.slowlog_max_len = n),
        mutable: true,
    },
    Param {
        name: "latency-tracking",
        get: |c| yes_no(c.latency_tracking),
        set: |c, v| parse_yes_no(v).map(|b| c.latency_tracking = b),
        mutable: true,
    },
    Param {
        name: "latency-tracking-info-percentiles",
        get: |c| c.latency_tracking_info_percentiles.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" "),
        set: |c, v| {
            let mut ps = Vec::new();
            for w in v.join(" ").split_whitespace() {
                match w.parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => ps.push(p),
                    Ok(_) => {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into())
                    }
                    Err(_) => return Err("Invalid latency-tracking-info-percentiles parameters".into()),
                }
            }
            c.latency_tracking_info_percentiles = ps;
            Ok(())
        },
        mutable: true,
    },
    Param {
        name: "client-query-buffer-limit",
        get: |c| c.client_query_buffer_limit.to_string(),
        set: |c, v| memory_at_least(v, 1024 * 1024).map(|n| c.client_query_buffer_limit = n),
        mutable: true,
    },
    Param {
        name: "metrics-port",
        get: |c| c.metrics_port.to_string(),
        set: |c, v| int_in(v, 0, 65535).map(|n| c.metrics_port = n),
        mutable: false,
    },
    // Features Rhea does not have yet, at Redis's defaults.
    fixed("save", |_| String::new()),
    fixed("appendonly", |_| "no".into()),
    fixed("appendfsync", |_| "everysec".into()),
    fixed("appendfilename", |_| "appendonly.aof".into()),
    fixed("dbfilename", |_| "dump.rdb".into()),
    fixed("dir", |_| std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()),
    fixed("rdbcompression", |_| "yes".into()),
    fixed("stop-writes-on-bgsave-error", |_| "yes".into()),
    Param {
        name: "maxmemory",
        get: |c| c.maxmemory.to_string(),
        set: |c, v| memory_at_least(v, 0).map(|n| c.maxmemory = n),
        mutable: true,
    },
    Param {
        name: "maxmemory-policy",
        get: |c| c.eviction.policy.name().into(),
        set: |c, v| {
            c.eviction.policy = Policy::parse(one(v)?).ok_or_else(|| {
                let names: Vec<&str> = Policy::ALL.iter().map(|(_, n)| *n).collect();
                format!("argument(s) must be one of the following: {}", names.join(", "))
            })?;
            Ok(())
        },
        mutable: true,
    },
    Param {
        name: "maxmemory-samples",
        get: |c| c.eviction.samples.to_string(),
        set: |c, v| int_in(v, 1, INT_MAX).map(|n| c.eviction.samples = n),
        mutable: true,
    },
    Param {
        name: "lfu-log-factor",
        get: |c| c.eviction.lfu_log_factor.to_string(),
        set: |c, v| int_in(v, 0, INT_MAX).map(|n| c.eviction.lfu_log_factor = n),
        mutable: true,
    },
    Param {
        name: "lfu-decay-time",
        get: |c| c.eviction.lfu_decay_time.to_string(),
        set: |c, v| int_in(v, 0, INT_MAX).map(|n| c.eviction.lfu_decay_time = n),
        mutable: true,
    },
    fixed("maxmemory-clients", |_| "0".into()),
    fixed("maxmemory-eviction-tenacity", |_| "10".into()),
    fixed("cluster-enabled", |_| "no".into()),
    fixed("replica-read-only", |_| "yes".into()),
    fixed("slave-read-only", |_| "yes".into()),
    fixed("replicaof", |_| String::new()),
    fixed("masterauth", |_| String::new()),
    fixed("protected-mode", |_| "yes".into()),
    fixed("daemonize", |_| "no".into()),
    fixed("pidfile", |_| String::new()),
    fixed("logfile", |_| String::new()),
    fixed("unixsocket", |_| String::new()),
    fixed("tcp-backlog", |_| "511".into()),
    Param {
        name: "busy-reply-threshold",
        get: |c| c.busy_reply_threshold.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.busy_reply_threshold = n),
        mutable: true,
    },
    Param {
        name: "lua-time-limit",
        get: |c| c.busy_reply_threshold.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.busy_reply_threshold = n),
        mutable: true,
    },
    fixed("latency-monitor-threshold", |_| "0".into()),
    fixed("lazyfree-lazy-user-flush", |_| "no".into()),
    fixed("activerehashing", |_| "yes".into()),
    fixed("active-expire-effort", |_| "1".into()),
    fixed("enable-debug-command", |_| "no".into()),
    fixed("min-replicas-to-write", |_| "0".into()),
    fixed("repl-diskless-sync", |_| "yes".into()),
];

/// Parses `<class> <hard> <soft> <soft seconds>` groups as Redis does:
/// all or nothing, with Redis's error texts.
fn set_obuf_limits(limits: &mut [ObufLimit; 3], text: &str) -> Result<(), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut new = *limits;
    for g in words.chunks(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string();
        let hard = parse_memory(g[1]).ok_or_else(bad)?;
        let soft = parse_memory(g[2]).ok_or_else(bad)?;
        let soft_seconds = g[3].parse::<u64>().ok().filter(|&n| n <= i64::MAX as u64).ok_or_else(bad)?;
        new[class] = ObufLimit { hard, soft, soft_seconds };
    }
    *limits = new;
    Ok(())
}

pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().chain(CLUSTER_PARAMS).find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Every parameter's name and getter, in table order (CONFIG GET).
pub fn all_params() -> impl Iterator<Item = (&'static str, Getter)> {
    PARAMS.iter().chain(CLUSTER_PARAMS).map(|p| (p.name, p.get))
}

/// A node's place in a Raft cluster; all fixed at startup.
#[derive(Debug, Clone, Default)]
pub struct ClusterParams {
    /// 0: a standalone server, no Raft.
    pub node_id: u64,
    /// Where peers connect (default: the client port + 10000).
    pub raft_addr: String,
    /// `id@host:port,...`: every initial voter, this node included.
    pub peers: String,
    pub secret: String,
    /// linearizable | lease | local.
    pub read_mode: String,
    /// Port of the Sentinel-compatible discovery endpoint (0 = off).
    pub sentinel_port: u16,
    /// The master name Sentinel clients ask for ("" = `mymaster`).
    pub sentinel_master_name: String,
    /// What a node that loses leadership does with the clients it accepted
    /// as leader: close them (false, the default) or forward for them.
    pub leader_loss_forward: bool,
    /// The address peers tell clients to use for this node (default: the
    /// first bind address and the port).
    pub advertise_addr: String,
    /// Where the Raft log and snapshots go ("" = `rhea-raft-<node-id>` in
    /// the working directory).
    pub raft_dir: String,
    /// `raft-persist no`: memory only; a restarted node rejoins empty.
    pub memory_only: bool,
    /// Bytes of log between snapshots (0 = the default, 64 MB).
    pub snapshot_bytes: u64,
    /// Entries kept behind a snapshot (None = the default, 10000).
    pub log_tail: Option<u64>,
}

impl ClusterParams {
    /// The master name the Sentinel endpoint answers for.
    pub fn master_name(&self) -> &str {
        if self.sentinel_master_name.is_empty() {
            "mymaster"
        } else {
            &self.sentinel_master_name
        }
    }
}

const CLUSTER_PARAMS: &[Param] = &[
    Param {
        name: "node-id",
        get: |c| c.cluster.node_id.to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.cluster.node_id = n),
        mutable: false,
    },
    Param {
        name: "raft-addr",
        get: |c| c.cluster.raft_addr.clone(),
        set: |c, v| one(v).map(|s| c.cluster.raft_addr = s.to_string()),
        mutable: false,
    },
    Param {
        name: "peers",
        get: |c| c.cluster.peers.clone(),
        set: |c, v| {
            let s = v.join(",");
            rhea_cluster::parse_peers(&s)?;
            c.cluster.peers = s;
            Ok(())
        },
        mutable: false,
    },
    Param {
        name: "cluster-secret",
        get: |c| c.cluster.secret.clone(),
        set: |c, v| one(v).map(|s| c.cluster.secret = s.to_string()),
        mutable: false,
    },
    Param {
        name: "raft-read-mode",
        get: |c| if c.cluster.read_mode.is_empty() { "linearizable".into() } else { c.cluster.read_mode.clone() },
        set: |c, v| {
            let s = one(v)?.to_ascii_lowercase();
            if !["linearizable", "lease", "local"].contains(&s.as_str()) {
                return Err("argument must be one of the following: linearizable, lease, local".into());
            }
            c.cluster.read_mode = s;
            Ok(())
        },
        mutable: false,
    },
    Param {
        name: "sentinel-port",
        get: |c| c.cluster.sentinel_port.to_string(),
        set: |c, v| int_in(v, 0, 65535).map(|n| c.cluster.sentinel_port = n),
        mutable: false,
    },
    Param {
        name: "sentinel-master-name",
        get: |c| c.cluster.master_name().to_string(),
        set: |c, v| match one(v)? {
            s if s.is_empty() || s.contains(char::is_whitespace) => Err("the master name must be one word".into()),
            s => {
                c.cluster.sentinel_master_name = s.to_string();
                Ok(())
            }
        },
        mutable: false,
    },
    Param {
        name: "leader-loss-clients",
        get: |c| if c.cluster.leader_loss_forward { "forward".into() } else { "close".into() },
        set: |c, v| match one(v)?.to_ascii_lowercase().as_str() {
            "close" => {
                c.cluster.leader_loss_forward = false;
                Ok(())
            }
            "forward" => {
                c.cluster.leader_loss_forward = true;
                Ok(())
            }
            _ => Err("argument must be one of the following: close, forward".into()),
        },
        mutable: true,
    },
    Param {
        name: "raft-dir",
        get: |c| c.cluster.raft_dir.clone(),
        set: |c, v| one(v).map(|s| c.cluster.raft_dir = s.to_string()),
        mutable: false,
    },
    Param {
        name: "raft-persist",
        get: |c| if c.cluster.memory_only { "no".into() } else { "yes".into() },
        set: |c, v| match one(v)?.to_ascii_lowercase().as_str() {
            "yes" => {
                c.cluster.memory_only = false;
                Ok(())
            }
            "no" => {
                c.cluster.memory_only = true;
                Ok(())
            }
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        mutable: false,
    },
    Param {
        name: "raft-snapshot-bytes",
        get: |c| c.cluster.snapshot_bytes.to_string(),
        set: |c, v| memory_at_least::<u64>(v, 0).map(|n| c.cluster.snapshot_bytes = n),
        mutable: false,
    },
    Param {
        name: "raft-log-tail",
        get: |c| c.cluster.log_tail.unwrap_or(10_000).to_string(),
        set: |c, v| int_in(v, 0, i64::MAX).map(|n| c.cluster.log_tail = Some(n)),
        mutable: false,
    },
    Param {
        name: "advertise-addr",
        get: |c| c.cluster.advertise_addr.clone(),
        set: |c, v| one(v).map(|s| c.cluster.advertise_addr = s.to_string()),
        mutable: false,
    },
    Param {
        name: "dns-port",
        get: |c| c.dns_port.to_string(),
        set: |c, v| int_in(v, 0, 65535).map(|n| c.dns_port = n),
        mutable: false,
    },
    Param {
        name: "dns-domain",
        get: |c| c.dns_domain.clone(),
        set: |c, v| {
            let d = one(v)?.trim_end_matches('.').to_ascii_lowercase();
            let label_ok = |l: &str| {
                !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if d.len() > 253 || !d.split('.').all(label_ok) {
                return Err("argument must be a domain name like cache.example.internal".into());
            }
            c.dns_domain = d;
            Ok(())
        },
        mutable: false,
    },
    Param {
        name: "dns-ttl",
        get: |c| c.dns_ttl.to_string(),
        set: |c, v| int_in(v, 0, INT_MAX).map(|n| c.dns_ttl = n),
        mutable: false,
    },
];

/// The canonical name of a parameter, whatever the case it was given in.
pub fn lookup_name(name: &str) -> Option<&'static str> {
    param(name).map(|p| p.name)
}

/// May CONFIG SET change this parameter while the server runs?
pub fn is_mutable(name: &str) -> bool {
    param(name).is_some_and(|p| p.mutable)
}

/// A parameter's current value ("" for an unknown name).
pub fn get(cfg: &Config, name: &str) -> String {
    param(name).map(|p| (p.get)(cfg)).unwrap_or_default()
}

/// Sets one parameter by name.
pub fn set(cfg: &mut Config, name: &str, values: &[String]) -> Result<(), String> {
    let p = param(name).ok_or("Unknown option")?;
    (p.set)(cfg, values)
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
                cfg.config_file =
                    std::fs::canonicalize(first).map(|p| p.display().to_string()).unwrap_or_else(|_| first.clone());
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
        let mut c = Config::default();
        assert_eq!(
            set(&mut c, "timeout", &["-1".into()]),
            Err("argument must be between 0 and 2147483647 inclusive".into())
        );
        assert_eq!(set(&mut c, "maxclients", &["x".into()]), Err("argument couldn't be parsed into an integer".into()));
        assert_eq!(set(&mut c, "TIMEOUT", &["7".into()]), Ok(()));
        assert_eq!(c.timeout, 7);
        assert!(is_mutable("timeout") && !is_mutable("port") && !is_mutable("save") && !is_mutable("nosuch"));
        assert_eq!(lookup_name("MaxClients"), Some("maxclients"));
        assert!(Config::from_args(&["--save".into(), "".into(), "--appendonly".into(), "no".into()]).is_ok());
    }

    #[test]
    fn dns_domain_is_a_domain_name() {
        let c = Config::from_args(&["--dns-domain".into(), "Cache.Example.Internal.".into()]).unwrap();
        assert_eq!(c.dns_domain, "cache.example.internal");
        for bad in ["", "a..b", "spa ce.local", "x.".repeat(130).as_str(), &"a".repeat(64)] {
            assert!(Config::from_args(&["--dns-domain".into(), bad.into()]).is_err(), "{bad:?}");
        }
    }
}
