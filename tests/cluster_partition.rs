//! Partitions of a 3-node Raft cluster, cut with the link proxies: a leader
//! cut off from the majority stops acknowledging writes and serves no stale
//! reads (no split brain), the majority elects a leader and carries on, and
//! after healing every node converges to the same data.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{CallResult, Cluster, ClusterClient};
use common::writers::{tally, verify_nodes, Write, Writers};
use common::Reply;

const ELECTION: Duration = Duration::from_secs(15);

#[test]
fn isolated_leader_stops_acknowledging_and_majority_takes_over() {
    let c = Cluster::start(3);
    let old = c.leader(ELECTION).expect("no leader elected at startup");
    let before = Writers::start_with(2, |_| ClusterClient::pinned(c.port(old), Duration::from_secs(1)), "pre");
    std::thread::sleep(Duration::from_millis(800));
    let mut writes = before.stop();
    assert!(writes.iter().filter(|w| w.acked()).count() > 10, "no writes before the partition: {}", tally(&writes));

    c.isolate(old);
    // Let any byte already inside a proxy drain before the minority writes.
    std::thread::sleep(Duration::from_millis(100));
    let cut_at = Instant::now();
    let minority =
        Writers::start_with(2, |_| ClusterClient::pinned(c.port(old), Duration::from_millis(1500)), "minority");

    let Some(new) = c.leader_excluding(&[old], ELECTION) else {
        panic!("the majority elected no leader: {:?}", (0..3).map(|i| c.info(i)).collect::<Vec<_>>());
    };
    c.note(&format!("node {new} leads the majority, {:?} after the cut", cut_at.elapsed()));
    let majority = Writers::start_with(2, |_| ClusterClient::pinned(c.port(new), Duration::from_secs(1)), "majority");
    std::thread::sleep(Duration::from_millis(1500));
    let maj = majority.stop();

    // A linearizable read on the isolated node of a key the majority wrote
    // must not come back with the old value (nil).
    let probe = maj.iter().find(|w| w.acked()).map(|w| w.key.clone());
    let mut stale = None;
    if let Some(key) = &probe {
        let mut cl = ClusterClient::pinned(c.port(old), Duration::from_millis(1500));
        if let CallResult::Ok(r) = cl.call(&["GET", key]) {
            if r == Reply::Nil {
                stale = Some(format!("GET {key} on the isolated node answered nil after the majority wrote it"));
            }
        }
    }
    let min = minority.stop();
    eprintln!("before: {}\nmajority: {}\nminority: {}", tally(&writes), tally(&maj), tally(&min));
    let split_brain: Vec<&Write> = min.iter().filter(|w| w.acked()).collect();
    assert!(
        split_brain.is_empty(),
        "split brain: the isolated node acknowledged {} writes, e.g. {:?}",
        split_brain.len(),
        &split_brain[..split_brain.len().min(3)]
    );
    assert!(stale.is_none(), "{}", stale.unwrap_or_default());
    let maj_acked = maj.iter().filter(|w| w.acked()).count();
    assert!(maj_acked > 20, "the majority side acknowledged only {maj_acked} writes: {}", tally(&maj));

    c.heal_all();
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("no convergence after healing: {e}");
    }
    assert_ne!(c.leader_now(), None);
    writes.extend(maj);
    writes.extend(min);
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after healing:\n{}", problems.join("\n"));
}

#[test]
fn isolated_follower_catches_up_after_healing() {
    let c = Cluster::start(3);
    let leader = c.leader(ELECTION).expect("no leader elected at startup");
    let follower = (leader + 2) % 3;
    let writers = Writers::start_with(2, |_| ClusterClient::pinned(c.port(leader), Duration::from_secs(1)), "w");
    std::thread::sleep(Duration::from_millis(500));
    c.isolate(follower);
    std::thread::sleep(Duration::from_millis(2000));
    // The isolated follower's elections must not unseat the leader for good.
    c.heal_all();
    std::thread::sleep(Duration::from_millis(1000));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("no convergence after healing: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after healing a follower:\n{}", problems.join("\n"));
}

#[test]
fn one_way_cut_from_leader_still_converges() {
    // The leader can no longer send to one follower (its connection is
    // refused) but still hears from it: the follower must not be lost for
    // good, and after healing all nodes agree.
    let c = Cluster::start(3);
    let leader = c.leader(ELECTION).expect("no leader elected at startup");
    let follower = (leader + 1) % 3;
    let writers = Writers::start(&c.ports(), 2, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(500));
    c.cut_one_way(leader, follower);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(c.leader(ELECTION).is_some(), "no leader with a one-way cut");
    c.heal_all();
    std::thread::sleep(Duration::from_millis(500));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    assert!(writes.iter().filter(|w| w.acked()).count() > 20, "too few writes: {}", tally(&writes));
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("no convergence after healing a one-way cut: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after a one-way cut:\n{}", problems.join("\n"));
}

#[test]
fn without_a_majority_writes_get_clusterdown_not_a_hang() {
    let mut c = Cluster::start(3);
    let leader = c.leader(ELECTION).expect("no leader elected at startup");
    let survivor = (leader + 1) % 3;
    c.kill(leader);
    c.kill((leader + 2) % 3);
    // Once the survivor notices it has no leader, a write is refused with
    // a clear, retryable error; until then it may time out, never succeed.
    let mut client = ClusterClient::pinned(c.port(survivor), Duration::from_secs(5));
    let mut writes: Vec<Write> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clusterdown = false;
    let mut n = 0;
    while Instant::now() < deadline && !clusterdown {
        let key = format!("lonely:{n}");
        n += 1;
        let invoked = Instant::now();
        let result = client.call(&["SET", &key, "1"]);
        let completed = Instant::now();
        clusterdown = matches!(&result, CallResult::Fail(e) if e.starts_with("CLUSTERDOWN"));
        writes.push(Write { key, value: "1".into(), invoked, completed, result });
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{}", tally(&writes));
    assert!(!writes.iter().any(|w| w.acked()), "a lone node acknowledged a write: {}", tally(&writes));
    assert!(clusterdown, "no CLUSTERDOWN error within 10 s without a majority: {}", tally(&writes));
    // Reads that need the leader are refused the same way, promptly.
    let t = Instant::now();
    let r = client.call(&["GET", "lonely:0"]);
    assert!(matches!(&r, CallResult::Fail(e) if e.starts_with("CLUSTERDOWN")), "GET without a majority: {r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "GET took {:?} to be refused", t.elapsed());

    c.restart(leader);
    c.restart((leader + 2) % 3);
    c.leader(ELECTION).expect("no leader once the nodes came back");
    let after = Writers::start(&c.ports(), 2, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(800));
    let after = after.stop();
    assert!(after.iter().filter(|w| w.acked()).count() > 10, "no recovery: {}", tally(&after));
    writes.extend(after);
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("no convergence after restarting the majority: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after losing and regaining the majority:\n{}", problems.join("\n"));
}
