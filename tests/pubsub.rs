//! Pub/sub across several connections, compared with redis-server where the
//! outcome is deterministic: subscribe flows, message delivery and counts,
//! RESP3 pushes, keyspace notification sequences, subscribers that go away,
//! and a slow subscriber disconnected by the pubsub output-buffer limit
//! while the server's memory stays bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{eventually, Conn, Reply, Server};

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn frames(c: &mut Conn, n: usize) -> Vec<Reply> {
    (0..n).map(|_| c.read().expect("read frame")).collect()
}

/// Reads frames until the `message` on channel `end`, which the test
/// publishes last: every frame before it is what the script produced.
fn frames_until_end(c: &mut Conn) -> Vec<Reply> {
    let mut v = Vec::new();
    for _ in 0..10_000 {
        let r = c.read().expect("read frame");
        let is_end = match &r {
            Reply::Array(a) | Reply::Push(a) => a.len() == 3 && a[1] == bulk("end"),
            _ => false,
        };
        if is_end {
            return v;
        }
        v.push(r);
    }
    panic!("no end marker");
}

/// Runs `f` against redis and rhea and checks both give the same result.
fn same<T: PartialEq + std::fmt::Debug>(f: impl Fn(&Server) -> T) {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let a = f(&redis);
    let b = f(&rhea);
    assert_eq!(a, b, "redis (left) and rhea (right) differ");
}

#[test]
fn subscribe_publish_flows_match_redis() {
    same(|s| {
        let mut log = Vec::new();
        let mut sub = s.conn();
        let mut publ = s.conn();
        sub.send(&["SUBSCRIBE", "a", "b", "a"]).unwrap();
        log.extend(frames(&mut sub, 3));
        log.push(sub.cmd(&["PSUBSCRIBE", "a*", "x?"]).unwrap());
        log.push(sub.read().unwrap());
        for (ch, msg) in [("a", "hello"), ("b", "x"), ("c", "y"), ("ax", "z"), ("xy", "q"), ("a", "")] {
            log.push(publ.cmd(&["PUBLISH", ch, msg]).unwrap());
        }
        log.push(publ.cmd(&["PUBSUB", "NUMSUB", "a", "b", "c", "a*"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "NUMPAT"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "CHANNELS"]).unwrap().sorted());
        log.push(publ.cmd(&["PUBSUB", "CHANNELS", "[ab]"]).unwrap().sorted());
        // Channel message first, then the pattern's; a client subscribed
        // both ways gets both.
        log.extend(frames(&mut sub, 7));
        // A second subscriber, in RESP3, on the same channel and pattern.
        let mut sub3 = s.conn();
        sub3.cmd(&["HELLO", "3"]).unwrap();
        log.push(sub3.cmd(&["SUBSCRIBE", "a"]).unwrap());
        log.push(sub3.cmd(&["PSUBSCRIBE", "a*"]).unwrap());
        log.push(publ.cmd(&["PUBLISH", "a", "both"]).unwrap());
        log.extend(frames(&mut sub, 2));
        log.extend(frames(&mut sub3, 2));
        log.push(publ.cmd(&["PUBSUB", "NUMSUB", "a"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "NUMPAT"]).unwrap());
        // The RESP3 subscriber can run commands between pushes.
        log.push(sub3.cmd(&["SET", "k", "v"]).unwrap());
        log.push(sub3.cmd(&["GET", "k"]).unwrap());
        // UNSUBSCRIBE with no argument: one frame per channel, in an order
        // Redis leaves to its hash table; counts go down one by one.
        sub.send(&["UNSUBSCRIBE"]).unwrap();
        let mut got = frames(&mut sub, 2);
        let counts: Vec<Reply> = got
            .iter_mut()
            .filter_map(|f| match f {
                Reply::Array(a) => a.pop(),
                _ => None,
            })
            .collect();
        log.push(Reply::Array(counts));
        log.push(Reply::Array(got).sorted());
        log.push(sub.cmd(&["PUNSUBSCRIBE"]).unwrap());
        log.push(sub.read().unwrap());
        log.push(sub.cmd(&["PING"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "NUMSUB", "a", "b"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "NUMPAT"]).unwrap());
        // A subscriber that hangs up stops counting.
        drop(sub3);
        let gone = eventually(Duration::from_secs(5), || {
            publ.cmd(&["PUBSUB", "NUMSUB", "a"]).unwrap().sorted()
                == Reply::Array(vec![Reply::Int(0), bulk("a")]).sorted()
        });
        log.push(Reply::Bool(gone));
        log.push(publ.cmd(&["PUBLISH", "a", "nobody"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "NUMPAT"]).unwrap());
        log
    });
}

#[test]
fn shard_channels_match_redis() {
    same(|s| {
        let mut log = Vec::new();
        let mut sub = s.conn();
        let mut publ = s.conn();
        sub.send(&["SSUBSCRIBE", "s1", "s2"]).unwrap();
        log.extend(frames(&mut sub, 2));
        log.push(sub.cmd(&["SUBSCRIBE", "s1"]).unwrap());
        log.push(publ.cmd(&["SPUBLISH", "s1", "m"]).unwrap());
        log.push(publ.cmd(&["PUBLISH", "s1", "p"]).unwrap());
        log.extend(frames(&mut sub, 2));
        log.push(publ.cmd(&["PUBSUB", "SHARDNUMSUB", "s1", "s2", "s3"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "SHARDCHANNELS"]).unwrap().sorted());
        log.push(publ.cmd(&["PUBSUB", "SHARDCHANNELS", "*1"]).unwrap());
        log.push(publ.cmd(&["PUBSUB", "NUMSUB", "s1"]).unwrap());
        log.push(sub.cmd(&["SUNSUBSCRIBE", "s2"]).unwrap());
        log.push(sub.cmd(&["UNSUBSCRIBE"]).unwrap());
        log.push(sub.cmd(&["SUNSUBSCRIBE"]).unwrap());
        log.push(sub.cmd(&["PING"]).unwrap());
        log
    });
}

/// A script of commands whose keyspace events are compared in full.
const SCRIPT: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["SET", "k", "v2", "EX", "100"],
    &["SET", "k", "v3", "KEEPTTL"],
    &["SETNX", "k", "no"],
    &["SETNX", "n1", "yes"],
    &["SETEX", "k2", "100", "v"],
    &["PSETEX", "k3", "100000", "v"],
    &["GETSET", "k", "g"],
    &["SET", "k", "x", "GET"],
    &["MSET", "m1", "1", "m2", "2"],
    &["MSETNX", "m3", "1", "m4", "2"],
    &["MSETNX", "m3", "1", "m5", "2"],
    &["EXPIRE", "k", "100"],
    &["PEXPIRE", "k", "100000"],
    &["EXPIREAT", "k", "4000000000"],
    &["EXPIRE", "k", "100", "NX"],
    &["EXPIRE", "nosuch", "100"],
    &["PERSIST", "k"],
    &["PERSIST", "k"],
    &["INCR", "c"],
    &["INCRBY", "c", "5"],
    &["DECR", "c"],
    &["DECRBY", "c", "2"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["INCR", "k"],
    &["APPEND", "a", "x"],
    &["APPEND", "a", "y"],
    &["SETRANGE", "r", "3", "abc"],
    &["SETRANGE", "r", "0", ""],
    &["SETRANGE", "r2", "0", ""],
    &["GETDEL", "a"],
    &["GETDEL", "a"],
    &["GETEX", "k", "EX", "100"],
    &["GETEX", "k", "PERSIST"],
    &["GETEX", "k", "PERSIST"],
    &["GETEX", "k"],
    &["GETEX", "k2", "EXAT", "1"],
    &["RENAME", "k", "k4"],
    &["RENAME", "k4", "k4"],
    &["RENAMENX", "k4", "m1"],
    &["RENAMENX", "k4", "k5"],
    &["RENAME", "k5", "m1"],
    &["COPY", "m1", "cp"],
    &["COPY", "m2", "cp", "REPLACE"],
    &["COPY", "m2", "cp", "DB", "2"],
    &["MOVE", "cp", "3"],
    &["MOVE", "m2", "2"],
    &["DEL", "m1", "nosuch", "m3"],
    &["UNLINK", "m4"],
    &["EXPIRE", "c", "0"],
    &["PEXPIREAT", "f", "1"],
    &["SELECT", "5"],
    &["SET", "k", "in5"],
    &["DEL", "k"],
    &["SELECT", "0"],
    &["FLUSHALL"],
    // Lazy expiry: the key is found expired by the read.
    &["SET", "lazy", "v", "PX", "1"],
    &["SLEEP"],
    &["GET", "lazy"],
    &["SET", "lazy2", "v", "PX", "1"],
    &["SLEEP"],
    &["SET", "lazy2", "new"],
];

fn keyspace_events(s: &Server, flags: &str, resp3: bool) -> Vec<Reply> {
    let mut admin = s.conn();
    admin.ok(&["CONFIG", "SET", "notify-keyspace-events", flags]);
    admin.ok(&["CONFIG", "SET", "hz", "1"]);
    let mut sub = s.conn();
    if resp3 {
        sub.ok(&["HELLO", "3"]);
    }
    sub.send(&["PSUBSCRIBE", "__key*__:*"]).unwrap();
    sub.read().unwrap();
    sub.send(&["SUBSCRIBE", "end"]).unwrap();
    sub.read().unwrap();
    let mut log = Vec::new();
    for cmd in SCRIPT {
        if cmd == &["SLEEP"] {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        log.push(admin.cmd(cmd).unwrap());
    }
    admin.ok(&["PUBLISH", "end", "x"]);
    log.extend(frames_until_end(&mut sub));
    admin.ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    log
}

#[test]
fn keyspace_notifications_match_redis() {
    same(|s| keyspace_events(s, "KEA", false));
}

#[test]
fn keyevent_notifications_resp3_and_class_filters_match_redis() {
    same(|s| keyspace_events(s, "E$", true));
    same(|s| keyspace_events(s, "Kgx", false));
    same(|s| keyspace_events(s, "A", false));
}

#[test]
fn active_expiry_publishes_expired() {
    same(|s| {
        let mut admin = s.conn();
        admin.ok(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
        let mut sub = s.conn();
        sub.send(&["SUBSCRIBE", "__keyevent@0__:expired", "__keyevent@1__:expired"]).unwrap();
        frames(&mut sub, 2);
        for i in 0..20 {
            admin.ok(&["SET", &format!("e{i}"), "v", "PX", "50"]);
        }
        admin.ok(&["SELECT", "1"]);
        admin.ok(&["SET", "other", "v", "PX", "50"]);
        // Nobody reads these keys again: only the background cycle can
        // expire them.
        let mut got = frames(&mut sub, 21);
        got.sort();
        got
    });
}

/// Resident set size of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn slow_subscriber_is_disconnected_and_memory_stays_bounded() {
    const LIMIT: u64 = 16 << 20;
    let rhea = Server::rhea(&["--client-output-buffer-limit", "pubsub 16mb 8mb 60"]);
    let mut sub = TcpStream::connect(("127.0.0.1", rhea.port)).unwrap();
    sub.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nflood\r\n").unwrap();
    let mut publ = rhea.conn();
    assert!(eventually(Duration::from_secs(5), || {
        publ.cmd(&["PUBSUB", "NUMSUB", "flood"]).unwrap() == Reply::Array(vec![bulk("flood"), Reply::Int(1)])
    }));
    let base = rss_bytes(rhea.pid());
    let msg = vec![b'x'; 1 << 20];
    let mut peak = base;
    let mut sent = 0;
    // The subscriber never reads: after the socket buffers fill up, every
    // message stays queued in the server until the limit cuts it off.
    let start = Instant::now();
    loop {
        sent += 1;
        assert!(sent <= 400, "subscriber never disconnected");
        assert!(start.elapsed() < Duration::from_secs(60), "too slow");
        let r = publ.cmd(&[&b"PUBLISH"[..], b"flood", &msg]).unwrap();
        peak = peak.max(rss_bytes(rhea.pid()));
        if r == Reply::Int(0) {
            break;
        }
    }
    assert!(sent > 2, "disconnected before reaching the limit ({sent} messages)");
    // Publishing more goes nowhere and costs nothing.
    for _ in 0..20 {
        assert_eq!(publ.cmd(&[&b"PUBLISH"[..], b"flood", &msg]).unwrap(), Reply::Int(0));
        peak = peak.max(rss_bytes(rhea.pid()));
    }
    assert!(peak < base + LIMIT + (64 << 20), "RSS grew from {base} to {peak} bytes with a {LIMIT}-byte limit");
    // The subscriber's connection is closed: reading drains what had
    // reached its socket, then finds end of file.
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0; 1 << 20];
    let mut total = 0u64;
    loop {
        match sub.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) => panic!("subscriber socket still open after {total} bytes: {e}"),
        }
        assert!(total < 4 * LIMIT + (64 << 20), "more data than the limit allows");
    }
    assert_eq!(publ.cmd(&["PUBSUB", "NUMSUB", "flood"]).unwrap(), Reply::Array(vec![bulk("flood"), Reply::Int(0)]));
    let list = publ.cmd(&["CLIENT", "LIST"]).unwrap();
    let lines = list.as_bulk().map(|b| String::from_utf8_lossy(b).lines().count()).unwrap_or(0);
    assert_eq!(lines, 1, "only the publisher is left");
}

#[test]
fn soft_limit_disconnects_after_its_seconds() {
    let rhea = Server::rhea(&["--client-output-buffer-limit", "pubsub 0 4mb 1"]);
    let mut sub = TcpStream::connect(("127.0.0.1", rhea.port)).unwrap();
    sub.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nflood\r\n").unwrap();
    let mut publ = rhea.conn();
    assert!(eventually(Duration::from_secs(5), || {
        publ.cmd(&["PUBSUB", "NUMSUB", "flood"]).unwrap() == Reply::Array(vec![bulk("flood"), Reply::Int(1)])
    }));
    let msg = vec![b'x'; 1 << 20];
    // Well above the soft limit, but no hard limit: still connected.
    for _ in 0..40 {
        assert_eq!(publ.cmd(&[&b"PUBLISH"[..], b"flood", &msg]).unwrap(), Reply::Int(1));
    }
    std::thread::sleep(Duration::from_millis(1300));
    // Still above it more than a second later: the next message cuts it off.
    assert_eq!(publ.cmd(&["PUBLISH", "flood", "late"]).unwrap(), Reply::Int(1));
    assert_eq!(publ.cmd(&["PUBLISH", "flood", "later"]).unwrap(), Reply::Int(0));
}

#[test]
fn info_and_client_list_show_subscriptions() {
    let rhea = Server::rhea(&[]);
    let mut sub = rhea.conn();
    sub.send(&["SUBSCRIBE", "a", "b"]).unwrap();
    frames(&mut sub, 2);
    sub.cmd(&["PSUBSCRIBE", "p*"]).unwrap();
    let mut c = rhea.conn();
    let info = c.cmd(&["INFO", "stats"]).unwrap();
    let info = String::from_utf8_lossy(info.as_bulk().unwrap_or_default()).into_owned();
    assert!(info.contains("pubsub_channels:2\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:1\r\n"), "{info}");
    let list = c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]).unwrap();
    let list = String::from_utf8_lossy(list.as_bulk().unwrap_or_default()).into_owned();
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(" flags=P ") && list.contains(" sub=2 psub=1 ssub=0 "), "{list}");
    let normal = c.cmd(&["CLIENT", "LIST", "TYPE", "normal"]).unwrap();
    assert_eq!(normal.as_bulk().map(|b| String::from_utf8_lossy(b).lines().count()), Some(1));
}
