//! Writers for the failover and partition tests: each SETs unique keys
//! (`w<id>:<n>` = `<n>`) through a workload client until stopped and
//! remembers which writes were acknowledged, refused or left unknown, so
//! the data on every node can be checked against them afterwards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cluster::{CallResult, ClusterClient};
use super::Reply;

#[derive(Debug, Clone)]
pub struct Write {
    pub key: String,
    pub value: String,
    pub invoked: Instant,
    pub completed: Instant,
    pub result: CallResult,
}

impl Write {
    pub fn acked(&self) -> bool {
        self.result == CallResult::Ok(Reply::Simple("OK".into()))
    }
}

/// A set of writer threads.
pub struct Writers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Write>>>,
}

impl Writers {
    /// Starts `n` writers; writer `w` starts on node `w % ports.len()` and
    /// moves to another node when its connection fails.
    pub fn start(ports: &[u16], n: usize, timeout: Duration) -> Writers {
        Self::start_with(n, |w| ClusterClient::new(ports.to_vec(), w, timeout), "w")
    }

    /// Starts `n` writers with the given clients and key prefix.
    pub fn start_with(n: usize, mut client: impl FnMut(usize) -> ClusterClient, prefix: &str) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|w| {
                let stop = stop.clone();
                let mut c = client(w);
                let prefix = prefix.to_string();
                std::thread::spawn(move || {
                    let mut log = Vec::new();
                    // Bounded: a writer makes at most this many attempts.
                    for n in 0..200_000u64 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let key = format!("{prefix}{w}:{n}");
                        let value = n.to_string();
                        let invoked = Instant::now();
                        let result = c.call(&["SET", &key, &value]);
                        let completed = Instant::now();
                        let pause = !matches!(result, CallResult::Ok(_));
                        log.push(Write { key, value, invoked, completed, result });
                        std::thread::sleep(if pause { Duration::from_millis(20) } else { Duration::from_millis(1) });
                    }
                    log
                })
            })
            .collect();
        Writers { stop, threads }
    }

    /// Stops the writers and returns every write they made.
    pub fn stop(self) -> Vec<Write> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().flat_map(|t| t.join().expect("writer panicked")).collect()
    }
}

/// Problems of one node's data against the writes: acknowledged writes
/// missing or wrong, refused writes present.
pub fn check_writes(node: usize, dump: &BTreeMap<String, String>, writes: &[Write]) -> Vec<String> {
    let mut problems = Vec::new();
    for w in writes {
        let got = dump.get(&w.key);
        let want = format!("string:{}", w.value);
        match &w.result {
            CallResult::Ok(_) if got != Some(&want) => {
                problems.push(format!("node {node}: acknowledged {} = {} but the node has {got:?}", w.key, w.value))
            }
            CallResult::Fail(why) if got.is_some() => {
                problems.push(format!("node {node}: {} was refused ({why}) yet the node has {got:?}", w.key))
            }
            _ => {}
        }
    }
    problems
}

/// "N writes: a acknowledged, b refused, c unknown".
pub fn tally(writes: &[Write]) -> String {
    let ok = writes.iter().filter(|w| w.acked()).count();
    let fail = writes.iter().filter(|w| matches!(w.result, CallResult::Fail(_))).count();
    let unknown = writes.len() - ok - fail;
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for w in writes {
        if let CallResult::Fail(e) | CallResult::Unknown(e) = &w.result {
            let e: String = e.chars().take(60).collect();
            *errors.entry(e).or_default() += 1;
        }
    }
    let top: Vec<String> = errors.iter().take(6).map(|(e, n)| format!("{n}x {e}")).collect();
    format!("{} writes: {ok} acknowledged, {fail} refused, {unknown} unknown; {}", writes.len(), top.join("; "))
}

/// After convergence: every node's data (read locally with READONLY) holds
/// every acknowledged write and no refused one, all nodes hold the same
/// keys and values, and DBSIZE agrees. Returns the problems found.
pub fn verify_nodes(c: &super::cluster::Cluster, writes: &[Write]) -> Vec<String> {
    let mut problems = c.panics();
    let mut dumps = Vec::new();
    for i in 0..c.len() {
        match c.dump(i) {
            Ok(d) => {
                problems.extend(check_writes(i, &d, writes).into_iter().take(20));
                match c.dbsize(i) {
                    Ok(n) if n as usize == d.len() => {}
                    other => problems.push(format!("node {i}: DBSIZE {other:?} but KEYS found {}", d.len())),
                }
                dumps.push((i, d));
            }
            Err(e) => problems.push(format!("node {i}: cannot dump: {e}")),
        }
    }
    if let Some((first, d0)) = dumps.first() {
        for (i, d) in &dumps[1..] {
            if d != d0 {
                let only0: Vec<&String> = d0.keys().filter(|k| !d.contains_key(*k)).take(5).collect();
                let only_i: Vec<&String> = d.keys().filter(|k| !d0.contains_key(*k)).take(5).collect();
                let differ: Vec<&String> =
                    d0.iter().filter(|(k, v)| d.get(*k).is_some_and(|x| x != *v)).map(|(k, _)| k).take(5).collect();
                problems.push(format!(
                    "node {i} differs from node {first}: {} vs {} keys; only on {first}: {only0:?}; only on {i}: {only_i:?}; \
                     different values: {differ:?}",
                    d0.len(),
                    d.len()
                ));
            }
        }
    }
    problems
}
