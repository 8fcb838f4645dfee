//! Sentinel-compatible discovery and the leadership switch, on a 3-node
//! cluster of real processes: the SENTINEL replies have the field names a
//! real redis-sentinel 7.0 gives (compared live against one watching a
//! redis-server master and replica), `+switch-master` reaches subscribers
//! on the surviving nodes when the leader is SIGKILLed, a deposed leader
//! closes the clients it accepted as leader (and keeps READONLY ones and
//! follower clients), and the `redis` crate's Sentinel client writes
//! through a failover without losing an acknowledged write.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{CallResult, Cluster, Options};
use common::writers::{check_writes, Write};
use common::{eventually, free_port, Conn, Reply, Server};

const ELECTION: Duration = Duration::from_secs(15);

fn sentinel_cluster(extra: &[&str]) -> Cluster {
    let opts =
        Options { sentinel: true, extra_args: extra.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    Cluster::start_with(3, &opts)
}

/// The leader, once every node has applied a write made through it: a node
/// that never heard from a leader since it started empty grants no vote
/// (the rejoin rule), so stopping the leader before that can leave the
/// others unable to elect.
fn settled_leader(c: &Cluster) -> usize {
    let l = c.leader(ELECTION).expect("no leader elected");
    let mut conn = c.conn(l, Duration::from_secs(5)).expect("connect to the leader");
    assert_eq!(conn.cmd(&["SET", "__settle__", "1"]).expect("set"), Reply::Simple("OK".into()));
    c.wait_converged(Duration::from_secs(20)).expect("the nodes did not converge");
    l
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) | Reply::Error(s) => s.clone(),
        Reply::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// A flat RESP2 array of pairs (or a RESP3 map) as (field, value) pairs.
fn pairs(r: &Reply) -> Vec<(String, String)> {
    match r {
        Reply::Array(v) => v.chunks(2).map(|p| (text(&p[0]), p.get(1).map(text).unwrap_or_default())).collect(),
        Reply::Map(m) => m.iter().map(|(k, v)| (text(k), text(v))).collect(),
        other => panic!("not a field list: {other:?}"),
    }
}

fn field(r: &Reply, name: &str) -> Option<String> {
    pairs(r).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn names(r: &Reply) -> Vec<String> {
    pairs(r).into_iter().map(|(k, _)| k).collect()
}

fn items(r: &Reply) -> Vec<Reply> {
    match r {
        Reply::Array(v) => v.clone(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A real redis-sentinel (`redis-server --sentinel`), killed when dropped.
struct RealSentinel {
    port: u16,
    child: Child,
    dir: std::path::PathBuf,
}

impl RealSentinel {
    fn start(master_port: u16) -> RealSentinel {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rhea-real-sentinel-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = dir.join("sentinel.conf");
        let mut f = std::fs::File::create(&conf).expect("write sentinel.conf");
        writeln!(
            f,
            "port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds mymaster 1000"
        )
        .expect("write sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel (apt-get install redis-server)");
        let s = RealSentinel { port, child, dir };
        assert!(
            eventually(Duration::from_secs(10), || Conn::connect(port).and_then(|mut c| c.cmd(&["PING"])).is_ok()),
            "redis-sentinel did not start"
        );
        s
    }
}

impl Drop for RealSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sentinel_cmd(port: u16, args: &[&str]) -> Reply {
    let mut c = Conn::connect_timeout(port, Duration::from_secs(5)).expect("connect to a sentinel port");
    c.cmd(args).expect("sentinel command")
}

#[test]
fn sentinel_replies_match_redis_sentinel() {
    // The reference: a master, a replica and two sentinels watching them.
    let master = Server::redis(&[]);
    let mp = master.port.to_string();
    // The replica stores the RDB of its initial sync in its --dir.
    let rdir = std::env::temp_dir().join(format!("rhea-sentinel-replica-{}-{}", std::process::id(), master.port));
    std::fs::create_dir_all(&rdir).expect("replica dir");
    let rdir_s = rdir.to_string_lossy().into_owned();
    let replica = Server::redis(&["--replicaof", "127.0.0.1", &mp, "--dir", &rdir_s]);
    let real = [RealSentinel::start(master.port), RealSentinel::start(master.port)];
    let rp = real[0].port;
    // The replica and the other sentinel are discovered by INFO and hello
    // messages (every 2 s).
    assert!(
        eventually(Duration::from_secs(20), || {
            items(&sentinel_cmd(rp, &["SENTINEL", "REPLICAS", "mymaster"])).len() == 1
                && items(&sentinel_cmd(rp, &["SENTINEL", "SENTINELS", "mymaster"])).len() == 1
                && field(&sentinel_cmd(rp, &["SENTINEL", "MASTER", "mymaster"]), "role-reported-time").is_some()
        }),
        "the reference sentinel did not discover its replica and peer"
    );

    let c = sentinel_cluster(&[]);
    let leader = c.leader(ELECTION).expect("no leader elected");
    let sp = c.nodes[(leader + 1) % 3].sentinel_port;
    // Every node learns every peer's addresses when the peer dials it.
    assert!(
        eventually(Duration::from_secs(10), || {
            let up = |r: &Reply| field(r, "flags").is_some_and(|f| !f.contains("s_down"));
            let sentinels = items(&sentinel_cmd(sp, &["SENTINEL", "SENTINELS", "mymaster"]));
            let replicas = items(&sentinel_cmd(sp, &["SENTINEL", "REPLICAS", "mymaster"]));
            sentinels.len() == 2
                && replicas.len() == 2
                && sentinels.iter().chain(&replicas).all(up)
                && field(&sentinel_cmd(sp, &["SENTINEL", "MASTER", "mymaster"]), "port")
                    == Some(c.port(leader).to_string())
        }),
        "the follower's endpoint does not report the leader, its replicas and its sentinels"
    );

    // Field names, in order, for each instance kind.
    let real_master = sentinel_cmd(rp, &["SENTINEL", "MASTER", "mymaster"]);
    let rhea_master = sentinel_cmd(sp, &["SENTINEL", "MASTER", "mymaster"]);
    assert_eq!(names(&rhea_master), names(&real_master), "SENTINEL MASTER fields");
    assert_eq!(field(&rhea_master, "flags").as_deref(), Some("master"));
    assert_eq!(field(&rhea_master, "name").as_deref(), Some("mymaster"));
    assert_eq!(field(&rhea_master, "num-other-sentinels").as_deref(), Some("2"));
    assert_eq!(field(&rhea_master, "num-slaves").as_deref(), Some("2"));
    assert_eq!(field(&rhea_master, "quorum").as_deref(), Some("2"));
    for (k, v) in pairs(&rhea_master) {
        if !["name", "ip", "runid", "flags", "role-reported"].contains(&k.as_str()) {
            assert!(v.parse::<i64>().is_ok(), "SENTINEL MASTER {k} = {v:?} is not a number");
        }
    }
    let masters = items(&sentinel_cmd(sp, &["SENTINEL", "MASTERS"]));
    assert_eq!(masters.len(), 1);
    assert_eq!(names(&masters[0]), names(&items(&sentinel_cmd(rp, &["SENTINEL", "MASTERS"]))[0]));

    let real_replica = &items(&sentinel_cmd(rp, &["SENTINEL", "REPLICAS", "mymaster"]))[0];
    for sub in ["REPLICAS", "SLAVES"] {
        for r in items(&sentinel_cmd(sp, &["SENTINEL", sub, "mymaster"])) {
            assert_eq!(names(&r), names(real_replica), "SENTINEL {sub} fields");
            assert_eq!(field(&r, "flags").as_deref(), Some("slave"));
            assert_eq!(field(&r, "master-link-status").as_deref(), Some("ok"));
            assert_eq!(field(&r, "master-port"), Some(c.port(leader).to_string()));
            assert_ne!(field(&r, "port"), Some(c.port(leader).to_string()), "the leader listed as a replica");
        }
    }
    let real_sentinel = &items(&sentinel_cmd(rp, &["SENTINEL", "SENTINELS", "mymaster"]))[0];
    let mut listed: Vec<String> = Vec::new();
    for s in items(&sentinel_cmd(sp, &["SENTINEL", "SENTINELS", "mymaster"])) {
        assert_eq!(names(&s), names(real_sentinel), "SENTINEL SENTINELS fields");
        assert_eq!(field(&s, "flags").as_deref(), Some("sentinel"));
        listed.push(field(&s, "port").unwrap_or_default());
        // The id another node gives for a sentinel is the one it reports.
        let port: u16 = field(&s, "port").and_then(|p| p.parse().ok()).expect("sentinel port");
        assert_eq!(field(&s, "runid"), Some(text(&sentinel_cmd(port, &["SENTINEL", "MYID"]))));
    }
    listed.sort();
    let mut expected: Vec<String> =
        (0..3).filter(|&i| c.nodes[i].sentinel_port != sp).map(|i| c.nodes[i].sentinel_port.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "SENTINEL SENTINELS lists the other nodes' endpoints");

    let addr = items(&sentinel_cmd(sp, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]));
    assert_eq!(addr, vec![Reply::Bulk(b"127.0.0.1".to_vec()), Reply::Bulk(c.port(leader).to_string().into_bytes())]);
    let id = text(&sentinel_cmd(sp, &["SENTINEL", "MYID"]));
    assert!(id.len() == 40 && id.chars().all(|ch| ch.is_ascii_hexdigit()), "SENTINEL MYID {id:?}");
    assert_eq!(sentinel_cmd(sp, &["PING"]), Reply::Simple("PONG".into()));
    let info = text(&sentinel_cmd(sp, &["INFO"]));
    assert!(info.contains("redis_mode:sentinel"), "{info}");
    let line = |s: &str| s.lines().find(|l| l.starts_with("master0:")).map(str::to_string).unwrap_or_default();
    let fields_of = |l: String| -> Vec<String> {
        l.trim_start_matches("master0:").split(',').map(|kv| kv.split('=').next().unwrap_or("").to_string()).collect()
    };
    let real_info = text(&sentinel_cmd(rp, &["INFO", "sentinel"]));
    assert_eq!(fields_of(line(&info)), fields_of(line(&real_info)), "INFO sentinel master0 line");
    assert!(line(&info).contains(&format!("address=127.0.0.1:{},", c.port(leader))), "{info}");
    let sections = |s: &str| -> Vec<String> { s.lines().filter(|l| l.starts_with('#')).map(str::to_string).collect() };
    assert_eq!(sections(&text(&sentinel_cmd(sp, &["INFO", "sentinel"]))), vec!["# Sentinel".to_string()]);

    // The same errors, word for word.
    for args in [
        &["SENTINEL", "FOO"][..],
        &["SENTINEL"],
        &["GET", "x"],
        &["SENTINEL", "MASTER", "nope"],
        &["SENTINEL", "REPLICAS", "nope"],
        &["SENTINEL", "SENTINELS", "nope"],
        &["SENTINEL", "MASTER"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME"],
        &["SENTINEL", "MYID", "x"],
        &["SENTINEL", "MASTERS", "x"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
        &["ROLE"],
        &["CLIENT", "GETNAME"],
        &["PING", "hello"],
    ] {
        let (want, got) = (sentinel_cmd(rp, args), sentinel_cmd(sp, args));
        assert_eq!(got, want, "{args:?}");
    }
    // ROLE and INFO replication on the data ports answer as a master and a
    // replica do (clients that verify the role check these).
    let shape = |r: &Reply| -> Vec<String> {
        let mut out = Vec::new();
        for e in items(r) {
            match &e {
                Reply::Array(v) => out.push(format!(
                    "array of {:?}",
                    v.iter().map(|x| items(x).iter().map(|y| y.kind()).collect::<Vec<_>>()).collect::<Vec<_>>()
                )),
                other => out.push(other.kind().to_string()),
            }
        }
        out
    };
    let real_replica_port = replica.port;
    assert!(
        eventually(Duration::from_secs(15), || {
            items(&replica.conn().cmd(&["ROLE"]).expect("role")).get(3).map(text).as_deref() == Some("connected")
        }),
        "the reference replica did not sync"
    );
    let follower = (leader + 1) % 3;
    let role_of = |port: u16| Conn::connect(port).and_then(|mut c| c.cmd(&["ROLE"])).expect("ROLE");
    let real_master_role = role_of(master.port);
    let rhea_leader_role = role_of(c.port(leader));
    assert_eq!(items(&rhea_leader_role).first().map(text).as_deref(), Some("master"));
    assert_eq!(shape(&rhea_leader_role)[..2], shape(&real_master_role)[..2], "ROLE on the leader");
    for peer in items(&items(&rhea_leader_role)[2]) {
        assert_eq!(items(&peer).iter().map(Reply::kind).collect::<Vec<_>>(), vec!["bulk"; 3], "ROLE replica entry");
    }
    let real_replica_role = role_of(real_replica_port);
    let rhea_follower_role = role_of(c.port(follower));
    assert_eq!(shape(&rhea_follower_role), shape(&real_replica_role), "ROLE on a follower");
    let fr = items(&rhea_follower_role);
    assert_eq!(
        (text(&fr[0]), text(&fr[2]), text(&fr[3])),
        ("slave".into(), c.port(leader).to_string(), "connected".into())
    );
    let info_fields = |port: u16| -> BTreeMap<String, String> {
        let t = text(&Conn::connect(port).and_then(|mut c| c.cmd(&["INFO", "replication"])).expect("INFO"));
        t.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
    };
    let (lead, fol, real_rep) =
        (info_fields(c.port(leader)), info_fields(c.port(follower)), info_fields(real_replica_port));
    assert_eq!(lead.get("role").map(String::as_str), Some("master"));
    assert_eq!(lead.get("connected_slaves").map(String::as_str), Some("2"));
    for k in ["role", "master_host", "master_port", "master_link_status", "slave_repl_offset", "slave_read_only"] {
        assert!(
            real_rep.contains_key(k) && fol.contains_key(k),
            "INFO replication {k}: redis {real_rep:?} rhea {fol:?}"
        );
    }
    assert_eq!(fol.get("master_port"), Some(&c.port(leader).to_string()));
    assert_eq!(fol.get("master_link_status").map(String::as_str), Some("up"));

    // A subscriber's confirmations, and RESP3 maps after HELLO 3.
    for port in [rp, sp] {
        let mut s = Conn::connect(port).expect("connect");
        let r = s.cmd(&["SUBSCRIBE", "+switch-master"]).expect("subscribe");
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::Bulk(b"subscribe".to_vec()),
                Reply::Bulk(b"+switch-master".to_vec()),
                Reply::Int(1)
            ])
        );
        let r = s.cmd(&["PING"]).expect("ping");
        assert_eq!(r, Reply::Array(vec![Reply::Bulk(b"pong".to_vec()), Reply::Bulk(vec![])]));
        let mut h = Conn::connect(port).expect("connect");
        let hello = h.cmd(&["HELLO", "3"]).expect("hello");
        assert_eq!(field(&hello, "mode").as_deref(), Some("sentinel"));
        let m = h.cmd(&["SENTINEL", "MASTER", "mymaster"]).expect("master");
        assert!(matches!(m, Reply::Map(_)), "RESP3 SENTINEL MASTER is a map: {m:?}");
        let ms = h.cmd(&["SENTINEL", "MASTERS"]).expect("masters");
        assert!(matches!(&ms, Reply::Array(v) if matches!(v.first(), Some(Reply::Map(_)))), "{ms:?}");
    }
    drop(replica);
    let _ = std::fs::remove_dir_all(&rdir);
}

/// Reads pushes until one on `channel` arrives; its message.
fn wait_message(c: &mut Conn, channel: &str, deadline: Instant) -> Option<String> {
    while Instant::now() < deadline {
        match c.read() {
            Ok(Reply::Array(v) | Reply::Push(v)) => {
                let v: Vec<String> = v.iter().map(text).collect();
                match v.first().map(String::as_str) {
                    Some("message") if v.get(1).map(String::as_str) == Some(channel) => return v.get(2).cloned(),
                    Some("pmessage") if v.get(2).map(String::as_str) == Some(channel) => return v.get(3).cloned(),
                    _ => {}
                }
            }
            Ok(Reply::Closed) => return None,
            _ => {}
        }
    }
    None
}

#[test]
fn switch_master_reaches_subscribers_on_the_survivors() {
    let mut c = sentinel_cluster(&[]);
    let old = settled_leader(&c);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let mut subs = Vec::new();
    for (k, &i) in survivors.iter().enumerate() {
        let mut s = Conn::connect_timeout(c.nodes[i].sentinel_port, Duration::from_secs(1)).expect("connect");
        // One subscribes to the channel, the other to every event.
        let (cmd, what) = if k == 0 { ("SUBSCRIBE", "+switch-master") } else { ("PSUBSCRIBE", "*") };
        s.cmd(&[cmd, what]).expect("subscribe");
        subs.push((i, s));
    }
    assert!(eventually(Duration::from_secs(10), || {
        survivors.iter().all(|&i| {
            field(&sentinel_cmd(c.nodes[i].sentinel_port, &["SENTINEL", "MASTER", "mymaster"]), "port")
                == Some(c.port(old).to_string())
        })
    }));
    c.kill(old);
    let new = c.leader_excluding(&[old], ELECTION).expect("no new leader");
    let want = format!("mymaster 127.0.0.1 {} 127.0.0.1 {}", c.port(old), c.port(new));
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, s) in &mut subs {
        let got = wait_message(s, "+switch-master", deadline);
        assert_eq!(got.as_deref(), Some(want.as_str()), "node {i}'s endpoint");
    }
    for &i in &survivors {
        let sp = c.nodes[i].sentinel_port;
        let addr = items(&sentinel_cmd(sp, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]));
        assert_eq!(addr.get(1).map(text), Some(c.port(new).to_string()), "node {i}");
        assert_eq!(field(&sentinel_cmd(sp, &["SENTINEL", "MASTER", "mymaster"]), "flags").as_deref(), Some("master"));
        // The dead node is a replica now, reported down (redis-py's
        // slave_for and the redis crate skip such replicas).
        let dead = c.port(old).to_string();
        let flags = items(&sentinel_cmd(sp, &["SENTINEL", "REPLICAS", "mymaster"]))
            .iter()
            .find(|r| field(r, "port") == Some(dead.clone()))
            .and_then(|r| field(r, "flags"));
        assert_eq!(flags.as_deref(), Some("s_down,slave,disconnected"), "node {i}: the dead node's replica entry");
        let flags = items(&sentinel_cmd(sp, &["SENTINEL", "SENTINELS", "mymaster"]))
            .iter()
            .find(|r| field(r, "port") == Some(c.nodes[old].sentinel_port.to_string()))
            .and_then(|r| field(r, "flags"));
        assert_eq!(flags.as_deref(), Some("s_down,sentinel,disconnected"), "node {i}: the dead node's sentinel entry");
    }
}

/// The clients a test keeps on a node, by kind.
struct Clients {
    plain: Conn,
    blocked: Conn,
    subscriber: Conn,
    readonly: Conn,
}

fn leader_clients(port: u16) -> Clients {
    let t = Duration::from_secs(20);
    let mut plain = Conn::connect_timeout(port, t).expect("connect");
    assert_eq!(plain.cmd(&["SET", "before", "1"]).expect("set"), Reply::Simple("OK".into()));
    let mut blocked = Conn::connect_timeout(port, t).expect("connect");
    blocked.send(&["BLPOP", "nothing-comes", "0"]).expect("blpop");
    let mut subscriber = Conn::connect_timeout(port, t).expect("connect");
    subscriber.cmd(&["SUBSCRIBE", "news"]).expect("subscribe");
    let mut readonly = Conn::connect_timeout(port, t).expect("connect");
    readonly.ok(&["READONLY"]);
    // The BLPOP reached the server (it would answer the PING after it).
    std::thread::sleep(Duration::from_millis(300));
    Clients { plain, blocked, subscriber, readonly }
}

/// Whether the server closed the connection: EOF or reset, within the
/// connection's read timeout (a timeout is a hang, not a close).
fn closed(c: &mut Conn) -> bool {
    match c.read() {
        Ok(Reply::Closed) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
    }
}

#[test]
fn deposed_leader_closes_the_clients_it_accepted_as_leader() {
    let mut c = sentinel_cluster(&[]);
    let old = settled_leader(&c);
    let follower = (old + 1) % 3;
    let mut cl = leader_clients(c.port(old));
    let mut at_follower = Conn::connect_timeout(c.port(follower), Duration::from_secs(20)).expect("connect");
    at_follower.ok(&["PING"]);

    c.pause(old);
    let new = c.leader_excluding(&[old], ELECTION).expect("no new leader while the old one is stopped");
    c.resume(old);
    let t0 = Instant::now();
    assert!(closed(&mut cl.plain), "the old leader's client was not disconnected");
    assert!(closed(&mut cl.blocked), "the old leader's blocked client was not disconnected");
    assert!(closed(&mut cl.subscriber), "the old leader's subscriber was not disconnected");
    let took = t0.elapsed();
    eprintln!("the deposed leader closed its clients {took:?} after SIGCONT");
    assert!(took < Duration::from_secs(5), "the old leader took {took:?} to close its clients");
    assert_eq!(cl.readonly.cmd(&["PING"]).expect("ping"), Reply::Simple("PONG".into()), "READONLY client closed");
    assert_eq!(at_follower.cmd(&["PING"]).expect("ping"), Reply::Simple("PONG".into()), "a follower's client closed");
    // A reconnecting client finds the new leader through any endpoint.
    let sp = c.nodes[old].sentinel_port;
    assert!(eventually(Duration::from_secs(10), || {
        items(&sentinel_cmd(sp, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])).get(1).map(text)
            == Some(c.port(new).to_string())
    }));
}

#[test]
fn partitioned_leader_steps_down_and_closes_its_clients() {
    let c = sentinel_cluster(&[]);
    let old = settled_leader(&c);
    let mut cl = leader_clients(c.port(old));
    c.isolate(old);
    let t0 = Instant::now();
    // Writes sent now must not be acknowledged; the connection closes
    // once the node notices it lost the majority (check_quorum).
    let r = cl.plain.cmd(&["SET", "during", "1"]);
    assert!(!matches!(r, Ok(Reply::Simple(ref s)) if s == "OK"), "an isolated leader acknowledged a write: {r:?}");
    assert!(closed(&mut cl.blocked), "the isolated leader's blocked client was not disconnected");
    assert!(closed(&mut cl.subscriber), "the isolated leader's subscriber was not disconnected");
    let took = t0.elapsed();
    eprintln!("the isolated leader closed its clients {took:?} after the partition");
    assert!(took < Duration::from_secs(5), "the isolated leader took {took:?} to step down and close its clients");
    assert_eq!(cl.readonly.cmd(&["PING"]).expect("ping"), Reply::Simple("PONG".into()));
    c.heal_all();
}

#[test]
fn forward_mode_keeps_plain_clients_and_closes_waiting_ones() {
    let mut c = sentinel_cluster(&["--leader-loss-clients", "forward"]);
    let old = settled_leader(&c);
    let mut cl = leader_clients(c.port(old));
    c.pause(old);
    c.leader_excluding(&[old], ELECTION).expect("no new leader while the old one is stopped");
    c.resume(old);
    assert!(closed(&mut cl.blocked), "the blocked client was not disconnected");
    assert!(closed(&mut cl.subscriber), "the subscriber was not disconnected");
    // The plain client stays, and its writes are forwarded to the new
    // leader once the old one has caught up with the new term.
    assert!(
        eventually(Duration::from_secs(10), || cl.plain.cmd(&["SET", "after", "1"]).ok()
            == Some(Reply::Simple("OK".into()))),
        "the kept client cannot write through the old leader"
    );
}

#[test]
fn redis_crate_sentinel_client_writes_through_a_failover() {
    use redis::sentinel::{SentinelClient, SentinelServerType};
    let mut c = sentinel_cluster(&[]);
    let old = settled_leader(&c);
    let urls: Vec<String> = (0..3).map(|i| format!("redis://127.0.0.1:{}/", c.nodes[i].sentinel_port)).collect();
    let mut client =
        SentinelClient::build(urls, "mymaster".into(), None, SentinelServerType::Master).expect("sentinel client");
    let mut writes: Vec<Write> = Vec::new();
    let mut conn: Option<redis::Connection> = None;
    let mut killed_at: Option<Instant> = None;
    let mut first_ok_after_kill: Option<Instant> = None;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(40) {
        if killed_at.is_none() && writes.iter().filter(|w| w.acked()).count() >= 50 {
            c.kill(old);
            killed_at = Some(Instant::now());
        }
        if first_ok_after_kill.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            break;
        }
        let Some(cn) = conn.as_mut() else {
            match client.get_connection() {
                Ok(cn) => {
                    let _ = cn.set_read_timeout(Some(Duration::from_secs(2)));
                    conn = Some(cn);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            continue;
        };
        n += 1;
        let (key, value) = (format!("rs:{n}"), n.to_string());
        let invoked = Instant::now();
        let r: redis::RedisResult<String> = redis::cmd("SET").arg(&key).arg(&value).query(cn);
        let result = match r {
            Ok(s) if s == "OK" => CallResult::Ok(Reply::Simple("OK".into())),
            Ok(s) => CallResult::Unknown(s),
            Err(e) => {
                conn = None;
                CallResult::Unknown(e.to_string())
            }
        };
        if result == CallResult::Ok(Reply::Simple("OK".into())) && killed_at.is_some_and(|k| invoked >= k) {
            first_ok_after_kill.get_or_insert_with(Instant::now);
        }
        writes.push(Write { key, value, invoked, completed: Instant::now(), result });
    }
    let killed_at = killed_at.expect("never wrote enough to kill the leader");
    let resumed = first_ok_after_kill.expect("the redis crate's Sentinel client never wrote after the failover");
    eprintln!("redis crate: could not write for {:?} after the SIGKILL", resumed - killed_at);
    let acked: Vec<&Write> = writes.iter().filter(|w| w.acked()).collect();
    c.restart(old);
    c.wait_converged(Duration::from_secs(30)).expect("the cluster did not converge");
    for i in 0..3 {
        let dump: BTreeMap<String, String> = c.dump(i).expect("dump");
        let problems = check_writes(i, &dump, &writes);
        assert!(problems.is_empty(), "node {i}: {problems:?} ({} acknowledged)", acked.len());
    }
}
