//! maxmemory and eviction against a real rhea-server: which keys survive
//! under each policy, the OOM refusal under noeviction, `evicted` keyspace
//! events, and a write flood that must not push resident memory past the
//! limit. Replies that do not depend on byte counts are compared with
//! redis-server in tests/cases/memory.txt.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Conn, Reply, Server};

const VALUE: usize = 1000;
/// What INFO itself allocates after the eviction that ran before it (its
/// reply, the request): used_memory may read that much over the limit.
const SLACK: u64 = 64 << 10;

fn value() -> String {
    "x".repeat(VALUE)
}

/// Sends every command, then reads every reply; returns the replies.
fn pipeline(c: &mut Conn, cmds: &[Vec<String>]) -> Vec<Reply> {
    for chunk in cmds.chunks(500) {
        for cmd in chunk {
            c.send(cmd).expect("send");
        }
    }
    cmds.iter().map(|_| c.read().expect("read")).collect()
}

fn set_all(c: &mut Conn, keys: &[String], extra: &[&str]) {
    let v = value();
    let cmds: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut cmd = vec!["SET".to_string(), k.clone(), v.clone()];
            cmd.extend(extra.iter().map(|s| s.to_string()));
            cmd
        })
        .collect();
    for r in pipeline(c, &cmds) {
        assert!(!r.is_error(), "SET failed: {r:?}");
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

/// How many of `keys` still exist.
fn surviving(c: &mut Conn, keys: &[String]) -> usize {
    let cmds: Vec<Vec<String>> = keys.iter().map(|k| vec!["EXISTS".to_string(), k.clone()]).collect();
    pipeline(c, &cmds).iter().filter(|r| r.as_int() == Some(1)).count()
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> u64 {
    let r = c.ok(&["INFO", section]);
    let text = String::from_utf8_lossy(r.as_bulk().unwrap_or_else(|| panic!("INFO reply {r:?}"))).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

/// A maxmemory that holds about `capacity` keys of `VALUE` bytes, measured
/// from what `loaded` keys already take.
fn limit_for(c: &mut Conn, loaded: usize, capacity: usize, startup: u64) -> u64 {
    let used = info_field(c, "memory", "used_memory");
    let per_key = (used - startup) / loaded as u64;
    startup + per_key * capacity as u64
}

fn fraction(n: usize, of: usize) -> f64 {
    n as f64 / of as f64
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let rhea = Server::rhea(&["--maxmemory-policy", "allkeys-lru"]);
    let mut c = rhea.conn();
    let startup = info_field(&mut c, "memory", "used_memory");
    let (hot, cold) = (keys("hot", 300), keys("cold", 1500));
    set_all(&mut c, &hot, &[]);
    set_all(&mut c, &cold, &[]);
    let max = limit_for(&mut c, 1800, 2000, startup);
    c.ok(&["CONFIG", "SET", "maxmemory", &max.to_string()]);
    // The LRU clock ticks in seconds: let the cold keys age, then use the
    // hot ones.
    std::thread::sleep(Duration::from_millis(2100));
    let gets: Vec<Vec<String>> = hot.iter().map(|k| vec!["GET".to_string(), k.clone()]).collect();
    pipeline(&mut c, &gets);
    // 1000 new keys where about 200 fit: ~800 evictions, fewer than there
    // are cold keys. Random eviction would keep ~70% of both kinds.
    set_all(&mut c, &keys("new", 1000), &[]);
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    assert!(evicted >= 500, "only {evicted} keys evicted");
    let (h, k) = (fraction(surviving(&mut c, &hot), 300), fraction(surviving(&mut c, &cold), 1500));
    assert!(h >= 0.8, "only {:.0}% of recently used keys survived (cold: {:.0}%)", h * 100.0, k * 100.0);
    assert!(k <= 0.5, "{:.0}% of untouched keys survived (hot: {:.0}%)", k * 100.0, h * 100.0);
    assert!(info_field(&mut c, "memory", "used_memory") <= max + SLACK, "still over maxmemory");
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    // A log factor of 0 makes every access count, so the test needs few.
    let rhea = Server::rhea(&["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"]);
    let mut c = rhea.conn();
    let startup = info_field(&mut c, "memory", "used_memory");
    let (hot, cold) = (keys("hot", 500), keys("cold", 1000));
    set_all(&mut c, &hot, &[]);
    set_all(&mut c, &cold, &[]);
    let max = limit_for(&mut c, 1500, 2500, startup);
    for _ in 0..10 {
        let gets: Vec<Vec<String>> = hot.iter().map(|k| vec!["GET".to_string(), k.clone()]).collect();
        pipeline(&mut c, &gets);
    }
    assert_eq!(c.ok(&["OBJECT", "FREQ", "hot:7"]).as_int(), Some(15), "5 at creation + 10 reads");
    assert_eq!(c.ok(&["OBJECT", "FREQ", "cold:7"]).as_int(), Some(5));
    c.ok(&["CONFIG", "SET", "maxmemory", &max.to_string()]);
    // New keys start at the same count as the cold ones: those two share
    // the evictions, the hot keys should not see any.
    set_all(&mut c, &keys("new", 3000), &[]);
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    assert!(evicted >= 1500, "only {evicted} keys evicted");
    let (h, k) = (fraction(surviving(&mut c, &hot), 500), fraction(surviving(&mut c, &cold), 1000));
    assert!(h >= 0.95, "only {:.0}% of frequently used keys survived (cold: {:.0}%)", h * 100.0, k * 100.0);
    assert!(k <= 0.7, "{:.0}% of never-read keys survived", k * 100.0);
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_and_never_persistent_keys() {
    let rhea = Server::rhea(&["--maxmemory-policy", "volatile-ttl"]);
    let mut c = rhea.conn();
    let startup = info_field(&mut c, "memory", "used_memory");
    let keep = keys("keep", 1000);
    set_all(&mut c, &keep, &[]);
    // ttl:i expires after 10000 + 10 i seconds.
    let v = value();
    let cmds: Vec<Vec<String>> = (0..1000)
        .map(|i| vec!["SET".into(), format!("ttl:{i}"), v.clone(), "EX".into(), (10_000 + 10 * i).to_string()])
        .collect();
    pipeline(&mut c, &cmds);
    // Room for 1500 of the 2000: the next command evicts about 500.
    let max = limit_for(&mut c, 2000, 1500, startup);
    c.ok(&["CONFIG", "SET", "maxmemory", &max.to_string()]);
    c.ok(&["PING"]);
    let ttl = keys("ttl", 1000);
    let first = fraction(surviving(&mut c, &ttl[..250]), 250);
    let last = fraction(surviving(&mut c, &ttl[750..]), 250);
    assert!(first <= 0.3, "{:.0}% of the soonest-expiring keys survived", first * 100.0);
    assert!(last >= first + 0.5, "{:.0}% of the latest-expiring keys survived", last * 100.0);
    assert_eq!(surviving(&mut c, &keep), 1000, "a persistent key was evicted");
    // Keep writing persistent keys: once every volatile key is gone, the
    // writes are refused and no persistent key is ever evicted.
    let mut refused = None;
    for i in 0..3000 {
        let r = c.cmd(&["SET", &format!("more:{i}"), &v]).expect("SET");
        if r.is_error() {
            refused = Some(r);
            break;
        }
    }
    assert_eq!(refused, Some(Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into())));
    assert_eq!(
        c.ok(&["INFO", "keyspace"]).as_bulk().map(|b| String::from_utf8_lossy(b).contains("expires=0")),
        Some(true)
    );
    assert_eq!(surviving(&mut c, &keep), 1000, "a persistent key was evicted");
}

#[test]
fn volatile_and_random_policies_and_noeviction() {
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    let startup = info_field(&mut c, "memory", "used_memory");
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "allkeys-random", "noeviction"] {
        c.ok(&["CONFIG", "SET", "maxmemory", "0"]);
        c.ok(&["FLUSHALL"]);
        c.ok(&["CONFIG", "SET", "maxmemory-policy", policy]);
        let (keep, vol) = (keys("keep", 500), keys("vol", 500));
        set_all(&mut c, &keep, &[]);
        set_all(&mut c, &vol, &["EX", "10000"]);
        let before = info_field(&mut c, "stats", "evicted_keys");
        let max = limit_for(&mut c, 1000, 700, startup);
        c.ok(&["CONFIG", "SET", "maxmemory", &max.to_string()]);
        let r = c.cmd(&["SET", "trigger", "1"]).expect("SET");
        let evicted = info_field(&mut c, "stats", "evicted_keys") - before;
        let (k, v) = (surviving(&mut c, &keep), surviving(&mut c, &vol));
        match policy {
            "noeviction" => {
                assert_eq!(r, Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into()));
                assert_eq!((evicted, k, v), (0, 500, 500), "noeviction keeps every key");
                assert_eq!(c.ok(&["GET", "keep:1"]).as_bulk().map(|b| b.len()), Some(VALUE), "reads still work");
                assert_eq!(c.ok(&["DEL", "keep:1"]).as_int(), Some(1), "deletes still work");
            }
            "allkeys-random" => {
                assert_eq!(r, Reply::Simple("OK".into()));
                assert!(evicted >= 250, "{policy}: {evicted} evicted");
                assert!(k < 500 && v < 500, "{policy}: random eviction spared a whole class ({k} kept, {v} volatile)");
            }
            _ => {
                assert_eq!(r, Reply::Simple("OK".into()), "{policy}");
                assert!(evicted >= 250, "{policy}: {evicted} evicted");
                assert_eq!(k, 500, "{policy} evicted a key without a TTL");
                assert!(v <= 250, "{policy}: {v} volatile keys left");
            }
        }
        if policy != "noeviction" {
            assert!(info_field(&mut c, "memory", "used_memory") <= max + SLACK, "{policy}: still over maxmemory");
        }
    }
}

#[test]
fn evicted_keys_are_announced() {
    let rhea = Server::rhea(&["--maxmemory-policy", "allkeys-random", "--notify-keyspace-events", "Ee"]);
    let mut sub = rhea.conn();
    sub.ok(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let mut c = rhea.conn();
    let startup = info_field(&mut c, "memory", "used_memory");
    set_all(&mut c, &keys("k", 200), &[]);
    let max = limit_for(&mut c, 200, 100, startup);
    c.ok(&["CONFIG", "SET", "maxmemory", &max.to_string()]);
    c.ok(&["PING"]);
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    assert!(evicted >= 50, "{evicted} evicted");
    sub.set_timeout(Duration::from_secs(5));
    for _ in 0..evicted {
        match sub.read().expect("event") {
            Reply::Array(m) | Reply::Push(m) => {
                assert_eq!(m[0], Reply::Bulk(b"message".to_vec()));
                let key = m[2].as_bulk().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                assert_eq!(c.ok(&["EXISTS", &key]).as_int(), Some(0), "{key} announced as evicted but exists");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn vm_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0, |kb: u64| kb * 1024)
}

/// Full-speed pipelined SETs of 1 KB values from several connections into
/// a 100 MB server: four times the limit gets written, and resident memory
/// never goes more than 10% over it.
#[test]
fn write_flood_stays_within_maxmemory() {
    const LIMIT: u64 = 100 << 20;
    let rhea = Server::rhea(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    let pid = rhea.pid();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(vm_rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let port = rhea.port;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(port).expect("connect");
                c.set_timeout(Duration::from_secs(30));
                let v = vec![b'x'; 1024];
                let mut wire = Vec::new();
                // 100k keys per writer, in pipelined batches of 1000.
                for batch in 0..100 {
                    wire.clear();
                    for i in 0..1000 {
                        let key = format!("w{w}:{batch}:{i}");
                        wire.extend_from_slice(
                            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1024\r\n", key.len()).as_bytes(),
                        );
                        wire.extend_from_slice(&v);
                        wire.extend_from_slice(b"\r\n");
                    }
                    c.send_raw(&wire).expect("send");
                    for _ in 0..1000 {
                        let r = c.read().expect("read");
                        assert_eq!(r, Reply::Simple("OK".into()), "a write was refused");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let mut c = rhea.conn();
    let peak = peak.load(Ordering::Relaxed).max(vm_rss(pid));
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    let keys = c.ok(&["DBSIZE"]).as_int().unwrap_or(0);
    eprintln!("flood: peak RSS {:.1} MB, {keys} keys kept, {evicted} evicted", peak as f64 / 1048576.0);
    assert!(evicted > 200_000, "only {evicted} evictions for 400 MB written");
    assert!(keys > 50_000, "only {keys} keys kept in 100 MB");
    assert!(
        peak <= LIMIT + LIMIT / 10,
        "resident memory peaked at {:.1} MB with maxmemory 100 MB ({keys} keys, {evicted} evicted)",
        peak as f64 / 1048576.0
    );
    assert_eq!(c.ok(&["PING"]), Reply::Simple("PONG".into()), "the server survived");
}
