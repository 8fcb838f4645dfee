//! rhea-server driven by the `redis` crate (redis-rs) with several
//! connections at once: typed hash/list/set/zset round trips, BLPOP woken by
//! another thread, `redis::transaction` retrying under a concurrent writer,
//! pub/sub and `redis::Script`. `RHEA_CLIENT_TARGET=redis` runs the same tests
//! against redis-server 7.0, to check the expectations themselves. Every
//! cross-connection wait is bounded by a read timeout or a deadline.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;
use redis::{Commands, Connection, RedisError, RedisResult, Value};

const WAIT: Duration = Duration::from_secs(5);

fn server() -> Server {
    match std::env::var("RHEA_CLIENT_TARGET").as_deref() {
        Ok("redis") => Server::redis(&[]),
        _ => Server::rhea(&[]),
    }
}

fn connect(s: &Server, query: &str) -> Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/{query}", s.port)).expect("client url");
    let con = client.get_connection().expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    con
}

fn resp2(s: &Server) -> Connection {
    connect(s, "")
}

/// The error as the server sent it: "CODE detail".
fn server_error<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e: RedisError = r.expect_err("expected a server error");
    format!("{} {}", e.code().unwrap_or("<no code>"), e.detail().unwrap_or(""))
}

fn until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if pred() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} not reached within {WAIT:?}");
}

fn blocked_clients(c: &mut Connection) -> i64 {
    let info: redis::InfoDict = redis::cmd("INFO").arg("clients").query(c).expect("INFO clients");
    info.get("blocked_clients").expect("blocked_clients")
}

fn numsub(c: &mut Connection, channel: &str) -> i64 {
    let r: (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query(c).expect("PUBSUB NUMSUB");
    r.1
}

#[test]
fn typed_hash_list_set_zset() {
    for query in ["", "?protocol=resp3"] {
        let s = server();
        let mut c = connect(&s, query);
        // hash
        let _: () = c.hset_multiple("h", &[("a", "1"), ("b", "2")]).unwrap();
        let n: usize = c.hset("h", "c", 3).unwrap();
        assert_eq!(n, 1);
        let all: BTreeMap<String, i64> = c.hgetall("h").unwrap();
        assert_eq!(all, BTreeMap::from([("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]));
        let keys: Vec<String> = c.hkeys("h").unwrap();
        assert_eq!(keys, ["a", "b", "c"]); // listpack: insertion order
        let v: Option<String> = c.hget("h", "zz").unwrap();
        assert_eq!(v, None);
        let v: i64 = c.hincr("h", "b", 40).unwrap();
        assert_eq!(v, 42);
        let n: usize = c.hdel("h", &["a", "b", "c"]).unwrap();
        assert_eq!(n, 3);
        let exists: bool = c.exists("h").unwrap();
        assert!(!exists, "an emptied hash is deleted");
        // list
        let n: usize = c.rpush("l", &["a", "b", "c"]).unwrap();
        assert_eq!(n, 3);
        let all: Vec<String> = c.lrange("l", 0, -1).unwrap();
        assert_eq!(all, ["a", "b", "c"]);
        let first: Option<String> = c.lpop("l", None).unwrap();
        assert_eq!(first.as_deref(), Some("a"));
        let two: Vec<String> = c.rpop("l", std::num::NonZeroUsize::new(2)).unwrap();
        assert_eq!(two, ["c", "b"]);
        let len: usize = c.llen("l").unwrap();
        assert_eq!(len, 0);
        // set
        let n: usize = c.sadd("s", &["x", "y", "x", "z"]).unwrap();
        assert_eq!(n, 3);
        let members: HashSet<String> = c.smembers("s").unwrap();
        assert_eq!(members, HashSet::from(["x".to_string(), "y".into(), "z".into()]));
        let ints: usize = c.sadd("ints", &[3, 1, 2]).unwrap();
        assert_eq!(ints, 3);
        let sorted: Vec<i64> = c.smembers("ints").unwrap();
        assert_eq!(sorted, [1, 2, 3]); // intset: ascending
        let is: bool = c.sismember("s", "y").unwrap();
        assert!(is);
        let inter: HashSet<String> = c.sinter(&["s", "ints"]).unwrap();
        assert!(inter.is_empty());
        // zset
        let n: usize = c.zadd_multiple("z", &[(1.5, "a"), (-2.0, "b"), (10.0, "c")]).unwrap();
        assert_eq!(n, 3);
        let with: Vec<(String, f64)> = c.zrange_withscores("z", 0, -1).unwrap();
        assert_eq!(with, [("b".to_string(), -2.0), ("a".into(), 1.5), ("c".into(), 10.0)]);
        let score: Option<f64> = c.zscore("z", "a").unwrap();
        assert_eq!(score, Some(1.5));
        let score: f64 = c.zincr("z", "a", 0.25).unwrap();
        assert_eq!(score, 1.75);
        let by: Vec<String> = c.zrangebyscore("z", 0, "+inf").unwrap();
        assert_eq!(by, ["a", "c"]);
        let rank: Option<usize> = c.zrank("z", "c").unwrap();
        assert_eq!(rank, Some(2));
        let popped: Vec<(String, f64)> = c.zpopmin("z", 1).unwrap();
        assert_eq!(popped, [("b".to_string(), -2.0)]);
        // errors
        let _: () = c.set("str", "v").unwrap();
        let r: RedisResult<Vec<String>> = c.lrange("str", 0, -1);
        assert_eq!(server_error(r), "WRONGTYPE Operation against a key holding the wrong kind of value");
    }
}

#[test]
fn blpop_woken_from_another_thread() {
    let s = server();
    let mut c = resp2(&s);
    let port = s.port;
    let waiter = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut w = client.get_connection().unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let got: Option<(String, String)> = w.blpop(&["q1", "q2"], 5.0).unwrap();
        got
    });
    until("BLPOP blocked", || blocked_clients(&mut c) == 1);
    let n: usize = c.rpush("q2", &["x", "y"]).unwrap();
    assert_eq!(n, 2);
    let got = waiter.join().expect("waiter panicked");
    assert_eq!(got, Some(("q2".to_string(), "x".to_string())));
    let rest: Vec<String> = c.lrange("q2", 0, -1).unwrap();
    assert_eq!(rest, ["y"]);
    // A timeout answers nil.
    let t0 = Instant::now();
    let none: Option<(String, String)> = c.blpop("empty", 0.2).unwrap();
    assert_eq!(none, None);
    assert!(t0.elapsed() >= Duration::from_millis(150), "{:?}", t0.elapsed());
    let r: RedisResult<Value> = redis::cmd("BLPOP").arg("q").arg(-1).query(&mut c);
    assert_eq!(server_error(r), "ERR timeout is negative");
}

#[test]
fn bzpopmin_and_blmove_woken() {
    let s = server();
    let mut c = resp2(&s);
    let port = s.port;
    let waiter = std::thread::spawn(move || {
        let mut w =
            redis::Client::open(format!("redis://127.0.0.1:{port}/?protocol=resp3")).unwrap().get_connection().unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let z: Option<(String, String, f64)> = w.bzpopmin("z", 5.0).unwrap();
        let m: Option<String> = w.blmove("src", "dst", redis::Direction::Right, redis::Direction::Left, 5.0).unwrap();
        (z, m)
    });
    until("BZPOPMIN blocked", || blocked_clients(&mut c) == 1);
    let _: usize = c.zadd_multiple("z", &[(3.0, "hi"), (-0.5, "lo")]).unwrap();
    until("BLMOVE blocked", || blocked_clients(&mut c) == 1 && c.zcard::<_, usize>("z").unwrap() == 1);
    let _: usize = c.lpush("src", "m").unwrap();
    let (z, m) = waiter.join().expect("waiter panicked");
    assert_eq!(z, Some(("z".to_string(), "lo".to_string(), -0.5)));
    assert_eq!(m.as_deref(), Some("m"));
    let dst: Vec<String> = c.lrange("dst", 0, -1).unwrap();
    assert_eq!(dst, ["m"]);
}

#[test]
fn blocked_client_that_disconnects_is_forgotten() {
    let s = server();
    let mut c = resp2(&s);
    let mut raw = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n").unwrap();
    until("BLPOP blocked", || blocked_clients(&mut c) == 1);
    drop(raw);
    until("blocked client released", || blocked_clients(&mut c) == 0);
    let n: usize = c.lpush("q", "kept").unwrap();
    assert_eq!(n, 1);
    let len: usize = c.llen("q").unwrap();
    assert_eq!(len, 1, "the element went to a closed connection");
}

#[test]
fn transaction_retries_under_concurrent_writer() {
    let s = server();
    let mut c = resp2(&s);
    let mut other = resp2(&s);
    let _: () = c.set("k", 10).unwrap();
    let mut attempts = 0;
    let (v,): (i64,) = redis::transaction(&mut c, &["k"], |con, pipe| {
        attempts += 1;
        let v: i64 = con.get("k")?;
        if attempts == 1 {
            // Another connection writes between WATCH and EXEC: EXEC aborts
            // (nil) and redis::transaction runs the closure again.
            let _: () = other.set("k", 100)?;
        }
        pipe.set("k", v + 1).ignore().get("k").query(con)
    })
    .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(v, 101);

    // An atomic pipeline after WATCH answers nil when the key changed.
    let _: () = redis::cmd("WATCH").arg("k").query(&mut c).unwrap();
    let _: () = other.incr("k", 1).unwrap();
    let r: Option<(i64,)> = redis::pipe().atomic().incr("k", 1).query(&mut c).unwrap();
    assert_eq!(r, None);
    let v: i64 = c.get("k").unwrap();
    assert_eq!(v, 102);

    // Without a concurrent write, it goes through.
    let _: () = redis::cmd("WATCH").arg("k").query(&mut c).unwrap();
    let _: Option<String> = other.get("k").unwrap();
    let r: Option<(i64,)> = redis::pipe().atomic().incr("k", 1).query(&mut c).unwrap();
    assert_eq!(r, Some((103,)));
}

#[test]
fn transaction_counter_from_threads() {
    let s = server();
    let port = s.port;
    let workers: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                let mut c = client.get_connection().unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                for _ in 0..30 {
                    let _: (i64,) = redis::transaction(&mut c, &["counter"], |con, pipe| {
                        let v: Option<i64> = con.get("counter")?;
                        pipe.set("counter", v.unwrap_or(0) + 1).ignore().get("counter").query(con)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    let mut c = resp2(&s);
    let total: i64 = c.get("counter").unwrap();
    assert_eq!(total, 180);
}

#[test]
fn pubsub_receives_from_another_connection() {
    let s = server();
    let mut publisher = resp2(&s);
    let mut sub_con = resp2(&s);
    {
        let mut sub = sub_con.as_pubsub();
        sub.set_read_timeout(Some(WAIT)).unwrap();
        sub.subscribe(&["news", "sport"]).unwrap();
        sub.psubscribe("n*").unwrap();
        let n: i64 = publisher.publish("news", "hello").unwrap();
        assert_eq!(n, 2);
        let m = sub.get_message().unwrap();
        assert_eq!((m.get_channel_name(), m.from_pattern()), ("news", false));
        assert_eq!(m.get_payload::<String>().unwrap(), "hello");
        let m = sub.get_message().unwrap();
        assert_eq!((m.get_channel_name(), m.from_pattern()), ("news", true));
        assert_eq!(m.get_pattern::<String>().unwrap(), "n*");
        let payload: Vec<u8> = (0..=255u8).collect();
        let n: i64 = publisher.publish("sport", &payload[..]).unwrap();
        assert_eq!(n, 1);
        let m = sub.get_message().unwrap();
        assert_eq!(m.get_payload_bytes(), &payload[..]);
        sub.unsubscribe("sport").unwrap();
        let n: i64 = publisher.publish("sport", "late").unwrap();
        assert_eq!(n, 0);
        assert_eq!(numsub(&mut publisher, "news"), 1);
        // Nothing else arrives: the read times out.
        sub.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let e = sub.get_message().expect_err("no message expected");
        assert!(e.is_timeout(), "{e:?}");
    }
    // Dropping the PubSub unsubscribes from everything; the connection is
    // usable for ordinary commands again.
    let pong: String = redis::cmd("PING").query(&mut sub_con).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(numsub(&mut publisher, "news"), 0);
    let pats: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut publisher).unwrap();
    assert_eq!(pats, 0);
}

#[test]
fn subscriber_that_disconnects_is_forgotten() {
    let s = server();
    let mut c = resp2(&s);
    let mut raw = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    raw.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nc*\r\n").unwrap();
    until("subscribed", || numsub(&mut c, "ch") == 1);
    drop(raw);
    until("NUMSUB back to 0", || numsub(&mut c, "ch") == 0);
    until("NUMPAT back to 0", || redis::cmd("PUBSUB").arg("NUMPAT").query::<i64>(&mut c).unwrap() == 0);
    let n: i64 = c.publish("ch", "nobody").unwrap();
    assert_eq!(n, 0);
}

#[test]
fn keyspace_notifications_reach_a_subscriber() {
    let s = server();
    let mut c = resp2(&s);
    let mut sub_con = resp2(&s);
    let _: () = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("Elh").query(&mut c).unwrap();
    let mut sub = sub_con.as_pubsub();
    sub.set_read_timeout(Some(WAIT)).unwrap();
    sub.psubscribe("__keyevent@0__:*").unwrap();
    let _: usize = c.rpush("l", "a").unwrap();
    let _: usize = c.hset("h", "f", "v").unwrap();
    let _: usize = c.sadd("s", "m").unwrap(); // class 's' not enabled
    let _: Option<String> = c.lpop("l", None).unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = sub.get_message().unwrap();
        got.push((m.get_channel_name().to_string(), m.get_payload::<String>().unwrap()));
    }
    let expected = [("__keyevent@0__:rpush", "l"), ("__keyevent@0__:hset", "h"), ("__keyevent@0__:lpop", "l")];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, expected);
}

#[test]
fn scripts() {
    let s = server();
    let mut c = resp2(&s);
    let mut other = resp2(&s);
    let script =
        redis::Script::new("redis.call('INCRBY', KEYS[1], ARGV[1]); return {KEYS[1], redis.call('GET', KEYS[1])}");
    // First invocation: EVALSHA fails with NOSCRIPT, the crate loads it and retries.
    let r: (String, i64) = script.key("n").arg(5).invoke(&mut c).unwrap();
    assert_eq!(r, ("n".to_string(), 5));
    let exists: Vec<bool> = redis::cmd("SCRIPT").arg("EXISTS").arg(script.get_hash()).query(&mut other).unwrap();
    assert_eq!(exists, [true]);
    // Another connection runs the cached script by its sha.
    let r: (String, i64) =
        redis::cmd("EVALSHA").arg(script.get_hash()).arg(1).arg("n").arg(2).query(&mut other).unwrap();
    assert_eq!(r, ("n".to_string(), 7));
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut other).unwrap();
    let r: RedisResult<Value> = redis::cmd("EVALSHA").arg(script.get_hash()).arg(1).arg("n").arg(1).query(&mut c);
    let e = r.expect_err("NOSCRIPT");
    assert_eq!(e.kind(), redis::ErrorKind::NoScriptError);
    let r: (String, i64) = script.key("n").arg(1).invoke(&mut c).unwrap();
    assert_eq!(r, ("n".to_string(), 8));
    // Plain EVAL and errors raised inside a script.
    let v: Vec<String> =
        redis::cmd("EVAL").arg("return {ARGV[1], ARGV[2]}").arg(0).arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(v, ["a", "b"]);
    let r: RedisResult<Value> = redis::Script::new("return redis.error_reply('MYERR custom')").invoke(&mut c);
    assert_eq!(server_error(r), "MYERR custom");
    let _: () = c.set("str", "x").unwrap();
    let r: RedisResult<Value> =
        redis::Script::new("return redis.call('HSET', KEYS[1], 'f', 'v')").key("str").invoke(&mut c);
    let e = r.expect_err("WRONGTYPE from a script");
    assert_eq!(e.code(), Some("WRONGTYPE"));
}

#[test]
fn script_is_atomic_for_concurrent_readers() {
    let s = server();
    let port = s.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut r = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
            r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (a, b): (Option<i64>, Option<i64>) = r.mget(&["a", "b"]).unwrap();
                assert_eq!(a, b, "a script was observed half done");
                reads += 1;
            }
            reads
        })
    };
    let mut c = resp2(&s);
    let script = redis::Script::new(
        "redis.call('INCR', KEYS[1]); for i = 1, 100 do redis.call('RPUSH', 'tmp', i) end; \
         redis.call('DEL', 'tmp'); return redis.call('INCR', KEYS[2])",
    );
    for i in 1..=150 {
        let v: i64 = script.key("a").key("b").invoke(&mut c).unwrap();
        assert_eq!(v, i);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("reader panicked");
    assert!(reads > 0);
}
