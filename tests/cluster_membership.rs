//! Membership changes under write load, with real processes: a node joins
//! a running cluster and receives everything, a node is removed, and a dead
//! node is replaced (the documented procedure: REMOVE the dead id on the
//! leader, start the new node listing the members and itself, ADD it).

mod common;

use std::time::Duration;

use common::cluster::{Cluster, ClusterClient};
use common::writers::{check_writes, tally, Writers};
use common::Reply;

const ELECTION: Duration = Duration::from_secs(15);

/// Runs `RHEA CLUSTER ...` on the current leader (retrying through an
/// election) and returns its reply.
fn admin(c: &Cluster, args: &[&str]) -> Reply {
    let mut last = Reply::Closed;
    for _ in 0..20 {
        if let Some(l) = c.leader(ELECTION) {
            if let Ok(mut conn) = c.conn(l, Duration::from_secs(10)) {
                let mut argv = vec!["RHEA", "CLUSTER"];
                argv.extend_from_slice(args);
                match conn.cmd(&argv) {
                    Ok(Reply::Error(e)) if e.contains("not the leader") || e.starts_with("TRYAGAIN") => {
                        last = Reply::Error(e)
                    }
                    Ok(r) => return r,
                    Err(e) => last = Reply::Error(e.to_string()),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

fn members(c: &Cluster, i: usize) -> Vec<u64> {
    let Ok(mut conn) = c.conn(i, Duration::from_secs(2)) else { return Vec::new() };
    let Ok(Reply::Bulk(text)) = conn.cmd(&["RHEA", "CLUSTER", "STATUS"]) else { return Vec::new() };
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.strip_prefix("node")?.split(':').next()?.parse().ok())
        .collect()
}

/// Every acknowledged write is on each of `nodes`, and they hold the same data.
fn verify(c: &Cluster, nodes: &[usize], writes: &[common::writers::Write]) {
    let mut first = None;
    for &i in nodes {
        let d = c.dump(i).unwrap_or_else(|e| panic!("dump node {i}: {e}"));
        let missing = check_writes(i, &d, writes);
        assert!(missing.is_empty(), "node {i}:\n{}", missing.join("\n"));
        match &first {
            None => first = Some(d),
            Some(f) => assert!(f == &d, "node {i} holds different data from node {}", nodes[0]),
        }
    }
}

#[test]
fn a_node_joins_under_load_and_a_dead_node_is_replaced() {
    let mut c = Cluster::start(3);
    let leader = c.leader(ELECTION).expect("no leader at startup");
    let ports = c.ports();
    let writers = Writers::start_with(3, |w| ClusterClient::new(ports.clone(), w, Duration::from_secs(3)), "m");
    std::thread::sleep(Duration::from_millis(800));

    // Join: node 4 starts empty and gets the whole history.
    let joiner = c.start_joiner();
    let addr = format!("127.0.0.1:{}", c.nodes[joiner].raft_port);
    assert_eq!(admin(&c, &["ADD", "4", &addr]), Reply::Simple("OK".into()));
    assert_eq!(admin(&c, &["ADD", "4", &addr]), Reply::Error("ERR node 4 is already a member".into()));
    std::thread::sleep(Duration::from_millis(800));

    // Replace: a follower dies for good; it is removed and node 5 takes its place.
    let dead = (0..3).find(|&i| i != leader).unwrap_or(1);
    c.kill(dead);
    let dead_id = (dead + 1).to_string();
    assert_eq!(admin(&c, &["REMOVE", &dead_id]), Reply::Simple("OK".into()));
    let replacement = c.start_joiner();
    let addr = format!("127.0.0.1:{}", c.nodes[replacement].raft_port);
    assert_eq!(admin(&c, &["ADD", "5", &addr]), Reply::Simple("OK".into()));
    std::thread::sleep(Duration::from_millis(800));

    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    assert!(writes.iter().filter(|w| w.acked()).count() > 50, "too few writes: {}", tally(&writes));
    c.wait_converged(Duration::from_secs(30)).unwrap_or_else(|e| panic!("no convergence: {e}\n{}", c.log_tails(15)));
    let live: Vec<usize> = c.live();
    assert_eq!(live.len(), 4, "live nodes {live:?}");
    for &i in &live {
        let mut m = members(&c, i);
        m.sort_unstable();
        let mut want: Vec<u64> = vec![1, 2, 3, 4, 5].into_iter().filter(|&id| id != dead as u64 + 1).collect();
        want.sort_unstable();
        assert_eq!(m, want, "node {i}'s view of the members");
    }
    verify(&c, &live, &writes);

    // The new four-node cluster (majority 3) survives losing its leader.
    let l = c.leader(ELECTION).expect("no leader after the changes");
    c.kill(l);
    let l2 = c.leader(ELECTION).expect("no leader after killing the leader of the new membership");
    assert_ne!(l, l2);
    let mut client = c.conn(l2, Duration::from_secs(5)).expect("connect to the new leader");
    assert_eq!(client.cmd(&["SET", "after", "changes"]).ok(), Some(Reply::Simple("OK".into())));
}

#[test]
fn membership_commands_check_their_arguments() {
    let c = Cluster::start(3);
    let l = c.leader(ELECTION).expect("no leader");
    let follower = (l + 1) % 3;
    let mut f = c.conn(follower, Duration::from_secs(5)).expect("connect");
    match f.cmd(&["RHEA", "CLUSTER", "REMOVE", "1"]) {
        Ok(Reply::Error(e)) => assert!(e.starts_with("ERR not the leader"), "{e}"),
        other => panic!("a follower accepted a membership change: {other:?}"),
    }
    assert_eq!(admin(&c, &["REMOVE", "9"]), Reply::Error("ERR node 9 is not a member".into()));
    assert_eq!(admin(&c, &["ADD", "0", "127.0.0.1:1"]), Reply::Error("ERR node id must be a positive integer".into()));
    assert_eq!(admin(&c, &["ADD", "4"]), Reply::Error("ERR usage: RHEA CLUSTER ADD <node-id> <raft-host:port>".into()));
}
