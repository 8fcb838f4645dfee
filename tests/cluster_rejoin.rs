//! A memory-only node that restarts has forgotten the entries it
//! acknowledged and the votes it cast. It must not help elect a leader that
//! lacks those entries: until it has caught up with a leader, it grants no
//! vote to a candidate that has a log.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{CallResult, Cluster, ClusterClient, Options};

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
