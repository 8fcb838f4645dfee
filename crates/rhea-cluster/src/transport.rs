//! Node-to-node transport: raft-rs's eraftpb messages over TCP.
//!
//! Each node dials every peer once and sends its messages to it over that
//! connection (so one connection per direction and pair: a proxy on each
//! can cut a link one way). A connection starts with a challenge: the
//! acceptor sends a nonce, the dialer answers with its node id, an
//! HMAC-SHA256 of the nonce under the cluster secret, and its client
//! address. Frames follow: a little-endian u32 length and one message.
//! Messages queued while a peer is down are dropped: Raft resends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use protobuf::Message as _;
use raft::prelude::Message;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, info, warn};

use crate::{Cmd, Inner};

const MAGIC: &[u8; 5] = b"RHEA1";
/// Larger frames are refused: a peer that sends one is broken or hostile.
const MAX_FRAME: usize = 256 * 1024 * 1024;
/// Bytes written per syscall at most when many messages are queued.
const BATCH_BYTES: usize = 1024 * 1024;

pub(crate) type Peers = HashMap<u64, UnboundedSender<Message>>;

pub(crate) fn start(inner: Arc<Inner>, listener: TcpListener) -> Peers {
    tokio::spawn(accept_loop(inner.clone(), listener));
    let mut peers = HashMap::new();
    for (id, addr) in &inner.cfg.peers {
        if *id == inner.cfg.node_id {
            continue;
        }
        peers.insert(*id, add_peer(&tokio::runtime::Handle::current(), inner.clone(), *id, addr.clone()));
    }
    peers
}

/// Starts dialing a peer; dropping the returned sender stops it.
pub(crate) fn add_peer(
    rt: &tokio::runtime::Handle,
    inner: Arc<Inner>,
    id: u64,
    addr: String,
) -> UnboundedSender<Message> {
    let (tx, rx) = unbounded_channel();
    rt.spawn(dial_loop(inner, id, addr, rx));
    tx
}

fn mac(secret: &str, nonce: &[u8], from: u64) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; an empty
    // secret still authenticates the protocol, not the peer.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return Vec::new() };
    m.update(b"rhea-raft-v1");
    m.update(nonce);
    m.update(&from.to_le_bytes());
    m.finalize().into_bytes().to_vec()
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let inner = inner.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_peer(inner, stream).await {
                        debug!(peer = %addr, error = %e, "peer connection closed");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("peer failed authentication (wrong cluster secret or not a Rhea node)")]
    Auth,
    #[error("bad frame: {0}")]
    Frame(String),
}

async fn serve_peer(inner: Arc<Inner>, mut stream: TcpStream) -> Result<(), PeerError> {
    let nonce: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&nonce);
    stream.write_all(&hello).await?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let from = tokio::time::timeout(Duration::from_secs(5), async {
        let from = reader.read_u64_le().await?;
        let mut got = [0u8; 32];
        reader.read_exact(&mut got).await?;
        let len = reader.read_u16_le().await? as usize;
        let mut addr = vec![0u8; len];
        reader.read_exact(&mut addr).await?;
        Ok::<_, std::io::Error>((from, got, addr))
    })
    .await
    .map_err(|_| PeerError::Auth)??;
    let (from, got, addr) = from;
    // Constant-time comparison through the hmac crate.
    let ok = Hmac::<Sha256>::new_from_slice(inner.cfg.secret.as_bytes())
        .map(|mut m| {
            m.update(b"rhea-raft-v1");
            m.update(&nonce);
            m.update(&from.to_le_bytes());
            m.verify_slice(&got).is_ok()
        })
        .unwrap_or(false);
    let known = inner.status.is_member(from);
    if !ok || !known {
        warn!(claimed_id = from, "refused a peer connection: failed authentication or unknown node id");
        return Err(PeerError::Auth);
    }
    if let Ok(a) = String::from_utf8(addr) {
        if !a.is_empty() {
            inner.status.set_client_addr(from, a);
        }
    }
    let mut buf = Vec::new();
    loop {
        let len = reader.read_u32_le().await? as usize;
        if len > MAX_FRAME {
            return Err(PeerError::Frame(format!("{len} bytes")));
        }
        buf.resize(len, 0);
        reader.read_exact(&mut buf).await?;
        let msg = Message::parse_from_bytes(&buf).map_err(|e| PeerError::Frame(e.to_string()))?;
        if msg.from != from {
            return Err(PeerError::Frame(format!("message from {} on node {from}'s connection", msg.from)));
        }
        if inner.to_raft.send(Cmd::Peer(msg)).is_err() {
            return Ok(());
        }
    }
}

async fn dial_loop(inner: Arc<Inner>, id: u64, addr: String, mut rx: UnboundedReceiver<Message>) {
    let mut backoff = Duration::from_millis(20);
    let mut was_up = false;
    loop {
        match connect(&inner, &addr).await {
            Ok(stream) => {
                if !was_up {
                    info!(peer = id, %addr, "connected to peer");
                }
                was_up = true;
                backoff = Duration::from_millis(20);
                if let Err(e) = send_loop(stream, &mut rx).await {
                    debug!(peer = id, error = %e, "peer link broke");
                }
                if rx.is_closed() {
                    return;
                }
            }
            Err(e) => {
                if was_up {
                    warn!(peer = id, %addr, error = %e, "lost peer");
                }
                was_up = false;
            }
        }
        // What was queued for a dead link is stale by the time it is back.
        loop {
            match rx.try_recv() {
                Ok(_) => continue,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
            }
        }
        let _ = inner.to_raft.send(Cmd::Unreachable(id));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

async fn connect(inner: &Inner, addr: &str) -> Result<TcpStream, PeerError> {
    let mut stream = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr))
        .await
        .map_err(|_| PeerError::Io(std::io::ErrorKind::TimedOut.into()))??;
    let _ = stream.set_nodelay(true);
    let mut hello = [0u8; 21];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut hello))
        .await
        .map_err(|_| PeerError::Io(std::io::ErrorKind::TimedOut.into()))??;
    if &hello[..5] != MAGIC {
        return Err(PeerError::Auth);
    }
    let me = inner.cfg.node_id;
    let mut answer = me.to_le_bytes().to_vec();
    answer.extend_from_slice(&mac(&inner.cfg.secret, &hello[5..], me));
    let client = inner.cfg.client_addr.as_bytes();
    let client = &client[..client.len().min(u16::MAX as usize)];
    answer.extend_from_slice(&(client.len() as u16).to_le_bytes());
    answer.extend_from_slice(client);
    stream.write_all(&answer).await?;
    Ok(stream)
}

/// Writes queued messages, as many per write as are waiting.
async fn send_loop(mut stream: TcpStream, rx: &mut UnboundedReceiver<Message>) -> Result<(), PeerError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    // Reads nothing, but notices the acceptor closing the link at once.
    let (mut rd, mut wr) = stream.split();
    let mut probe = [0u8; 1];
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return Ok(()) },
            r = rd.read(&mut probe) => {
                return match r { Ok(_) => Err(PeerError::Frame("peer closed the link".into())), Err(e) => Err(e.into()) };
            }
        };
        buf.clear();
        encode(&first, &mut buf)?;
        while buf.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(m) => encode(&m, &mut buf)?,
                Err(_) => break,
            }
        }
        wr.write_all(&buf).await?;
    }
}

fn encode(m: &Message, buf: &mut Vec<u8>) -> Result<(), PeerError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    m.write_to_vec(buf).map_err(|e| PeerError::Frame(e.to_string()))?;
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}
