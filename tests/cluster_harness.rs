//! The cluster harness's own pieces, checked without a cluster: the link
//! proxy in front of a plain rhea-server (forwarding, refusing, stalling,
//! no thread left behind), the workload client's classification of
//! outcomes, INFO parsing, and the recorder + checkers end to end on real
//! servers: a single server must pass, two unsynchronised servers posing as
//! one must fail.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{CallResult, Cluster, ClusterClient, Options, RaftInfo};
use common::history::{History, Outcome, Output};
use common::linearizability::check_registers;
use common::list_append::check_lists;
use common::proxy::{LinkState, Proxy};
use common::workload::{list_client, record_final_reads, register_client, Spec};
use common::{Conn, Reply, Server};

fn proxy_to(s: &Server) -> Proxy {
    Proxy::start(SocketAddr::from(([127, 0, 0, 1], s.port))).unwrap()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn proxy_forwards_refuses_and_heals() {
    let server = Server::rhea(&[]);
    let proxy = proxy_to(&server);
    let mut c = Conn::connect_timeout(proxy.port, Duration::from_secs(2)).unwrap();
    assert_eq!(c.cmd(&["SET", "k", "v"]).unwrap(), Reply::Simple("OK".into()));
    // A large value crosses in several reads.
    let big = "x".repeat(1 << 20);
    assert_eq!(c.cmd(&["SET", "big", &big]).unwrap(), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "big"]).unwrap(), Reply::Bulk(big.clone().into_bytes()));
    // The proxy counts a chunk once it has written it, so the reply can
    // arrive a moment before its last chunk is counted.
    assert!(common::eventually(Duration::from_secs(2), || proxy.bytes() > 2 << 20), "bytes {}", proxy.bytes());
    assert_eq!(proxy.live(), 1);

    proxy.set(LinkState::Refuse);
    // The existing connection is closed...
    let r = c.cmd(&["GET", "k"]);
    assert!(matches!(r, Ok(Reply::Closed) | Err(_)), "connection survived a cut: {r:?}");
    // ...and new ones are closed before anything reaches the server.
    for _ in 0..3 {
        if let Ok(mut c) = Conn::connect_timeout(proxy.port, Duration::from_secs(2)) {
            let r = c.cmd(&["PING"]);
            assert!(matches!(r, Ok(Reply::Closed) | Err(_)), "cut link answered: {r:?}");
        }
    }
    assert!(common::eventually(Duration::from_secs(2), || proxy.live() == 0));

    proxy.set(LinkState::Pass);
    let mut c = Conn::connect_timeout(proxy.port, Duration::from_secs(2)).unwrap();
    assert_eq!(c.cmd(&["GET", "k"]).unwrap(), Reply::Bulk(b"v".to_vec()));
}

#[test]
fn proxy_stall_holds_bytes_until_healed() {
    let server = Server::rhea(&[]);
    let proxy = proxy_to(&server);
    let mut c = Conn::connect_timeout(proxy.port, Duration::from_secs(2)).unwrap();
    assert_eq!(c.cmd(&["PING"]).unwrap(), Reply::Simple("PONG".into()));
    proxy.set(LinkState::Stall);
    std::thread::sleep(Duration::from_millis(100));
    c.set_timeout(Duration::from_millis(400));
    c.send(&["INCR", "n"]).unwrap();
    assert!(c.read().is_err(), "a stalled link delivered a reply");
    // The server has not seen the command either.
    let mut direct = server.conn();
    assert_eq!(direct.cmd(&["GET", "n"]).unwrap(), Reply::Nil);
    // A connection opened while stalled is held, not refused.
    let mut c2 = Conn::connect_timeout(proxy.port, Duration::from_secs(2)).unwrap();
    c2.set_timeout(Duration::from_millis(300));
    c2.send(&["PING"]).unwrap();
    assert!(c2.read().is_err());

    proxy.set(LinkState::Pass);
    c.set_timeout(Duration::from_secs(3));
    c2.set_timeout(Duration::from_secs(3));
    assert_eq!(c.read().unwrap(), Reply::Int(1), "the stalled command was lost");
    assert_eq!(c2.read().unwrap(), Reply::Simple("PONG".into()));
    assert_eq!(c.cmd(&["INCR", "n"]).unwrap(), Reply::Int(2));
}

#[test]
fn proxy_drop_closes_connections_and_joins_its_threads() {
    let server = Server::rhea(&[]);
    // Other tests in this binary start threads too; retry the comparison.
    let ok = (0..5).any(|_| {
        let before = threads();
        let proxy = proxy_to(&server);
        let port = proxy.port;
        let mut conns: Vec<Conn> =
            (0..4).map(|_| Conn::connect_timeout(port, Duration::from_secs(2)).unwrap()).collect();
        for c in &mut conns {
            assert_eq!(c.cmd(&["PING"]).unwrap(), Reply::Simple("PONG".into()));
        }
        assert!(threads() >= before + 9, "expected an acceptor and 2 pumps per connection");
        let t = Instant::now();
        drop(proxy);
        assert!(t.elapsed() < Duration::from_secs(2), "dropping the proxy took {:?}", t.elapsed());
        for c in &mut conns {
            assert!(matches!(c.cmd(&["PING"]), Ok(Reply::Closed) | Err(_)));
        }
        assert!(Conn::connect_timeout(port, Duration::from_millis(300)).is_err(), "the port still accepts");
        threads() <= before
    });
    assert!(ok, "the proxy left threads behind");
}

#[test]
fn client_classifies_outcomes() {
    let mut server = Server::rhea(&[]);
    let mut c = ClusterClient::pinned(server.port, Duration::from_millis(300));
    assert_eq!(c.call(&["SET", "k", "v"]), CallResult::Ok(Reply::Simple("OK".into())));
    // An error that is not CLUSTERDOWN: fate unknown to the harness.
    assert!(matches!(c.call(&["INCR", "k"]), CallResult::Unknown(_)));
    // A script that raises CLUSTERDOWN: a definite failure.
    let r = c.call(&["EVAL", "return redis.error_reply('CLUSTERDOWN No leader')", "0"]);
    assert_eq!(r, CallResult::Fail("CLUSTERDOWN No leader".into()));
    // A stopped server: the request times out, fate unknown.
    server.signal("STOP");
    let r = c.call(&["SET", "k", "w"]);
    server.signal("CONT");
    assert!(matches!(r, CallResult::Unknown(_)), "{r:?}");
    // The next calls reconnect; the timed-out SET did happen after all.
    assert!(common::eventually(Duration::from_secs(3), || c.call(&["GET", "k"])
        == CallResult::Ok(Reply::Bulk(b"w".to_vec()))));
    // Nobody listening: never sent, definitely failed.
    server.signal("KILL");
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
    let r = c.call(&["GET", "k"]);
    assert!(matches!(r, CallResult::Unknown(_) | CallResult::Fail(_)), "{r:?}");
    assert!(matches!(c.call(&["GET", "k"]), CallResult::Fail(_)));
}

#[test]
fn raft_info_parses_info_replication() {
    let text = "# Replication\r\nrole:slave\r\nraft_node_id:2\r\nraft_leader_id:3\r\nraft_term:7\r\n\
                raft_commit_index:120\r\nraft_applied_index:119\r\nconnected_slaves:0\r\n";
    let r = RaftInfo::parse(text).unwrap();
    assert_eq!(r, RaftInfo { master: false, node_id: 2, leader_id: 3, term: 7, commit: 120, applied: 119 });
    assert!(RaftInfo::parse(&text.replace("role:slave", "role:master")).unwrap().master);
    // A plain Redis-style answer has no Raft fields.
    assert_eq!(RaftInfo::parse("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"), None);
}

/// Runs `procs` register clients and `procs` list clients for `secs`
/// against `ports` (each client picks a random one per call when `ports`
/// has several), then checks the history.
type Checked = (Vec<common::history::Op>, Result<String, String>, Result<String, Vec<String>>);

fn run_workload(ports: &[u16], procs: usize, dur: Duration, final_port: Option<u16>) -> Checked {
    let h = Arc::new(History::new());
    let stop = Arc::new(AtomicBool::new(false));
    let spec = Spec { keys: 2, epoch: Duration::from_millis(700), think: Duration::from_micros(200), max_ops: 5000 };
    let mut threads = Vec::new();
    for p in 0..procs * 2 {
        let (h, stop, spec, ports) = (h.clone(), stop.clone(), spec.clone(), ports.to_vec());
        threads.push(std::thread::spawn(move || {
            // Each operation goes to a random server, so a history over
            // several servers interleaves them.
            let mut client = ClusterClient::spread(ports, Duration::from_secs(2), p as u64);
            let spec = Spec { max_ops: 1_000_000, ..spec };
            if p % 2 == 0 {
                register_client(&mut client, &h, p, &spec, &stop, p as u64);
            } else {
                list_client(&mut client, &h, p, &spec, &stop, p as u64);
            }
        }));
    }
    std::thread::sleep(dur);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    if let Some(port) = final_port {
        record_final_reads(&h, 9999, port, false).unwrap();
    }
    let ops = h.ops();
    eprintln!("{}", h.summary());
    let (regs, lists) = (check_registers(&ops), check_lists(&ops));
    (ops, regs, lists)
}

#[test]
fn single_server_histories_are_linearizable() {
    let server = Server::rhea(&[]);
    let (ops, regs, lists) = run_workload(&[server.port], 3, Duration::from_secs(3), Some(server.port));
    // A healthy server answers everything, so every kind of operation was exercised.
    let odd: Vec<String> = ops.iter().filter(|o| !o.is_ok()).take(3).map(|o| o.to_string()).collect();
    assert!(odd.is_empty(), "operations that did not succeed on a single server: {odd:?}");
    let swapped = ops.iter().filter(|o| o.outcome == Outcome::Ok(Output::Swapped(true))).count();
    let refused = ops.iter().filter(|o| o.outcome == Outcome::Ok(Output::Swapped(false))).count();
    assert!(swapped > 10 && refused > 10, "CAS coverage: {swapped} swapped, {refused} not");
    if let Err(e) = regs {
        panic!("a single rhea-server is not linearizable?\n{e}");
    }
    if let Err(e) = lists {
        panic!("list anomalies on a single server:\n{}", e.join("\n"));
    }
}

#[test]
fn two_independent_servers_are_caught() {
    let a = Server::rhea(&[]);
    let b = Server::rhea(&[]);
    let (_, regs, lists) = run_workload(&[a.port, b.port], 3, Duration::from_secs(2), None);
    let regs = regs.expect_err("two unsynchronised servers passed the register checker");
    eprintln!("register checker, as expected:\n{regs}");
    let lists = lists.expect_err("two unsynchronised servers passed the list checker");
    eprintln!("list checker, as expected (first 3):\n{}", lists[..lists.len().min(3)].join("\n"));
}

fn alive(pid: u32) -> bool {
    // A zombie counts as dead: it is only waiting to be reaped.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
}

#[test]
fn cluster_processes_signals_logs_and_cleanup() {
    // Plain servers: the process management, not Raft.
    let mut c = Cluster::start_with(3, &Options { plain: true, ..Options::default() });
    let pids: Vec<u32> = c.nodes.iter().map(|n| n.pid().unwrap()).collect();
    for i in 0..3 {
        let mut conn = c.conn(i, Duration::from_secs(2)).unwrap();
        assert_eq!(conn.cmd(&["PING"]).unwrap(), Reply::Simple("PONG".into()));
    }
    // No Raft fields, so no leader, and the wait is bounded.
    let t = Instant::now();
    assert_eq!(c.leader(Duration::from_millis(300)), None);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(c.wait_converged(Duration::from_millis(300)).is_err());

    c.pause(1);
    assert!(common::eventually(Duration::from_secs(2), || state(pids[1]) == Some('T')), "SIGSTOP did not stop node 1");
    assert_eq!(c.live(), vec![0, 2]);
    c.resume(1);
    assert!(common::eventually(Duration::from_secs(2), || state(pids[1]) != Some('T')));

    c.kill(2);
    assert!(!alive(pids[2]), "node 2 survived SIGKILL");
    assert!(c.conn(2, Duration::from_millis(300)).is_err());
    c.restart(2);
    let new_pid = c.nodes[2].pid().unwrap();
    assert_ne!(new_pid, pids[2]);
    let mut conn = c.conn(2, Duration::from_secs(2)).unwrap();
    assert_eq!(conn.cmd(&["PING"]).unwrap(), Reply::Simple("PONG".into()));

    // The harness's notes land in every node's log.
    c.note("marker-for-the-log");
    assert!(c.log_tail(0, 10).contains("marker-for-the-log"));
    assert!(c.log_tail(2, 50).contains("restart node 2"));

    // Every directed link has its own proxy; cutting marks both directions.
    c.cut(0, 1);
    assert_eq!(c.link(0, 1).unwrap().state(), LinkState::Refuse);
    assert_eq!(c.link(1, 0).unwrap().state(), LinkState::Refuse);
    assert_eq!(c.link(0, 2).unwrap().state(), LinkState::Pass);
    c.cut_one_way(2, 0);
    assert_eq!(c.link(2, 0).unwrap().state(), LinkState::Refuse);
    assert_eq!(c.link(0, 2).unwrap().state(), LinkState::Pass);
    c.isolate(1);
    assert_eq!(c.link(2, 1).unwrap().state(), LinkState::Refuse);
    c.heal_all();
    assert!((0..3).all(|i| (0..3).all(|j| i == j || c.link(i, j).unwrap().state() == LinkState::Pass)));

    let dir = c.dir.clone();
    let mut all = pids.clone();
    all[2] = new_pid;
    c.pause(0);
    drop(c);
    for p in all {
        assert!(!alive(p), "process {p} outlived the cluster");
    }
    assert!(!dir.exists(), "the temp dir of a passing test is removed");
}
