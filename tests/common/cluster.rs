//! A Raft cluster of real rhea-server processes on loopback, with a
//! fault-injecting proxy on every directed Raft link.
//!
//! Nodes are addressed by index `i` in `0..n`; node `i` has Raft id `i + 1`.
//! Node `i`'s `--peers` entry for node `j` is proxy(i→j), which forwards to
//! j's real `--raft-addr`, so `cut(i, j)` silences both directions of the
//! pair and `cut_one_way(i, j)` only what i sends to j. Clients talk to the
//! nodes' client ports directly (no proxy): a partitioned node still hears
//! its clients, which is the point of a partition test.
//!
//! Every node's stdout and stderr go to `<tmp>/node<i>.log` (appended
//! across restarts); if the test panics, the tails of the logs are printed
//! when the cluster is dropped and the directory is kept. Every wait is
//! bounded, and dropping the cluster SIGKILLs every node and joins every
//! proxy thread.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::proxy::{LinkState, Proxy};
use super::{free_port, rhea_bin, Conn, Reply};

/// How long one status poll of one node may take.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--cluster-secret`.
    pub secret: Option<String>,
    /// More `--name value` arguments for every node.
    pub extra_args: Vec<String>,
    /// Start plain servers without the Raft arguments (only to test the
    /// harness itself: processes, signals, logs, proxies).
    pub plain: bool,
    /// Node `i` listens on its own loopback IP, 127.0.0.`i+1`, and every
    /// node on the same client port, as a real deployment looks (one port,
    /// many hosts). `conn`, `info`, `leader` and `wait_ready` follow the
    /// host; the helpers that take a bare port assume 127.0.0.1.
    pub distinct_ips: bool,
    /// Give every node a `--sentinel-port` of its own (`Node::sentinel_port`).
    pub sentinel: bool,
}

pub struct Node {
    /// Raft id (index + 1).
    pub id: u64,
    /// The client address's IP (127.0.0.1 unless `Options::distinct_ips`).
    pub host: String,
    pub port: u16,
    pub raft_port: u16,
    /// The Sentinel-compatible port (0 = none).
    pub sentinel_port: u16,
    args: Vec<String>,
    child: Option<Child>,
    paused: bool,
    dir: PathBuf,
    log: PathBuf,
}

impl Node {
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

/// What INFO replication says about Raft.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftInfo {
    pub master: bool,
    pub node_id: u64,
    pub leader_id: u64,
    pub term: u64,
    pub commit: u64,
    pub applied: u64,
}

impl RaftInfo {
    /// Parses INFO replication's text; None if a field is missing.
    pub fn parse(text: &str) -> Option<RaftInfo> {
        let field = |name: &str| -> Option<&str> {
            text.lines().find_map(|l| l.trim_end().strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        };
        let num = |name: &str| field(name).and_then(|v| v.trim().parse::<u64>().ok());
        Some(RaftInfo {
            master: match field("role")?.trim() {
                "master" => true,
                "slave" => false,
                _ => return None,
            },
            node_id: num("raft_node_id")?,
            leader_id: num("raft_leader_id")?,
            term: num("raft_term")?,
            commit: num("raft_commit_index")?,
            applied: num("raft_applied_index")?,
        })
    }
}

static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

/// One cluster at a time per test binary: on a 2-core machine two clusters
/// electing side by side starve each other's heartbeats.
static SERIAL: Mutex<()> = Mutex::new(());

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// links[i][j]: the proxy node i dials to reach node j (None on the diagonal).
    links: Vec<Vec<Option<Proxy>>>,
    pub dir: PathBuf,
    started: Instant,
    /// Held for the cluster's life (dropped after the processes are killed).
    _serial: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts `n` nodes that bootstrap one cluster; returns once every node
    /// answers PING (not once a leader is elected: see `leader`).
    pub fn start(n: usize) -> Cluster {
        Self::start_with(n, &Options::default())
    }

    pub fn start_with(n: usize, opts: &Options) -> Cluster {
        assert!(n >= 1, "a cluster needs a node");
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!(
            "rhea-cluster-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's temp dir");
        let raft_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let links: Vec<Vec<Option<Proxy>>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        (i != j).then(|| {
                            Proxy::start(SocketAddr::from(([127, 0, 0, 1], raft_ports[j]))).expect("start a link proxy")
                        })
                    })
                    .collect()
            })
            .collect();
        let mut nodes = Vec::new();
        let shared_port = free_port();
        for i in 0..n {
            let peers: Vec<String> = (0..n)
                .map(|j| {
                    let port = links[i][j].as_ref().map_or(raft_ports[i], |p| p.port);
                    format!("{}@127.0.0.1:{port}", j + 1)
                })
                .collect();
            let (host, port) = if opts.distinct_ips {
                (format!("127.0.0.{}", i + 1), shared_port)
            } else {
                ("127.0.0.1".into(), free_port())
            };
            let mut args: Vec<String> = vec!["--port".into(), port.to_string()];
            if opts.distinct_ips {
                args.extend(["--bind".into(), host.clone()]);
            }
            if !opts.plain {
                args.extend([
                    "--node-id".into(),
                    (i + 1).to_string(),
                    "--raft-addr".into(),
                    format!("127.0.0.1:{}", raft_ports[i]),
                    "--peers".into(),
                    peers.join(","),
                ]);
            }
            if let Some(s) = &opts.secret {
                args.extend(["--cluster-secret".into(), s.clone()]);
            }
            let sentinel_port = if opts.sentinel { free_port() } else { 0 };
            if sentinel_port != 0 {
                args.extend(["--sentinel-port".into(), sentinel_port.to_string()]);
            }
            args.extend(opts.extra_args.iter().cloned());
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("create a node dir");
            nodes.push(Node {
                id: i as u64 + 1,
                host,
                port,
                raft_port: raft_ports[i],
                sentinel_port,
                args,
                child: None,
                paused: false,
                log: dir.join(format!("node{i}.log")),
                dir: node_dir,
            });
        }
        let mut c = Cluster { nodes, links, dir, started: Instant::now(), _serial: serial };
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_ready(i, Duration::from_secs(20));
        }
        c
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Seconds since the cluster started, for log lines.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Writes a line into the test output and every node's log, so the
    /// logs show where faults were injected.
    pub fn note(&self, what: &str) {
        let line = format!("[harness +{:.3}s] {what}\n", self.elapsed());
        eprint!("{line}");
        for n in &self.nodes {
            if let Ok(mut f) = OpenOptions::new().append(true).open(&n.log) {
                let _ = std::io::Write::write_all(&mut f, line.as_bytes());
            }
        }
    }

    /// Starts one more node (id = its index + 1) that knows every current
    /// node by its real Raft address (no proxy on its links) and lists
    /// itself; it joins once `RHEA CLUSTER ADD` is run on the leader.
    /// Returns its index.
    pub fn start_joiner(&mut self) -> usize {
        let i = self.nodes.len();
        let raft_port = free_port();
        let mut peers: Vec<String> = self.nodes.iter().map(|n| format!("{}@127.0.0.1:{}", n.id, n.raft_port)).collect();
        peers.push(format!("{}@127.0.0.1:{raft_port}", i + 1));
        let port = free_port();
        let mut args: Vec<String> = vec!["--port".into(), port.to_string()];
        args.extend([
            "--node-id".into(),
            (i + 1).to_string(),
            "--raft-addr".into(),
            format!("127.0.0.1:{raft_port}"),
            "--peers".into(),
            peers.join(","),
        ]);
        let node_dir = self.dir.join(format!("node{i}"));
        std::fs::create_dir_all(&node_dir).expect("create a node dir");
        self.nodes.push(Node {
            id: i as u64 + 1,
            host: "127.0.0.1".into(),
            port,
            raft_port,
            sentinel_port: 0,
            args,
            child: None,
            paused: false,
            log: self.dir.join(format!("node{i}.log")),
            dir: node_dir,
        });
        for row in &mut self.links {
            row.push(None);
        }
        self.links.push((0..=i).map(|_| None).collect());
        self.note(&format!("start joiner node {i}"));
        self.spawn(i);
        self.wait_ready(i, Duration::from_secs(20));
        i
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = OpenOptions::new().create(true).append(true).open(&node.log).expect("open a node log");
        let err = log.try_clone().expect("clone a log handle");
        let child = Command::new(rhea_bin())
            .args(&node.args)
            .current_dir(&node.dir)
            // Panics keep their backtraces; anyhow errors stay one line.
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start rhea-server ({}): {e}", rhea_bin()));
        node.child = Some(child);
        node.paused = false;
    }

    /// Waits until node `i` answers PING; panics (with its log) if it exits
    /// or does not answer in time.
    pub fn wait_ready(&mut self, i: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(mut c) = self.conn(i, POLL_TIMEOUT) {
                if let Ok(Reply::Simple(s)) = c.cmd(&["PING"]) {
                    if s == "PONG" {
                        return;
                    }
                }
            }
            let exited = self.nodes[i].child.as_mut().map(|c| c.try_wait());
            if let Some(Ok(Some(status))) = exited {
                self.nodes[i].child = None;
                panic!(
                    "node {i} exited during startup ({status}); args {:?}\n{}",
                    self.nodes[i].args,
                    self.log_tail(i, 40)
                );
            }
            if Instant::now() >= deadline {
                panic!("node {i} did not answer PING within {timeout:?}\n{}", self.log_tail(i, 40));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILLs node `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        self.note(&format!("kill node {i}"));
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes[i].paused = false;
    }

    fn signal(&self, i: usize, sig: &str) {
        if let Some(pid) = self.nodes[i].pid() {
            let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status();
        }
    }

    /// SIGSTOPs node `i`.
    pub fn pause(&mut self, i: usize) {
        self.note(&format!("pause node {i}"));
        self.signal(i, "STOP");
        self.nodes[i].paused = true;
    }

    /// SIGCONTs node `i`.
    pub fn resume(&mut self, i: usize) {
        self.note(&format!("resume node {i}"));
        self.signal(i, "CONT");
        self.nodes[i].paused = false;
    }

    pub fn is_paused(&self, i: usize) -> bool {
        self.nodes[i].paused
    }

    /// Kills node `i` if it runs, starts it again with the same arguments
    /// and waits until it answers PING.
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].running() {
            self.kill(i);
        }
        self.note(&format!("restart node {i}"));
        self.spawn(i);
        self.wait_ready(i, Duration::from_secs(20));
    }

    /// Changes (or adds) `--name value` in node `i`'s arguments, for its
    /// next (re)start.
    pub fn set_arg(&mut self, i: usize, name: &str, value: &str) {
        let args = &mut self.nodes[i].args;
        let flag = format!("--{name}");
        match args.iter().position(|a| *a == flag) {
            Some(p) if p + 1 < args.len() => args[p + 1] = value.to_string(),
            _ => args.extend([flag, value.to_string()]),
        }
    }

    /// Sets the proxy node `from` uses to reach node `to`.
    pub fn set_link(&self, from: usize, to: usize, state: LinkState) {
        if let Some(p) = &self.links[from][to] {
            p.set(state);
        }
    }

    pub fn link(&self, from: usize, to: usize) -> Option<&Proxy> {
        self.links[from][to].as_ref()
    }

    /// Cuts i↔j both ways: connections are closed and refused.
    pub fn cut(&self, i: usize, j: usize) {
        self.note(&format!("cut {i} <-> {j}"));
        self.set_link(i, j, LinkState::Refuse);
        self.set_link(j, i, LinkState::Refuse);
    }

    /// Cuts only what `from` sends to `to` (on from's connection).
    pub fn cut_one_way(&self, from: usize, to: usize) {
        self.note(&format!("cut {from} -> {to}"));
        self.set_link(from, to, LinkState::Refuse);
    }

    /// Stalls i↔j both ways: bytes are held, not lost, until healed.
    pub fn stall(&self, i: usize, j: usize) {
        self.note(&format!("stall {i} <-> {j}"));
        self.set_link(i, j, LinkState::Stall);
        self.set_link(j, i, LinkState::Stall);
    }

    pub fn heal(&self, i: usize, j: usize) {
        self.note(&format!("heal {i} <-> {j}"));
        self.set_link(i, j, LinkState::Pass);
        self.set_link(j, i, LinkState::Pass);
    }

    /// Cuts node `i` from every other node.
    pub fn isolate(&self, i: usize) {
        self.note(&format!("isolate node {i}"));
        for j in (0..self.len()).filter(|&j| j != i) {
            self.set_link(i, j, LinkState::Refuse);
            self.set_link(j, i, LinkState::Refuse);
        }
    }

    /// Splits the cluster into the given side and the rest.
    pub fn partition(&self, side: &[usize]) {
        self.note(&format!("partition {side:?} from the rest"));
        for i in 0..self.len() {
            for j in 0..self.len() {
                if i != j && side.contains(&i) != side.contains(&j) {
                    self.set_link(i, j, LinkState::Refuse);
                }
            }
        }
    }

    pub fn heal_all(&self) {
        self.note("heal all links");
        for i in 0..self.len() {
            for j in 0..self.len() {
                self.set_link(i, j, LinkState::Pass);
            }
        }
    }

    /// Nodes that run and are not paused.
    pub fn live(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.nodes[i].running() && !self.nodes[i].paused).collect()
    }

    /// One client connection to node `i` (timeouts of `t`).
    pub fn conn(&self, i: usize, t: Duration) -> std::io::Result<Conn> {
        Conn::connect_host_timeout(&self.nodes[i].host, self.nodes[i].port, t)
    }

    /// Node `i`'s INFO replication, parsed; None if it does not answer.
    pub fn info(&self, i: usize) -> Option<RaftInfo> {
        if !self.nodes[i].running() || self.nodes[i].paused {
            return None;
        }
        let mut c = self.conn(i, POLL_TIMEOUT).ok()?;
        raft_info_from(&mut c)
    }

    /// Polls every live node once: the nodes that say role:master and that
    /// a majority of the whole cluster (themselves included) reports as
    /// leader in the same term. Two only while stale views linger.
    pub fn leaders_now(&self) -> Vec<usize> {
        let infos: Vec<(usize, RaftInfo)> =
            self.live().into_iter().filter_map(|i| self.info(i).map(|r| (i, r))).collect();
        let majority = self.len() / 2 + 1;
        infos
            .iter()
            .filter(|(i, r)| {
                let id = self.nodes[*i].id;
                let agree = infos.iter().filter(|(_, o)| o.leader_id == id && o.term == r.term).count();
                r.master && r.node_id == id && r.leader_id == id && agree >= majority
            })
            .map(|(i, _)| *i)
            .collect()
    }

    /// The leader, if exactly one node qualifies (see `leaders_now`).
    pub fn leader_now(&self) -> Option<usize> {
        match self.leaders_now().as_slice() {
            [l] => Some(*l),
            _ => None,
        }
    }

    /// Waits up to `timeout` for a leader (see `leaders_now`).
    pub fn leader(&self, timeout: Duration) -> Option<usize> {
        self.leader_excluding(&[], timeout)
    }

    /// Waits up to `timeout` for a leader that is not in `excluded` (after
    /// cutting off a leader, the others still follow it for an election
    /// timeout).
    pub fn leader_excluding(&self, excluded: &[usize], timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader_now().filter(|l| !excluded.contains(l)) {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until there is a leader and every running node has applied
    /// the leader's commit index (and the leader's commit index held still
    /// across one poll). Ok(index), or Err with the last status seen.
    pub fn wait_converged(&self, timeout: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + timeout;
        let mut last;
        let mut prev_commit = None;
        loop {
            let running: Vec<usize> = (0..self.len()).filter(|&i| self.nodes[i].running()).collect();
            let infos: Vec<Option<RaftInfo>> = (0..self.len()).map(|i| self.info(i)).collect();
            if let Some(l) = self.leader_now() {
                if let Some(lead) = &infos[l] {
                    let done = running.iter().all(|&i| infos[i].as_ref().is_some_and(|r| r.applied == lead.commit));
                    if done && prev_commit == Some(lead.commit) {
                        return Ok(lead.commit);
                    }
                    prev_commit = Some(lead.commit);
                }
                last = format!("leader {l}; {infos:?}");
            } else {
                prev_commit = None;
                last = format!("no leader; {infos:?}");
            }
            let panics = self.panics();
            if !panics.is_empty() {
                return Err(format!("a node panicked: {}; {last}", panics.join("; ")));
            }
            if Instant::now() >= deadline {
                return Err(format!("not converged within {timeout:?}: {last}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until node `i` has applied at least the commit index the
    /// leader reports now (for a node catching up while writes go on).
    pub fn wait_caught_up(&self, i: usize, timeout: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + timeout;
        let target = loop {
            if let Some(r) = self.leader_now().and_then(|l| self.info(l)) {
                break r.commit;
            }
            if Instant::now() >= deadline {
                return Err(format!("no leader within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        loop {
            let info = self.info(i);
            if info.as_ref().is_some_and(|r| r.applied >= target) {
                return Ok(target);
            }
            if Instant::now() >= deadline {
                return Err(format!("node {i} did not apply index {target} within {timeout:?}: {info:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every key of node `i`'s database 0 with its type and value, read
    /// locally (READONLY), so followers show their own copy.
    pub fn dump(&self, i: usize) -> Result<BTreeMap<String, String>, String> {
        dump_node(self.nodes[i].port)
    }

    pub fn dbsize(&self, i: usize) -> Result<i64, String> {
        let mut c = self.conn(i, Duration::from_secs(5)).map_err(|e| format!("node {i}: {e}"))?;
        readonly(&mut c)?;
        match c.cmd(&["DBSIZE"]) {
            Ok(Reply::Int(n)) => Ok(n),
            other => Err(format!("node {i}: DBSIZE -> {other:?}")),
        }
    }

    /// Panic messages in the nodes' logs ("node i: thread ... panicked at ...",
    /// with the message line after it), from any incarnation of the node
    /// (a log spans its restarts).
    pub fn panics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.len() {
            let text =
                std::fs::read(&self.nodes[i].log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for (k, l) in lines.iter().enumerate() {
                if l.contains("panicked at") {
                    let msg = lines.get(k + 1).copied().unwrap_or("");
                    out.push(format!("node {i}: {l} {msg}"));
                }
            }
        }
        out
    }

    /// The last `lines` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let text = tail(&self.nodes[i].log, 256 * 1024);
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "---- node {i} ({}), last {} lines ----\n{}\n",
            self.nodes[i].log.display(),
            all.len() - from,
            all[from..].join("\n")
        )
    }

    pub fn log_tails(&self, lines: usize) -> String {
        (0..self.len()).map(|i| self.log_tail(i, lines)).collect()
    }

    /// The log's path, for attaching to a report.
    pub fn log_path(&self, i: usize) -> &Path {
        &self.nodes[i].log
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for row in &mut self.links {
            row.clear();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails(60));
            eprintln!("cluster logs kept in {}", self.dir.display());
        } else if std::env::var_os("RHEA_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else { return String::from("(no log)") };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// INFO replication of the server on `port`, parsed.
pub fn raft_info(port: u16) -> Option<RaftInfo> {
    let mut c = Conn::connect_timeout(port, POLL_TIMEOUT).ok()?;
    raft_info_from(&mut c)
}

fn raft_info_from(c: &mut Conn) -> Option<RaftInfo> {
    let r = c.cmd(&["INFO", "replication"]).ok()?;
    RaftInfo::parse(&String::from_utf8_lossy(r.as_bulk()?))
}

fn readonly(c: &mut Conn) -> Result<(), String> {
    match c.cmd(&["READONLY"]) {
        Ok(Reply::Simple(_)) => Ok(()),
        other => Err(format!("READONLY -> {other:?}")),
    }
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) | Reply::Double(s) | Reply::BigNumber(s) => s.clone(),
        Reply::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn strings(r: Reply) -> Result<Vec<String>, String> {
    match r {
        Reply::Array(v) | Reply::Set(v) => Ok(v.iter().map(text).collect()),
        Reply::Map(m) => Ok(m.iter().flat_map(|(k, v)| [text(k), text(v)]).collect()),
        other => Err(format!("expected an array, got {other:?}")),
    }
}

/// Every key of database 0 on the cluster node at `port`, read with
/// READONLY (so a follower answers from its own copy), as "type:value"
/// (sets and hashes sorted).
pub fn dump_node(port: u16) -> Result<BTreeMap<String, String>, String> {
    dump_server(port, true)
}

/// `dump_node`, optionally without READONLY (for a plain server).
pub fn dump_server(port: u16, readonly_first: bool) -> Result<BTreeMap<String, String>, String> {
    let mut c = Conn::connect_timeout(port, Duration::from_secs(10)).map_err(|e| format!("port {port}: {e}"))?;
    if readonly_first {
        readonly(&mut c)?;
    }
    let io = |e: std::io::Error| e.to_string();
    // SCAN, not KEYS: one reply holding every key would be a transient
    // buffer of megabytes, enough to push a node at its maxmemory into
    // evicting (and so changing) what is being dumped.
    let mut keys = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let r = c.cmd(&["SCAN", &cursor, "COUNT", "500"]).map_err(io)?;
        let Reply::Array(mut parts) = r else { return Err(format!("port {port}: SCAN -> {r:?}")) };
        if parts.len() != 2 {
            return Err(format!("port {port}: SCAN -> {parts:?}"));
        }
        keys.extend(strings(parts.pop().unwrap_or(Reply::Nil))?);
        cursor = text(&parts[0]);
        if cursor == "0" {
            break;
        }
    }
    let mut out = BTreeMap::new();
    for k in keys {
        let t = text(&c.cmd(&["TYPE", &k]).map_err(io)?);
        let v = match t.as_str() {
            "string" => text(&c.cmd(&["GET", &k]).map_err(io)?),
            "list" => strings(c.cmd(&["LRANGE", &k, "0", "-1"]).map_err(io)?)?.join(","),
            "set" => {
                let mut v = strings(c.cmd(&["SMEMBERS", &k]).map_err(io)?)?;
                v.sort();
                v.join(",")
            }
            "hash" => {
                let flat = strings(c.cmd(&["HGETALL", &k]).map_err(io)?)?;
                let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                pairs.sort();
                pairs.join(",")
            }
            "zset" => strings(c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]).map_err(io)?)?.join(","),
            "none" => continue, // expired or deleted between KEYS and TYPE
            other => format!("<{other}>"),
        };
        out.insert(k, format!("{t}:{v}"));
    }
    Ok(out)
}

/// Outcome of one command sent by a workload client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// A reply that is not an error.
    Ok(Reply),
    /// Definitely not executed: a CLUSTERDOWN error, or never sent.
    Fail(String),
    /// Fate unknown: timeout, connection lost, or an unclassified error.
    Unknown(String),
}

/// A workload client: one connection at a time to one of the nodes,
/// moving to the next node whenever its connection fails. A request whose
/// reply does not arrive is unknown and its connection is dropped (a late
/// reply must not be taken for the next request's).
pub struct ClusterClient {
    ports: Vec<u16>,
    node: usize,
    /// One connection slot per node.
    conns: Vec<Option<Conn>>,
    timeout: Duration,
    rotate: bool,
    /// Picks a random node for every call (None: stay until it fails).
    spread: Option<fastrand::Rng>,
}

impl ClusterClient {
    pub fn new(ports: Vec<u16>, first: usize, timeout: Duration) -> ClusterClient {
        let node = first % ports.len().max(1);
        let conns = ports.iter().map(|_| None).collect();
        ClusterClient { ports, node, conns, timeout, rotate: true, spread: None }
    }

    /// A client that stays on one node whatever happens.
    pub fn pinned(port: u16, timeout: Duration) -> ClusterClient {
        ClusterClient { ports: vec![port], node: 0, conns: vec![None], timeout, rotate: false, spread: None }
    }

    /// A client that sends each call to a random node (keeping a connection
    /// to each).
    pub fn spread(ports: Vec<u16>, timeout: Duration, seed: u64) -> ClusterClient {
        let conns = ports.iter().map(|_| None).collect();
        ClusterClient { ports, node: 0, conns, timeout, rotate: false, spread: Some(fastrand::Rng::with_seed(seed)) }
    }

    /// The node index the client talks to now.
    pub fn node(&self) -> usize {
        self.node
    }

    fn next_node(&mut self) {
        self.conns[self.node] = None;
        if self.rotate {
            self.node = (self.node + 1) % self.ports.len();
        }
    }

    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> CallResult {
        if let Some(rng) = self.spread.as_mut() {
            self.node = rng.usize(0..self.ports.len());
        }
        if self.conns[self.node].is_none() {
            match Conn::connect_timeout(self.ports[self.node], self.timeout) {
                Ok(c) => self.conns[self.node] = Some(c),
                Err(e) => {
                    let why = format!("connect to node {}: {e}", self.node);
                    self.next_node();
                    return CallResult::Fail(why);
                }
            }
        }
        let Some(conn) = self.conns[self.node].as_mut() else { return CallResult::Fail("no connection".into()) };
        if let Err(e) = conn.send(args) {
            // Part of the request may have gone out.
            let why = format!("send to node {}: {e}", self.node);
            self.next_node();
            return CallResult::Unknown(why);
        }
        match conn.read() {
            Ok(Reply::Closed) => {
                let why = format!("node {} closed the connection", self.node);
                self.next_node();
                CallResult::Unknown(why)
            }
            Ok(Reply::Error(e)) if e.starts_with("CLUSTERDOWN") => {
                // No leader where this node is: try another one next time.
                if self.rotate {
                    self.next_node();
                }
                CallResult::Fail(e)
            }
            Ok(Reply::Error(e)) => CallResult::Unknown(format!("error reply from node {}: {e}", self.node)),
            Ok(r) => CallResult::Ok(r),
            Err(e) => {
                let why = format!("node {}: {e}", self.node);
                self.next_node();
                CallResult::Unknown(why)
            }
        }
    }
}
