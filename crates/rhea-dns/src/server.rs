//! The sockets: one UDP socket and one TCP listener per bind address.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::{handle, Stats, Transport, View, Zone};

/// A TCP client idle this long is dropped (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// TCP connections served at once; more wait in the kernel's backlog, so a
/// flood of idle connections cannot grow memory without bound.
const TCP_MAX: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("dns-domain {0}")]
    Domain(String),
    #[error("could not listen for DNS on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

type ViewFn = Arc<dyn Fn() -> View + Send + Sync>;

/// Binds UDP and TCP on `port` of every host in `binds` and spawns the
/// loops on the current runtime; returns once every socket is bound.
pub async fn serve(binds: &[String], port: u16, zone: Zone, view: ViewFn, stats: Arc<Stats>) -> Result<(), DnsError> {
    let zone = Arc::new(zone);
    let tcp_slots = Arc::new(Semaphore::new(TCP_MAX));
    for host in binds {
        let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let bind_err = |source| DnsError::Bind { addr: addr.clone(), source };
        let udp = UdpSocket::bind(&addr).await.map_err(bind_err)?;
        let tcp = TcpListener::bind(&addr).await.map_err(bind_err)?;
        info!(%addr, domain = %zone.domain(), "DNS server ready (UDP and TCP)");
        tokio::spawn(udp_loop(udp, zone.clone(), view.clone(), stats.clone()));
        tokio::spawn(tcp_loop(tcp, zone.clone(), view.clone(), stats.clone(), tcp_slots.clone()));
    }
    Ok(())
}

async fn udp_loop(sock: UdpSocket, zone: Arc<Zone>, view: ViewFn, stats: Arc<Stats>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors from an earlier send surface here on Linux;
                // they concern one client, not the socket.
                debug!(error = %e, "DNS recv failed");
                continue;
            }
        };
        if let Some(out) = handle(&zone, &*view, &buf[..n], Transport::Udp, &stats) {
            if let Err(e) = sock.send_to(&out, peer).await {
                debug!(error = %e, %peer, "DNS send failed");
            }
        }
    }
}

async fn tcp_loop(listener: TcpListener, zone: Arc<Zone>, view: ViewFn, stats: Arc<Stats>, slots: Arc<Semaphore>) {
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "DNS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (zone, view, stats) = (zone.clone(), view.clone(), stats.clone());
        tokio::spawn(async move {
            if let Err(e) = tcp_conn(stream, &zone, &*view, &stats).await {
                debug!(error = %e, %peer, "DNS TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// RFC 1035 4.2.2: each message is preceded by its two-byte length; a
/// client may send several on one connection.
async fn tcp_conn(
    mut s: TcpStream,
    zone: &Zone,
    view: &(dyn Fn() -> View + Send + Sync),
    stats: &Stats,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65535];
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, s.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let n = u16::from_be_bytes(len) as usize;
        let msg = &mut buf[..n];
        match tokio::time::timeout(TCP_IDLE, s.read_exact(msg)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        let Some(out) = handle(zone, view, msg, Transport::Tcp, stats) else {
            // Nothing sensible to say to a peer sending non-DNS bytes.
            return Ok(());
        };
        let Ok(out_len) = u16::try_from(out.len()) else { return Ok(()) };
        let mut frame = Vec::with_capacity(out.len() + 2);
        frame.extend_from_slice(&out_len.to_be_bytes());
        frame.extend_from_slice(&out);
        s.write_all(&frame).await?;
    }
}
