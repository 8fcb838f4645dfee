//! The data model through a 3-node cluster of real processes: writes and
//! pipelines through followers, pub/sub and keyspace events on every node,
//! blocking commands, MULTI/EXEC and WATCH, scripts, expiry, READONLY, and
//! a seeded random mix of every kind of write sent to all nodes, after
//! which every node's whole keyspace (16 databases, types, values and
//! absolute expiry times) must be identical.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{eventually, Conn, Reply};

const ELECTION: Duration = Duration::from_secs(15);
const CONVERGE: Duration = Duration::from_secs(20);
const IO: Duration = Duration::from_secs(10);

/// A started cluster with its leader and the two followers.
fn start() -> (Cluster, usize, usize, usize) {
    let c = Cluster::start(3);
    let l = c.leader(ELECTION).expect("no leader elected");
    (c, l, (l + 1) % 3, (l + 2) % 3)
}

fn conn(c: &Cluster, i: usize) -> Conn {
    c.conn(i, IO).unwrap_or_else(|e| panic!("connect to node {i}: {e}"))
}

fn b(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn arr(v: &[&str]) -> Reply {
    Reply::Array(v.iter().map(|s| b(s)).collect())
}

fn cmd(c: &mut Conn, args: &[&str]) -> Reply {
    c.cmd(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Sends every command, then reads every reply (one pipeline).
fn pipeline(c: &mut Conn, cmds: &[&[&str]]) -> Vec<Reply> {
    for a in cmds {
        c.send(a).unwrap_or_else(|e| panic!("send {a:?}: {e}"));
    }
    cmds.iter().map(|a| c.read().unwrap_or_else(|e| panic!("reply to {a:?}: {e}"))).collect()
}

/// Waits until every node has applied the leader's commit index and
/// knows who the leader is (a node that was cut off may have applied
/// everything but not heard a heartbeat yet: its linearizable reads would
/// still say CLUSTERDOWN).
fn converge(c: &Cluster) {
    if let Err(e) = c.wait_converged(CONVERGE) {
        panic!("the cluster did not converge: {e}");
    }
    let known = eventually(CONVERGE, || {
        let Some(l) = c.leader_now() else { return false };
        (0..c.len()).all(|i| c.info(i).is_some_and(|r| r.leader_id == c.nodes[l].id))
    });
    let infos: Vec<_> = (0..c.len()).map(|i| c.info(i)).collect();
    assert!(known, "not every node knows the leader: {infos:?}");
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(b) => b.escape_ascii().to_string(),
        Reply::Simple(s) | Reply::Double(s) | Reply::BigNumber(s) => s.clone(),
        Reply::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn texts(r: Reply) -> Result<Vec<String>, String> {
    match r {
        Reply::Array(v) | Reply::Set(v) => Ok(v.iter().map(text).collect()),
        other => Err(format!("expected an array, got {other:?}")),
    }
}

/// Every key of every database of the node at `port`, read locally
/// (READONLY): `(db, key)` -> "type|value|pexpiretime".
fn full_dump(port: u16) -> Result<BTreeMap<(usize, String), String>, String> {
    let mut c = Conn::connect_timeout(port, IO).map_err(|e| format!("port {port}: {e}"))?;
    let io = |e: std::io::Error| e.to_string();
    let q = |c: &mut Conn, a: &[&str]| -> Result<Reply, String> {
        match c.cmd(a).map_err(io)? {
            Reply::Error(e) => Err(format!("{a:?} -> {e}")),
            Reply::Closed => Err(format!("{a:?}: connection closed")),
            r => Ok(r),
        }
    };
    q(&mut c, &["READONLY"])?;
    let mut out = BTreeMap::new();
    for db in 0..16 {
        q(&mut c, &["SELECT", &db.to_string()])?;
        let mut keys = match q(&mut c, &["KEYS", "*"])? {
            Reply::Array(v) => v,
            other => return Err(format!("KEYS -> {other:?}")),
        };
        keys.sort();
        for k in keys {
            let k = k.as_bulk().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            let t = text(&q(&mut c, &["TYPE", &k])?);
            let v = match t.as_str() {
                "string" => text(&q(&mut c, &["GET", &k])?),
                "list" => texts(q(&mut c, &["LRANGE", &k, "0", "-1"])?)?.join(","),
                "set" => {
                    let mut v = texts(q(&mut c, &["SMEMBERS", &k])?)?;
                    v.sort();
                    v.join(",")
                }
                "hash" => {
                    let flat = texts(q(&mut c, &["HGETALL", &k])?)?;
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "zset" => texts(q(&mut c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])?)?.join(","),
                "none" => continue,
                other => format!("<{other}>"),
            };
            let ttl = text(&q(&mut c, &["PEXPIRETIME", &k])?);
            out.insert((db, k), format!("{t}|{v}|{ttl}"));
        }
    }
    Ok(out)
}

/// Waits for convergence, then asserts every node's full dump equals node
/// 0's; returns it.
fn assert_same_everywhere(c: &Cluster, what: &str) -> BTreeMap<(usize, String), String> {
    converge(c);
    let dumps: Vec<_> =
        (0..c.len()).map(|i| full_dump(c.port(i)).unwrap_or_else(|e| panic!("dump node {i}: {e}"))).collect();
    for i in 1..dumps.len() {
        if dumps[i] != dumps[0] {
            let mut diff = Vec::new();
            let keys: std::collections::BTreeSet<_> = dumps[0].keys().chain(dumps[i].keys()).collect();
            for k in keys {
                let (a, b) = (dumps[0].get(k), dumps[i].get(k));
                if a != b {
                    let short = |v: Option<&String>| match v {
                        Some(v) if v.len() > 160 => {
                            format!("{}... ({} bytes)", &v[..v.floor_char_boundary(160)], v.len())
                        }
                        Some(v) => v.clone(),
                        None => "(none)".into(),
                    };
                    diff.push(format!("  db {} key {:?}: node 0 {} / node {i} {}", k.0, k.1, short(a), short(b)));
                }
            }
            panic!("{what}: node {i} diverged from node 0 ({} differences):\n{}", diff.len(), diff.join("\n"));
        }
    }
    dumps.into_iter().next().unwrap_or_default()
}

/// INFO keyspace of node `i`, read locally.
fn keyspace(c: &Cluster, i: usize) -> String {
    let mut k = conn(c, i);
    cmd(&mut k, &["READONLY"]);
    let r = cmd(&mut k, &["INFO", "keyspace"]);
    let s = String::from_utf8_lossy(r.as_bulk().unwrap_or_default()).into_owned();
    s.lines().filter(|l| l.starts_with("db")).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------
// 1. Writes through a follower, pipelines.

#[test]
fn follower_forwards_writes_and_pipelines_keep_order() {
    let (c, l, f, g) = start();
    let mut fc = conn(&c, f);
    assert_eq!(cmd(&mut fc, &["SET", "k", "v"]), ok());
    assert_eq!(cmd(&mut conn(&c, l), &["GET", "k"]), b("v"), "leader after a SET on a follower");
    assert_eq!(cmd(&mut fc, &["GET", "k"]), b("v"), "the follower that forwarded the SET");
    assert_eq!(cmd(&mut conn(&c, g), &["GET", "k"]), b("v"), "the other follower (read barrier)");

    // Writes and reads mixed in one pipeline: replies in order, and every
    // read sees the writes before it.
    let replies = pipeline(
        &mut fc,
        &[
            &["SET", "p", "1"],
            &["GET", "p"],
            &["INCR", "p"],
            &["GET", "p"],
            &["APPEND", "p", "0"],
            &["INCRBY", "p", "5"],
            &["STRLEN", "p"],
            &["RPUSH", "l", "a", "b"],
            &["LRANGE", "l", "0", "-1"],
            &["LPOP", "l"],
            &["EXISTS", "p", "l", "nope"],
            &["DEL", "p"],
            &["GET", "p"],
            &["PING"],
        ],
    );
    let want = vec![
        ok(),
        b("1"),
        Reply::Int(2),
        b("2"),
        Reply::Int(2),
        Reply::Int(25),
        Reply::Int(2),
        Reply::Int(2),
        arr(&["a", "b"]),
        b("a"),
        Reply::Int(2),
        Reply::Int(1),
        Reply::Nil,
        Reply::Simple("PONG".into()),
    ];
    assert_eq!(replies, want, "pipeline on follower {f}");

    // A long pipeline of INCRs on the other follower in RESP3.
    let mut gc = conn(&c, g);
    assert!(matches!(cmd(&mut gc, &["HELLO", "3"]), Reply::Map(_)));
    let mut cmds: Vec<Vec<&str>> = Vec::new();
    for _ in 0..300 {
        cmds.push(vec!["INCR", "ctr"]);
        cmds.push(vec!["GET", "ctr"]);
    }
    let refs: Vec<&[&str]> = cmds.iter().map(|v| v.as_slice()).collect();
    let replies = pipeline(&mut gc, &refs);
    for (n, pair) in replies.chunks(2).enumerate() {
        let want = (n + 1) as i64;
        assert_eq!(pair, [Reply::Int(want), b(&want.to_string())], "INCR/GET pair {n}");
    }
    assert_same_everywhere(&c, "after follower writes");
}

// ---------------------------------------------------------------------------
// 2. Pub/sub and keyspace notifications.

/// Reads pushes until `n` arrived (or the timeout): each as its parts.
fn read_pushes(s: &mut Conn, n: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    s.set_timeout(Duration::from_secs(5));
    while out.len() < n {
        match s.read() {
            Ok(Reply::Array(v)) | Ok(Reply::Push(v)) => out.push(v.iter().map(text).collect()),
            Ok(other) => panic!("unexpected reply while subscribed: {other:?} (after {out:?})"),
            Err(e) => panic!("only {} of {n} messages arrived ({e}): {out:?}", out.len()),
        }
    }
    out
}

#[test]
fn publish_anywhere_reaches_subscribers_everywhere() {
    let (c, _l, _f, _g) = start();
    // On every node: a RESP2 subscriber (channel and pattern) and a RESP3 one.
    let mut subs = Vec::new();
    for i in 0..3 {
        let mut s2 = conn(&c, i);
        s2.send(&["SUBSCRIBE", "news"]).expect("send");
        s2.send(&["PSUBSCRIBE", "ne*"]).expect("send");
        let conf = read_pushes(&mut s2, 2);
        assert_eq!(conf[0], ["subscribe", "news", "1"]);
        assert_eq!(conf[1], ["psubscribe", "ne*", "2"]);
        let mut s3 = conn(&c, i);
        assert!(matches!(cmd(&mut s3, &["HELLO", "3"]), Reply::Map(_)));
        s3.send(&["SUBSCRIBE", "news"]).expect("send");
        assert_eq!(read_pushes(&mut s3, 1)[0], ["subscribe", "news", "1"]);
        subs.push((s2, s3));
    }
    for i in 0..3 {
        let mut p = conn(&c, i);
        let r = cmd(&mut p, &["PUBLISH", "news", &format!("from-{i}")]);
        assert!(matches!(r, Reply::Int(_)), "PUBLISH on node {i} -> {r:?}");
        assert!(matches!(cmd(&mut p, &["PUBLISH", "nexus", &format!("p-{i}")]), Reply::Int(_)));
    }
    let mut first: Option<Vec<Vec<String>>> = None;
    for (i, (s2, s3)) in subs.iter_mut().enumerate() {
        // 3 messages + 3 pmessages for "news", 3 pmessages for "nexus".
        let got2 = read_pushes(s2, 9);
        let got3 = read_pushes(s3, 3);
        for j in 0..3 {
            let m = ["message".to_string(), "news".into(), format!("from-{j}")];
            assert!(got2.iter().any(|g| *g == m), "node {i} RESP2 missed {m:?}: {got2:?}");
            assert!(got3.iter().any(|g| *g == m), "node {i} RESP3 missed {m:?}: {got3:?}");
            let pm = ["pmessage".to_string(), "ne*".into(), "nexus".into(), format!("p-{j}")];
            assert!(got2.iter().any(|g| *g == pm), "node {i} missed {pm:?}: {got2:?}");
        }
        // Every node applies the log in one order: same order everywhere.
        match &first {
            None => first = Some(got2),
            Some(f) => assert_eq!(&got2, f, "node {i} saw the messages in another order"),
        }
    }
}

#[test]
fn keyspace_notifications_fire_on_every_node() {
    let (c, l, f, _g) = start();
    let mut subs = Vec::new();
    for i in 0..3 {
        let mut k = conn(&c, i);
        assert_eq!(cmd(&mut k, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]), ok(), "node {i}");
        let mut s = conn(&c, i);
        s.send(&["PSUBSCRIBE", "__keyspace@0__:ev*"]).expect("send");
        s.send(&["SUBSCRIBE", "__keyevent@0__:expired"]).expect("send");
        read_pushes(&mut s, 2);
        subs.push(s);
    }
    let mut fc = conn(&c, f);
    assert_eq!(cmd(&mut fc, &["SET", "ev1", "x"]), ok());
    assert_eq!(cmd(&mut conn(&c, l), &["LPUSH", "ev2", "a"]), ok_int(1));
    assert_eq!(cmd(&mut fc, &["INCR", "ev3"]), ok_int(1));
    assert_eq!(cmd(&mut fc, &["SET", "ev4", "x", "PX", "150"]), ok());
    for (i, s) in subs.iter_mut().enumerate() {
        // set, lpush, incrby, set + expire (SET PX), then expired
        // (keyspace and keyevent).
        let got = read_pushes(s, 7);
        let events: Vec<(String, String)> =
            got.iter().map(|m| (m[2].clone(), m.last().cloned().unwrap_or_default())).collect();
        let want = [
            ("__keyspace@0__:ev1", "set"),
            ("__keyspace@0__:ev2", "lpush"),
            ("__keyspace@0__:ev3", "incrby"),
            ("__keyspace@0__:ev4", "set"),
        ];
        for (n, (chan, ev)) in want.iter().enumerate() {
            assert_eq!(events[n], (chan.to_string(), ev.to_string()), "node {i} event {n}: {got:?}");
        }
        assert_eq!(events[4], ("__keyspace@0__:ev4".to_string(), "expire".to_string()), "node {i}: {got:?}");
        let rest: Vec<&Vec<String>> = got[5..].iter().collect();
        assert!(
            rest.iter().any(|m| m[0] == "pmessage" && m[2] == "__keyspace@0__:ev4" && m[3] == "expired"),
            "node {i}: no keyspace expired event: {got:?}"
        );
        assert!(
            rest.iter().any(|m| m[0] == "message" && m[1] == "__keyevent@0__:expired" && m[2] == "ev4"),
            "node {i}: no keyevent expired event: {got:?}"
        );
    }
}

fn ok_int(i: i64) -> Reply {
    Reply::Int(i)
}

// ---------------------------------------------------------------------------
// 3. Blocking commands.

#[test]
fn blocking_commands_on_followers_and_leader() {
    let (c, l, f, g) = start();
    // BLPOP on a follower, served by an RPUSH on the other follower.
    let mut w = conn(&c, f);
    w.send(&["BLPOP", "bl", "10"]).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cmd(&mut conn(&c, g), &["RPUSH", "bl", "x"]), ok_int(1));
    assert_eq!(w.read().expect("BLPOP reply"), arr(&["bl", "x"]));

    // Two clients (follower and leader) blocked on one key, two pushes.
    let mut a = conn(&c, f);
    let mut bb = conn(&c, l);
    a.send(&["BLPOP", "two", "10"]).expect("send");
    bb.send(&["BRPOP", "two", "10"]).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    let mut p = conn(&c, g);
    assert_eq!(cmd(&mut p, &["RPUSH", "two", "e1"]), ok_int(1));
    assert_eq!(cmd(&mut p, &["RPUSH", "two", "e2"]), ok_int(1), "an element was not popped before the second push");
    let mut got = vec![a.read().expect("a"), bb.read().expect("b")];
    got.sort();
    assert_eq!(got, vec![arr(&["two", "e1"]), arr(&["two", "e2"])]);
    assert_eq!(cmd(&mut p, &["LLEN", "two"]), ok_int(0));

    // Timeout: nil after about the timeout.
    let mut t = conn(&c, f);
    let started = Instant::now();
    assert_eq!(cmd(&mut t, &["BLPOP", "none", "1"]), Reply::Nil);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "BLPOP 1 took {took:?}");
    let started = Instant::now();
    assert_eq!(cmd(&mut conn(&c, l), &["BZPOPMIN", "nonez", "0.5"]), Reply::Nil);
    assert!(started.elapsed() >= Duration::from_millis(450), "BZPOPMIN 0.5 took {:?}", started.elapsed());

    // A client that hangs up while blocked does not eat a later element.
    for node in [f, l] {
        let key = format!("gone{node}");
        let mut d = conn(&c, node);
        d.send(&["BLPOP", &key, "10"]).expect("send");
        std::thread::sleep(Duration::from_millis(300));
        drop(d);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(cmd(&mut p, &["RPUSH", &key, "kept"]), ok_int(1));
        std::thread::sleep(Duration::from_millis(300));
        converge(&c);
        for i in 0..3 {
            let mut r = conn(&c, i);
            assert_eq!(cmd(&mut r, &["LRANGE", &key, "0", "-1"]), arr(&["kept"]), "node {i}, waiter was on {node}");
        }
    }

    // BLMOVE on a follower, fed from the leader.
    let mut m = conn(&c, g);
    m.send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "10"]).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cmd(&mut conn(&c, l), &["LPUSH", "src", "mv"]), ok_int(1));
    assert_eq!(m.read().expect("BLMOVE reply"), b("mv"));

    // BZPOPMIN on a follower, fed from the other follower.
    let mut z = conn(&c, f);
    z.send(&["BZPOPMIN", "zz", "10"]).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cmd(&mut conn(&c, g), &["ZADD", "zz", "2", "b", "1", "a"]), ok_int(2));
    assert_eq!(z.read().expect("BZPOPMIN reply"), arr(&["zz", "a", "1"]));
    // The connection that was blocked goes on normally (pipelined reads).
    assert_eq!(cmd(&mut z, &["ZRANGE", "zz", "0", "-1"]), arr(&["b"]));

    let d = assert_same_everywhere(&c, "after blocking commands");
    assert_eq!(d.get(&(0, "dst".into())).map(String::as_str), Some("list|mv|-1"));
    assert!(!d.contains_key(&(0, "src".into())));
}

// ---------------------------------------------------------------------------
// 4. MULTI/EXEC and WATCH.

#[test]
fn transactions_through_followers_and_watch() {
    let (c, l, f, g) = start();
    let mut fc = conn(&c, f);
    let r = pipeline(
        &mut fc,
        &[
            &["MULTI"],
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["GET", "a"],
            &["RPUSH", "tl", "x"],
            &["EXEC"],
            &["GET", "a"],
        ],
    );
    let queued = Reply::Simple("QUEUED".into());
    assert_eq!(
        r,
        vec![
            ok(),
            queued.clone(),
            queued.clone(),
            queued.clone(),
            queued.clone(),
            Reply::Array(vec![ok(), Reply::Int(2), b("2"), Reply::Int(1)]),
            b("2")
        ]
    );
    assert_eq!(cmd(&mut conn(&c, l), &["GET", "a"]), b("2"));

    // A queue-time error aborts the whole transaction.
    let r = pipeline(&mut fc, &[&["MULTI"], &["SET", "a", "9"], &["NOSUCHCMD"], &["INCR"], &["EXEC"], &["GET", "a"]]);
    assert_eq!(r[0], ok());
    assert_eq!(r[1], queued);
    assert!(matches!(&r[2], Reply::Error(e) if e.starts_with("ERR unknown command")), "{:?}", r[2]);
    assert!(matches!(&r[3], Reply::Error(e) if e.contains("wrong number of arguments")), "{:?}", r[3]);
    assert!(matches!(&r[4], Reply::Error(e) if e.starts_with("EXECABORT")), "{:?}", r[4]);
    assert_eq!(r[5], b("2"), "an aborted transaction wrote");

    // A run-time error inside EXEC does not stop the rest.
    let r = pipeline(&mut fc, &[&["MULTI"], &["INCR", "tl"], &["SET", "a", "3"], &["EXEC"]]);
    match &r[3] {
        Reply::Array(v) => {
            assert!(matches!(&v[0], Reply::Error(e) if e.starts_with("WRONGTYPE")), "{v:?}");
            assert_eq!(v[1], ok());
        }
        other => panic!("EXEC -> {other:?}"),
    }

    // WATCH on the leader: a change by another client (through a follower)
    // before EXEC aborts it.
    let mut lc = conn(&c, l);
    assert_eq!(cmd(&mut lc, &["WATCH", "w"]), ok());
    assert_eq!(cmd(&mut conn(&c, g), &["SET", "w", "theirs"]), ok());
    let r = pipeline(&mut lc, &[&["MULTI"], &["SET", "w", "mine"], &["EXEC"]]);
    assert_eq!(r[2], Reply::Nil, "EXEC after a watched key changed");
    assert_eq!(cmd(&mut lc, &["GET", "w"]), b("theirs"));
    // Unchanged: EXEC runs.
    assert_eq!(cmd(&mut lc, &["WATCH", "w"]), ok());
    let r = pipeline(&mut lc, &[&["MULTI"], &["SET", "w", "mine"], &["EXEC"]]);
    assert_eq!(r[2], Reply::Array(vec![ok()]));

    // WATCH on a follower, the change made on the leader.
    assert_eq!(cmd(&mut fc, &["WATCH", "w2"]), ok());
    assert_eq!(cmd(&mut lc, &["SET", "w2", "leader"]), ok());
    let r = pipeline(&mut fc, &[&["MULTI"], &["SET", "w2", "follower"], &["EXEC"]]);
    assert_eq!(r[2], Reply::Nil, "EXEC on a follower after a watched key changed on the leader");
    assert_eq!(cmd(&mut fc, &["WATCH", "w2"]), ok());
    let r = pipeline(&mut fc, &[&["MULTI"], &["SET", "w2", "follower"], &["EXEC"]]);
    assert_eq!(r[2], Reply::Array(vec![ok()]));

    let d = assert_same_everywhere(&c, "after transactions");
    assert_eq!(d.get(&(0, "w".into())).map(String::as_str), Some("string|mine|-1"));
    assert_eq!(d.get(&(0, "w2".into())).map(String::as_str), Some("string|follower|-1"));
    assert_eq!(d.get(&(0, "a".into())).map(String::as_str), Some("string|3|-1"));
}

// ---------------------------------------------------------------------------
// 5. Scripts.

#[test]
fn scripts_replicate_and_random_calls_agree() {
    let (c, l, f, g) = start();
    let mut fc = conn(&c, f);
    let set_and_incr = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])";
    assert_eq!(cmd(&mut fc, &["EVAL", set_and_incr, "2", "s1", "s2", "v"]), ok_int(1));
    assert_eq!(cmd(&mut conn(&c, l), &["GET", "s1"]), b("v"));

    // SCRIPT LOAD on one node, EVALSHA on the others.
    let sha = match cmd(&mut conn(&c, g), &["SCRIPT", "LOAD", set_and_incr]) {
        Reply::Bulk(s) => String::from_utf8_lossy(&s).into_owned(),
        other => panic!("SCRIPT LOAD -> {other:?}"),
    };
    converge(&c);
    for (n, i) in [l, f].into_iter().enumerate() {
        let mut k = conn(&c, i);
        assert_eq!(cmd(&mut k, &["SCRIPT", "EXISTS", &sha]), Reply::Array(vec![Reply::Int(1)]), "node {i}");
        assert_eq!(cmd(&mut k, &["EVALSHA", &sha, "2", "s1", "s2", "w"]), ok_int(n as i64 + 2), "node {i}");
    }

    // EVAL_RO runs on a follower and refuses writes.
    assert_eq!(cmd(&mut fc, &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "s1"]), b("w"));
    let r = cmd(&mut fc, &["EVAL_RO", "return redis.call('SET', KEYS[1], 'x')", "1", "s1"]);
    assert!(r.is_error(), "a write in EVAL_RO -> {r:?}");
    let mut ro = conn(&c, g);
    assert_eq!(cmd(&mut ro, &["READONLY"]), ok());
    assert_eq!(cmd(&mut ro, &["EVAL_RO", "return redis.call('STRLEN', KEYS[1])", "1", "s1"]), ok_int(1));

    // Random choices inside scripts land identically everywhere.
    let members: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "pool"];
    sadd.extend(members.iter().map(String::as_str));
    assert_eq!(cmd(&mut fc, &sadd), ok_int(60));
    let mut hset = vec!["HSET".to_string(), "hpool".into()];
    for i in 0..20 {
        hset.push(format!("f{i}"));
        hset.push(format!("{i}"));
    }
    let hset: Vec<&str> = hset.iter().map(String::as_str).collect();
    assert_eq!(cmd(&mut fc, &hset), ok_int(20));
    let random = r#"
        local popped = redis.call('SPOP', KEYS[1])
        local some = redis.call('SRANDMEMBER', KEYS[1], 3)
        local neg = redis.call('SRANDMEMBER', KEYS[1], -4)
        local f = redis.call('HRANDFIELD', KEYS[3], 2)
        local n = math.random(1000000)
        local x = math.random()
        local rk = redis.call('RANDOMKEY')
        redis.call('RPUSH', KEYS[2], popped, table.concat(some, '+'), table.concat(neg, '+'),
            table.concat(f, '+'), tostring(n), tostring(x), tostring(rk))
        redis.call('SADD', KEYS[4], unpack(neg))
        return popped
    "#;
    for round in 0..12 {
        let node = [f, g, l][round % 3];
        let r = cmd(&mut conn(&c, node), &["EVAL", random, "4", "pool", "out", "hpool", "picked"]);
        assert!(matches!(r, Reply::Bulk(_)), "round {round} on node {node}: {r:?}");
    }
    let d = assert_same_everywhere(&c, "after random scripts");
    let out = d.get(&(0, "out".into())).expect("the scripts' output list");
    assert_eq!(out.matches(',').count(), 12 * 7 - 1, "{out}");
    assert!(d.get(&(0, "pool".into())).is_some_and(|v| v.matches(',').count() == 60 - 12 - 1));
}

// ---------------------------------------------------------------------------
// 6. Expiry.

#[test]
fn expired_keys_disappear_everywhere() {
    let (c, l, f, g) = start();
    let mut conns: Vec<Conn> = (0..3).map(|i| conn(&c, i)).collect();
    for n in 0..60 {
        let k = format!("ex{n}");
        assert_eq!(cmd(&mut conns[n % 3], &["SET", &k, "v", "PX", "200"]), ok());
    }
    for n in 0..20 {
        let k = format!("hx{n}");
        assert_eq!(cmd(&mut conns[n % 3], &["HSET", &k, "f", "v"]), ok_int(1));
        assert_eq!(cmd(&mut conns[n % 3], &["PEXPIRE", &k, "200"]), ok_int(1));
    }
    assert_eq!(cmd(&mut conns[f], &["SET", "keep", "v"]), ok());
    // Read some of the expiring keys on the leader right after they expire:
    // reads must not remove them on the leader alone.
    std::thread::sleep(Duration::from_millis(220));
    for n in 0..60 {
        let k = format!("ex{n}");
        assert_eq!(cmd(&mut conns[l], &["GET", &k]), Reply::Nil, "{k} on the leader after its TTL");
    }
    let all_gone = eventually(Duration::from_secs(10), || {
        (0..3).all(|i| c.dbsize(i) == Ok(1) && keyspace(&c, i) == "db0:keys=1,expires=0,avg_ttl=0")
    });
    let sizes: Vec<_> = (0..3).map(|i| (c.dbsize(i), keyspace(&c, i))).collect();
    assert!(all_gone, "expired keys still counted: {sizes:?}");
    assert_same_everywhere(&c, "after expiry");

    // A follower cut off from the leader (so no delete reaches it) hides a
    // key whose TTL passed.
    assert_eq!(cmd(&mut conns[l], &["SET", "hide", "v", "PX", "600"]), ok());
    assert_eq!(cmd(&mut conns[l], &["RPUSH", "hidel", "a"]), ok_int(1));
    assert_eq!(cmd(&mut conns[l], &["PEXPIRE", "hidel", "600"]), ok_int(1));
    converge(&c);
    c.isolate(g);
    let mut ro = conn(&c, g);
    assert_eq!(cmd(&mut ro, &["READONLY"]), ok());
    assert_eq!(cmd(&mut ro, &["GET", "hide"]), b("v"), "before the TTL");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(cmd(&mut ro, &["GET", "hide"]), Reply::Nil, "a follower served an expired key");
    assert_eq!(cmd(&mut ro, &["EXISTS", "hide", "hidel"]), ok_int(0));
    assert_eq!(cmd(&mut ro, &["LRANGE", "hidel", "0", "-1"]), Reply::Array(vec![]));
    assert_eq!(cmd(&mut ro, &["TTL", "hide"]), ok_int(-2));
    assert_eq!(texts(cmd(&mut ro, &["KEYS", "*"])).unwrap_or_default(), ["keep"]);
    c.heal_all();
    let all_gone = eventually(Duration::from_secs(15), || (0..3).all(|i| c.dbsize(i) == Ok(1)));
    assert!(all_gone, "after healing: {:?}", (0..3).map(|i| keyspace(&c, i)).collect::<Vec<_>>());
    assert_same_everywhere(&c, "after the follower came back");
}

// ---------------------------------------------------------------------------
// 8. READONLY.

#[test]
fn readonly_follower_reads_locally_and_still_forwards_writes() {
    let (c, l, f, _g) = start();
    let mut ro = conn(&c, f);
    assert_eq!(cmd(&mut ro, &["READONLY"]), ok());
    assert_eq!(cmd(&mut ro, &["SET", "r", "1"]), ok(), "a write on a READONLY connection is forwarded");
    // Read-your-writes: the reply came after this node applied the entry.
    assert_eq!(cmd(&mut ro, &["GET", "r"]), b("1"));
    assert_eq!(cmd(&mut conn(&c, l), &["GET", "r"]), b("1"));
    // Local reads keep working while the follower is cut off; a
    // non-READONLY connection on it gets an error instead of stale data.
    c.isolate(f);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(cmd(&mut ro, &["GET", "r"]), b("1"), "READONLY read on an isolated follower");
    let mut rw = conn(&c, f);
    let started = Instant::now();
    let r = cmd(&mut rw, &["GET", "r"]);
    assert!(r.is_error(), "a linearizable read on an isolated follower -> {r:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "it took {:?}", started.elapsed());
    assert_eq!(cmd(&mut ro, &["READWRITE"]), ok());
    let r = cmd(&mut ro, &["GET", "r"]);
    assert!(r.is_error(), "after READWRITE, a read on an isolated follower -> {r:?}");
    c.heal_all();
    converge(&c);
    assert_eq!(cmd(&mut ro, &["GET", "r"]), b("1"));
}

// ---------------------------------------------------------------------------
// 7. Determinism: a seeded random mix of writes of every type.

struct Gen {
    r: fastrand::Rng,
    now_ms: i64,
}

impl Gen {
    fn n(&mut self, lo: i64, hi: i64) -> String {
        self.r.i64(lo..hi).to_string()
    }
    fn k(&mut self, prefix: &str, n: u8) -> String {
        format!("{prefix}{}", self.r.u8(0..n))
    }
    fn any_key(&mut self) -> String {
        let p = ["s", "h", "l", "t", "z", "b", "p"][self.r.usize(0..7)];
        self.k(p, 4)
    }
    fn float(&mut self) -> String {
        format!("{:.3}", self.r.f64() * 20.0 - 10.0)
    }
    fn val(&mut self) -> String {
        format!("v{}", self.r.u16(0..500))
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.r.usize(0..xs.len())]
    }

    /// One write (or occasionally a read that feeds nothing).
    fn op(&mut self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let mut o: Vec<String> = match self.r.u32(0..60) {
            0 => vec!["SET".into(), self.k("s", 4), self.val()],
            1 => vec!["SET".into(), self.k("s", 4), self.val(), "EX".into(), self.n(1000, 5000)],
            2 => vec!["SET".into(), self.k("s", 4), self.val(), "PX".into(), self.n(1, 40)],
            3 => vec!["INCRBYFLOAT".into(), self.k("s", 4), self.float()],
            4 => vec!["SETRANGE".into(), self.k("s", 4), self.n(0, 12), self.val()],
            5 => vec!["APPEND".into(), self.k("s", 4), self.val()],
            6 => vec!["INCRBY".into(), self.k("s", 4), self.n(-50, 50)],
            7 => vec!["GETEX".into(), self.k("s", 4), "EX".into(), self.n(1000, 5000)],
            8 => vec!["MSET".into(), self.k("s", 4), self.val(), self.k("s", 4), self.val()],
            9 => {
                let ov = self.pick(&["WRAP", "SAT", "FAIL"]).to_string();
                vec![
                    "BITFIELD".into(),
                    self.k("b", 3),
                    "SET".into(),
                    "u8".into(),
                    format!("#{}", self.r.u8(0..4)),
                    self.n(0, 256),
                    "OVERFLOW".into(),
                    ov,
                    "INCRBY".into(),
                    "i5".into(),
                    self.n(0, 40),
                    self.n(-20, 20),
                ]
            }
            10 => vec!["SETBIT".into(), self.k("b", 3), self.n(0, 80), self.n(0, 2)],
            11 => vec![
                "BITOP".into(),
                self.pick(&["AND", "OR", "XOR"]).into(),
                self.k("b", 3),
                self.k("b", 3),
                self.k("b", 3),
            ],
            12 => {
                let mut v = vec!["PFADD".into(), self.k("p", 3)];
                for _ in 0..self.r.usize(1..6) {
                    v.push(self.val());
                }
                v
            }
            13 => vec!["PFMERGE".into(), self.k("p", 3), self.k("p", 3), self.k("p", 3)],
            14 => vec!["HSET".into(), self.k("h", 4), self.k("f", 6), self.val(), self.k("f", 6), self.val()],
            15 => vec!["HINCRBYFLOAT".into(), self.k("h", 4), self.k("f", 6), self.float()],
            16 => vec!["HDEL".into(), self.k("h", 4), self.k("f", 6)],
            17 => vec![
                "EVAL".into(),
                "local f = redis.call('HRANDFIELD', KEYS[1], -2) if #f > 0 then redis.call('HSET', KEYS[2], f[1], math.random(1000)) end return #f".into(),
                "2".into(),
                self.k("h", 4),
                self.k("h", 4),
            ],
            18 => vec![self.pick(&["LPUSH", "RPUSH"]).into(), self.k("l", 4), self.val(), self.val()],
            19 => vec![self.pick(&["LPOP", "RPOP"]).into(), self.k("l", 4), self.n(1, 3)],
            20 => vec![
                "LMOVE".into(),
                self.k("l", 4),
                self.k("l", 4),
                self.pick(&["LEFT", "RIGHT"]).into(),
                self.pick(&["LEFT", "RIGHT"]).into(),
            ],
            21 => match self.r.u8(0..4) {
                0 => vec!["LINSERT".into(), self.k("l", 4), "BEFORE".into(), self.val(), self.val()],
                1 => vec!["LREM".into(), self.k("l", 4), self.n(-2, 3), self.val()],
                2 => vec!["LTRIM".into(), self.k("l", 4), self.n(0, 3), self.n(-3, 10)],
                _ => vec!["LSET".into(), self.k("l", 4), self.n(-3, 3), self.val()],
            },
            22 => {
                let mut v = vec!["SADD".into(), self.k("t", 4)];
                for _ in 0..self.r.usize(1..6) {
                    v.push(format!("m{}", self.r.u8(0..30)));
                }
                v
            }
            23 => {
                let mut v = vec!["SPOP".into(), self.k("t", 4)];
                if self.r.bool() {
                    v.push(self.n(1, 5));
                }
                v
            }
            24 => vec!["SMOVE".into(), self.k("t", 4), self.k("t", 4), format!("m{}", self.r.u8(0..30))],
            25 => vec![
                self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]).into(),
                self.k("t", 4),
                self.k("t", 4),
                self.k("t", 4),
            ],
            26 => {
                let mut v = vec!["ZADD".into(), self.k("z", 4)];
                if self.r.u8(0..3) == 0 {
                    v.push(self.pick(&["NX", "XX", "GT", "LT"]).into());
                }
                v.extend([self.float(), format!("e{}", self.r.u8(0..20)), self.float(), format!("e{}", self.r.u8(0..20))]);
                v
            }
            27 => vec!["ZINCRBY".into(), self.k("z", 4), self.float(), format!("e{}", self.r.u8(0..20))],
            28 => vec![
                "ZADD".into(),
                self.k("z", 4),
                "INCR".into(),
                self.float(),
                format!("e{}", self.r.u8(0..20)),
            ],
            29 => vec![
                self.pick(&["ZUNIONSTORE", "ZINTERSTORE"]).into(),
                self.k("z", 4),
                "2".into(),
                self.k("z", 4),
                self.k("t", 4),
                "WEIGHTS".into(),
                self.float(),
                self.float(),
                "AGGREGATE".into(),
                self.pick(&["SUM", "MIN", "MAX"]).into(),
            ],
            30 => vec![self.pick(&["ZPOPMIN", "ZPOPMAX"]).into(), self.k("z", 4), self.n(1, 3)],
            31 => vec!["ZRANGESTORE".into(), self.k("z", 4), self.k("z", 4), "0".into(), self.n(0, 5)],
            32 => vec!["ZREMRANGEBYSCORE".into(), self.k("z", 4), "-inf".into(), self.float()],
            33 => vec!["EXPIRE".into(), self.any_key(), self.n(1000, 5000)],
            34 => vec!["PEXPIRE".into(), self.any_key(), self.n(1, 40)],
            35 => {
                let at = if self.r.u8(0..5) == 0 { self.now_ms - 1000 } else { self.now_ms + self.r.i64(2_000_000..9_000_000) };
                let mut v = vec!["PEXPIREAT".into(), self.any_key(), at.to_string()];
                if self.r.u8(0..3) == 0 {
                    v.push(self.pick(&["NX", "XX", "GT", "LT"]).into());
                }
                v
            }
            36 => vec!["PERSIST".into(), self.any_key()],
            37 => {
                let p = ["s", "h", "l", "t", "z"][self.r.usize(0..5)];
                vec![self.pick(&["RENAME", "RENAMENX"]).into(), self.k(p, 4), self.k(p, 4)]
            }
            38 => {
                let p = ["s", "h", "l", "t", "z"][self.r.usize(0..5)];
                let mut v = vec!["COPY".into(), self.k(p, 4), self.k(p, 4)];
                if self.r.bool() {
                    v.extend(["DB".into(), self.n(0, 4)]);
                }
                if self.r.bool() {
                    v.push("REPLACE".into());
                }
                v
            }
            39 => vec!["MOVE".into(), self.any_key(), self.n(0, 4)],
            40 => vec![self.pick(&["DEL", "UNLINK"]).into(), self.any_key()],
            41 => vec!["SWAPDB".into(), self.n(0, 4), self.n(0, 4)],
            42 if self.r.u8(0..8) == 0 => s(&["FLUSHDB"]),
            43 => vec!["SELECT".into(), self.n(0, 4)],
            44 => vec![
                "EVAL".into(),
                "local m = redis.call('SPOP', KEYS[1]) local r = redis.call('SRANDMEMBER', KEYS[1], 2) \
                 if m then redis.call('SADD', KEYS[2], m, math.random(100)) end \
                 for _, x in ipairs(r) do redis.call('SADD', KEYS[2], x) end return m"
                    .into(),
                "2".into(),
                self.k("t", 4),
                self.k("t", 4),
            ],
            45 => vec![
                "EVAL".into(),
                "local k = redis.call('RANDOMKEY') if k then redis.call('RPUSH', KEYS[1], k) end return k".into(),
                "1".into(),
                self.k("l", 4),
            ],
            46 => vec![
                "EVAL".into(),
                "local m = redis.call('ZRANDMEMBER', KEYS[1], -3, 'WITHSCORES') if #m > 0 then \
                 redis.call('ZADD', KEYS[2], m[2], m[1]) end return #m"
                    .into(),
                "2".into(),
                self.k("z", 4),
                self.k("z", 4),
            ],
            47 => vec!["LMPOP".into(), "2".into(), self.k("l", 4), self.k("l", 4), self.pick(&["LEFT", "RIGHT"]).into()],
            48 => vec!["ZMPOP".into(), "1".into(), self.k("z", 4), self.pick(&["MIN", "MAX"]).into(), "COUNT".into(), "2".into()],
            49 => vec![self.pick(&["GETDEL", "GETSET"]).into(), self.k("s", 4), self.val()],
            50 => vec!["SET".into(), self.k("s", 4), self.val(), "NX".into(), "GET".into()],
            51 => vec!["HINCRBY".into(), self.k("h", 4), self.k("f", 6), self.n(-9, 9)],
            52 => vec!["SRANDMEMBER".into(), self.k("t", 4), self.n(-5, 5)],
            53 => vec!["HRANDFIELD".into(), self.k("h", 4), self.n(-3, 3), "WITHVALUES".into()],
            54 => vec!["RPOPLPUSH".into(), self.k("l", 4), self.k("l", 4)],
            // Reads served by one node (keys whose short TTL passed among
            // them): they must not change that node's copy.
            56 => vec!["GET".into(), self.k("s", 4)],
            57 => vec!["EXISTS".into(), self.any_key(), self.any_key()],
            58 => vec!["RANDOMKEY".into()],
            59 => vec!["TYPE".into(), self.any_key()],
            _ => vec!["SET".into(), self.k("s", 4), self.val(), "KEEPTTL".into()],
        };
        if o.is_empty() {
            o.push("PING".into());
        }
        o
    }
}

#[test]
fn random_writes_of_every_type_leave_identical_replicas() {
    let (c, l, f, g) = start();
    let seed: u64 = std::env::var("RHEA_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let ops: usize = std::env::var("RHEA_CLUSTER_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(4000);
    eprintln!("seed {seed}, {ops} operations (RHEA_SEED, RHEA_CLUSTER_OPS)");
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut gen = Gen { r: fastrand::Rng::with_seed(seed), now_ms: now };
    // Two connections per node, one of them RESP3.
    let mut conns: Vec<(usize, Conn)> = Vec::new();
    for i in [l, f, g] {
        conns.push((i, conn(&c, i)));
        let mut k = conn(&c, i);
        assert!(matches!(cmd(&mut k, &["HELLO", "3"]), Reply::Map(_)));
        conns.push((i, k));
    }
    let mut done = 0;
    let mut errors = BTreeMap::new();
    let started = Instant::now();
    while done < ops {
        let which = gen.r.usize(0..conns.len());
        let mut batch: Vec<Vec<String>> = Vec::new();
        let size = gen.r.usize(1..12);
        if gen.r.u8(0..12) == 0 {
            batch.push(vec!["MULTI".into()]);
            for _ in 0..size.min(5) {
                let op = gen.op();
                if op[0] != "SELECT" {
                    batch.push(op);
                }
            }
            batch.push(vec!["EXEC".into()]);
        } else {
            batch.extend((0..size).map(|_| gen.op()));
        }
        let (node, k) = &mut conns[which];
        for a in &batch {
            k.send(a).unwrap_or_else(|e| panic!("send to node {node}: {e}"));
        }
        for a in &batch {
            match k.read() {
                Ok(Reply::Error(e)) => {
                    let class = e.split_whitespace().next().unwrap_or("").to_string();
                    assert!(
                        !matches!(class.as_str(), "CLUSTERDOWN" | "TRYAGAIN") && !e.contains("internal"),
                        "{a:?} on node {node}: {e}"
                    );
                    *errors.entry(format!("{} {class}", a[0])).or_insert(0) += 1;
                }
                Ok(Reply::Closed) => panic!("node {node} closed the connection after {a:?}"),
                Ok(_) => {}
                Err(e) => panic!("{a:?} on node {node}: {e}"),
            }
        }
        done += batch.len();
    }
    eprintln!("{done} commands in {:?}; error replies: {errors:?}", started.elapsed());
    // Let the short TTLs pass and the leader's expiry remove them.
    std::thread::sleep(Duration::from_millis(300));
    let d = assert_same_everywhere(&c, "after the random mix");
    let types: std::collections::BTreeSet<&str> = d.values().filter_map(|v| v.split('|').next()).collect();
    eprintln!("{} keys of types {types:?}", d.len());
    assert!(d.len() > 20 && types.len() >= 5, "too little data survived to compare: {d:?}");
    let same_counts = eventually(Duration::from_secs(10), || {
        let ks: Vec<String> = (0..3).map(|i| keyspace(&c, i)).collect();
        ks.iter().all(|k| *k == ks[0])
    });
    let ks: Vec<String> = (0..3).map(|i| keyspace(&c, i)).collect();
    assert!(same_counts, "INFO keyspace differs between nodes: {ks:#?}");
}

// ---------------------------------------------------------------------------
// Divergence hunts: local state that must not leak into the replicated one.

/// A read of an expired key on the leader (before its active expiry got
/// there) must not remove it on the leader alone: the followers would keep
/// it forever (the leader never proposes its deletion) and the leader's
/// keyspace order would differ, so a seeded RANDOMKEY picks other keys.
#[test]
fn reading_an_expired_key_does_not_make_replicas_diverge() {
    let (c, l, f, _g) = start();
    let mut lc = conn(&c, l);
    let set_at = Instant::now();
    assert_eq!(cmd(&mut lc, &["SET", "x", "v", "PX", "300"]), ok());
    // Enough keys after it that the leader's active expiry (200 keys per
    // tick, from the end) does not reach it for seconds.
    for chunk in 0..10 {
        let mut mset = vec!["MSET".to_string()];
        for n in 0..500 {
            mset.push(format!("fill{}", chunk * 500 + n));
            mset.push("v".into());
        }
        let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
        assert_eq!(cmd(&mut lc, &mset), ok());
    }
    converge(&c);
    std::thread::sleep(Duration::from_millis(320).saturating_sub(set_at.elapsed()));
    assert_eq!(cmd(&mut lc, &["GET", "x"]), Reply::Nil, "x after its TTL on the leader");
    let mut ro = conn(&c, f);
    assert_eq!(cmd(&mut ro, &["READONLY"]), ok());
    assert_eq!(cmd(&mut ro, &["EXISTS", "x"]), ok_int(0), "x after its TTL on a follower");
    // Every draw lands on the same key everywhere only if every node holds
    // its keys in the same order.
    let draws = "for i = 1, 4000 do local k = redis.call('RANDOMKEY') redis.call('RPUSH', 'picks', k) end return 1";
    assert_eq!(cmd(&mut lc, &["EVAL", draws, "0"]), ok_int(1));
    assert_eq!(cmd(&mut conn(&c, f), &["EVAL", draws, "0"]), ok_int(1));
    assert_same_everywhere(&c, "after reads of an expired key and RANDOMKEY draws");
    let same = eventually(Duration::from_secs(8), || {
        let ks: Vec<String> = (0..3).map(|i| keyspace(&c, i)).collect();
        ks.iter().all(|k| *k == ks[0]) && ks[0].starts_with("db0:keys=5001,expires=0")
    });
    let ks: Vec<String> = (0..3).map(|i| keyspace(&c, i)).collect();
    assert!(same, "INFO keyspace differs between nodes (or x was never removed): {ks:?}");
}

/// A node's own memory use must not decide what an applied script does:
/// with one follower over its maxmemory, a script that writes is applied
/// the same everywhere.
#[test]
fn a_node_over_maxmemory_applies_scripts_like_the_others() {
    let (c, l, f, _g) = start();
    let mut lc = conn(&c, l);
    // Raft's own memory is left out of the budget (INFO
    // mem_not_counted_for_evict, with room for sled's cache to fill): some
    // data makes the follower really hold more than its limit.
    let pad = "p".repeat(100_000);
    for i in 0..160 {
        assert_eq!(cmd(&mut lc, &["SET", &format!("pad:{i}"), &pad]), ok());
    }
    converge(&c);
    let mut fc = conn(&c, f);
    assert_eq!(cmd(&mut fc, &["CONFIG", "SET", "maxmemory", "1"]), ok());
    let r = cmd(&mut lc, &["EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", "sk", "sv"]);
    assert_eq!(r, ok(), "a script on the leader (under its limit)");
    let r = cmd(
        &mut lc,
        &["EVAL", "redis.call('RPUSH', KEYS[1], 'a') return redis.call('INCR', KEYS[2])", "2", "sl", "si"],
    );
    assert_eq!(r, ok_int(1));
    // The node over its limit refuses new writes it is asked for.
    let r = cmd(&mut fc, &["SET", "refused", "1"]);
    assert!(matches!(&r, Reply::Error(e) if e.starts_with("OOM")), "SET on the node over its limit -> {r:?}");
    let r = cmd(&mut fc, &["EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", "refused2", "v"]);
    assert!(r.is_error(), "a writing script on the node over its limit -> {r:?}");
    assert_eq!(cmd(&mut fc, &["CONFIG", "SET", "maxmemory", "0"]), ok());
    let d = assert_same_everywhere(&c, "with one node over maxmemory");
    assert_eq!(d.get(&(0, "sk".into())).map(String::as_str), Some("string|sv|-1"));
    assert!(!d.contains_key(&(0, "refused".into())) && !d.contains_key(&(0, "refused2".into())));
}
