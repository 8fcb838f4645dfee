//! SLOWLOG and MONITOR, and the INFO sections built from `crate::obs`
//! (commandstats, errorstats, latencystats).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::connection::help_reply;
use crate::error::{CmdError, CmdResult};
use crate::obs::{percentile_ns, CmdIds};
use crate::table::{flags::*, CommandSpec};
use crate::{Ctx, Shared};

const fn server(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "server";
    c
}

const SLOWLOG_ACL: &[&str] = &["admin", "slow", "dangerous"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["slow"],
        summary: "A container for slow log commands",
        since: "2.2.12",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                acl: SLOWLOG_ACL,
                summary: "Get the slow log's entries",
                since: "2.2.12",
                complexity: "O(N) where N is the number of entries returned",
                tips: &["request_policy:all_nodes", "nondeterministic_output"],
                ..server("get", -2, ADMIN | LOADING | STALE, slowlog_get)
            },
            CommandSpec {
                acl: SLOWLOG_ACL,
                summary: "Get the slow log's length",
                since: "2.2.12",
                complexity: "O(1)",
                tips: &["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"],
                ..server("len", 2, ADMIN | LOADING | STALE, slowlog_len)
            },
            CommandSpec {
                acl: SLOWLOG_ACL,
                summary: "Clear all entries from the slow log",
                since: "2.2.12",
                complexity: "O(N) where N is the number of entries in the slowlog",
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..server("reset", 2, ADMIN | LOADING | STALE, slowlog_reset)
            },
            CommandSpec {
                acl: &["slow"],
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                complexity: "O(1)",
                ..server("help", 2, LOADING | STALE, slowlog_help)
            },
        ],
        ..server("slowlog", -2, 0, container)
    },
    CommandSpec {
        acl: &["admin", "slow", "dangerous"],
        summary: "Listen for all requests received by the server in real time",
        since: "1.0.0",
        complexity: "",
        ..server("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, monitor)
    },
];

fn container(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    Err(CmdError::UnknownSubcommand(
        String::from_utf8_lossy(argv.get(1).map(|a| &a[..]).unwrap_or(b"")).into_owned(),
        String::from_utf8_lossy(&argv[0]).to_uppercase(),
    ))
}

fn slowlog_get(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let count = match argv {
        [_, _] => 10,
        [_, _, n] => match rhea_resp::parse_i64(n) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return Err(CmdError::err("count should be greater than or equal to -1")),
        },
        _ => return Err(wrong_args(&argv[1], "SLOWLOG")),
    };
    let log = ctx.shared.obs.slowlog.lock();
    let n = count.min(log.entries.len());
    ctx.out.array(n);
    for e in log.entries.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time_secs);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.argv.len());
        for a in &e.argv {
            ctx.out.bulk(a);
        }
        ctx.out.bulk_str(&e.addr);
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

/// Redis's addReplySubcommandSyntaxError.
/// `sub` is the subcommand as the client typed it.
pub(crate) fn wrong_args(sub: &[u8], container: &str) -> CmdError {
    let sub = String::from_utf8_lossy(sub);
    CmdError::err(format!("unknown subcommand or wrong number of arguments for '{sub}'. Try {container} HELP."))
}

fn slowlog_len(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let n = ctx.shared.obs.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.shared.obs.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

fn slowlog_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    help_reply(ctx, SLOWLOG_HELP);
    Ok(())
}

fn monitor(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    // A second MONITOR is silently ignored, as in Redis.
    if ctx.client.info.monitor.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    ctx.shared.obs.add_monitor(ctx.client.info.clone());
    ctx.out.ok();
    Ok(())
}

// ------------------------------------------------------------------ INFO

/// `cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..`
/// for every command that ran or was rejected.
pub fn info_commandstats(shared: &Shared, s: &mut String) {
    s.push_str("# Commandstats\r\n");
    let ids = CmdIds::get();
    for (meta, st) in ids.metas.iter().zip(shared.obs.cmds.iter()) {
        let calls = st.calls.load(Ordering::Relaxed);
        let rejected = st.rejected.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 {
            continue;
        }
        let usec = st.nanos.load(Ordering::Relaxed) / 1000;
        let per_call = if calls == 0 { 0.0 } else { usec as f64 / calls as f64 };
        let _ = write!(
            s,
            "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={}\r\n",
            meta.name,
            st.failed.load(Ordering::Relaxed),
        );
    }
}

pub fn info_errorstats(shared: &Shared, s: &mut String) {
    s.push_str("# Errorstats\r\n");
    // Sorted, as Redis keeps them in a radix tree.
    let errors: std::collections::BTreeMap<_, _> = shared.obs.errors.lock().clone().into_iter().collect();
    for (code, n) in errors {
        let _ = write!(s, "errorstat_{code}:count={n}\r\n");
    }
}

/// `latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=..` with the
/// percentiles of `latency-tracking-info-percentiles`.
pub fn info_latencystats(shared: &Shared, s: &mut String) {
    s.push_str("# Latencystats\r\n");
    let percentiles = shared.config.read().latency_tracking_info_percentiles.clone();
    if percentiles.is_empty() {
        return;
    }
    let ids = CmdIds::get();
    for (meta, st) in ids.metas.iter().zip(shared.obs.cmds.iter()) {
        let Some(hist) = st.histogram() else { continue };
        if hist.iter().all(|&n| n == 0) {
            continue;
        }
        let _ = write!(s, "latency_percentiles_usec_{}:", meta.name);
        for (i, p) in percentiles.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let usec = percentile_ns(&hist, *p) as f64 / 1000.0;
            let _ = write!(s, "p{p}={usec:.3}");
        }
        s.push_str("\r\n");
    }
}
