//! Scripting with real connections: BUSY and SCRIPT KILL from another
//! client while a script runs, atomicity, EVALSHA after SCRIPT LOAD, SCRIPT
//! FLUSH. Waits are bounded so a regression fails instead of hanging.

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Server};

const BUSY: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

fn err(r: &Reply) -> String {
    match r {
        Reply::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Polls `cmd` on `conn` until it answers BUSY (the script passed the
/// threshold), within 10 s.
fn wait_busy(conn: &mut common::Conn) {
    let start = Instant::now();
    loop {
        let r = conn.cmd(&["GET", "k"]).expect("io");
        if r == Reply::Error(BUSY.into()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never BUSY: {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn script_kill_stops_a_runaway_read_only_script() {
    // The default single worker thread: scripts run off the runtime thread.
    let server = Server::rhea(&[]);
    let mut a = server.conn();
    let mut b = server.conn();
    a.set_timeout(Duration::from_secs(15));
    b.set_timeout(Duration::from_secs(15));
    b.ok(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]).expect("io"),
        Reply::Error("NOTBUSY No scripts in execution right now.".into())
    );
    a.send(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"]).expect("io");
    wait_busy(&mut b);
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]).expect("io"), Reply::Simple("OK".into()));
    let killed = err(&a.read().expect("io"));
    assert!(killed.starts_with("ERR Script killed by user with SCRIPT KILL... script: "), "{killed}");
    assert!(killed.ends_with(", on @user_script:1."), "{killed}");
    assert_eq!(b.cmd(&["PING"]).expect("io"), Reply::Simple("PONG".into()));
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]).expect("io"),
        Reply::Error("NOTBUSY No scripts in execution right now.".into())
    );
    // pcall cannot swallow the kill.
    a.send(&["EVAL", "while true do pcall(function() while true do end end) end", "0"]).expect("io");
    wait_busy(&mut b);
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]).expect("io"), Reply::Simple("OK".into()));
    assert!(err(&a.read().expect("io")).starts_with("ERR Script killed by user"));
}

#[test]
fn a_script_that_wrote_is_unkillable_and_atomic() {
    let server = Server::rhea(&["--io-threads", "2"]);
    let mut a = server.conn();
    let mut b = server.conn();
    a.set_timeout(Duration::from_secs(60));
    b.set_timeout(Duration::from_secs(15));
    b.ok(&["CONFIG", "SET", "lua-time-limit", "100"]);
    assert_eq!(
        b.cmd(&["CONFIG", "GET", "busy-reply-threshold"]).expect("io"),
        Reply::Array(vec![Reply::Bulk(b"busy-reply-threshold".to_vec()), Reply::Bulk(b"100".to_vec())])
    );
    // Writes, spins, then writes again: nobody may see the first write alone.
    // Long enough (seconds, not the ~0.2 s of 20M iterations) that SCRIPT
    // KILL always arrives while it runs, even on a fast, idle machine.
    let script = "redis.call('set', 'k', 'first') local i = 0 while i < 300000000 do i = i + 1 end \
                  redis.call('set', 'k', 'second') return i";
    a.send(&["EVAL", script, "0"]).expect("io");
    wait_busy(&mut b);
    let r = b.cmd(&["SCRIPT", "KILL"]).expect("io");
    assert!(err(&r).starts_with("UNKILLABLE Sorry the script already executed write commands"), "{r:?}");
    assert_eq!(a.read().expect("io"), Reply::Int(300000000));
    assert_eq!(b.cmd(&["GET", "k"]).expect("io"), Reply::Bulk(b"second".to_vec()));
}

#[test]
fn evalsha_after_script_load_and_flush() {
    let server = Server::rhea(&[]);
    let mut c = server.conn();
    let sha = match c.cmd(&["SCRIPT", "LOAD", "return {KEYS[1], ARGV[1]}"]).expect("io") {
        Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
        other => panic!("{other:?}"),
    };
    assert_eq!(sha.len(), 40);
    let expect = Reply::Array(vec![Reply::Bulk(b"k".to_vec()), Reply::Bulk(b"v".to_vec())]);
    assert_eq!(c.cmd(&["EVALSHA", &sha, "1", "k", "v"]).expect("io"), expect);
    assert_eq!(c.cmd(&["EVALSHA", &sha.to_uppercase(), "1", "k", "v"]).expect("io"), expect);
    assert_eq!(c.cmd(&["EVALSHA_RO", &sha, "1", "k", "v"]).expect("io"), expect);
    // Another connection shares the cache.
    let mut d = server.conn();
    assert_eq!(
        d.cmd(&["SCRIPT", "EXISTS", &sha, "0000"]).expect("io"),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0)])
    );
    assert_eq!(d.cmd(&["SCRIPT", "FLUSH"]).expect("io"), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SCRIPT", "EXISTS", &sha]).expect("io"), Reply::Array(vec![Reply::Int(0)]));
    assert_eq!(
        c.cmd(&["EVALSHA", &sha, "1", "k", "v"]).expect("io"),
        Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
    // EVAL caches the script too.
    c.cmd(&["EVAL", "return {KEYS[1], ARGV[1]}", "1", "k", "v"]).expect("io");
    assert_eq!(c.cmd(&["EVALSHA", &sha, "1", "k", "v"]).expect("io"), expect);
}

#[test]
fn math_random_is_seeded_per_request() {
    let server = Server::rhea(&[]);
    let mut c = server.conn();
    // Same seed, same sequence; two requests get different seeds.
    let r = c.cmd(&[
        "EVAL",
        "math.randomseed(7) local a = math.random() math.randomseed(7) return tostring(a == math.random())",
        "0",
    ]);
    assert_eq!(r.expect("io"), Reply::Bulk(b"true".to_vec()));
    let x = c.cmd(&["EVAL", "return tostring(math.random())", "0"]).expect("io");
    let y = c.cmd(&["EVAL", "return tostring(math.random())", "0"]).expect("io");
    assert_ne!(x, y);
}
