//! Observability: per-command statistics (INFO commandstats and
//! latencystats), error counts (INFO errorstats), the slow log, MONITOR
//! feeds, CLIENT PAUSE and the instantaneous rates of INFO stats.
//!
//! The per-command path costs two clock reads, a few relaxed atomic
//! updates and one atomic load each for MONITOR and the slow log; anything
//! heavier (percentiles, Prometheus histograms, per-name connection counts)
//! is computed when someone asks.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use ahash::HashMap;
use bytes::Bytes;
use indexmap::IndexMap;
use parking_lot::{Mutex, RwLock};

use crate::client::ClientInfo;
use crate::config::Config;
use crate::generated::{self, info_field};
use crate::table::{flags, CommandSpec, CommandTable};

// ------------------------------------------------------------ command ids

/// What the observability code needs to know about one command or
/// subcommand, computed once.
pub struct CmdMeta {
    /// `get`, `client|list`: the name INFO and the slow log use.
    pub name: String,
    /// `ClientInfo::last_cmd`'s code: the command's index in
    /// `CommandTable::all` plus one, a subcommand's index plus one << 16
    /// (`dispatch::command_name` reads it back).
    pub code: usize,
    pub spec: &'static CommandSpec,
    /// Not shown to MONITOR (admin commands, and those Redis flags
    /// skip_monitor).
    pub skip_monitor: bool,
    /// Fed to MONITOR before it runs rather than after: EVAL and friends,
    /// so the script's own calls follow it as in Redis.
    pub monitor_before: bool,
    pub skip_slowlog: bool,
    /// Held back by CLIENT PAUSE WRITE (write or may_replicate).
    pub pausable_write: bool,
    /// Touches the keyspace: refused to a MONITOR client, as Redis refuses
    /// it to replicas.
    pub keyspace: bool,
}

pub struct CmdIds {
    by_addr: HashMap<usize, usize>,
    pub metas: Vec<CmdMeta>,
}

impl CmdIds {
    pub fn get() -> &'static CmdIds {
        static IDS: OnceLock<CmdIds> = OnceLock::new();
        IDS.get_or_init(|| {
            let mut ids = CmdIds { by_addr: HashMap::default(), metas: Vec::new() };
            for (i, c) in CommandTable::get().all.iter().enumerate() {
                ids.add(c.name.to_string(), i + 1, c);
                for (j, s) in c.subcommands.iter().enumerate() {
                    ids.add(format!("{}|{}", c.name, s.name), (i + 1) | ((j + 1) << 16), s);
                }
            }
            ids
        })
    }

    fn add(&mut self, name: String, code: usize, spec: &'static CommandSpec) {
        let redis_flags: Vec<&str> = generated::info(&name)
            .and_then(|d| d.items().get(info_field::FLAGS))
            .map(|f| f.items().iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let has = |f: u32, n: &str| spec.has(f) || redis_flags.contains(&n);
        let monitor_before = matches!(spec.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro");
        let meta = CmdMeta {
            skip_monitor: has(flags::ADMIN, "admin") || (has(flags::SKIP_MONITOR, "skip_monitor") && !monitor_before),
            monitor_before,
            skip_slowlog: has(flags::SKIP_SLOWLOG, "skip_slowlog"),
            pausable_write: has(flags::WRITE, "write") || has(flags::MAY_REPLICATE, "may_replicate"),
            keyspace: has(flags::WRITE, "write") || has(flags::READONLY, "readonly") || monitor_before,
            name,
            code,
            spec,
        };
        self.by_addr.insert(spec as *const CommandSpec as usize, self.metas.len());
        self.metas.push(meta);
    }

    /// The dense index of a command; `usize::MAX` (which indexes nothing)
    /// for a spec outside the table, which only unit tests build.
    pub fn index(&self, spec: &CommandSpec) -> usize {
        self.by_addr.get(&(spec as *const CommandSpec as usize)).copied().unwrap_or(usize::MAX)
    }
}

// ------------------------------------------------------------ the clock

/// Wall-clock unix nanoseconds: the request's stamp (`now_ms`) and the
/// start of its timing come from one read, and the end from a second, as
/// Redis times `call()` with `ustime()`. A clock step backwards counts as
/// zero; forwards, as one slow command (the same as in Redis).
///
/// `Instant::elapsed` and `SystemTime::duration_since` spent ~90 and ~40
/// instructions per command on checked `Duration` arithmetic (callgrind,
/// SET/GET at pipeline 1); this is the same vDSO read and a multiply-add.
#[inline]
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// Wall-clock unix milliseconds.
#[inline]
pub fn realtime_ms() -> i64 {
    (realtime_ns() / 1_000_000) as i64
}

#[inline]
fn clock_ns(clock: libc::clockid_t) -> u64 {
    // `clock` is a parameter so a monotonic variant stays one line away.
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call,
    // which writes only to it; CLOCK_REALTIME exists on every POSIX system.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 {
        return 0;
    }
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

// ------------------------------------------------------------ histograms

/// Sub-buckets per power of two: a recorded latency is known to within
/// 1/16 (6%), enough for percentiles and Prometheus buckets, in 448 slots.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Durations are clamped to 2^31 ns (2.1 s), as Redis clamps its
/// histograms at 1 s.
const MAX_EXP: u32 = 31;
pub const HIST_BUCKETS: usize = (MAX_EXP as usize - SUB_BITS as usize + 1) * SUB;

fn bucket_of(ns: u64) -> usize {
    let v = ns.clamp(1, (1u64 << MAX_EXP) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (e - SUB_BITS + 1) as usize * SUB + sub
}

/// The largest duration (ns) that lands in bucket `i`.
pub fn bucket_upper_ns(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    ((SUB as u64 + sub) << (e - SUB_BITS)) + (1u64 << (e - SUB_BITS)) - 1
}

/// One command's counters. Written with relaxed atomics: exact under the
/// store lock (where every command runs) and never torn outside it.
#[derive(Default)]
pub struct CmdStat {
    pub calls: AtomicU64,
    pub nanos: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// Allocated on the command's first call: most commands never run.
    hist: OnceLock<Box<[AtomicU64]>>,
}

impl CmdStat {
    fn record(&self, nanos: u64, failed: bool, track_latency: bool) {
        // Load and store instead of fetch_add: commands run under the store
        // lock, so there is no concurrent writer, and a locked add per
        // counter showed up in the per-command instruction profile.
        bump(&self.calls, 1);
        bump(&self.nanos, nanos);
        if failed {
            bump(&self.failed, 1);
        }
        if track_latency {
            let h = self.hist.get_or_init(|| (0..HIST_BUCKETS).map(|_| AtomicU64::new(0)).collect());
            bump(&h[bucket_of(nanos)], 1);
        }
    }

    /// A copy of the latency histogram (bucket counts), if any was kept.
    pub fn histogram(&self) -> Option<Vec<u64>> {
        self.hist.get().map(|h| h.iter().map(|c| c.load(Ordering::Relaxed)).collect())
    }

    fn reset(&self) {
        for c in [&self.calls, &self.nanos, &self.rejected, &self.failed] {
            c.store(0, Ordering::Relaxed);
        }
        if let Some(h) = self.hist.get() {
            h.iter().for_each(|c| c.store(0, Ordering::Relaxed));
        }
    }
}

fn bump(c: &AtomicU64, by: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(by), Ordering::Relaxed);
}

/// The value at percentile `p` (0..=100) of a histogram, in ns.
pub fn percentile_ns(hist: &[u64], p: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, &n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            return bucket_upper_ns(i);
        }
    }
    bucket_upper_ns(hist.len() - 1)
}

// ------------------------------------------------------------ slow log

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_STRING: usize = 128;

pub struct SlowEntry {
    pub id: u64,
    pub time_secs: i64,
    pub micros: u64,
    pub argv: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    pub entries: VecDeque<SlowEntry>,
    pub next_id: u64,
}

/// The arguments as the slow log keeps them: at most 32 (the last saying
/// how many more there were) of at most 128 bytes each.
pub fn slowlog_argv(argv: &[Bytes]) -> Vec<Bytes> {
    let n = argv.len().min(SLOWLOG_MAX_ARGC);
    let mut v = Vec::with_capacity(n);
    for (j, a) in argv.iter().take(n).enumerate() {
        if n != argv.len() && j == n - 1 {
            v.push(Bytes::from(format!("... ({} more arguments)", argv.len() - n + 1)));
        } else if a.len() > SLOWLOG_MAX_STRING {
            let mut s = a[..SLOWLOG_MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes());
            v.push(Bytes::from(s));
        } else {
            v.push(a.clone());
        }
    }
    v
}

// ------------------------------------------------------------ pause

/// CLIENT PAUSE state: until when, and whether reads are paused too.
#[derive(Default)]
pub struct Pause {
    /// Unix ms the pause ends (0 = not paused).
    pub until_ms: AtomicI64,
    pub all: AtomicBool,
    /// Woken by CLIENT UNPAUSE.
    pub notify: tokio::sync::Notify,
}

impl Pause {
    /// Redis keeps the later end and the stricter mode of overlapping
    /// pauses.
    pub fn pause(&self, until_ms: i64, all: bool) {
        let cur = self.until_ms.load(Ordering::Acquire);
        if cur == 0 {
            self.all.store(all, Ordering::Release);
        } else if all {
            self.all.store(true, Ordering::Release);
        }
        self.until_ms.store(cur.max(until_ms), Ordering::Release);
    }

    pub fn unpause(&self) {
        self.until_ms.store(0, Ordering::Release);
        self.all.store(false, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Must a command with these properties wait now? Clears an expired
    /// pause on the way.
    pub fn holds(&self, now_ms: i64, pausable_write: bool) -> Option<i64> {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == 0 {
            return None;
        }
        if now_ms >= until {
            let _ = self.until_ms.compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed);
            return None;
        }
        (self.all.load(Ordering::Acquire) || pausable_write).then_some(until)
    }
}

// ------------------------------------------------------------ instantaneous

/// Redis's STATS_METRIC_SAMPLES.
const SAMPLES: usize = 16;

#[derive(Default, Clone, Copy)]
struct Track {
    last_ms: i64,
    last_value: u64,
    samples: [f64; SAMPLES],
    idx: usize,
}

impl Track {
    /// Redis's trackInstantaneousMetric: the rate since the last sample,
    /// per second.
    fn sample(&mut self, now_ms: i64, value: u64) {
        if self.last_ms != 0 {
            let dt = (now_ms - self.last_ms).max(1) as f64;
            self.samples[self.idx] = value.saturating_sub(self.last_value) as f64 * 1000.0 / dt;
            self.idx = (self.idx + 1) % SAMPLES;
        }
        self.last_ms = now_ms;
        self.last_value = value;
    }

    fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / SAMPLES as f64
    }
}

#[derive(Default)]
struct Instant3 {
    ops: Track,
    input: Track,
    output: Track,
}

// ------------------------------------------------------------ the state

/// Everything INFO commandstats/errorstats/latencystats, SLOWLOG, MONITOR,
/// CLIENT PAUSE and the metrics endpoint read.
pub struct Obs {
    pub cmds: Box<[CmdStat]>,
    pub errors: Mutex<IndexMap<Box<str>, u64>>,
    pub total_error_replies: AtomicU64,
    pub slowlog: Mutex<SlowLog>,
    /// Cached from the config so the hot path reads no lock.
    pub slower_than_us: AtomicI64,
    pub slowlog_max_len: AtomicUsize,
    pub latency_tracking: AtomicBool,
    pub query_buffer_limit: AtomicU64,
    /// The normal class's `client-output-buffer-limit` (hard, soft, soft
    /// seconds).
    pub obuf_normal: [AtomicU64; 3],
    pub monitors: RwLock<Vec<Arc<ClientInfo>>>,
    pub monitor_count: AtomicUsize,
    pub pause: Pause,
    inst: Mutex<Instant3>,
}

impl Obs {
    pub fn new(cfg: &Config) -> Obs {
        let n = CmdIds::get().metas.len();
        let obs = Obs {
            cmds: (0..n.max(1)).map(|_| CmdStat::default()).collect(),
            errors: Mutex::new(IndexMap::new()),
            total_error_replies: AtomicU64::new(0),
            slowlog: Mutex::new(SlowLog::default()),
            slower_than_us: AtomicI64::new(0),
            slowlog_max_len: AtomicUsize::new(0),
            latency_tracking: AtomicBool::new(true),
            query_buffer_limit: AtomicU64::new(0),
            obuf_normal: Default::default(),
            monitors: RwLock::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
            pause: Pause::default(),
            inst: Mutex::new(Instant3::default()),
        };
        obs.sync_config(cfg);
        obs
    }

    /// Copies the settings the hot path reads into atomics (at start and
    /// after every CONFIG SET).
    pub fn sync_config(&self, cfg: &Config) {
        self.slower_than_us.store(cfg.slowlog_log_slower_than, Ordering::Relaxed);
        self.slowlog_max_len.store(cfg.slowlog_max_len, Ordering::Relaxed);
        self.latency_tracking.store(cfg.latency_tracking, Ordering::Relaxed);
        self.query_buffer_limit.store(cfg.client_query_buffer_limit, Ordering::Relaxed);
        let n = cfg.obuf_limits[0];
        for (a, v) in self.obuf_normal.iter().zip([n.hard, n.soft, n.soft_seconds]) {
            a.store(v, Ordering::Relaxed);
        }
        let mut log = self.slowlog.lock();
        while log.entries.len() > cfg.slowlog_max_len {
            log.entries.pop_back();
        }
    }

    /// Accounts one executed command.
    pub fn record(&self, idx: usize, nanos: u64, failed: bool) {
        if let Some(s) = self.cmds.get(idx) {
            s.record(nanos, failed, self.latency_tracking.load(Ordering::Relaxed));
        }
    }

    pub fn rejected(&self, idx: usize) {
        if let Some(s) = self.cmds.get(idx) {
            s.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts the error replies a request produced.
    pub fn count_errors(&self, codes: &mut Vec<Box<str>>) {
        self.total_error_replies.fetch_add(codes.len() as u64, Ordering::Relaxed);
        let mut m = self.errors.lock();
        for c in codes.drain(..) {
            *m.entry(c).or_insert(0) += 1;
        }
    }

    /// Did a command of `micros` take long enough for the slow log?
    #[inline]
    pub fn is_slow(&self, micros: u64) -> bool {
        let limit = self.slower_than_us.load(Ordering::Relaxed);
        limit >= 0 && micros as i64 >= limit
    }

    /// Logs a command to the slow log (the caller checked `is_slow`).
    pub fn slowlog_push(&self, idx: usize, micros: u64, now_ms: i64, argv: &[Bytes], info: &ClientInfo) {
        if CmdIds::get().metas.get(idx).is_some_and(|m| m.skip_slowlog) {
            return;
        }
        let max = self.slowlog_max_len.load(Ordering::Relaxed);
        let name = info.name.lock().clone().unwrap_or_default();
        let mut log = self.slowlog.lock();
        let id = log.next_id;
        log.next_id += 1;
        if max == 0 {
            return;
        }
        log.entries.push_front(SlowEntry {
            id,
            time_secs: now_ms / 1000,
            micros,
            argv: slowlog_argv(argv),
            addr: info.addr.clone(),
            name,
        });
        log.entries.truncate(max);
    }

    /// Feeds a command to the MONITOR clients, in Redis's format:
    /// `+<secs>.<usecs> [<db> <addr>] "arg" "arg"...`.
    pub fn feed_monitors(&self, db: usize, source: &str, argv: &[Bytes], replica_limit: crate::pubsub::ObufLimit) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut line = format!("+{}.{:06} [{db} {source}]", now.as_secs(), now.subsec_micros());
        let redact_from = redaction(argv);
        for (j, a) in argv.iter().enumerate() {
            line.push(' ');
            if redact_from.is_some_and(|(from, to)| j >= from && j < to) {
                line.push_str("\"(redacted)\"");
            } else {
                repr(a, &mut line);
            }
        }
        line.push_str("\r\n");
        let now_ms = now.as_millis() as i64;
        for m in self.monitors.read().iter() {
            if m.killed.load(Ordering::Relaxed) {
                continue;
            }
            m.push(line.as_bytes());
            // Monitors are replicas to Redis: the replica class's limits.
            if crate::pubsub::over_limit(m, replica_limit, now_ms) {
                m.kill();
            }
        }
    }

    pub fn add_monitor(&self, info: Arc<ClientInfo>) {
        let mut m = self.monitors.write();
        if !m.iter().any(|c| c.id == info.id) {
            m.push(info);
        }
        self.monitor_count.store(m.len(), Ordering::Release);
    }

    pub fn remove_monitor(&self, id: u64) {
        if self.monitor_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut m = self.monitors.write();
        m.retain(|c| c.id != id);
        self.monitor_count.store(m.len(), Ordering::Release);
    }

    /// Takes one instantaneous-metrics sample (every 100 ms, as Redis).
    pub fn sample(&self, now_ms: i64, ops: u64, input: u64, output: u64) {
        let mut i = self.inst.lock();
        i.ops.sample(now_ms, ops);
        i.input.sample(now_ms, input);
        i.output.sample(now_ms, output);
    }

    /// (ops/sec, input KB/s, output KB/s).
    pub fn instantaneous(&self) -> (u64, f64, f64) {
        let i = self.inst.lock();
        (i.ops.mean().round() as u64, i.input.mean() / 1024.0, i.output.mean() / 1024.0)
    }

    /// CONFIG RESETSTAT's part.
    pub fn reset(&self) {
        self.cmds.iter().for_each(CmdStat::reset);
        self.errors.lock().clear();
        self.total_error_replies.store(0, Ordering::Relaxed);
        *self.inst.lock() = Instant3::default();
    }
}

/// Arguments MONITOR must not show: AUTH's credentials, HELLO's after AUTH.
fn redaction(argv: &[Bytes]) -> Option<(usize, usize)> {
    let name = argv.first()?;
    if name.eq_ignore_ascii_case(b"auth") {
        return Some((1, argv.len()));
    }
    if name.eq_ignore_ascii_case(b"hello") {
        let at = argv.iter().position(|a| a.eq_ignore_ascii_case(b"auth"))?;
        return Some((at + 1, at + 3));
    }
    None
}

/// Redis's sdscatrepr: a quoted string with C escapes.
pub fn repr(s: &[u8], out: &mut String) {
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        // Bucket 0 is never used: durations are clamped to at least 1 ns.
        for i in 1..HIST_BUCKETS {
            let u = bucket_upper_ns(i);
            assert!(u > last, "bucket {i}");
            assert_eq!(bucket_of(u), i, "upper of {i}");
            last = u;
        }
        for v in [1u64, 15, 16, 17, 1000, 12_345, 999_999, 1 << 30] {
            let u = bucket_upper_ns(bucket_of(v));
            assert!(u >= v && (u - v) as f64 <= v as f64 / 16.0 + 1.0, "{v} -> {u}");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = vec![0u64; HIST_BUCKETS];
        for v in 1..=100u64 {
            h[bucket_of(v * 1000)] += 1;
        }
        let p50 = percentile_ns(&h, 50.0);
        assert!((50_000..=53_200).contains(&p50), "{p50}");
        assert!(percentile_ns(&h, 100.0) >= 100_000);
    }

    #[test]
    fn slowlog_argv_like_redis() {
        let argv: Vec<Bytes> =
            (0..40).map(|i| Bytes::from(if i == 1 { "x".repeat(200) } else { i.to_string() })).collect();
        let v = slowlog_argv(&argv);
        assert_eq!(v.len(), 32);
        assert_eq!(&v[1][128..], b"... (72 more bytes)");
        assert_eq!(&v[31][..], b"... (9 more arguments)");
    }

    #[test]
    fn repr_escapes() {
        let mut s = String::new();
        repr(b"a\"b\\\x01\n\t ", &mut s);
        assert_eq!(s, r#""a\"b\\\x01\n\t ""#);
    }
}
