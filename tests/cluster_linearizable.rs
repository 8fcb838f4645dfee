//! Jepsen-style consistency run: register clients (GET, SET, CAS script)
//! and list-append clients (RPUSH, LRANGE) against a 3-node cluster while a
//! nemesis kills, pauses, isolates, stalls and cuts nodes. The recorded
//! history must be linearizable per register, and the lists must show no
//! lost, duplicated or reordered element, including on every node's own
//! copy read after the cluster converged.
//!
//! RHEA_JEPSEN_SECS (default 20) sets the length of the faulty phase;
//! RHEA_JEPSEN_SEED the nemesis's choices.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, ClusterClient, Options};
use common::history::{summary, History};
use common::linearizability::check_registers;
use common::list_append::check_lists;
use common::workload::{list_client, record_final_reads, register_client, Spec};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    KillLeader,
    KillFollower,
    PauseLeader,
    PauseFollower,
    IsolateLeader,
    StallLeader,
    CutPair,
    /// A follower is removed from the membership, then added back.
    RemoveReadd,
}

const FAULTS: [Fault; 8] = [
    Fault::RemoveReadd,
    Fault::KillLeader,
    Fault::IsolateLeader,
    Fault::PauseLeader,
    Fault::KillFollower,
    Fault::CutPair,
    Fault::StallLeader,
    Fault::PauseFollower,
];

/// Injects one fault, holds it for `hold`, then repairs it.
fn inject(c: &mut Cluster, f: Fault, hold: Duration, rng: &mut fastrand::Rng) {
    let n = c.len();
    let leader = c.leader(Duration::from_secs(3)).unwrap_or_else(|| rng.usize(0..n));
    c.note(&format!("nemesis: {f:?} (leader {leader})"));
    match f {
        Fault::KillLeader | Fault::KillFollower => {
            let i = if matches!(f, Fault::KillLeader) { leader } else { (leader + 1 + rng.usize(0..n - 1)) % n };
            c.kill(i);
            std::thread::sleep(hold);
            c.restart(i);
        }
        Fault::PauseLeader | Fault::PauseFollower => {
            let i = if matches!(f, Fault::PauseLeader) { leader } else { (leader + 1 + rng.usize(0..n - 1)) % n };
            c.pause(i);
            std::thread::sleep(hold);
            c.resume(i);
        }
        Fault::IsolateLeader => {
            c.isolate(leader);
            std::thread::sleep(hold);
            c.heal_all();
        }
        Fault::StallLeader => {
            for j in (0..n).filter(|&j| j != leader) {
                c.stall(leader, j);
            }
            std::thread::sleep(hold);
            c.heal_all();
        }
        Fault::RemoveReadd => {
            let i = (leader + 1 + rng.usize(0..n - 1)) % n;
            let id = c.nodes[i].id.to_string();
            let addr = format!("127.0.0.1:{}", c.nodes[i].raft_port);
            let removed = membership(c, &["REMOVE", &id]);
            c.note(&format!("nemesis: remove node {i}: {removed}"));
            std::thread::sleep(hold);
            // Until it is back, a majority of the remaining two is both.
            for _ in 0..20 {
                let added = membership(c, &["ADD", &id, &addr]);
                c.note(&format!("nemesis: add node {i} back: {added}"));
                if added == "OK" || added.contains("already a member") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        Fault::CutPair => {
            let i = rng.usize(0..n);
            let j = (i + 1 + rng.usize(0..n - 1)) % n;
            c.cut(i, j);
            std::thread::sleep(hold);
            c.heal_all();
        }
    }
}

/// `RHEA CLUSTER <args>` on the current leader; the reply as text.
fn membership(c: &Cluster, args: &[&str]) -> String {
    let Some(l) = c.leader(Duration::from_secs(5)) else { return "no leader".into() };
    let Ok(mut conn) = c.conn(l, Duration::from_secs(6)) else { return "no connection".into() };
    let mut argv = vec!["RHEA", "CLUSTER"];
    argv.extend_from_slice(args);
    match conn.cmd(&argv) {
        Ok(common::Reply::Simple(s)) => s,
        Ok(common::Reply::Error(e)) => e,
        other => format!("{other:?}"),
    }
}

#[test]
fn registers_and_lists_under_kill_pause_and_partition() {
    let secs = env_u64("RHEA_JEPSEN_SECS", 20);
    let seed = env_u64("RHEA_JEPSEN_SEED", 1);
    // More server flags for a run on demand, e.g. "--raft-persist no".
    let extra_args = std::env::var("RHEA_JEPSEN_ARGS").unwrap_or_default();
    let opts = Options { extra_args: extra_args.split_whitespace().map(String::from).collect(), ..Options::default() };
    let mut c = Cluster::start_with(3, &opts);
    c.leader(Duration::from_secs(15)).expect("no leader elected at startup");
    let h = Arc::new(History::new());
    let stop = Arc::new(AtomicBool::new(false));
    let spec = Spec { keys: 3, epoch: Duration::from_secs(3), think: Duration::from_millis(2), max_ops: 1_000_000 };
    let ports = c.ports();
    let mut clients = Vec::new();
    for p in 0..6 {
        let (h, stop, spec) = (h.clone(), stop.clone(), spec.clone());
        let mut client = ClusterClient::new(ports.clone(), p, Duration::from_secs(1));
        clients.push(std::thread::spawn(move || {
            if p % 2 == 0 {
                register_client(&mut client, &h, p, &spec, &stop, seed * 100 + p as u64);
            } else {
                list_client(&mut client, &h, p, &spec, &stop, seed * 100 + p as u64);
            }
        }));
    }

    let mut rng = fastrand::Rng::with_seed(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    std::thread::sleep(Duration::from_secs(1));
    let mut k = seed as usize % FAULTS.len();
    while Instant::now() + Duration::from_secs(3) < deadline {
        let hold = Duration::from_millis(700 + rng.u64(0..700));
        inject(&mut c, FAULTS[k % FAULTS.len()], hold, &mut rng);
        k += 1;
        // Quiet time: the cluster must recover and serve again.
        std::thread::sleep(Duration::from_millis(500 + rng.u64(0..400)));
    }
    c.heal_all();
    for i in 0..c.len() {
        if c.is_paused(i) {
            c.resume(i);
        }
        if !c.nodes[i].running() {
            c.restart(i);
        }
    }
    // Recovered: operations must succeed again before the run ends.
    let recovered_from = h.now();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in clients {
        t.join().expect("client panicked");
    }
    let recent_ok = h.ops().iter().filter(|o| o.is_ok() && o.invoke >= recovered_from).count();
    c.note(&format!("history: {}; {recent_ok} ok after the faults ended", h.summary()));

    // Problems are collected so one run reports all of them: convergence,
    // node panics (from any incarnation of a node), then the checkers.
    let mut failures = Vec::new();
    match c.wait_converged(Duration::from_secs(30)) {
        Ok(_) => {
            // Every node's own copy becomes a final read, checked like the others.
            for i in 0..c.len() {
                if let Err(e) = record_final_reads(&h, 1000 + i, c.port(i), true) {
                    failures.push(format!("final reads on node {i}: {e}"));
                }
            }
        }
        Err(e) => failures.push(format!("no convergence after the faults (no final reads taken): {e}")),
    }
    let ops = h.ops();
    let regs = check_registers(&ops);
    let lists = check_lists(&ops);
    eprintln!("{}", summary(&ops));
    match &regs {
        Ok(r) => eprintln!("registers: {r}"),
        Err(e) => failures.push(format!("REGISTERS: {e}")),
    }
    match &lists {
        Ok(r) => eprintln!("lists: {r}"),
        Err(e) => failures.push(format!("LISTS:\n{}", e.join("\n"))),
    }
    let ok = ops.iter().filter(|o| o.is_ok() && o.process < 1000).count();
    if ok < 200 {
        failures.push(format!("only {ok} operations succeeded: the run proves little ({})", summary(&ops)));
    }
    if recent_ok < 20 {
        failures.push(format!("only {recent_ok} operations succeeded after the faults ended: no recovery"));
    }
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n\n"));
}
