//! Test harness shared by the integration tests: real server processes
//! (rhea-server and Debian's redis-server) on free loopback ports, and a
//! minimal RESP client that keeps each reply's raw bytes so replies can be
//! compared byte for byte.
#![allow(dead_code)]

pub mod cluster;
pub mod history;
pub mod linearizability;
pub mod list_append;
pub mod proxy;
pub mod scenario;
pub mod workload;
pub mod writers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on, below Linux's ephemeral range (32768-60999).
/// Port 0 would hand out an ephemeral port, and between this probe and the
/// server's bind any outgoing connection of a parallel test may take that
/// same port as its source port: the server then fails to bind (seen in
/// CI). Ports below the range are never chosen as source ports, and a
/// per-process counter keeps this process's tests off each other's ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    // A random start keeps a second test process (a developer may run two)
    // off this one's ports.
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = *START.get_or_init(|| fastrand::u32(..SPAN));
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        // The wildcard bind fails if anything holds the port on any loopback
        // address (cluster tests put nodes on 127.0.0.2...).
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// The rhea-server binary: $RHEA_BIN if set, else the one cargo built for
/// this test.
pub fn rhea_bin() -> String {
    std::env::var("RHEA_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rhea-server").to_string())
}

/// A server process, killed when dropped.
pub struct Server {
    pub port: u16,
    pub name: &'static str,
    child: Child,
}

impl Server {
    /// Starts rhea-server on a free port with extra `--name value` args.
    pub fn rhea(args: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(rhea_bin());
        cmd.args(["--port", &port.to_string(), "--loglevel", "warning"]).args(args);
        Self::spawn("rhea", port, cmd)
    }

    /// Starts Debian's redis-server 7 (the oracle) on a free port.
    pub fn redis(args: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        cmd.args(["--loglevel", "warning"]).args(args);
        Self::spawn("redis", port, cmd)
    }

    fn spawn(name: &'static str, port: u16, mut cmd: Command) -> Server {
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {name} ({e}); redis-server comes from `apt-get install redis-server`")
        });
        let mut s = Server { port, name, child };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("{} exited before it served port {} ({st})", self.name, self.port);
            }
            if let Ok(mut c) = Conn::connect(self.port) {
                if let Ok(r) = c.cmd(&["PING"]) {
                    if !matches!(r, Reply::Closed) {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not start on port {}", self.name, self.port);
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.port).unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. "TERM", "KILL", "STOP", "CONT").
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([&format!("-{sig}"), &self.pid().to_string()]).status();
    }

    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A decoded reply (RESP2 or RESP3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`; the raw bytes tell them apart.
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    Double(String),
    Bool(bool),
    Verbatim(Vec<u8>),
    BigNumber(String),
    /// The server closed the connection.
    Closed,
}

impl Reply {
    /// The reply with every aggregate's elements sorted, for replies whose
    /// order Redis does not define (KEYS, SMEMBERS...).
    pub fn sorted(&self) -> Reply {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
                let mut v: Vec<Reply> = v.iter().map(Reply::sorted).collect();
                v.sort();
                match self {
                    Reply::Set(_) => Reply::Set(v),
                    Reply::Push(_) => Reply::Push(v),
                    _ => Reply::Array(v),
                }
            }
            Reply::Map(m) => {
                let mut m: Vec<_> = m.iter().map(|(k, v)| (k.sorted(), v.sorted())).collect();
                m.sort();
                Reply::Map(m)
            }
            other => other.clone(),
        }
    }

    /// The reply's type, for replies whose value is random or time-bound.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Simple(_) => "simple",
            Reply::Error(_) => "error",
            Reply::Int(_) => "integer",
            Reply::Bulk(_) => "bulk",
            Reply::Nil => "nil",
            Reply::Array(_) => "array",
            Reply::Map(_) => "map",
            Reply::Set(_) => "set",
            Reply::Push(_) => "push",
            Reply::Double(_) => "double",
            Reply::Bool(_) => "bool",
            Reply::Verbatim(_) => "verbatim",
            Reply::BigNumber(_) => "bignumber",
            Reply::Closed => "closed",
        }
    }

    pub fn as_bulk(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) | Reply::Verbatim(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// A blocking RESP connection with a read timeout, so a server that does
/// not answer fails the test instead of hanging it.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    pub fn connect(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        Ok(Conn { r: BufReader::new(s.try_clone()?), w: s })
    }

    /// Connects within `t` and uses `t` as the read and write timeout.
    pub fn connect_timeout(port: u16, t: Duration) -> std::io::Result<Conn> {
        Self::connect_host_timeout("127.0.0.1", port, t)
    }

    /// As `connect_timeout`, to `host` (an IP literal) rather than 127.0.0.1.
    pub fn connect_host_timeout(host: &str, port: u16, t: Duration) -> std::io::Result<Conn> {
        let ip: std::net::IpAddr =
            host.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, host.to_string()))?;
        let addr = std::net::SocketAddr::new(ip, port);
        let s = TcpStream::connect_timeout(&addr, t)?;
        s.set_read_timeout(Some(t))?;
        s.set_write_timeout(Some(t))?;
        s.set_nodelay(true)?;
        Ok(Conn { r: BufReader::new(s.try_clone()?), w: s })
    }

    pub fn set_timeout(&self, t: Duration) {
        let _ = self.w.set_read_timeout(Some(t));
    }

    /// Sends one command as a multibulk request.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&buf)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Reads one reply and the raw bytes it was made of.
    pub fn read_raw(&mut self) -> std::io::Result<(Reply, Vec<u8>)> {
        let mut raw = Vec::new();
        let r = self.read_reply(&mut raw)?;
        Ok((r, raw))
    }

    pub fn read(&mut self) -> std::io::Result<Reply> {
        self.read_raw().map(|(r, _)| r)
    }

    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Reply> {
        self.send(args)?;
        self.read()
    }

    /// Runs a command that must succeed; panics with the reply otherwise.
    pub fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let r = self.cmd(args).expect("io error");
        assert!(!r.is_error() && r != Reply::Closed, "command failed: {r:?}");
        r
    }

    fn line(&mut self, raw: &mut Vec<u8>) -> std::io::Result<Option<String>> {
        let mut l = Vec::new();
        if self.r.read_until(b'\n', &mut l)? == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&l);
        let s = String::from_utf8_lossy(&l);
        Ok(Some(s.trim_end_matches(['\r', '\n']).to_string()))
    }

    fn read_reply(&mut self, raw: &mut Vec<u8>) -> std::io::Result<Reply> {
        let Some(line) = self.line(raw)? else { return Ok(Reply::Closed) };
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad reply line {line:?}"));
        let (t, rest) = line.split_at_checked(1).ok_or_else(bad)?;
        let n = || rest.parse::<i64>().map_err(|_| bad());
        Ok(match t {
            "+" => Reply::Simple(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(n()?),
            "_" => Reply::Nil,
            "," => Reply::Double(rest.into()),
            "#" => Reply::Bool(rest == "t"),
            "(" => Reply::BigNumber(rest.into()),
            "$" | "=" | "!" => {
                let len = n()?;
                if len < 0 {
                    return Ok(Reply::Nil);
                }
                let mut data = vec![0; len as usize + 2];
                self.r.read_exact(&mut data)?;
                raw.extend_from_slice(&data);
                data.truncate(len as usize);
                match t {
                    "$" => Reply::Bulk(data),
                    "=" => Reply::Verbatim(data),
                    _ => Reply::Error(String::from_utf8_lossy(&data).into()),
                }
            }
            "*" | "~" | ">" => {
                let len = n()?;
                if len < 0 {
                    return Ok(Reply::Nil);
                }
                let mut v = Vec::new();
                for _ in 0..len {
                    v.push(self.read_reply(raw)?);
                }
                match t {
                    "*" => Reply::Array(v),
                    "~" => Reply::Set(v),
                    _ => Reply::Push(v),
                }
            }
            "%" | "|" => {
                let len = n()?;
                let mut m = Vec::new();
                for _ in 0..len {
                    let k = self.read_reply(raw)?;
                    let v = self.read_reply(raw)?;
                    m.push((k, v));
                }
                if t == "|" {
                    // An attribute precedes the real reply; keep the reply.
                    return self.read_reply(raw);
                }
                Reply::Map(m)
            }
            _ => return Err(bad()),
        })
    }
}

/// Splits a redis-cli style command line ("a b", 'c', \x00 escapes) with
/// the server's own quoting rules (sdssplitargs).
pub fn split_line(line: &str) -> Option<Vec<Vec<u8>>> {
    rhea_resp::split_args(line.as_bytes())
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
