//! Failover of a 3-node Raft cluster of real processes: clients keep
//! writing while a node is SIGKILLed; a new leader is elected, writes
//! resume, and once the dead node is back and the cluster converged every
//! node holds every acknowledged write (and no refused one).

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::writers::{tally, verify_nodes, Writers};

const ELECTION: Duration = Duration::from_secs(15);

fn acks_after(writes: &[common::writers::Write], t: Instant) -> usize {
    writes.iter().filter(|w| w.acked() && w.invoked >= t).count()
}

#[test]
fn leader_sigkill_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3);
    let old = c.leader(ELECTION).expect("no leader elected at startup");
    c.note(&format!("leader is node {old}"));
    let writers = Writers::start(&c.ports(), 4, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(1500));

    c.kill(old);
    let killed_at = Instant::now();
    let new = c.leader(ELECTION).expect("no new leader after the leader was killed");
    assert_ne!(new, old, "the dead node is still reported as leader");
    let elected = killed_at.elapsed();
    c.note(&format!("node {new} leads, {elected:?} after the kill"));
    // Let the writers find the new leader and write for a while.
    std::thread::sleep(Duration::from_millis(1500));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    let before = writes.iter().filter(|w| w.acked() && w.completed < killed_at).count();
    assert!(before > 20, "only {before} writes acknowledged before the kill: {}", tally(&writes));
    let after = acks_after(&writes, killed_at);
    assert!(after > 20, "writes did not resume after failover ({after} acknowledged): {}", tally(&writes));
    if let Some(first) = writes.iter().filter(|w| w.acked() && w.invoked >= killed_at).map(|w| w.completed).min() {
        c.note(&format!("first write acknowledged {:?} after the kill", first - killed_at));
    }

    c.restart(old);
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("the cluster did not converge after the old leader came back: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after failover:\n{}", problems.join("\n"));
}

#[test]
fn follower_sigkill_keeps_writes_flowing_and_it_catches_up() {
    let mut c = Cluster::start(3);
    let leader = c.leader(ELECTION).expect("no leader elected at startup");
    let follower = (leader + 1) % 3;
    let writers = Writers::start(&[c.port(leader)], 2, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(700));
    c.kill(follower);
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    // The leader keeps its majority: it must not have lost leadership.
    assert_eq!(c.leader(Duration::from_secs(2)), Some(leader), "leadership changed when a follower died");
    c.restart(follower);
    let restarted_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    let during = writes.iter().filter(|w| w.acked() && w.invoked >= killed_at && w.completed < restarted_at).count();
    assert!(during > 20, "only {during} writes acknowledged while a follower was down: {}", tally(&writes));
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("the restarted follower did not catch up: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after a follower restart:\n{}", problems.join("\n"));
}

#[test]
fn two_failovers_in_a_row() {
    let mut c = Cluster::start(3);
    let writers = Writers::start(&c.ports(), 3, Duration::from_secs(1));
    for round in 0..2 {
        let l = c.leader(ELECTION).unwrap_or_else(|| panic!("round {round}: no leader"));
        std::thread::sleep(Duration::from_millis(700));
        c.kill(l);
        let t = Instant::now();
        let n = c.leader(ELECTION).unwrap_or_else(|| panic!("round {round}: no leader after killing node {l}"));
        assert_ne!(n, l);
        c.restart(l);
        c.note(&format!("round {round}: node {n} took over from node {l} in {:?}", t.elapsed()));
        // Writes go on, so wait for the node to catch up, not for quiescence.
        if let Err(e) = c.wait_caught_up(l, Duration::from_secs(30)) {
            panic!("round {round}: node {l} did not catch up after its restart: {e}");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    assert!(writes.iter().filter(|w| w.acked()).count() > 50, "too few writes acknowledged: {}", tally(&writes));
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("no convergence at the end: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after two failovers:\n{}", problems.join("\n"));
}
