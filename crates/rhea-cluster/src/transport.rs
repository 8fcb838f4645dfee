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

pub(crate) type Peers = HashMap<u64, UnboundedSender<Outgoing>>;

/// What goes to a peer: a message, or a snapshot message preceded by its
/// data file, streamed in chunks (a snapshot never sits whole in memory).
pub(crate) enum Outgoing {
    Msg(Message),
    Snapshot(Message, std::path::PathBuf),
}

/// Frame kinds, after the length.
const FRAME_MSG: u8 = 0;
/// term u64, index u64: a snapshot's data follows.
const FRAME_SNAP_BEGIN: u8 = 1;
const FRAME_SNAP_CHUNK: u8 = 2;
const SNAP_CHUNK: usize = 1 << 20;

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
) -> UnboundedSender<Outgoing> {
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
    // The snapshot being received: (term, index, file).
    let mut incoming: Option<(u64, u64, crate::storage::SnapshotFileWriter)> = None;
    loop {
        let len = reader.read_u32_le().await? as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(PeerError::Frame(format!("{len} bytes")));
        }
        let kind = reader.read_u8().await?;
        buf.resize(len - 1, 0);
        reader.read_exact(&mut buf).await?;
        match kind {
            FRAME_SNAP_BEGIN if buf.len() == 16 => {
                let term = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
                let index = u64::from_le_bytes(buf[8..].try_into().unwrap_or_default());
                let w = inner.storage.snapshot_writer(term, index).map_err(|e| PeerError::Frame(e.to_string()))?;
                info!(from, index, "receiving a snapshot");
                incoming = Some((term, index, w));
                continue;
            }
            FRAME_SNAP_CHUNK => {
                let Some((_, _, w)) = incoming.as_mut() else {
                    return Err(PeerError::Frame("snapshot data without a snapshot".into()));
                };
                w.write_chunk(&buf).map_err(|e| PeerError::Frame(e.to_string()))?;
                continue;
            }
            FRAME_MSG => {}
            k => return Err(PeerError::Frame(format!("unknown frame kind {k}"))),
        }
        let msg = Message::parse_from_bytes(&buf).map_err(|e| PeerError::Frame(e.to_string()))?;
        if msg.from != from {
            return Err(PeerError::Frame(format!("message from {} on node {from}'s connection", msg.from)));
        }
        if msg.get_msg_type() == raft::prelude::MessageType::MsgSnapshot {
            let meta = msg.get_snapshot().get_metadata();
            match incoming.take() {
                Some((term, index, w)) if term == meta.term && index == meta.index => {
                    w.finish().map_err(|e| PeerError::Frame(e.to_string()))?;
                }
                // Without its data the message is useless: the leader
                // resends after a failure report or a timeout.
                _ => {
                    warn!(from, index = meta.index, "snapshot message without its data; dropped");
                    continue;
                }
            }
        }
        if inner.to_raft.send(Cmd::Peer(msg)).is_err() {
            return Ok(());
        }
    }
}

async fn dial_loop(inner: Arc<Inner>, id: u64, addr: String, mut rx: UnboundedReceiver<Outgoing>) {
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
                inner.status.set_link(id, true);
                if let Err(e) = send_loop(&inner, id, stream, &mut rx).await {
                    debug!(peer = id, error = %e, "peer link broke");
                }
                inner.status.set_link(id, false);
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
    let announced = inner.cfg.announcement();
    let client = announced.as_bytes();
    let client = &client[..client.len().min(u16::MAX as usize)];
    answer.extend_from_slice(&(client.len() as u16).to_le_bytes());
    answer.extend_from_slice(client);
    stream.write_all(&answer).await?;
    Ok(stream)
}

/// Writes queued messages, as many per write as are waiting; a snapshot's
/// file goes out chunk by chunk before its message.
async fn send_loop(
    inner: &Inner,
    peer: u64,
    mut stream: TcpStream,
    rx: &mut UnboundedReceiver<Outgoing>,
) -> Result<(), PeerError> {
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
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Outgoing::Msg(m) => encode(&m, &mut buf)?,
                Outgoing::Snapshot(m, path) => {
                    wr.write_all(&buf).await?;
                    buf.clear();
                    let sent = send_snapshot(&mut wr, &m, &path).await;
                    let ok = sent.is_ok();
                    if let Err(e) = &sent {
                        warn!(peer, error = %e, "sending a snapshot failed");
                    }
                    let _ = inner.to_raft.send(Cmd::SnapshotSent { to: peer, ok });
                    sent?;
                }
            }
            if buf.len() < BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        wr.write_all(&buf).await?;
    }
}

async fn send_snapshot<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    m: &Message,
    path: &std::path::Path,
) -> Result<(), PeerError> {
    let meta = m.get_snapshot().get_metadata();
    let mut reader = crate::storage::SnapshotFileReader::open(path).map_err(|e| PeerError::Frame(e.to_string()))?;
    let mut head = Vec::with_capacity(21);
    head.extend_from_slice(&17u32.to_le_bytes());
    head.push(FRAME_SNAP_BEGIN);
    head.extend_from_slice(&meta.term.to_le_bytes());
    head.extend_from_slice(&meta.index.to_le_bytes());
    wr.write_all(&head).await?;
    let mut sent = 0u64;
    while let Some(chunk) = reader.next_chunk(SNAP_CHUNK).map_err(|e| PeerError::Frame(e.to_string()))? {
        wr.write_all(&((chunk.len() + 1) as u32).to_le_bytes()).await?;
        wr.write_all(&[FRAME_SNAP_CHUNK]).await?;
        wr.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    let mut buf = Vec::new();
    encode(m, &mut buf)?;
    wr.write_all(&buf).await?;
    info!(index = meta.index, bytes = sent, "snapshot sent");
    Ok(())
}

fn encode(m: &Message, buf: &mut Vec<u8>) -> Result<(), PeerError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.push(FRAME_MSG);
    m.write_to_vec(buf).map_err(|e| PeerError::Frame(e.to_string()))?;
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}
