//! A memory-only node that restarts has forgotten the entries it
//! acknowledged and the votes it cast. It must not help elect a leader that
//! lacks those entries: until it has caught up with a leader, it grants no
//! vote to a candidate that has a log.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{CallResult, Cluster, ClusterClient, Options};
use common::Reply;

#[test]
fn a_restarted_empty_node_does_not_elect_a_stale_leader() {
    let opts = Options { extra_args: vec!["--raft-persist".into(), "no".into()], ..Options::default() };
    let mut c = Cluster::start_with(3, &opts);
    let a = c.leader(Duration::from_secs(15)).expect("no leader at startup");
    let (b, stale) = ((a + 1) % 3, (a + 2) % 3);
    // `stale` misses everything from here on; a and b commit it.
    c.isolate(stale);
    let mut client = ClusterClient::pinned(c.port(a), Duration::from_secs(3));
    let mut acked = 0;
    for i in 0..200 {
        if matches!(client.call(&["SET", &format!("k{i}"), "v"]), CallResult::Ok(_)) {
            acked += 1;
        }
    }
    assert!(acked > 150, "only {acked} of 200 writes acknowledged by a healthy majority");
    // b forgets everything, comes back unable to hear a, then a dies: only
    // b and the stale node remain, and they can talk.
    c.kill(b);
    c.cut(a, b);
    c.restart(b);
    c.kill(a);
    c.heal_all();
    // The stale node campaigns; b must refuse it. Were it elected, the 200
    // acknowledged writes would be gone for good.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let leaders = c.leaders_now();
        assert!(
            leaders.is_empty(),
            "node {:?} became leader without the acknowledged writes (stale = {stale}, restarted = {b})\n{}",
            leaders,
            c.log_tails(20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And a write there is refused, not acknowledged.
    let mut there = ClusterClient::pinned(c.port(stale), Duration::from_secs(3));
    let r = there.call(&["SET", "after", "x"]);
    assert!(!matches!(r, CallResult::Ok(_)), "a write was acknowledged by a cluster that lost its history: {r:?}");
}

/// A majority restarted empty while one node still holds the data. The two
/// empty nodes must not start the cluster over from nothing (an empty
/// candidate looks like a first election): they vote for the survivor, the
/// most complete log left, and every write it holds is served again.
#[test]
fn a_majority_restarted_empty_continues_from_the_survivor_not_from_nothing() {
    let opts = Options { extra_args: vec!["--raft-persist".into(), "no".into()], ..Options::default() };
    let mut c = Cluster::start_with(3, &opts);
    let leader = c.leader(Duration::from_secs(15)).expect("no leader at startup");
    let (other, survivor) = ((leader + 1) % 3, (leader + 2) % 3);
    let mut client = ClusterClient::pinned(c.port(leader), Duration::from_secs(3));
    let mut acked = Vec::new();
    for i in 0..300 {
        if matches!(client.call(&["SET", &format!("k{i}"), &format!("v{i}")]), CallResult::Ok(_)) {
            acked.push(i);
        }
    }
    assert!(acked.len() > 250, "only {} of 300 writes acknowledged by a healthy cluster", acked.len());
    c.wait_caught_up(survivor, Duration::from_secs(15)).expect("the survivor did not catch up");
    c.kill(leader);
    c.kill(other);
    c.restart(leader);
    c.restart(other);
    let l = c.leader(Duration::from_secs(15)).unwrap_or_else(|| panic!("no leader\n{}", c.log_tails(20)));
    assert_eq!(l, survivor, "an empty node became leader over the survivor\n{}", c.log_tails(20));
    let mut client = ClusterClient::pinned(c.port(l), Duration::from_secs(3));
    let missing: Vec<&i32> = acked
        .iter()
        .filter(|i| match client.call(&["GET", &format!("k{i}")]) {
            CallResult::Ok(r) => r != Reply::Bulk(format!("v{i}").into_bytes()),
            _ => true,
        })
        .collect();
    assert!(missing.is_empty(), "{} acknowledged writes not served after the restart: {missing:?}", missing.len());
    let logs = std::fs::read_to_string(c.log_path(leader)).unwrap_or_default()
        + &std::fs::read_to_string(c.log_path(other)).unwrap_or_default();
    assert!(logs.contains("a majority of the voters restarted empty"), "the restarted nodes did not say what happened");
}
