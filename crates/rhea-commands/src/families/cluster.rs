//! Replication and cluster commands: ROLE, READONLY, READWRITE, and RHEA
//! CLUSTER STATUS. A standalone server answers as a Redis master with no
//! replicas; a cluster node answers from its Raft view, as a master when it
//! leads and as a replica of the leader otherwise, so clients that check a
//! node's role (Sentinel-aware pools) accept it.

use std::fmt::Write as _;

use bytes::Bytes;
use rhea_cluster::{Membership, Role, Status};

use crate::error::{CmdError, CmdResult};
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["admin", "fast", "dangerous"],
        summary: "Return the role of the instance in the context of replication",
        complexity: "O(1)",
        group: "server",
        since: "2.8.12",
        ..CommandSpec::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, role)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Enables read queries for a connection to a cluster replica node",
        complexity: "O(1)",
        group: "cluster",
        since: "3.0.0",
        ..CommandSpec::new("readonly", 1, LOADING | STALE | FAST, readonly)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Disables read queries for a connection to a cluster replica node",
        complexity: "O(1)",
        group: "cluster",
        since: "3.0.0",
        ..CommandSpec::new("readwrite", 1, LOADING | STALE | FAST, readwrite)
    },
    CommandSpec {
        acl: &["admin", "slow", "dangerous"],
        summary: "Rhea's cluster administration: RHEA CLUSTER STATUS",
        complexity: "O(N) with N the number of nodes",
        group: "server",
        since: "0.1.0",
        ..CommandSpec::new("rhea", -2, NOSCRIPT | LOADING | STALE, rhea)
    },
];

fn split_addr(addr: &str) -> (&str, i64) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap_or(0)),
        None => (addr, 0),
    }
}

fn role(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let Some(cluster) = ctx.shared.cluster.get() else {
        ctx.out.array(3);
        ctx.out.bulk(b"master");
        ctx.out.int(0);
        ctx.out.array(0);
        return Ok(());
    };
    let st = cluster.status();
    if st.role == Role::Leader {
        let others: Vec<_> = st.peers.iter().filter(|p| p.id != st.id).collect();
        ctx.out.array(3);
        ctx.out.bulk(b"master");
        ctx.out.int(st.applied_index as i64);
        ctx.out.array(others.len());
        for p in others {
            let (host, port) = split_addr(p.client_addr.as_deref().unwrap_or(""));
            ctx.out.array(3);
            ctx.out.bulk(host.as_bytes());
            ctx.out.bulk(port.to_string().as_bytes());
            ctx.out.bulk(p.matched.to_string().as_bytes());
        }
    } else {
        let leader = cluster.leader_client_addr();
        let (host, port) = split_addr(leader.as_deref().unwrap_or("?:0"));
        ctx.out.array(5);
        ctx.out.bulk(b"slave");
        ctx.out.bulk(host.as_bytes());
        ctx.out.int(port);
        ctx.out.bulk(if st.leader_id != 0 { &b"connected"[..] } else { &b"connect"[..] });
        ctx.out.int(st.applied_index as i64);
    }
    Ok(())
}

fn readonly(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.client.readonly = true;
    // A client that reads from replicas did not come for the leader.
    ctx.client.info.leader_term.store(0, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(())
}

fn rhea(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let sub: Vec<String> = argv[1..].iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    match sub.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["cluster", "status"] => {
            let Some(cluster) = ctx.shared.cluster.get() else {
                return Err(CmdError::err("this node is not part of a cluster (start it with --node-id and --peers)"));
            };
            let text = status_text(&cluster.status());
            ctx.out.verbatim("txt", text.as_bytes());
            Ok(())
        }
        ["cluster", "add" | "remove", ..] => {
            Err(CmdError::err("this node is not part of a cluster (start it with --node-id and --peers)"))
        }
        _ => Err(CmdError::err("unknown RHEA subcommand; try RHEA CLUSTER STATUS|ADD|REMOVE")),
    }
}

/// `RHEA CLUSTER ADD id raft-addr` / `RHEA CLUSTER REMOVE id`: the
/// membership change asked for, if the request is one. The connection
/// proposes it (it has to wait for the change to commit, which a handler
/// holding the store lock must not).
pub fn parse_membership(argv: &[Bytes]) -> Option<Result<Membership, CmdError>> {
    let is = |i: usize, w: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()));
    if !is(0, "rhea") || !is(1, "cluster") {
        return None;
    }
    let id = || {
        argv.get(3)
            .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| CmdError::err("node id must be a positive integer"))
    };
    if is(2, "add") {
        if argv.len() != 5 {
            return Some(Err(CmdError::err("usage: RHEA CLUSTER ADD <node-id> <raft-host:port>")));
        }
        let addr = String::from_utf8_lossy(&argv[4]).into_owned();
        return Some(id().map(|id| Membership::Add { id, raft_addr: addr }));
    }
    if is(2, "remove") {
        if argv.len() != 4 {
            return Some(Err(CmdError::err("usage: RHEA CLUSTER REMOVE <node-id>")));
        }
        return Some(id().map(|id| Membership::Remove { id }));
    }
    None
}

fn status_text(st: &Status) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "node_id:{}\r\nrole:{}\r\nterm:{}\r\nleader_id:{}\r\ncommit_index:{}\r\napplied_index:{}\r\nlast_index:{}\r\n",
        st.id,
        st.role.name(),
        st.term,
        st.leader_id,
        st.commit_index,
        st.applied_index,
        st.last_index
    );
    for p in &st.peers {
        let _ = write!(
            s,
            "node{}:raft_addr={},client_addr={},matched={}\r\n",
            p.id,
            p.raft_addr,
            p.client_addr.as_deref().unwrap_or("?"),
            p.matched
        );
    }
    s
}

/// INFO's replication section.
pub fn info_replication(ctx: &Ctx, s: &mut String) {
    let Some(cluster) = ctx.shared.cluster.get() else {
        let _ = write!(
            s,
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
             master_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n\
             master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n\
             repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
            ctx.shared.run_id,
        );
        return;
    };
    let st = cluster.status();
    s.push_str("# Replication\r\n");
    if st.role == Role::Leader {
        let others: Vec<_> = st.peers.iter().filter(|p| p.id != st.id).collect();
        let _ = write!(s, "role:master\r\nconnected_slaves:{}\r\n", others.len());
        for (i, p) in others.iter().enumerate() {
            let (host, port) = split_addr(p.client_addr.as_deref().unwrap_or(""));
            let lag = st.last_index.saturating_sub(p.matched);
            let _ = write!(
                s,
                "slave{i}:ip={host},port={port},state=online,offset={},lag={lag},raft_node_id={}\r\n",
                p.matched, p.id
            );
        }
    } else {
        let leader = cluster.leader_client_addr();
        let (host, port) = split_addr(leader.as_deref().unwrap_or("?:0"));
        let link = if st.leader_id != 0 { "up" } else { "down" };
        let _ = write!(
            s,
            "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{link}\r\n\
             slave_repl_offset:{}\r\nslave_read_only:1\r\nconnected_slaves:0\r\n",
            st.applied_index
        );
    }
    let _ = write!(
        s,
        "master_replid:{}\r\nmaster_repl_offset:{}\r\nraft_node_id:{}\r\nraft_role:{}\r\nraft_leader_id:{}\r\n\
         raft_term:{}\r\nraft_commit_index:{}\r\nraft_applied_index:{}\r\nraft_last_index:{}\r\n\
         raft_leader_changes:{}\r\n",
        ctx.shared.run_id,
        st.applied_index,
        st.id,
        st.role.name(),
        st.leader_id,
        st.term,
        st.commit_index,
        st.applied_index,
        st.last_index,
        st.leader_changes
    );
}
