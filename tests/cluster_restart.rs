//! With the log on disk (the default), killing every node at once loses no
//! acknowledged write: each node restores its snapshot, replays its log, and
//! the cluster elects a leader again.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cluster::{Cluster, ClusterClient, Options};
use common::writers::{tally, verify_nodes, Writers};
use common::{Conn, Reply};

#[test]
fn a_whole_cluster_sigkill_and_restart_loses_no_acknowledged_write() {
    // Small snapshots, so the restart goes through snapshot + log replay.
    let opts = Options { extra_args: vec!["--raft-snapshot-bytes".into(), "20kb".into()], ..Options::default() };
    let mut c = Cluster::start_with(3, &opts);
    c.leader(Duration::from_secs(15)).expect("no leader at startup");
    let ports = c.ports();
    let writers = Writers::start_with(4, |w| ClusterClient::new(ports.clone(), w, Duration::from_secs(3)), "r");
    std::thread::sleep(Duration::from_millis(2500));
    // Everyone dies while writes are in flight.
    for i in 0..3 {
        c.kill(i);
    }
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    assert!(writes.iter().filter(|w| w.acked()).count() > 200, "too few writes: {}", tally(&writes));
    for i in 0..3 {
        c.restart(i);
    }
    c.leader(Duration::from_secs(20)).expect("no leader after the restart");
    c.wait_converged(Duration::from_secs(30)).unwrap_or_else(|e| panic!("no convergence after restart: {e}"));
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after a whole-cluster restart:\n{}", problems.join("\n"));
    let logs = (0..3).map(|i| std::fs::read_to_string(c.log_path(i)).unwrap_or_default()).collect::<String>();
    assert!(logs.contains("state restored from the local snapshot"), "no node restarted from a snapshot");
}

/// A follower that was down while the log moved past its compaction point
/// catches up from a snapshot streamed by the leader, under write load.
#[test]
fn a_lagging_follower_gets_a_snapshot_under_write_load() {
    let opts = Options {
        extra_args: ["--raft-snapshot-bytes", "16kb", "--raft-log-tail", "50"].map(String::from).to_vec(),
        ..Options::default()
    };
    let mut c = Cluster::start_with(3, &opts);
    let leader = c.leader(Duration::from_secs(15)).expect("no leader at startup");
    let follower = (leader + 1) % 3;
    let ports = c.ports();
    let writers = Writers::start_with(4, |w| ClusterClient::new(ports.clone(), w, Duration::from_secs(3)), "s");
    std::thread::sleep(Duration::from_millis(700));
    c.kill(follower);
    std::thread::sleep(Duration::from_millis(2500));
    // Back while the writers go on: the leader has compacted what it missed.
    c.restart(follower);
    std::thread::sleep(Duration::from_millis(2000));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    c.wait_converged(Duration::from_secs(30)).unwrap_or_else(|e| panic!("no convergence: {e}"));
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after a snapshot install:\n{}", problems.join("\n"));
    let log = std::fs::read_to_string(c.log_path(follower)).unwrap_or_default();
    assert!(log.contains("state replaced by the leader's snapshot"), "the follower caught up without a snapshot");
}

/// The Raft figures of INFO replication are also Prometheus metrics.
#[test]
fn raft_figures_are_exported_as_metrics() {
    let mut c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(15)).expect("no leader");
    let node = (leader + 1) % 3;
    let port = common::free_port();
    c.set_arg(node, "metrics-port", &port.to_string());
    c.restart(node);
    c.wait_converged(Duration::from_secs(20)).expect("no convergence");
    let leader = c.leader(Duration::from_secs(15)).expect("no leader");
    let scrape = || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("send");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read");
        body
    };
    let value = |body: &str, name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
    };
    // Give the follower a moment to hear the leader after its restart.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let b = scrape();
        if value(&b, "rhea_raft_leader_id") == c.nodes[leader].id as f64 || std::time::Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(value(&body, "rhea_raft_leader_id"), c.nodes[leader].id as f64);
    assert_eq!(value(&body, "rhea_raft_is_leader"), if node == leader { 1.0 } else { 0.0 });
    assert!(value(&body, "rhea_raft_commit_index") >= 1.0);
    assert!(value(&body, "rhea_raft_term") >= 1.0);
}

/// Request ids start again at 1 whenever a node starts. A node restarted
/// without persistence catches up by applying the whole log again,
/// including every entry its previous run proposed, while its new clients'
/// writes wait behind them: those entries' replies must not be taken for
/// the new requests' (each run of a node proposes under an origin of its
/// own). Here the old run's writes answer integers, the new run's `+OK`.
#[test]
fn a_restarted_node_never_answers_new_requests_with_its_old_runs_replies() {
    // No snapshot: the restarted node gets the old entries themselves, and
    // large values make its catch-up take many appends.
    let opts = Options {
        extra_args: ["--raft-persist", "no", "--raft-snapshot-bytes", "1gb"].map(String::from).to_vec(),
        ..Options::default()
    };
    let mut c = Cluster::start_with(3, &opts);
    let leader = c.leader(Duration::from_secs(15)).expect("no leader at startup");
    let node = (leader + 1) % 3;
    let value = vec![b'x'; 64 << 10];
    let mut conn = c.conn(node, Duration::from_secs(10)).expect("connect to the follower");
    for i in 1..=300 {
        let r = conn.cmd(&[b"APPEND".as_slice(), format!("old:{i}").as_bytes(), &value]).expect("APPEND");
        assert_eq!(r, Reply::Int(value.len() as i64), "old write {i} through the follower");
    }
    drop(conn);
    c.kill(node);
    let port = c.port(node);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut acked, mut wrong) = (Vec::new(), Vec::new());
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && acked.len() < 50 {
                    let Ok(mut conn) = Conn::connect_timeout(port, Duration::from_millis(200)) else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    conn.set_timeout(Duration::from_secs(10));
                    while !stop.load(Ordering::Relaxed) && acked.len() < 50 {
                        let key = format!("new:{t}:{i}");
                        i += 1;
                        match conn.cmd(&["SET", &key, "v"]) {
                            Ok(Reply::Simple(s)) if s == "OK" => acked.push(key),
                            // Not served (no leader yet, still catching up):
                            // a clear error, tried again with a new key.
                            Ok(Reply::Error(_)) => std::thread::sleep(Duration::from_millis(2)),
                            Ok(other) => wrong.push(format!("SET {key} -> {other:?}")),
                            Err(_) => break,
                        }
                    }
                }
                (acked, wrong)
            })
        })
        .collect();
    c.restart(node);
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut wrong) = (Vec::new(), Vec::new());
    for h in clients {
        let (a, w) = h.join().expect("a client thread panicked");
        acked.extend(a);
        wrong.extend(w);
    }
    assert!(wrong.is_empty(), "{} new writes got another request's reply:\n{}", wrong.len(), wrong.join("\n"));
    assert!(acked.len() >= 50, "too few new writes acknowledged: {}", acked.len());
    c.wait_converged(Duration::from_secs(30)).unwrap_or_else(|e| panic!("no convergence: {e}"));
    let mut conn = c.conn(node, Duration::from_secs(10)).expect("connect to the restarted node");
    let missing: Vec<&String> =
        acked.iter().filter(|k| conn.cmd(&["GET", k.as_str()]).ok() != Some(Reply::Bulk(b"v".to_vec()))).collect();
    assert!(missing.is_empty(), "acknowledged new writes missing: {missing:?}");
}
