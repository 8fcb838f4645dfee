//! The wire protocol against the real thing: malformed input, partial
//! frames, pipelining and inline commands must produce the same bytes (and
//! the same connection closing) from rhea-server as from redis-server.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::{Reply, Server};

/// Writes `input`, then reads until the server closes the connection or
/// goes quiet; returns what it sent back and whether it closed.
fn exchange(port: u16, input: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    s.write_all(input).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
    (out, false)
}

fn both() -> (Server, Server) {
    (Server::redis(&[]), Server::rhea(&[]))
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).replace("\r\n", "\\r\\n")
}

#[test]
fn malformed_requests_get_redis_errors_and_close() {
    let (redis, rhea) = both();
    let big_inline = vec![b'a'; 70 * 1024];
    let mut big_count = b"*".to_vec();
    big_count.extend(vec![b'1'; 70 * 1024]);
    let mut big_bulk_count = b"*1\r\n$".to_vec();
    big_bulk_count.extend(vec![b'1'; 70 * 1024]);
    let inputs: Vec<Vec<u8>> = vec![
        b"*x\r\n".to_vec(),
        b"*1\r\n+x\r\n".to_vec(),
        b"*1\r\n$-3\r\n".to_vec(),
        b"*1\r\n$abc\r\n".to_vec(),
        b"*3000000000\r\n".to_vec(),
        b"\"unbalanced\r\n".to_vec(),
        b"'a'b\r\n".to_vec(),
        b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n".to_vec(),
        b"*-1\r\n*0\r\n\r\n\r\nPING\r\n".to_vec(),
        b"*2\r\n$4\r\nECHO\r\n$3\r\nabcXYPING\r\n".to_vec(),
        big_inline,
        big_count,
        big_bulk_count,
    ];
    for input in inputs {
        let (a, closed_a) = exchange(redis.port, &input);
        let (b, closed_b) = exchange(rhea.port, &input);
        assert!(!a.is_empty(), "redis sent nothing for {:?}", show(&input));
        assert_eq!(show(&a), show(&b), "replies differ for {:?}", show(&input));
        assert_eq!(closed_a, closed_b, "closing differs for {:?}", show(&input));
    }
}

#[test]
fn partial_frames_and_pipelines() {
    let (redis, rhea) = both();
    // 1,000 commands in one write, then one command a byte at a time.
    let mut pipeline = Vec::new();
    for i in 0..1000 {
        let (k, v) = (format!("k{}", i % 37), format!("v{i}"));
        pipeline.extend(format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).bytes());
        pipeline.extend(format!("*2\r\n$3\r\nGET\r\n${}\r\n{k}\r\n", k.len()).bytes());
    }
    pipeline.extend(b"*1\r\n$4\r\nQUIT\r\n");
    let (a, _) = exchange(redis.port, &pipeline);
    let (b, closed) = exchange(rhea.port, &pipeline);
    assert!(closed, "QUIT closes the connection");
    assert_eq!(a, b);
    assert_eq!(b.len(), 1000 * 5 + pipeline_gets_len(1000) + 5);

    for server in [&redis, &rhea] {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        for &byte in b"*3\r\n$3\r\nSET\r\n$5\r\nslow1\r\n$5\r\nhello\r\n".iter() {
            s.write_all(&[byte]).expect("write");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).expect("reply");
        assert_eq!(&buf, b"+OK\r\n", "{}", server.name);
    }
}

fn pipeline_gets_len(n: usize) -> usize {
    (0..n).map(|i| format!("v{i}").len() + format!("${}\r\n", format!("v{i}").len()).len() + 2).sum()
}

#[test]
fn inline_commands_like_telnet() {
    let (redis, rhea) = both();
    let input = b"SET greeting \"hello world\"\r\nGET greeting\nset 'it''s' x\r\nECHO \"\\x41\\tB\"\r\n  \r\nDEL greeting nope\r\nQUIT\r\n";
    let (a, _) = exchange(redis.port, input);
    let (b, _) = exchange(rhea.port, input);
    assert_eq!(show(&a), show(&b));
}

#[test]
fn bulk_length_limit_and_large_values() {
    let redis = Server::redis(&["--proto-max-bulk-len", "1mb"]);
    let rhea = Server::rhea(&["--proto-max-bulk-len", "1mb"]);
    let over = b"*2\r\n$4\r\nECHO\r\n$1048577\r\n";
    let (a, ca) = exchange(redis.port, over);
    let (b, cb) = exchange(rhea.port, over);
    assert_eq!((show(&a), ca), (show(&b), cb));
    assert!(b.starts_with(b"-ERR Protocol error: invalid bulk length"));

    // A value of 64 MB round-trips intact on the default limit (512 MB).
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    c.set_timeout(Duration::from_secs(60));
    let value: Vec<u8> = (0..64 * 1024 * 1024).map(|i: usize| (i % 251) as u8).collect();
    assert_eq!(c.cmd(&[&b"SET"[..], b"big", &value]).expect("set"), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "big"]).expect("get"), Reply::Bulk(value));
}

#[test]
fn a_bad_client_does_not_hurt_others() {
    let rhea = Server::rhea(&[]);
    let mut good = rhea.conn();
    good.ok(&["SET", "k", "v"]);
    // A client that sends garbage, one that disconnects mid-request, one
    // that announces a huge bulk and never sends it, one that half-closes.
    let _ = exchange(rhea.port, b"*1\r\n$x\r\n");
    {
        let mut s = TcpStream::connect(("127.0.0.1", rhea.port)).expect("connect");
        s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc").expect("write");
    }
    let mut stalled = TcpStream::connect(("127.0.0.1", rhea.port)).expect("connect");
    stalled.write_all(b"*2\r\n$4\r\nECHO\r\n$500000000\r\nabc").expect("write");
    let half = TcpStream::connect(("127.0.0.1", rhea.port)).expect("connect");
    half.shutdown(Shutdown::Write).expect("shutdown");
    for i in 0..100 {
        let v = format!("v{i}");
        good.ok(&["SET", "k", &v]);
        assert_eq!(good.cmd(&["GET", "k"]).expect("get"), Reply::Bulk(v.into_bytes()));
    }
    assert_eq!(good.cmd(&["GET", "k"]).expect("get"), Reply::Bulk(b"v99".to_vec()));
}
