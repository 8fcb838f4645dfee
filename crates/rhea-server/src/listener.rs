use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rhea_commands::{now_ms, ClientInfo, Config, Shared};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use tracing::{debug, info, warn};

use crate::{connection, cron, leadership, metrics, sentinel, shutdown};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Cluster(String),
    #[error(transparent)]
    Dns(#[from] rhea_dns::DnsError),
}

/// The client address this node gives out (to peers, in DNS answers):
/// `advertise-addr`, else the first bind address and the port.
pub(crate) fn advertised_addr(c: &rhea_commands::Config) -> String {
    if !c.cluster.advertise_addr.is_empty() {
        return c.cluster.advertise_addr.clone();
    }
    let host = c.bind.first().map(String::as_str).unwrap_or("127.0.0.1");
    format!("{host}:{}", c.port)
}

/// Joins the Raft group the config describes, if it describes one.
async fn start_cluster(shared: &Arc<Shared>) -> Result<(), ServerError> {
    let (params, port, host) = {
        let c = shared.config.read();
        (c.cluster.clone(), c.port, c.bind.first().cloned().unwrap_or_else(|| "127.0.0.1".into()))
    };
    if params.node_id == 0 {
        return Ok(());
    }
    let raft_addr =
        if params.raft_addr.is_empty() { format!("{host}:{}", port as u32 + 10000) } else { params.raft_addr.clone() };
    let mut peers = rhea_cluster::parse_peers(&params.peers).map_err(ServerError::Cluster)?;
    if peers.is_empty() {
        // A group of one: the same code path, with nobody to wait for.
        peers.push((params.node_id, raft_addr.clone()));
    }
    let mut cfg = rhea_cluster::ClusterConfig::new(params.node_id, raft_addr.clone(), peers);
    cfg.secret = params.secret.clone();
    cfg.client_addr = advertised_addr(&shared.config.read());
    if params.sentinel_port != 0 {
        // Announced with the client address's host, so that every node's
        // SENTINEL SENTINELS can list it.
        let shost = cfg.client_addr.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or(host.clone());
        cfg.sentinel_addr = format!("{shost}:{}", params.sentinel_port);
    }
    cfg.read_mode = match params.read_mode.as_str() {
        "lease" => rhea_cluster::ReadMode::Lease,
        "local" => rhea_cluster::ReadMode::Local,
        _ => rhea_cluster::ReadMode::Linearizable,
    };
    if !params.raft_dir.is_empty() {
        cfg.data_dir = params.raft_dir.clone().into();
    }
    cfg.persist = !params.memory_only;
    if params.snapshot_bytes > 0 {
        cfg.snapshot_bytes = params.snapshot_bytes;
    }
    if let Some(tail) = params.log_tail {
        cfg.log_tail = tail;
    }
    let applier = rhea_commands::replicated::Applier::new(shared.clone());
    let cluster =
        rhea_cluster::Cluster::start(cfg, Box::new(applier)).await.map_err(|e| ServerError::Cluster(e.to_string()))?;
    info!(node_id = params.node_id, %raft_addr, "cluster node started");
    // A node that restored nothing holds only Raft's own memory so far.
    if shared.not_counted_for_evict.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        shared
            .not_counted_for_evict
            .store(rhea_commands::memory::raft_baseline(), std::sync::atomic::Ordering::Relaxed);
    }
    let _ = shared.cluster.set(cluster);
    Ok(())
}

/// Runs the server until SHUTDOWN or a termination signal.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let port = config.port;
    let binds = config.bind.clone();
    let shared = Arc::new(Shared::new(config));
    start_cluster(&shared).await?;
    crate::dns::start(&shared).await?;
    let mut listeners = Vec::new();
    for host in &binds {
        let addr = format!("{host}:{port}");
        let l = TcpListener::bind(&addr).await.map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
        info!(%addr, "ready to accept connections");
        listeners.push(l);
    }
    tokio::spawn(shutdown::on_signal(shared.clone()));
    tokio::spawn(cron::run(shared.clone()));
    tokio::spawn(cron::sample_metrics(shared.clone()));
    let metrics_port = shared.config.read().metrics_port;
    if metrics_port != 0 {
        let host = binds.first().cloned().unwrap_or_else(|| "127.0.0.1".into());
        let addr = format!("{host}:{metrics_port}");
        let l = TcpListener::bind(&addr).await.map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
        info!(%addr, "metrics endpoint ready (GET /metrics)");
        tokio::spawn(metrics::serve(l, shared.clone()));
    }
    if let Some(cluster) = shared.cluster.get() {
        tokio::spawn(leadership::watch(shared.clone(), cluster.clone()));
        let sport = shared.config.read().cluster.sentinel_port;
        if sport != 0 {
            let host = binds.first().cloned().unwrap_or_else(|| "127.0.0.1".into());
            let addr = format!("{host}:{sport}");
            let l =
                TcpListener::bind(&addr).await.map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
            info!(%addr, "Sentinel-compatible endpoint ready");
            tokio::spawn(sentinel::serve(l, sentinel::Sentinel::new(shared.clone(), cluster.clone(), sport)));
        }
    }
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(accept_loop(l, shared.clone())));
    }
    while !shared.shutting_down() {
        let notified = shared.shutdown_notify.notified();
        if shared.shutting_down() {
            break;
        }
        notified.await;
    }
    info!("shutting down: closing {} client connections", shared.clients.len());
    for t in &tasks {
        t.abort();
    }
    for c in shared.clients.snapshot() {
        c.kill();
    }
    info!("Rhea is now ready to exit, bye bye...");
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off, don't spin.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let maxclients = shared.config.read().maxclients;
        if shared.clients.len() >= maxclients {
            // As Redis: counted as rejected, not as received.
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(reject(stream));
            continue;
        }
        shared.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        set_keepalive(&stream, shared.config.read().tcp_keepalive);
        let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let (info, push_rx) = ClientInfo::new(id, fmt_addr(peer), laddr, now_ms());
        let info = Arc::new(info);
        info.fd.store(stream.as_raw_fd(), Ordering::Relaxed);
        if let Some(cluster) = shared.cluster.get() {
            leadership::mark_accepted(cluster, &info);
        }
        shared.clients.register(info.clone());
        if let Some(cluster) = shared.cluster.get() {
            leadership::recheck_accepted(cluster, &shared, &info);
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            connection::serve(stream, shared.clone(), info, push_rx).await;
            shared.clients.unregister(id);
        });
    }
}

/// Redis's anetKeepAlive: probes after `secs` idle, then every third of
/// that, dropping the connection after 3 unanswered probes, so a peer
/// that vanished (no FIN: a crashed host, a dropped NAT entry) stops
/// holding a client slot.
fn set_keepalive(stream: &TcpStream, secs: u64) {
    if secs == 0 {
        return;
    }
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(secs))
        .with_interval(Duration::from_secs((secs / 3).max(1)))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&ka) {
        debug!(error = %e, "could not set SO_KEEPALIVE");
    }
}

fn fmt_addr(a: SocketAddr) -> String {
    a.to_string()
}

async fn reject(mut stream: TcpStream) {
    let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
}
