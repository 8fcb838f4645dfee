//! The Prometheus endpoint (`--metrics-port`): `GET /metrics` answers the
//! OpenMetrics text that `prometheus-client` encodes.
//!
//! Everything is computed at scrape time from state Rhea keeps anyway: the
//! client registry (connections, age and idle time per client name), the
//! per-command counters and latency histograms of `rhea_commands::obs`,
//! and the INFO sections (hits, misses, expirations, evictions, memory,
//! rejected connections), read through the same code INFO runs so the two
//! can never disagree. Serving a request costs nothing on the command path.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rhea_commands::families::server::info_section_text;
use rhea_commands::obs::{bucket_upper_ns, CmdIds};
use rhea_commands::{now_ms, Shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// Distinct client names reported before the rest are folded into
/// "other": a label per name must not let clients blow up the series count.
const MAX_NAMES: usize = 200;
/// Buckets (seconds) for connection age and idle time: a pool that leaks
/// shows up in the upper ones.
const CONN_BUCKETS: &[f64] = &[1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0];
/// Buckets (seconds) for command latency.
const CMD_BUCKETS: &[f64] =
    &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RheaCollector { shared: shared.clone() }));
    let registry = Arc::new(registry);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.shutting_down() {
            return;
        }
        let registry = registry.clone();
        tokio::spawn(async move {
            if let Err(e) = tokio::time::timeout(Duration::from_secs(10), answer(stream, &registry)).await {
                debug!(error = %e, "metrics request timed out");
            }
        });
    }
}

/// One HTTP/1.x exchange: the request line decides, the connection closes.
async fn answer(mut stream: TcpStream, registry: &Registry) {
    let mut req = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && !req.windows(2).any(|w| w == b"\n\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&chunk[..n]),
        }
        if req.len() > 8192 {
            break;
        }
    }
    let line = req.split(|&c| c == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&c| c == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split(|&c| c == b'?').next().unwrap_or_default();
    let response = if method != b"GET" {
        http(405, "text/plain", "method not allowed\n")
    } else if path != b"/metrics" {
        http(404, "text/plain", "not found: try /metrics\n")
    } else {
        let mut body = String::new();
        match prometheus_client::encoding::text::encode(&mut body, registry) {
            Ok(()) => http(200, "application/openmetrics-text; version=1.0.0; charset=utf-8", &body),
            Err(_) => http(500, "text/plain", "encoding failed\n"),
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

fn http(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let mut r = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

struct RheaCollector {
    shared: Arc<Shared>,
}

impl fmt::Debug for RheaCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RheaCollector")
    }
}

/// A histogram built at scrape time.
#[derive(Default)]
struct Hist {
    sum: f64,
    count: u64,
    /// Per-bucket (not cumulative) counts, one more than the bounds (+Inf).
    buckets: Vec<u64>,
}

impl Hist {
    fn new(bounds: &[f64]) -> Hist {
        Hist { buckets: vec![0; bounds.len() + 1], ..Default::default() }
    }

    fn observe_n(&mut self, bounds: &[f64], v: f64, n: u64) {
        let i = bounds.iter().position(|&b| v <= b).unwrap_or(bounds.len());
        self.buckets[i] += n;
        self.count += n;
        self.sum += v * n as f64;
    }

    fn encode(&self, bounds: &[f64], enc: &mut prometheus_client::encoding::MetricEncoder) -> fmt::Result {
        let pairs: Vec<(f64, u64)> =
            bounds.iter().copied().chain(std::iter::once(f64::MAX)).zip(self.buckets.iter().copied()).collect();
        enc.encode_histogram::<NoLabelSet>(self.sum, self.count, &pairs, None)
    }
}

/// The label a connection is counted under: its CLIENT SETNAME name, else
/// the library it announced (CLIENT SETINFO LIB-NAME), else "unnamed".
fn pool_name(c: &rhea_commands::ClientInfo) -> String {
    let name = c.name.lock().clone().filter(|n| !n.is_empty()).or_else(|| c.lib_name.lock().clone());
    match name {
        Some(n) => String::from_utf8_lossy(&n).replace(['"', '\\'], "_"),
        None => "unnamed".into(),
    }
}

/// `name:value` fields of an INFO section.
fn info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

struct Conns {
    count: i64,
    age: Hist,
    idle: Hist,
}

impl Collector for RheaCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let shared = &self.shared;
        let now = now_ms();

        // Connections per client name.
        let mut by_name: BTreeMap<String, Conns> = BTreeMap::new();
        for c in shared.clients.snapshot() {
            if c.killed.load(Ordering::Relaxed) {
                continue;
            }
            let mut name = pool_name(&c);
            if by_name.len() >= MAX_NAMES && !by_name.contains_key(&name) {
                name = "other".into();
            }
            let e = by_name.entry(name).or_insert_with(|| Conns {
                count: 0,
                age: Hist::new(CONN_BUCKETS),
                idle: Hist::new(CONN_BUCKETS),
            });
            e.count += 1;
            e.age.observe_n(CONN_BUCKETS, c.created.elapsed().as_secs_f64(), 1);
            let idle_ms = (now - c.last_interaction_ms.load(Ordering::Relaxed)).max(0);
            e.idle.observe_n(CONN_BUCKETS, idle_ms as f64 / 1000.0, 1);
        }
        {
            let mut f = enc.encode_descriptor(
                "rhea_client_connections",
                "Open client connections per client name (CLIENT SETNAME, else lib-name, else unnamed)",
                None,
                MetricType::Gauge,
            )?;
            for (name, c) in &by_name {
                f.encode_family(&[("client_name", name.as_str())])?.encode_gauge(&c.count)?;
            }
        }
        for (metric, help, pick) in [
            (
                "rhea_client_connection_age_seconds",
                "Age of the open connections per client name",
                (|c: &Conns| &c.age) as fn(&Conns) -> &Hist,
            ),
            (
                "rhea_client_connection_idle_seconds",
                "Time since the last command of the open connections per client name",
                |c: &Conns| &c.idle,
            ),
        ] {
            let mut f = enc.encode_descriptor(metric, help, None, MetricType::Histogram)?;
            for (name, c) in &by_name {
                pick(c).encode(CONN_BUCKETS, &mut f.encode_family(&[("client_name", name.as_str())])?)?;
            }
        }

        // Per-command counters and latency.
        let ids = CmdIds::get();
        let cmds: Vec<_> = ids
            .metas
            .iter()
            .zip(shared.obs.cmds.iter())
            .filter(|(_, s)| s.calls.load(Ordering::Relaxed) + s.rejected.load(Ordering::Relaxed) > 0)
            .collect();
        for (metric, help, pick) in [
            (
                "rhea_commands",
                "Commands executed, per command",
                (|s: &rhea_commands::obs::CmdStat| s.calls.load(Ordering::Relaxed))
                    as fn(&rhea_commands::obs::CmdStat) -> u64,
            ),
            ("rhea_commands_failed", "Commands that replied with an error, per command", |s| {
                s.failed.load(Ordering::Relaxed)
            }),
            ("rhea_commands_rejected", "Commands refused before running (arity, auth...), per command", |s| {
                s.rejected.load(Ordering::Relaxed)
            }),
        ] {
            let mut f = enc.encode_descriptor(metric, help, None, MetricType::Counter)?;
            for (meta, st) in &cmds {
                f.encode_family(&[("cmd", meta.name.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&pick(st), None)?;
            }
        }
        {
            let mut f = enc.encode_descriptor(
                "rhea_command_duration_seconds",
                "Command execution time, per command (from the latency-tracking histograms)",
                None,
                MetricType::Histogram,
            )?;
            for (meta, st) in &cmds {
                let Some(fine) = st.histogram() else { continue };
                let mut h = Hist::new(CMD_BUCKETS);
                for (i, &n) in fine.iter().enumerate().filter(|(_, &n)| n > 0) {
                    h.observe_n(CMD_BUCKETS, bucket_upper_ns(i) as f64 / 1e9, n);
                }
                // The exact total time rather than the bucket estimate.
                h.sum = st.nanos.load(Ordering::Relaxed) as f64 / 1e9;
                h.encode(CMD_BUCKETS, &mut f.encode_family(&[("cmd", meta.name.as_str())])?)?;
            }
        }
        {
            let mut f =
                enc.encode_descriptor("rhea_errors", "Error replies, per error code", None, MetricType::Counter)?;
            for (code, n) in shared.obs.errors.lock().iter() {
                f.encode_family(&[("code", &**code)])?.encode_counter::<NoLabelSet, _, u64>(n, None)?;
            }
        }

        // Server-wide figures, from the INFO sections themselves.
        let (ops, kin, kout) = shared.obs.instantaneous();
        gauge(&mut enc, "rhea_instantaneous_ops_per_sec", "Commands per second over the last 1.6 s", ops as f64)?;
        gauge(&mut enc, "rhea_instantaneous_input_kbps", "Network input KB/s over the last 1.6 s", kin)?;
        gauge(&mut enc, "rhea_instantaneous_output_kbps", "Network output KB/s over the last 1.6 s", kout)?;
        let stats = info_fields(&info_section_text(shared, "stats"));
        let clients = info_fields(&info_section_text(shared, "clients"));
        let memory = info_fields(&info_section_text(shared, "memory"));
        let num = |m: &BTreeMap<String, String>, k: &str| m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        for (metric, field, help) in [
            ("rhea_keyspace_hits", "keyspace_hits", "Key lookups that found the key"),
            ("rhea_keyspace_misses", "keyspace_misses", "Key lookups that did not find the key"),
            ("rhea_expired_keys", "expired_keys", "Keys removed because their TTL passed"),
            ("rhea_evicted_keys", "evicted_keys", "Keys evicted to stay under maxmemory"),
            ("rhea_rejected_connections", "rejected_connections", "Connections refused because of maxclients"),
            ("rhea_connections_received", "total_connections_received", "Connections accepted"),
            ("rhea_commands_processed", "total_commands_processed", "Commands processed"),
            ("rhea_net_input_bytes", "total_net_input_bytes", "Bytes read from clients"),
            ("rhea_net_output_bytes", "total_net_output_bytes", "Bytes written to clients"),
            ("rhea_error_replies", "total_error_replies", "Error replies sent"),
        ] {
            let v = num(&stats, field) as u64;
            enc.encode_descriptor(metric, help, None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
        }
        for (metric, map, field, help) in [
            ("rhea_connected_clients", &clients, "connected_clients", "Open client connections"),
            ("rhea_blocked_clients", &clients, "blocked_clients", "Clients waiting in a blocking command"),
            ("rhea_maxclients", &clients, "maxclients", "The maxclients setting"),
            ("rhea_memory_used_bytes", &memory, "used_memory", "INFO memory used_memory"),
            ("rhea_memory_rss_bytes", &memory, "used_memory_rss", "INFO memory used_memory_rss"),
            ("rhea_memory_max_bytes", &memory, "maxmemory", "The maxmemory setting (0 = none)"),
        ] {
            gauge(&mut enc, metric, help, num(map, field))?;
        }
        if let Some(cluster) = shared.cluster.get() {
            let st = cluster.status();
            let leader = if st.role == rhea_cluster::Role::Leader { 1.0 } else { 0.0 };
            gauge(&mut enc, "rhea_raft_is_leader", "1 on the leader, 0 elsewhere", leader)?;
            gauge(&mut enc, "rhea_raft_term", "Raft term", st.term as f64)?;
            gauge(&mut enc, "rhea_raft_leader_id", "The leader's node id (0 = none known)", st.leader_id as f64)?;
            gauge(&mut enc, "rhea_raft_commit_index", "Highest log index known committed", st.commit_index as f64)?;
            gauge(&mut enc, "rhea_raft_applied_index", "Highest log index applied here", st.applied_index as f64)?;
            gauge(&mut enc, "rhea_raft_last_index", "Last index in this node's log", st.last_index as f64)?;
            let changes = st.leader_changes;
            enc.encode_descriptor(
                "rhea_raft_leader_changes",
                "Times this node saw the leader change",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&changes, None)?;
            if st.role == rhea_cluster::Role::Leader {
                let mut f = enc.encode_descriptor(
                    "rhea_raft_follower_lag_entries",
                    "Leader only: entries a follower is behind the leader's log",
                    None,
                    MetricType::Gauge,
                )?;
                for p in st.peers.iter().filter(|p| p.id != st.id) {
                    let id = p.id.to_string();
                    let lag = prometheus_client::metrics::gauge::ConstGauge::new(
                        st.last_index.saturating_sub(p.matched) as f64,
                    );
                    lag.encode(f.encode_family(&[("node_id", id.as_str())])?)?;
                }
            }
        }
        crate::dns::encode_metrics(&mut enc)?;
        Ok(())
    }
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> fmt::Result {
    let g = prometheus_client::metrics::gauge::ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}
