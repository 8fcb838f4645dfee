//! The transactions family: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queuing happens in the dispatcher (a request inside MULTI is checked,
//! then queued); EXEC runs the whole queue under one store lock, so no
//! other client's command can interleave, and a replicated log can carry it
//! as one entry.

use bytes::Bytes;
use rhea_store::Sds;

use crate::client::WatchedKey;
use crate::dispatch::{run_checked, unwatch_all};
use crate::error::{CmdError, CmdResult};
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn tx(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "transactions";
    c.since = "1.2.0";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["fast", "transaction"],
        summary: "Mark the start of a transaction block",
        complexity: "O(1)",
        ..tx("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, multi)
    },
    CommandSpec {
        acl: &["slow", "transaction"],
        summary: "Execute all commands issued after MULTI",
        complexity: "Depends on commands in the transaction",
        ..tx("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, exec)
    },
    CommandSpec {
        acl: &["fast", "transaction"],
        summary: "Discard all commands issued after MULTI",
        complexity: "O(N), when N is the number of queued commands",
        since: "2.0.0",
        ..tx("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, discard)
    },
    CommandSpec {
        acl: &["fast", "transaction"],
        summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
        complexity: "O(1) for every key.",
        since: "2.2.0",
        ..tx("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, watch).keys(1, -1, 1)
    },
    CommandSpec {
        acl: &["fast", "transaction"],
        summary: "Forget about all watched keys",
        complexity: "O(1)",
        since: "2.2.0",
        ..tx("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, unwatch)
    },
];

fn multi(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_dirty = false;
    ctx.out.ok();
    Ok(())
}

/// Did any watched key change (or expire) since WATCH?
fn watched_changed(ctx: &Ctx) -> bool {
    ctx.client.watched.iter().any(|w| {
        let db = &ctx.store.dbs[w.db];
        db.watched_version(&w.key) != w.version || (w.live && db.is_expired_present(&w.key, ctx.now_ms))
    })
}

fn exec(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let Some(queue) = ctx.client.multi.take() else { return Err(CmdError::err("EXEC without MULTI")) };
    let dirty = std::mem::take(&mut ctx.client.multi_dirty);
    let changed = watched_changed(ctx);
    unwatch_all(ctx.store, ctx.client);
    if dirty {
        return Err(CmdError::Other("EXECABORT Transaction discarded because of previous errors.".into()));
    }
    if changed {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(queue.len());
    ctx.client.in_exec = true;
    for argv in &queue {
        run_checked(ctx, argv);
    }
    ctx.client.in_exec = false;
    Ok(())
}

fn discard(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.multi_dirty = false;
    unwatch_all(ctx.store, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let (dbi, now) = (ctx.client.db, ctx.now_ms);
    for key in &argv[1..] {
        if ctx.client.watched.iter().any(|w| w.db == dbi && w.key.as_bytes() == &key[..]) {
            continue;
        }
        let db = &mut ctx.store.dbs[dbi];
        let version = db.watch(key);
        let live = db.get(key, now).is_some();
        ctx.client.watched.push(WatchedKey { db: dbi, key: Sds::new(key), version, live });
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    unwatch_all(ctx.store, ctx.client);
    ctx.out.ok();
    Ok(())
}
