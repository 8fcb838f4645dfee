//! A fault-injecting TCP proxy for one directed link: it listens on a
//! loopback port and forwards every connection to a target address, until
//! told to fail.
//!
//! - `Pass`: bytes flow both ways.
//! - `Refuse`: existing connections are closed and new ones are accepted
//!   and closed at once (the dialer sees its connection die and retries).
//! - `Stall`: bytes stop moving (they stay in the socket buffers, so the
//!   sender's writes eventually block) and new connections are held; on
//!   healing the stalled bytes are delivered, like a network that drops
//!   packets until TCP retransmits them.
//!
//! Threads: one acceptor, two pumps per live connection (at most
//! `MAX_CONNS` connections). Every thread polls a stop flag at least every
//! 50 ms, and dropping the proxy joins them all.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_CONNS: usize = 32;
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Pass = 0,
    Refuse = 1,
    Stall = 2,
}

struct Shared {
    target: SocketAddr,
    state: AtomicU8,
    /// Bumped to close every existing connection.
    generation: AtomicU64,
    stop: AtomicBool,
    live: AtomicUsize,
    accepted: AtomicUsize,
    bytes: AtomicU64,
}

impl Shared {
    fn state(&self) -> LinkState {
        match self.state.load(Ordering::SeqCst) {
            0 => LinkState::Pass,
            1 => LinkState::Refuse,
            _ => LinkState::Stall,
        }
    }
    fn dead(&self, generation: u64) -> bool {
        self.stop.load(Ordering::SeqCst) || self.generation.load(Ordering::SeqCst) != generation
    }
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            target,
            state: AtomicU8::new(LinkState::Pass as u8),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        });
        let sh = shared.clone();
        let acceptor =
            std::thread::Builder::new().name(format!("proxy-{port}")).spawn(move || accept_loop(listener, sh))?;
        Ok(Proxy { port, shared, acceptor: Some(acceptor) })
    }

    pub fn state(&self) -> LinkState {
        self.shared.state()
    }

    /// Changes the link's state. Refusing closes existing connections;
    /// healing a stalled link delivers what was held back.
    pub fn set(&self, state: LinkState) {
        let old = self.shared.state.swap(state as u8, Ordering::SeqCst);
        if state == LinkState::Refuse && old != LinkState::Refuse as u8 {
            self.shared.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Closes every current connection without changing the state.
    pub fn reset_connections(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Connections currently forwarded.
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Bytes forwarded so far (both directions).
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !sh.stop.load(Ordering::SeqCst) {
        workers.retain(|w| !w.is_finished());
        match listener.accept() {
            Ok((client, _)) => {
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                if sh.state() == LinkState::Refuse || workers.len() >= MAX_CONNS * 2 {
                    drop(client);
                    continue;
                }
                let sh2 = sh.clone();
                if let Ok(w) = std::thread::Builder::new().name("proxy-conn".into()).spawn(move || serve(client, sh2)) {
                    workers.push(w);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(POLL)
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// One proxied connection: waits while stalled, dials the target, then
/// pumps both directions (one on a second thread).
fn serve(client: TcpStream, sh: Arc<Shared>) {
    let generation = sh.generation.load(Ordering::SeqCst);
    let _ = client.set_nonblocking(false);
    // A stalled link holds new connections without dialing.
    while sh.state() == LinkState::Stall {
        if sh.dead(generation) {
            return;
        }
        std::thread::sleep(POLL);
    }
    if sh.state() == LinkState::Refuse || sh.dead(generation) {
        return;
    }
    let Ok(upstream) = TcpStream::connect_timeout(&sh.target, Duration::from_secs(1)) else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    sh.live.fetch_add(1, Ordering::SeqCst);
    let sh2 = sh.clone();
    let back = std::thread::Builder::new().name("proxy-pump".into()).spawn(move || pump(u2, c2, &sh2, generation));
    pump(client, upstream, &sh, generation);
    if let Ok(h) = back {
        let _ = h.join();
    }
    sh.live.fetch_sub(1, Ordering::SeqCst);
}

/// Copies `from` to `to` until either side closes, the link is refused or
/// the proxy stops; then shuts both sockets so the other pump ends too.
fn pump(mut from: TcpStream, mut to: TcpStream, sh: &Shared, generation: u64) {
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_write_timeout(Some(POLL));
    let mut buf = vec![0u8; 64 * 1024];
    'outer: while !sh.dead(generation) {
        if sh.state() == LinkState::Stall {
            std::thread::sleep(POLL);
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                continue
            }
            Err(_) => break,
        };
        let mut off = 0;
        while off < n {
            if sh.dead(generation) {
                break 'outer;
            }
            match to.write(&buf[off..n]) {
                Ok(0) => break 'outer,
                Ok(k) => off += k,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => break 'outer,
            }
        }
        sh.bytes.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
