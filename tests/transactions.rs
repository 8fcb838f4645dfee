//! Transactions across several clients, compared with redis-server: the
//! same script of (connection, command) steps runs against both servers and
//! every reply must match.

mod common;

use std::time::Duration;

use common::{Reply, Server};

/// A step: which connection sends which command, or a pause.
enum Step<'a> {
    Cmd(usize, &'a [&'a str]),
    Sleep(u64),
}
use Step::{Cmd, Sleep};

fn run(server: &Server, steps: &[Step]) -> Vec<Reply> {
    let mut conns: Vec<_> = (0..3).map(|_| server.conn()).collect();
    conns[0].ok(&["FLUSHALL"]);
    let mut replies = Vec::new();
    for s in steps {
        match s {
            Cmd(c, args) => replies.push(conns[*c].cmd(args).expect("io")),
            Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
    }
    replies
}

fn same_as_redis(steps: &[Step]) -> Vec<Reply> {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let a = run(&redis, steps);
    let b = run(&rhea, steps);
    assert_eq!(a, b, "replies differ from redis-server");
    b
}

#[test]
fn watch_sees_other_clients_writes() {
    let r = same_as_redis(&[
        Cmd(0, &["SET", "k", "1"]),
        Cmd(0, &["WATCH", "k"]),
        Cmd(1, &["SET", "k", "2"]),
        Cmd(0, &["MULTI"]),
        Cmd(0, &["SET", "k", "3"]),
        Cmd(0, &["EXEC"]),
        Cmd(0, &["GET", "k"]),
    ]);
    assert_eq!(r[5], Reply::Nil, "EXEC must fail after another client's write");
    assert_eq!(r[6], Reply::Bulk(b"2".to_vec()));
}

#[test]
fn watch_ignores_writes_that_change_nothing_and_other_keys() {
    let r = same_as_redis(&[
        Cmd(0, &["SET", "k", "1"]),
        Cmd(0, &["WATCH", "k", "missing"]),
        Cmd(1, &["SET", "k", "9", "NX"]),
        Cmd(1, &["SET", "other", "x"]),
        Cmd(1, &["DEL", "missing"]),
        Cmd(0, &["MULTI"]),
        Cmd(0, &["INCR", "k"]),
        Cmd(0, &["EXEC"]),
    ]);
    assert_eq!(r[7], Reply::Array(vec![Reply::Int(2)]));
}

#[test]
fn watch_sees_expiry_flush_swapdb_and_missing_key_creation() {
    let r = same_as_redis(&[
        Cmd(0, &["SET", "k", "1", "PX", "100"]),
        Cmd(0, &["WATCH", "k"]),
        Sleep(250),
        Cmd(0, &["MULTI"]),
        Cmd(0, &["PING"]),
        Cmd(0, &["EXEC"]),
        // FLUSHALL invalidates watched keys that existed.
        Cmd(0, &["SET", "f", "1"]),
        Cmd(0, &["WATCH", "f"]),
        Cmd(1, &["FLUSHALL"]),
        Cmd(0, &["MULTI"]),
        Cmd(0, &["PING"]),
        Cmd(0, &["EXEC"]),
        // Creating a watched missing key is a modification.
        Cmd(0, &["WATCH", "new"]),
        Cmd(1, &["SET", "new", "x"]),
        Cmd(0, &["MULTI"]),
        Cmd(0, &["PING"]),
        Cmd(0, &["EXEC"]),
        // SWAPDB bringing a key into the watched db.
        Cmd(1, &["SELECT", "1"]),
        Cmd(1, &["SET", "s", "in1"]),
        Cmd(0, &["WATCH", "s"]),
        Cmd(1, &["SWAPDB", "0", "1"]),
        Cmd(0, &["MULTI"]),
        Cmd(0, &["GET", "s"]),
        Cmd(0, &["EXEC"]),
    ]);
    assert_eq!(r[4], Reply::Nil, "expired watched key aborts");
    assert_eq!(r[10], Reply::Nil, "FLUSHALL aborts");
    assert_eq!(r[15], Reply::Nil, "creation aborts");
    assert_eq!(r[22], Reply::Nil, "SWAPDB aborts");
}

#[test]
fn exec_is_atomic_under_concurrent_clients() {
    let rhea = Server::rhea(&[]);
    let port = rhea.port;
    let writers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = common::Conn::connect(port).expect("connect");
                for _ in 0..300 {
                    c.ok(&["MULTI"]);
                    c.ok(&["INCR", "a"]);
                    c.ok(&["INCR", "b"]);
                    let r = c.cmd(&["EXEC"]).expect("exec");
                    assert!(matches!(r, Reply::Array(ref v) if v.len() == 2), "{r:?}");
                }
            })
        })
        .collect();
    let mut reader = rhea.conn();
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) && checks < 5000 {
        reader.ok(&["MULTI"]);
        reader.ok(&["GET", "a"]);
        reader.ok(&["GET", "b"]);
        match reader.cmd(&["EXEC"]).expect("exec") {
            Reply::Array(v) => assert_eq!(v[0], v[1], "a transaction was seen half-applied"),
            other => panic!("EXEC: {other:?}"),
        }
        checks += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert_eq!(reader.cmd(&["GET", "a"]).expect("get"), Reply::Bulk(b"1200".to_vec()));
    assert!(checks > 0);
}

#[test]
fn disconnect_drops_watches_and_queues() {
    let rhea = Server::rhea(&[]);
    {
        let mut c = rhea.conn();
        c.ok(&["WATCH", "k"]);
        c.ok(&["MULTI"]);
        c.cmd(&["SET", "k", "queued-never-run"]).expect("queue");
    }
    let mut c = rhea.conn();
    assert!(common::eventually(Duration::from_secs(5), || {
        c.cmd(&["INFO", "clients"])
            .ok()
            .and_then(|r| r.as_bulk().map(|b| b.to_vec()))
            .is_some_and(|b| String::from_utf8_lossy(&b).contains("connected_clients:1\r\n"))
    }));
    assert_eq!(c.cmd(&["GET", "k"]).expect("get"), Reply::Nil);
}
