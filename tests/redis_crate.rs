//! rhea-server driven by the `redis` crate (redis-rs), the usual Rust
//! client: typed commands, raw `redis::cmd`, pipelines, server errors and
//! RESP3. `RHEA_CLIENT_TARGET=redis` runs the same tests against
//! redis-server 7.0, to check the expectations themselves.

mod common;

use std::collections::{HashMap, HashSet};

use common::Server;
use redis::{Commands, Connection, ErrorKind, RedisError, RedisResult, Value};

fn server() -> Server {
    match std::env::var("RHEA_CLIENT_TARGET").as_deref() {
        Ok("redis") => Server::redis(&[]),
        _ => Server::rhea(&[]),
    }
}

fn connect(s: &Server, query: &str) -> Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/{query}", s.port)).expect("client url");
    let con = client.get_connection().expect("connect");
    con.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
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

#[test]
fn typed_string_commands() {
    let s = server();
    let mut c = resp2(&s);
    let _: () = c.set("k", "v").unwrap();
    let v: String = c.get("k").unwrap();
    assert_eq!(v, "v");
    let missing: Option<String> = c.get("missing").unwrap();
    assert_eq!(missing, None);
    let _: () = c.set("n", 41).unwrap();
    let n: i64 = c.incr("n", 1).unwrap();
    assert_eq!(n, 42);
    let n: i64 = c.decr("n", 50).unwrap();
    assert_eq!(n, -8);
    let as_string: String = c.get("n").unwrap();
    assert_eq!(as_string, "-8");
    let len: usize = c.append("k", "alue").unwrap();
    assert_eq!(len, 5);
    let len: usize = c.strlen("k").unwrap();
    assert_eq!(len, 5);
    let f: f64 = c.incr("f", 2.5f64).unwrap();
    assert_eq!(f, 2.5);
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let vals: Vec<Option<i32>> = c.mget(&["a", "b", "nope"]).unwrap();
    assert_eq!(vals, vec![Some(1), Some(2), None]);
    let range: String = c.getrange("k", 1, 3).unwrap();
    assert_eq!(range, "alu");
    let len: usize = c.setrange("k", 0, "V").unwrap();
    assert_eq!(len, 5);
    let old: Option<String> = c.getset("k", "new").unwrap();
    assert_eq!(old.as_deref(), Some("Value"));
    let gone: Option<String> = c.get_del("k").unwrap();
    assert_eq!(gone.as_deref(), Some("new"));
    let set: bool = c.set_nx("k", "x").unwrap();
    assert!(set);
    let set: bool = c.set_nx("k", "y").unwrap();
    assert!(!set);
}

#[test]
fn raw_cmd_and_set_options() {
    let s = server();
    let mut c = resp2(&s);
    let r: Value = redis::cmd("SET").arg("k").arg("v").arg("NX").query(&mut c).unwrap();
    assert_eq!(r, Value::Okay);
    let r: Value = redis::cmd("SET").arg("k").arg("v").arg("NX").query(&mut c).unwrap();
    assert_eq!(r, Value::Nil);
    let r: Option<String> = redis::cmd("SET").arg("k").arg("w").arg("GET").query(&mut c).unwrap();
    assert_eq!(r.as_deref(), Some("v"));
    let _: () = redis::cmd("SET").arg("k").arg("x").arg("EX").arg(100).query(&mut c).unwrap();
    let ttl: i64 = c.ttl("k").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let _: () = redis::cmd("SET").arg("k").arg("y").arg("KEEPTTL").query(&mut c).unwrap();
    let ttl: i64 = c.ttl("k").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let echo: Vec<u8> = redis::cmd("ECHO").arg(&b"\x00\xff"[..]).query(&mut c).unwrap();
    assert_eq!(echo, b"\x00\xff");
}

#[test]
fn server_errors() {
    let s = server();
    let mut c = resp2(&s);
    let r: RedisResult<Value> = redis::cmd("SET").arg("k").arg("v").arg("NX").arg("XX").query(&mut c);
    assert_eq!(server_error(r), "ERR syntax error");
    let r: RedisResult<Value> = redis::cmd("GET").query(&mut c);
    assert_eq!(server_error(r), "ERR wrong number of arguments for 'get' command");
    let r: RedisResult<Value> = redis::cmd("NOSUCH").arg("x").query(&mut c);
    assert_eq!(server_error(r), "ERR unknown command 'NOSUCH', with args beginning with: 'x' ");
    let _: () = c.set("s", "abc").unwrap();
    let r: RedisResult<i64> = c.incr("s", 1);
    assert_eq!(server_error(r), "ERR value is not an integer or out of range");
    let _: () = c.set("max", i64::MAX).unwrap();
    let r: RedisResult<i64> = c.incr("max", 1);
    assert_eq!(server_error(r), "ERR increment or decrement would overflow");
    let r: RedisResult<Value> = redis::cmd("HELLO").arg(9).query(&mut c);
    let e = r.expect_err("HELLO 9");
    assert_eq!(e.kind(), ErrorKind::ExtensionError);
    assert_eq!(e.code(), Some("NOPROTO"));
    let r: RedisResult<()> = c.rename("nope", "x");
    assert_eq!(server_error(r), "ERR no such key");
    // A type conversion failure is a client-side error, not a server one.
    let r: RedisResult<i64> = c.get("s");
    assert_eq!(r.expect_err("not a number").kind(), ErrorKind::TypeError);
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn pipelines() {
    let s = server();
    let mut c = resp2(&s);
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        p.cmd("INCR").arg("counter");
    }
    let counters: Vec<i64> = p.query(&mut c).unwrap();
    assert_eq!(counters, (1..=1000).collect::<Vec<i64>>());
    let (a, b, n): (i64, Option<String>, usize) =
        redis::pipe().get("k7").get("nope").cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!((a, b, n), (7, None, 1001));
    // An error inside a pipeline fails the whole query, and the connection
    // stays in sync afterwards.
    let _: () = c.set("s", "text").unwrap();
    let r: RedisResult<(i64, i64)> = redis::pipe().incr("counter", 1).incr("s", 1).query(&mut c);
    assert!(r.is_err());
    let after: i64 = c.get("counter").unwrap();
    assert_eq!(after, 1001);
    // Atomic pipelines wrap the commands in MULTI/EXEC only if the server
    // supports transactions, so only the plain form is exercised here.
    let values: Vec<Value> = redis::pipe().cmd("PING").cmd("ECHO").arg("x").query(&mut c).unwrap();
    assert_eq!(values, vec![Value::SimpleString("PONG".into()), Value::BulkString(b"x".to_vec())]);
}

#[test]
fn binary_and_large_values() {
    let s = server();
    let mut c = resp2(&s);
    let all: Vec<u8> = (0..=255u8).collect();
    let _: () = c.set(&all[..], &all[..]).unwrap();
    let back: Vec<u8> = c.get(&all[..]).unwrap();
    assert_eq!(back, all);
    let big: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let _: () = c.set("big", &big[..]).unwrap();
    let back: Vec<u8> = c.get("big").unwrap();
    assert!(back == big, "4 MB value came back different ({} bytes)", back.len());
    let len: usize = c.strlen("big").unwrap();
    assert_eq!(len, big.len());
}

#[test]
fn keys_and_expiry() {
    let s = server();
    let mut c = resp2(&s);
    let _: () = c.set("a", 1).unwrap();
    let n: usize = c.exists(&["a", "a", "b"]).unwrap();
    assert_eq!(n, 2);
    let t: String = redis::cmd("TYPE").arg("a").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let set: bool = c.expire("a", 100).unwrap();
    assert!(set);
    let ttl: i64 = c.pttl("a").unwrap();
    assert!((99_000..=100_000).contains(&ttl), "pttl {ttl}");
    let set: bool = c.expire("missing", 100).unwrap();
    assert!(!set);
    let ttl: i64 = c.ttl("missing").unwrap();
    assert_eq!(ttl, -2);
    let removed: bool = c.persist("a").unwrap();
    assert!(removed);
    let ttl: i64 = c.ttl("a").unwrap();
    assert_eq!(ttl, -1);
    let _: () = c.pset_ex("short", "v", 30).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(120));
    let gone: Option<String> = c.get("short").unwrap();
    assert_eq!(gone, None);
    let _: () = c.rename("a", "b").unwrap();
    let n: usize = c.del(&["a", "b"]).unwrap();
    assert_eq!(n, 1);
    let keys: Vec<String> = c.keys("*").unwrap();
    assert!(keys.is_empty());
}

#[test]
fn scan_returns_each_key_once() {
    let s = server();
    let mut c = resp2(&s);
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.set(format!("key:{i}"), i).ignore();
    }
    let _: () = p.query(&mut c).unwrap();
    let keys: Vec<String> = c.scan().unwrap().collect();
    assert_eq!(keys.len(), 1000);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), 1000);
    let matched: Vec<String> = c.scan_match("key:99*").unwrap().collect();
    let mut matched: Vec<&str> = matched.iter().map(String::as_str).collect();
    matched.sort();
    assert_eq!(
        matched,
        vec![
            "key:99", "key:990", "key:991", "key:992", "key:993", "key:994", "key:995", "key:996", "key:997",
            "key:998", "key:999"
        ]
    );
}

#[test]
fn database_selection_by_url() {
    let s = server();
    let mut d0 = resp2(&s);
    let mut d7 = connect(&s, "7");
    let _: () = d7.set("k", "seven").unwrap();
    let none: Option<String> = d0.get("k").unwrap();
    assert_eq!(none, None);
    let v: String = d7.get("k").unwrap();
    assert_eq!(v, "seven");
    let n: usize = redis::cmd("DBSIZE").query(&mut d7).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn client_name_and_info() {
    let s = server();
    let mut c = resp2(&s);
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("rs-suite").query(&mut c).unwrap();
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name.as_deref(), Some("rs-suite"));
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert!(list.lines().any(|l| l.contains(" name=rs-suite ")), "{list}");
    let info: redis::InfoDict = redis::cmd("INFO").query(&mut c).unwrap();
    let version: String = info.get("redis_version").expect("redis_version");
    assert!(version.starts_with("7."), "{version}");
    let port: u16 = info.get("tcp_port").expect("tcp_port");
    assert_eq!(port, s.port);
}

#[test]
fn resp3() {
    let s = server();
    let mut c = connect(&s, "?protocol=resp3");
    let hello: Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
    let Value::Map(fields) = hello else { panic!("HELLO 3 is not a map: {hello:?}") };
    let fields: HashMap<String, Value> =
        fields.into_iter().map(|(k, v)| (redis::from_redis_value::<String>(&k).expect("key"), v)).collect();
    assert_eq!(fields.get("proto"), Some(&Value::Int(3)));
    assert_eq!(fields.get("server"), Some(&Value::BulkString(b"redis".to_vec())));
    assert_eq!(fields.get("modules"), Some(&Value::Array(vec![])));
    let nil: Value = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(nil, Value::Nil);
    let _: () = c.set("k", "v").unwrap();
    let v: String = c.get("k").unwrap();
    assert_eq!(v, "v");
    let n: i64 = c.incr("n", 5).unwrap();
    assert_eq!(n, 5);
    let r: RedisResult<Value> = redis::cmd("SET").arg("k").arg("v").arg("XX").arg("NX").query(&mut c);
    assert_eq!(server_error(r), "ERR syntax error");
    let info: Value = redis::cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    let Value::VerbatimString { text, .. } = info else { panic!("CLIENT INFO in RESP3 is not verbatim: {info:?}") };
    assert!(text.contains(" resp=3"), "{text}");
}

#[test]
fn threads_share_a_client() {
    let s = server();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", s.port)).unwrap();
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                for i in 0..200 {
                    let _: i64 = c.incr("shared", 1).unwrap();
                    let _: () = c.set(format!("t{t}:{i}"), i).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker panicked");
    }
    let mut c = client.get_connection().unwrap();
    let total: i64 = c.get("shared").unwrap();
    assert_eq!(total, 1200);
    let n: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 1201);
}
