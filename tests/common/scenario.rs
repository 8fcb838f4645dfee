//! Multi-connection scenarios run against redis-server and rhea-server:
//! a script of steps (send, read, wait until N clients are blocked, hang
//! up, CLIENT KILL...) whose recorded replies must be byte-identical. Steps
//! that depend on a client being blocked wait until INFO clients reports it
//! (never a fixed sleep), so events happen in the same order on both.

use std::time::Duration;

use super::{eventually, Conn, Reply, Server};
use Step::*;

pub enum Step<'a> {
    /// Connection `c` sends a command and the reply is recorded.
    Cmd(usize, &'a [&'a str]),
    /// Connection `c` sends a command without reading its reply.
    Send(usize, &'a [&'a str]),
    /// Connection `c` sends raw bytes (several pipelined commands).
    Raw(usize, &'a [u8]),
    /// Reads (and records) one pending reply of connection `c`.
    Read(usize),
    /// Records only the type of connection `c`'s next reply.
    ReadKind(usize),
    /// Checks that connection `c` gets no reply within `ms`.
    Silent(usize, u64),
    /// Waits until INFO clients reports this many blocked clients.
    Blocked(usize),
    /// Closes connection `c`.
    Close(usize),
    /// CLIENT KILL of connection `c`'s id, from the control connection.
    Kill(usize),
}

pub const CONNS: usize = 4;

pub fn blocked_clients(ctl: &mut Conn) -> Option<usize> {
    let info = ctl.cmd(&["INFO", "clients"]).ok()?;
    let text = String::from_utf8_lossy(info.as_bulk()?).into_owned();
    text.lines().find_map(|l| l.strip_prefix("blocked_clients:")).and_then(|v| v.trim().parse().ok())
}

/// Runs the steps on a fresh connection set; returns every recorded reply
/// as raw bytes (labelled with the step), in order.
pub fn run(server: &Server, steps: &[Step]) -> Vec<String> {
    let mut ctl = server.conn();
    ctl.ok(&["FLUSHALL"]);
    let mut conns: Vec<Option<Conn>> = (0..CONNS).map(|_| Some(server.conn())).collect();
    let ids: Vec<String> = conns
        .iter_mut()
        .map(|c| match c.as_mut().map(|c| c.cmd(&["CLIENT", "ID"])) {
            Some(Ok(Reply::Int(id))) => id.to_string(),
            other => panic!("{}: CLIENT ID failed: {other:?}", server.name),
        })
        .collect();
    let mut out = Vec::new();
    let conn = |conns: &mut Vec<Option<Conn>>, c: usize| -> Conn {
        conns[c].take().unwrap_or_else(|| panic!("connection {c} already closed"))
    };
    for (i, step) in steps.iter().enumerate() {
        match step {
            Cmd(c, args) => {
                let mut k = conn(&mut conns, *c);
                let r = k.send(args).and_then(|_| k.read_raw());
                out.push(format!("#{i} {c}: {}", show(r.map(|x| x.1))));
                conns[*c] = Some(k);
            }
            Send(c, args) => {
                let mut k = conn(&mut conns, *c);
                k.send(args).expect("send");
                conns[*c] = Some(k);
            }
            Raw(c, bytes) => {
                let mut k = conn(&mut conns, *c);
                k.send_raw(bytes).expect("send");
                conns[*c] = Some(k);
            }
            Read(c) => {
                let mut k = conn(&mut conns, *c);
                out.push(format!("#{i} {c}: {}", show(k.read_raw().map(|x| x.1))));
                conns[*c] = Some(k);
            }
            ReadKind(c) => {
                let mut k = conn(&mut conns, *c);
                let kind = k.read().map(|r| r.kind()).unwrap_or("io error");
                out.push(format!("#{i} {c}: kind {kind}"));
                conns[*c] = Some(k);
            }
            Silent(c, ms) => {
                let mut k = conn(&mut conns, *c);
                k.set_timeout(Duration::from_millis(*ms));
                match k.read_raw() {
                    Ok((_, raw)) => out.push(format!("#{i} {c}: unexpected reply {}", show(Ok(raw)))),
                    Err(_) => out.push(format!("#{i} {c}: silent")),
                }
                k.set_timeout(Duration::from_secs(10));
                conns[*c] = Some(k);
            }
            Blocked(n) => {
                let ok = eventually(Duration::from_secs(5), || blocked_clients(&mut ctl) == Some(*n));
                assert!(ok, "{}: step #{i}: blocked_clients never reached {n}", server.name);
            }
            Close(c) => drop(conn(&mut conns, *c)),
            Kill(c) => {
                let r = ctl.cmd(&["CLIENT", "KILL", "ID", &ids[*c]]).expect("CLIENT KILL");
                out.push(format!("#{i} kill {c}: {r:?}"));
            }
        }
    }
    out
}

pub fn show(r: std::io::Result<Vec<u8>>) -> String {
    match r {
        Ok(raw) if raw.is_empty() => "<closed>".into(),
        Ok(raw) => String::from_utf8_lossy(&raw).replace("\r\n", " "),
        Err(e) => format!("<io error {:?}>", e.kind()),
    }
}

pub fn same_as_redis(steps: &[Step]) -> Vec<String> {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let a = run(&redis, steps);
    let b = run(&rhea, steps);
    assert_eq!(a, b, "replies differ from redis-server (left: redis, right: rhea)");
    b
}
