//! Sentinel-compatible discovery: every cluster node answers the Redis
//! Sentinel API on `sentinel-port` for one master name, the master being the
//! Raft leader. Stock Sentinel clients (redis-py's `Sentinel`, Jedis'
//! `JedisSentinelPool`, go-redis' `FailoverClient`, ioredis, the `redis`
//! crate) find the leader through it, and learn of a new one from the
//! `+switch-master` event each node publishes on its own port.
//!
//! Replies have the shapes and field names of redis-sentinel 7.0's (every
//! value a bulk string, maps in RESP3). Rhea has no Sentinel quorum of its
//! own: the leader is whoever Raft elected, so `s_down`/`o_down` mean "this
//! node knows no leader now" and the address is the last leader it knew.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rhea_cluster::{Cluster, PeerStatus, Status};
use rhea_commands::{unknown_command, Shared};
use rhea_resp::{Out, RequestParser};
use rhea_store::glob_match;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

/// Largest argument a Sentinel request may carry: names and patterns only.
const MAX_BULK: usize = 1 << 20;

/// One published event: channel (`+switch-master`...) and message.
#[derive(Clone, Debug)]
struct Event {
    channel: Arc<str>,
    message: Arc<str>,
}

/// The endpoint's state, shared by its connections and its event task.
pub(crate) struct Sentinel {
    shared: Arc<Shared>,
    cluster: Cluster,
    name: String,
    port: u16,
    started: Instant,
    events: broadcast::Sender<Event>,
    /// The last leader this node knew with its client address, and since
    /// when it has known it.
    known: Mutex<Option<Known>>,
    /// Since when this node has known no leader (None = it knows one).
    down_since: Mutex<Option<Instant>>,
    clients: AtomicUsize,
    next_client: AtomicU64,
    /// Raft's election timeout: what "down after" means here.
    down_after_ms: u64,
}

#[derive(Clone, Debug)]
struct Known {
    id: u64,
    host: String,
    port: u16,
    since: Instant,
}

/// What the endpoint reports about the master at one instant.
struct MasterState {
    status: Status,
    /// None before this node ever learnt a leader's address.
    addr: Option<Known>,
    down_ms: Option<u64>,
}

/// `host:port` split at the last colon (IPv6 hosts keep theirs).
fn split_addr(addr: &str) -> Option<(String, u16)> {
    let (h, p) = addr.rsplit_once(':')?;
    Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
}

/// A stable 40-hex-digit id for a node, the same on every node: `SENTINEL
/// myid` on node 2 and node 2's entry in `SENTINEL sentinels` elsewhere
/// agree.
fn node_run_id(id: u64) -> String {
    format!("{:0>40}", format!("{id:x}"))
}

impl Sentinel {
    pub(crate) fn new(shared: Arc<Shared>, cluster: Cluster, port: u16) -> Arc<Self> {
        let name = shared.config.read().cluster.master_name().to_string();
        Arc::new(Sentinel {
            down_after_ms: cluster.election_timeout().as_millis() as u64,
            shared,
            cluster,
            name,
            port,
            started: Instant::now(),
            events: broadcast::channel(1024).0,
            known: Mutex::new(None),
            down_since: Mutex::new(None),
            clients: AtomicUsize::new(0),
            next_client: AtomicU64::new(1),
        })
    }

    /// The leader now, or the last one known, with whether it is down.
    fn master(&self) -> MasterState {
        let status = self.cluster.status();
        let leader = status.peers.iter().find(|p| p.id == status.leader_id && status.leader_id != 0);
        let addr = leader.and_then(|p| p.client_addr.as_deref()).and_then(split_addr);
        let mut known = self.known.lock();
        let mut down = self.down_since.lock();
        match (leader, addr) {
            (Some(p), Some((host, port))) => {
                let same = known.as_ref().is_some_and(|k| k.id == p.id && k.host == host && k.port == port);
                if !same {
                    *known = Some(Known { id: p.id, host, port, since: Instant::now() });
                }
                *down = None;
            }
            _ => {
                down.get_or_insert_with(Instant::now);
            }
        }
        let down_ms = down.map(|d| d.elapsed().as_millis() as u64);
        MasterState { status, addr: known.clone(), down_ms }
    }

    fn publish(&self, channel: &str, message: String) {
        debug!(channel, %message, "sentinel event");
        let _ = self.events.send(Event { channel: channel.into(), message: message.into() });
    }

    fn myid(&self) -> String {
        node_run_id(self.cluster.node_id())
    }

    fn quorum(status: &Status) -> usize {
        status.peers.len() / 2 + 1
    }
}

/// Accepts Sentinel clients until the server stops.
pub(crate) async fn serve(listener: TcpListener, s: Arc<Sentinel>) {
    tokio::spawn(events(s.clone()));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!(error = %e, "sentinel accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let s = s.clone();
        tokio::spawn(async move {
            s.clients.fetch_add(1, Ordering::Relaxed);
            let id = s.next_client.fetch_add(1, Ordering::Relaxed);
            let mut conn = Conn::new(s.clone(), id);
            let _ = conn.run(stream).await;
            s.clients.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Turns leadership changes into the events Sentinel clients subscribe
/// to, in redis-sentinel's order: `+sdown`, `+odown` when the leader is
/// lost, then `+new-epoch`, `+switch-master` and `+slave` lines once
/// another node leads (`-odown`, `-sdown` if the same one comes back).
async fn events(s: Arc<Sentinel>) {
    let mut rx = s.cluster.watch_leader();
    // The master this endpoint last announced, and whether it said it was
    // down since.
    let mut announced: Option<Known> = None;
    let mut said_down = false;
    loop {
        let view = *rx.borrow_and_update();
        let mut st = s.master();
        // A new leader's client address arrives with its first connection
        // to this node; wait a little for it rather than miss the switch.
        let mut waited = 0;
        while view.leader != 0 && st.down_ms.is_some() && waited < 100 && !rx.has_changed().unwrap_or(true) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += 1;
            st = s.master();
        }
        let name = &s.name;
        match (&announced, st.down_ms, &st.addr) {
            (Some(old), Some(_), _) if !said_down => {
                let (h, p) = (&old.host, old.port);
                s.publish("+sdown", format!("master {name} {h} {p}"));
                let q = Sentinel::quorum(&st.status);
                s.publish("+odown", format!("master {name} {h} {p} #quorum {q}/{q}"));
                said_down = true;
            }
            (Some(old), None, Some(new)) if old.host != new.host || old.port != new.port => {
                s.publish("+new-epoch", st.status.term.to_string());
                s.publish("+switch-master", format!("{name} {} {} {} {}", old.host, old.port, new.host, new.port));
                for (h, p) in replicas(&st.status) {
                    s.publish("+slave", format!("slave {h}:{p} {h} {p} @ {name} {} {}", new.host, new.port));
                }
                info!(from = %format!("{}:{}", old.host, old.port), to = %format!("{}:{}", new.host, new.port), "sentinel: +switch-master");
                said_down = false;
                announced = Some(new.clone());
            }
            (Some(old), None, Some(_)) if said_down => {
                s.publish("-odown", format!("master {name} {} {}", old.host, old.port));
                s.publish("-sdown", format!("master {name} {} {}", old.host, old.port));
                said_down = false;
            }
            (None, None, Some(new)) => announced = Some(new.clone()),
            _ => {}
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Client addresses of the members other than the leader.
fn replicas(st: &Status) -> Vec<(String, u16)> {
    st.peers
        .iter()
        .filter(|p| p.id != st.leader_id || st.leader_id == 0)
        .filter_map(|p| p.client_addr.as_deref().and_then(split_addr))
        .collect()
}

/// One Sentinel client.
struct Conn {
    s: Arc<Sentinel>,
    id: u64,
    out: Out,
    name: Option<Bytes>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    events: Option<broadcast::Receiver<Event>>,
    close: bool,
}

/// Why a connection ends.
struct Closed;

impl Conn {
    fn new(s: Arc<Sentinel>, id: u64) -> Self {
        Conn {
            s,
            id,
            out: Out::new(false),
            name: None,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            events: None,
            close: false,
        }
    }

    async fn run(&mut self, mut stream: TcpStream) -> Result<(), Closed> {
        let mut parser = RequestParser::new(MAX_BULK);
        let mut buf = BytesMut::with_capacity(4096);
        let mut argv = Vec::new();
        loop {
            tokio::select! {
                r = stream.read_buf(&mut buf) => match r {
                    Ok(0) | Err(_) => return Err(Closed),
                    Ok(_) => loop {
                        match parser.parse(&mut buf, &mut argv) {
                            Ok(true) => {
                                self.command(&argv);
                                if self.close {
                                    break;
                                }
                            }
                            Ok(false) => break,
                            Err(e) => {
                                self.out.error(&format!("ERR {e}"));
                                self.close = true;
                                break;
                            }
                        }
                    },
                },
                ev = recv(&mut self.events) => match ev {
                    Ok(ev) => self.deliver(&ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => debug!(client = self.id, n, "sentinel subscriber lagged"),
                    Err(broadcast::error::RecvError::Closed) => return Err(Closed),
                },
            }
            if !self.out.is_empty() {
                stream.write_all(&self.out.buf).await.map_err(|_| Closed)?;
                self.out.buf.clear();
                self.out.error_codes.clear();
            }
            if self.close {
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }

    fn subscribed(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    fn deliver(&mut self, ev: &Event) {
        if self.channels.contains(ev.channel.as_bytes()) {
            self.out.push(3);
            self.out.bulk(b"message");
            self.out.bulk(ev.channel.as_bytes());
            self.out.bulk(ev.message.as_bytes());
        }
        for pat in &self.patterns {
            if glob_match(pat, ev.channel.as_bytes(), false) {
                self.out.push(4);
                self.out.bulk(b"pmessage");
                self.out.bulk(pat);
                self.out.bulk(ev.channel.as_bytes());
                self.out.bulk(ev.message.as_bytes());
            }
        }
    }

    fn command(&mut self, argv: &[Bytes]) {
        let Some(first) = argv.first() else { return };
        let cmd = String::from_utf8_lossy(first).to_ascii_lowercase();
        let Some(&(_, arity)) = COMMANDS.iter().find(|(n, _)| *n == cmd) else {
            self.out.error(&unknown_command(argv));
            return;
        };
        if !arity_ok(arity, argv.len()) {
            self.out.error(&format!("ERR wrong number of arguments for '{cmd}' command"));
            return;
        }
        let pubsub_ok = matches!(
            cmd.as_str(),
            "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
        );
        if self.subscribed() > 0 && !self.out.resp3 && !pubsub_ok {
            self.out.error(&format!(
                "ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ));
            return;
        }
        match cmd.as_str() {
            "ping" => self.ping(argv),
            "quit" => {
                self.out.ok();
                self.close = true;
            }
            "reset" => {
                self.unsubscribe_all();
                self.out.resp3 = false;
                self.name = None;
                self.out.simple("RESET");
            }
            "info" => self.info(argv),
            "role" => {
                self.out.array(2);
                self.out.bulk(b"sentinel");
                self.out.array(1);
                self.out.bulk(self.s.name.as_bytes());
            }
            "hello" => self.hello(argv),
            "auth" => self.auth(&argv[1..]),
            "client" => self.client(argv),
            "subscribe" | "psubscribe" => self.subscribe(argv, cmd == "psubscribe"),
            "unsubscribe" | "punsubscribe" => self.unsubscribe(argv, cmd == "punsubscribe"),
            _ => self.sentinel(argv),
        }
    }

    fn ping(&mut self, argv: &[Bytes]) {
        if argv.len() > 2 {
            self.out.error("ERR wrong number of arguments for 'ping' command");
        } else if self.subscribed() > 0 && !self.out.resp3 {
            self.out.array(2);
            self.out.bulk(b"pong");
            self.out.bulk(argv.get(1).map(|a| &a[..]).unwrap_or(b""));
        } else if let Some(msg) = argv.get(1) {
            self.out.bulk(msg);
        } else {
            self.out.simple("PONG");
        }
    }

    fn auth(&mut self, args: &[Bytes]) {
        match self.check_auth(args) {
            Ok(()) => self.out.ok(),
            Err(e) => self.out.error(e),
        }
    }

    /// The endpoint requires no password (it only tells where the leader
    /// is), but a client configured with the node's password is let in.
    fn check_auth(&self, args: &[Bytes]) -> Result<(), &'static str> {
        let pass = self.s.shared.config.read().requirepass.clone();
        let (user, given) = match args {
            [p] => (&b"default"[..], p),
            [u, p] => (&u[..], p),
            _ => return Err("ERR syntax error"),
        };
        if pass.is_empty() && args.len() == 1 {
            Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        } else if user == b"default" && (pass.is_empty() || given.as_ref() == pass.as_bytes()) {
            Ok(())
        } else {
            Err("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    fn hello(&mut self, argv: &[Bytes]) {
        let mut i = 1;
        let mut proto = if self.out.resp3 { 3 } else { 2 };
        if let Some(v) = argv.get(1) {
            match std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(2) => proto = 2,
                Some(3) => proto = 3,
                Some(_) => {
                    self.out.error("NOPROTO unsupported protocol version");
                    return;
                }
                None => {
                    self.out.error("ERR Protocol version is not an integer or out of range");
                    return;
                }
            }
            i = 2;
        }
        while i < argv.len() {
            let opt = String::from_utf8_lossy(&argv[i]).to_ascii_lowercase();
            match opt.as_str() {
                "auth" if i + 2 < argv.len() => {
                    if let Err(e) = self.check_auth(&argv[i + 1..i + 3]) {
                        self.out.error(e);
                        return;
                    }
                    i += 3;
                }
                "setname" if i + 1 < argv.len() => {
                    self.name = Some(argv[i + 1].clone());
                    i += 2;
                }
                _ => {
                    self.out
                        .error(&format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(&argv[i])));
                    return;
                }
            }
        }
        self.out.resp3 = proto == 3;
        self.out.map(6);
        self.out.bulk(b"server");
        self.out.bulk(b"redis");
        self.out.bulk(b"version");
        self.out.bulk(b"7.0.15");
        self.out.bulk(b"proto");
        self.out.int(proto);
        self.out.bulk(b"id");
        self.out.int(self.id as i64);
        self.out.bulk(b"mode");
        self.out.bulk(b"sentinel");
        self.out.bulk(b"modules");
        self.out.array(0);
    }

    fn client(&mut self, argv: &[Bytes]) {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match (sub.as_str(), argv.len()) {
            ("setname", 3) => {
                if argv[2].iter().any(|&c| c <= b' ' || c > b'~') {
                    self.out.error("ERR Client names cannot contain spaces, newlines or special characters.");
                    return;
                }
                self.name = (!argv[2].is_empty()).then(|| argv[2].clone());
                self.out.ok();
            }
            ("getname", 2) => match &self.name {
                Some(n) => self.out.bulk(&n.clone()),
                None => self.out.null(),
            },
            ("setinfo", 4) => self.out.ok(),
            ("id", 2) => self.out.int(self.id as i64),
            ("setname" | "getname" | "setinfo" | "id", _) => {
                self.out.error(&format!("ERR wrong number of arguments for 'client|{sub}' command"))
            }
            _ => self
                .out
                .error(&format!("ERR unknown subcommand '{}'. Try CLIENT HELP.", String::from_utf8_lossy(&argv[1]))),
        }
    }

    fn subscribe(&mut self, argv: &[Bytes], pattern: bool) {
        if self.events.is_none() {
            self.events = Some(self.s.events.subscribe());
        }
        for ch in &argv[1..] {
            if pattern {
                self.patterns.insert(ch.clone());
            } else {
                self.channels.insert(ch.clone());
            }
            self.out.push(3);
            self.out.bulk(if pattern { b"psubscribe" } else { b"subscribe" });
            self.out.bulk(ch);
            self.out.int(self.subscribed() as i64);
        }
    }

    fn unsubscribe(&mut self, argv: &[Bytes], pattern: bool) {
        let kind: &[u8] = if pattern { b"punsubscribe" } else { b"unsubscribe" };
        let names: Vec<Bytes> = if argv.len() > 1 {
            argv[1..].to_vec()
        } else if pattern {
            self.patterns.iter().cloned().collect()
        } else {
            self.channels.iter().cloned().collect()
        };
        if names.is_empty() {
            self.out.push(3);
            self.out.bulk(kind);
            self.out.null();
            self.out.int(self.subscribed() as i64);
        }
        for ch in names {
            if pattern {
                self.patterns.remove(&ch);
            } else {
                self.channels.remove(&ch);
            }
            self.out.push(3);
            self.out.bulk(kind);
            self.out.bulk(&ch);
            self.out.int(self.subscribed() as i64);
        }
        if self.subscribed() == 0 {
            self.events = None;
        }
    }

    fn unsubscribe_all(&mut self) {
        self.channels.clear();
        self.patterns.clear();
        self.events = None;
    }

    fn info(&mut self, argv: &[Bytes]) {
        let section = argv.get(1).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).unwrap_or_default();
        let all = matches!(section.as_str(), "" | "default" | "all" | "everything");
        let s = &self.s;
        let mut text = String::new();
        if all || section == "server" {
            let up = s.started.elapsed().as_secs();
            let _ = write!(
                text,
                "# Server\r\nredis_version:7.0.15\r\nredis_mode:sentinel\r\nos:{}\r\narch_bits:64\r\n\
                 multiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\n\
                 uptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\n\
                 rhea_node_id:{}\r\n",
                std::env::consts::OS,
                std::process::id(),
                s.myid(),
                s.port,
                up / 86400,
                s.cluster.node_id(),
            );
        }
        if all || section == "clients" {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let _ = write!(
                text,
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:10000\r\nblocked_clients:0\r\n",
                s.clients.load(Ordering::Relaxed)
            );
        }
        if all || section == "sentinel" {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let st = s.master();
            let (host, port) = st.addr.as_ref().map(|k| (k.host.as_str(), k.port)).unwrap_or(("", 0));
            let status = if st.down_ms.is_some() { "odown" } else { "ok" };
            let _ = write!(
                text,
                "# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\n\
                 sentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\n\
                 sentinel_simulate_failure_flags:0\r\n\
                 master0:name={},status={status},address={host}:{port},slaves={},sentinels={}\r\n",
                s.name,
                replicas(&st.status).len(),
                st.status.peers.len(),
            );
        }
        self.out.verbatim("txt", text.as_bytes());
    }

    fn sentinel(&mut self, argv: &[Bytes]) {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        let Some(&(_, arity, supported)) = SUBCOMMANDS.iter().find(|(n, _, _)| *n == sub) else {
            self.out
                .error(&format!("ERR unknown subcommand '{}'. Try SENTINEL HELP.", String::from_utf8_lossy(&argv[1])));
            return;
        };
        if !arity_ok(arity, argv.len()) {
            self.out.error(&format!("ERR wrong number of arguments for 'sentinel|{sub}' command"));
            return;
        }
        if !supported {
            self.out.error(&format!(
                "ERR SENTINEL {} is not supported by Rhea: the cluster elects its leader itself (Raft); \
                 this endpoint only reports it",
                sub.to_ascii_uppercase()
            ));
            return;
        }
        let named = argv.get(2).is_some_and(|n| n.as_ref() == self.s.name.as_bytes());
        match sub.as_str() {
            "myid" => self.out.bulk(self.s.myid().as_bytes()),
            "help" => {
                let lines = [
                    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CKQUORUM <master-name>",
                    "    Check if the current Sentinel configuration is able to reach the quorum",
                    "    needed to failover a master and the majority needed to authorize the",
                    "    failover.",
                    "GET-MASTER-ADDR-BY-NAME <master-name>",
                    "    Return the ip and port number of the master with that name.",
                    "MASTER <master-name>",
                    "    Show the state and info of the specified master.",
                    "MASTERS",
                    "    Show a list of monitored masters and their state.",
                    "MYID",
                    "    Return the ID of the Sentinel instance.",
                    "REPLICAS <master-name>",
                    "    Show a list of replicas for this master and their state.",
                    "SENTINELS <master-name>",
                    "    Show a list of Sentinel instances for this master and their state.",
                    "HELP",
                    "    Print this help.",
                ];
                self.out.array(lines.len());
                for l in lines {
                    self.out.simple(l);
                }
            }
            "masters" => {
                let st = self.s.master();
                self.out.array(1);
                self.master_fields(&st);
            }
            _ if !named => match sub.as_str() {
                "get-master-addr-by-name" => self.out.null_array(),
                _ => self.out.error("ERR No such master with that name"),
            },
            "get-master-addr-by-name" => match self.s.master().addr {
                Some(k) => {
                    self.out.array(2);
                    self.out.bulk(k.host.as_bytes());
                    self.out.bulk(k.port.to_string().as_bytes());
                }
                None => self.out.null_array(),
            },
            "master" => {
                let st = self.s.master();
                self.master_fields(&st);
            }
            "replicas" | "slaves" => {
                let st = self.s.master();
                self.replica_fields(&st);
            }
            "sentinels" => {
                let st = self.s.master();
                self.sentinel_fields(&st);
            }
            "ckquorum" => {
                let st = self.s.master();
                let n = st.status.peers.len();
                let q = Sentinel::quorum(&st.status);
                if st.down_ms.is_some() {
                    self.out.error(&format!("NOQUORUM {n} Sentinels known, but no leader is elected now"));
                } else {
                    self.out.simple(&format!(
                        "OK {n} usable Sentinels. Quorum and failover authorization can be reached (majority {q})"
                    ));
                }
            }
            _ => self.out.error("ERR internal error: unhandled SENTINEL subcommand"),
        }
    }

    /// One instance's fields, in redis-sentinel's order.
    fn fields(&mut self, fields: &[(&str, String)]) {
        self.out.map(fields.len());
        for (k, v) in fields {
            self.out.bulk(k.as_bytes());
            self.out.bulk(v.as_bytes());
        }
    }

    fn common(&self, name: String, host: &str, port: u16, runid: String, flags: &str) -> Vec<(&'static str, String)> {
        vec![
            ("name", name),
            ("ip", host.to_string()),
            ("port", port.to_string()),
            ("runid", runid),
            ("flags", flags.to_string()),
            ("link-pending-commands", "0".into()),
            ("link-refcount", "1".into()),
            ("last-ping-sent", "0".into()),
        ]
    }

    fn master_fields(&mut self, st: &MasterState) {
        let (host, port, id, since) = match &st.addr {
            Some(k) => (k.host.clone(), k.port, k.id, k.since.elapsed().as_millis() as u64),
            None => (String::new(), 0, 0, 0),
        };
        let flags = if st.down_ms.is_some() { "s_down,o_down,master" } else { "master" };
        let ping = st.down_ms.unwrap_or(0).to_string();
        let mut f = self.common(self.s.name.clone(), &host, port, node_run_id(id), flags);
        f.push(("last-ok-ping-reply", ping.clone()));
        f.push(("last-ping-reply", ping));
        if let Some(d) = st.down_ms {
            f.push(("s-down-time", d.to_string()));
            f.push(("o-down-time", d.to_string()));
        }
        f.push(("down-after-milliseconds", self.s.down_after_ms.to_string()));
        f.push(("info-refresh", "0".into()));
        f.push(("role-reported", "master".into()));
        f.push(("role-reported-time", since.to_string()));
        f.push(("config-epoch", st.status.term.to_string()));
        f.push(("num-slaves", replicas(&st.status).len().to_string()));
        f.push(("num-other-sentinels", others(&st.status).count().to_string()));
        f.push(("quorum", Sentinel::quorum(&st.status).to_string()));
        f.push(("failover-timeout", (2 * self.s.down_after_ms).to_string()));
        f.push(("parallel-syncs", "1".into()));
        self.fields(&f);
    }

    fn replica_fields(&mut self, st: &MasterState) {
        let (mhost, mport) = match (&st.addr, st.down_ms) {
            (Some(k), None) => (k.host.clone(), k.port),
            _ => ("?".to_string(), 0),
        };
        let link = if st.down_ms.is_some() { "err" } else { "ok" };
        let list: Vec<&PeerStatus> =
            st.status.peers.iter().filter(|p| p.id != st.status.leader_id || st.status.leader_id == 0).collect();
        let me = st.status.id;
        let list: Vec<(u64, String, u16, u64, bool)> = list
            .into_iter()
            .filter_map(|p| {
                let (h, port) = split_addr(p.client_addr.as_deref()?)?;
                Some((p.id, h, port, p.matched, p.link_up || p.id == me))
            })
            .collect();
        self.out.array(list.len());
        for (id, h, port, matched, up) in list {
            // A member this node cannot reach is reported down, as
            // redis-sentinel reports a replica it lost, so that clients
            // reading from replicas skip it.
            let flags = if up { "slave" } else { "s_down,slave,disconnected" };
            let mut f = self.common(format!("{h}:{port}"), &h, port, node_run_id(id), flags);
            f.push(("last-ok-ping-reply", "0".into()));
            f.push(("last-ping-reply", "0".into()));
            f.push(("down-after-milliseconds", self.s.down_after_ms.to_string()));
            f.push(("info-refresh", "0".into()));
            f.push(("role-reported", "slave".into()));
            f.push(("role-reported-time", self.s.started.elapsed().as_millis().to_string()));
            f.push(("master-link-down-time", st.down_ms.unwrap_or(0).to_string()));
            f.push(("master-link-status", link.into()));
            f.push(("master-host", mhost.clone()));
            f.push(("master-port", mport.to_string()));
            f.push(("slave-priority", "100".into()));
            f.push(("slave-repl-offset", matched.to_string()));
            f.push(("replica-announced", "1".into()));
            self.fields(&f);
        }
    }

    fn sentinel_fields(&mut self, st: &MasterState) {
        let list: Vec<(u64, String, u16, bool)> = others(&st.status)
            .filter_map(|p| {
                let (h, port) = split_addr(p.sentinel_addr.as_deref()?)?;
                Some((p.id, h, port, p.link_up))
            })
            .collect();
        self.out.array(list.len());
        for (id, h, port, up) in list {
            let flags = if up { "sentinel" } else { "s_down,sentinel,disconnected" };
            let mut f = self.common(node_run_id(id), &h, port, node_run_id(id), flags);
            f.push(("last-ok-ping-reply", "0".into()));
            f.push(("last-ping-reply", "0".into()));
            f.push(("down-after-milliseconds", self.s.down_after_ms.to_string()));
            f.push(("last-hello-message", "0".into()));
            f.push(("voted-leader", "?".into()));
            f.push(("voted-leader-epoch", "0".into()));
            self.fields(&f);
        }
    }
}

/// The members other than this node (the other "sentinels").
fn others(st: &Status) -> impl Iterator<Item = &PeerStatus> {
    st.peers.iter().filter(move |p| p.id != st.id)
}

async fn recv(rx: &mut Option<broadcast::Receiver<Event>>) -> Result<Event, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn arity_ok(arity: i64, n: usize) -> bool {
    if arity >= 0 {
        n as i64 == arity
    } else {
        n as i64 >= -arity
    }
}

/// The commands redis-sentinel 7.0 answers that this endpoint takes, with
/// their arity. SHUTDOWN is left out: the port must not stop a data node.
const COMMANDS: &[(&str, i64)] = &[
    ("ping", -1),
    ("quit", -1),
    ("reset", 1),
    ("info", -1),
    ("role", 1),
    ("hello", -1),
    ("auth", -2),
    ("client", -2),
    ("subscribe", -2),
    ("psubscribe", -2),
    ("unsubscribe", -1),
    ("punsubscribe", -1),
    ("sentinel", -2),
];

/// redis-sentinel 7.0's SENTINEL subcommands with their arity, and whether
/// Rhea answers them (the others change a Sentinel's own monitoring, which
/// Raft replaces).
const SUBCOMMANDS: &[(&str, i64, bool)] = &[
    ("ckquorum", 3, true),
    ("config", -4, false),
    ("debug", -2, false),
    ("failover", 3, false),
    ("flushconfig", 2, false),
    ("get-master-addr-by-name", 3, true),
    ("help", 2, true),
    ("info-cache", -3, false),
    ("is-master-down-by-addr", 6, false),
    ("master", 3, true),
    ("masters", 2, true),
    ("monitor", 6, false),
    ("myid", 2, true),
    ("pending-scripts", 2, false),
    ("remove", 3, false),
    ("replicas", 3, true),
    ("reset", 3, false),
    ("sentinels", 3, true),
    ("set", -5, false),
    ("simulate-failure", -3, false),
    ("slaves", 3, true),
];
