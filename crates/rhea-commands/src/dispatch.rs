use std::sync::atomic::Ordering;

use bytes::Bytes;
use rhea_resp::Out;

use rhea_store::Store;

use crate::blocking::{self, BlockWait};
use crate::obs::CmdIds;
use crate::table::{flags, CommandSpec};
use crate::{client::Client, ctx::Ctx, error::CmdError, shared::now_ms, table::CommandTable, Shared};

/// What became of a request.
pub enum Outcome {
    /// Its reply (if it has one) is in the output buffer.
    Done,
    /// The client is blocked (BLPOP...): the connection must not run its
    /// next request before this resolves.
    Blocked(BlockWait),
}

/// Runs one request and writes its reply to `out`: looks the command up,
/// checks arity, authentication and subscribed mode as Redis does (in that
/// order), queues it if a transaction is open, else calls the handler with
/// the store locked and then serves clients blocked on keys it fed.
pub fn dispatch(shared: &Shared, client: &mut Client, argv: &[Bytes], out: &mut Out) -> Outcome {
    let outcome = match check(shared, client, argv, out) {
        Some((cmd, sub)) => execute(shared, client, argv, out, cmd, sub),
        None => Outcome::Done,
    };
    count_errors(shared, out);
    outcome
}

/// Moves the error replies a request wrote into INFO errorstats. Callers
/// of `check`/`execute` call it after each request.
pub fn count_errors(shared: &Shared, out: &mut Out) {
    if !out.error_codes.is_empty() {
        shared.obs.count_errors(&mut out.error_codes);
    }
    out.errors_claimed = 0;
}

/// A command found in the table: the command and, for a container
/// (CLIENT, CONFIG...), the subcommand.
pub type Resolved = (&'static CommandSpec, Option<&'static CommandSpec>);

/// The checks before a command runs. None if the request was answered
/// here (an error, or QUEUED inside MULTI); a command refused once found
/// counts in its `rejected_calls`.
pub fn check(shared: &Shared, client: &mut Client, argv: &[Bytes], out: &mut Out) -> Option<Resolved> {
    let table = CommandTable::get();
    let (cmd, sub) = match table.resolve(argv) {
        Ok(found) => found,
        Err(false) => return reject(client, out, &unknown_command(argv)),
        Err(true) => {
            let e = CmdError::UnknownSubcommand(lossy(&argv[1], 128), lossy(&argv[0], 128).to_uppercase());
            return reject(client, out, &e.to_string());
        }
    };
    let spec = sub.unwrap_or(cmd);
    let ids = CmdIds::get();
    let idx = ids.index(spec);
    let rejected = |client: &mut Client, out: &mut Out, msg: &str| {
        shared.obs.rejected(idx);
        reject(client, out, msg)
    };
    let fullname = || match sub {
        Some(s) => format!("{}|{}", cmd.name, s.name),
        None => cmd.name.to_string(),
    };
    if !spec.arity_ok(argv.len()) {
        return rejected(client, out, &CmdError::Arity(fullname()).to_string());
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        return rejected(client, out, "NOAUTH Authentication required.");
    }
    if shared.maxmemory.load(Ordering::Relaxed) != 0 && refuse_for_memory(shared, client, cmd, spec, out, now_ms()) {
        return rejected(client, out, crate::memory::OOM_ERROR);
    }
    if client.subscriptions > 0 && !out.resp3 && !ALLOWED_WHEN_SUBSCRIBED.contains(&cmd.name) {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            fullname()
        );
        return rejected(client, out, &msg);
    }
    let meta = ids.metas.get(idx);
    if meta.is_some_and(|m| m.keyspace) && client.info.monitor.load(Ordering::Relaxed) {
        // A MONITOR client is a replica to Redis.
        return rejected(client, out, "ERR Replica can't interact with the keyspace");
    }
    client.info.last_cmd.store(meta.map_or(0, |m| m.code), Ordering::Relaxed);
    if let Some(queue) = client.multi.as_mut() {
        if !RUN_INSIDE_MULTI.contains(&cmd.name) {
            if spec.has(flags::NO_MULTI) {
                return rejected(client, out, "ERR Command not allowed inside a transaction");
            }
            queue.push(argv.to_vec());
            out.simple("QUEUED");
            return None;
        }
    }
    Some((cmd, sub))
}

/// Runs a checked command on this node's store.
pub fn execute(
    shared: &Shared,
    client: &mut Client,
    argv: &[Bytes],
    out: &mut Out,
    cmd: &'static CommandSpec,
    sub: Option<&'static CommandSpec>,
) -> Outcome {
    let spec = sub.unwrap_or(cmd);
    // A runaway script holds the store: answer BUSY / SCRIPT KILL without it.
    let Some(mut store) = crate::scripting::lock_store(shared, cmd, sub, argv, out) else {
        return Outcome::Done;
    };
    // One clock read for the request's stamp and the start of its timing.
    let start_ns = crate::obs::realtime_ns();
    let now = (start_ns / 1_000_000) as i64;
    let rng = fastrand::Rng::with_seed(fastrand::u64(..));
    let mut ctx = Ctx { store: &mut store, out, client, shared, now_ms: now, rng };
    run_indexed(&mut ctx, spec, CmdIds::get().index(spec), argv, start_ns);
    ctx.flush_expired();
    let resp3 = ctx.out.resp3;
    let outcome = match client.block.take() {
        Some(req) => Outcome::Blocked(shared.blocking.lock().register(&mut store, client, resp3, argv, req)),
        None => Outcome::Done,
    };
    blocking::serve_ready(shared, &mut store, now);
    crate::pubsub::flush_expired(shared, &mut store, None, now);
    drop(store);
    shared.stats.total_commands_processed.fetch_add(1, Ordering::Relaxed);
    outcome
}

/// Commands a RESP2 client in subscribed mode may still run.
const ALLOWED_WHEN_SUBSCRIBED: &[&str] =
    &["ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset"];

/// Redis's maxmemory step of processCommand, run before every command when
/// `maxmemory` is set: evict as the policy says; if memory is still over the
/// limit, refuse commands flagged denyoom, an EXEC whose queue holds one, and
/// anything but EXEC/DISCARD/QUIT/RESET inside MULTI (queuing grows memory).
fn refuse_for_memory(
    shared: &Shared,
    client: &Client,
    cmd: &CommandSpec,
    spec: &CommandSpec,
    out: &mut Out,
    now: i64,
) -> bool {
    let mut me = crate::pubsub::SelfOut { id: client.id, out };
    if crate::memory::perform_evictions(shared, &mut me, now) {
        return false;
    }
    let table = CommandTable::get();
    // On a cluster node a script that may write is refused here, by the
    // node that proposes it, rather than at its first write: it runs as a
    // log entry on every node, where no node's memory may change what it
    // does (see `scripting`).
    let cluster = shared.cluster.get().is_some();
    let grows = |c: &CommandSpec, s: &CommandSpec| {
        s.has(flags::DENYOOM) || (cluster && matches!(c.name, "eval" | "evalsha" | "fcall"))
    };
    let queued_denyoom = || {
        client
            .multi
            .as_ref()
            .is_some_and(|q| q.iter().any(|argv| table.resolve(argv).is_ok_and(|(c, s)| grows(c, s.unwrap_or(c)))))
    };
    grows(cmd, spec)
        || (cmd.name == "exec" && queued_denyoom())
        || (client.multi.is_some() && !["exec", "discard", "quit", "reset"].contains(&cmd.name))
}

/// Commands that run at once even while a transaction is being queued.
const RUN_INSIDE_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Refuses a request; inside MULTI this also dooms the transaction
/// (EXECABORT), as Redis's `rejectCommand` does.
fn reject<T>(client: &mut Client, out: &mut Out, msg: &str) -> Option<T> {
    if client.multi.is_some() {
        client.multi_dirty = true;
    }
    out.error(msg);
    None
}

/// Calls a handler; a failing one replies with its error.
///
/// A panic is a bug in Rhea, never the client's fault: it is caught here so
/// it costs one error reply and a log line instead of the connection (and
/// the store lock is not poisoned: parking_lot locks don't poison).
fn run(ctx: &mut Ctx, spec: &CommandSpec, argv: &[Bytes]) {
    let idx = CmdIds::get().index(spec);
    run_indexed(ctx, spec, idx, argv, crate::obs::realtime_ns());
}

/// `run` with the command's `CmdIds` index and start time (`realtime_ns`)
/// already known, plus what Redis's `call()` does around the handler:
/// command statistics, the slow log and MONITOR.
fn run_indexed(ctx: &mut Ctx, spec: &CommandSpec, idx: usize, argv: &[Bytes], start: u64) {
    let obs = &ctx.shared.obs;
    let monitoring = obs.monitor_count.load(Ordering::Relaxed) > 0;
    let meta = CmdIds::get().metas.get(idx);
    if monitoring && meta.is_some_and(|m| m.monitor_before) {
        feed_monitors(ctx, argv);
    }
    let errors_before = ctx.out.error_codes.len();
    call_handler(ctx, spec, argv);
    let nanos = crate::obs::realtime_ns().saturating_sub(start);
    let errors = ctx.out.error_codes.len();
    let failed = errors > errors_before.max(ctx.out.errors_claimed);
    ctx.out.errors_claimed = errors;
    // A command that blocked is counted when it is served, as in Redis.
    if ctx.client.block.is_none() {
        obs.record(idx, nanos, failed);
        if obs.is_slow(nanos / 1000) {
            obs.slowlog_push(idx, nanos / 1000, ctx.now_ms, argv, &ctx.client.info);
        }
    }
    // MONITOR sees a blocking command when it is called, not again when it
    // is served, as in Redis.
    if monitoring && !ctx.client.serving_blocked && meta.is_some_and(|m| !m.skip_monitor && !m.monitor_before) {
        feed_monitors(ctx, argv);
    }
}

fn feed_monitors(ctx: &Ctx, argv: &[Bytes]) {
    let limit = ctx.shared.config.read().obuf_limits[1];
    let source = if ctx.client.in_script { "lua" } else { &ctx.client.info.addr };
    ctx.shared.obs.feed_monitors(ctx.client.db, source, argv, limit);
}

fn call_handler(ctx: &mut Ctx, spec: &CommandSpec, argv: &[Bytes]) {
    let reply_start = ctx.out.len();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (spec.handler)(ctx, argv)));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => ctx.out.error(&e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(command = spec.name, panic = %what, "command handler panicked; this is a bug");
            // Drop any half-written reply so the client stays in sync.
            ctx.out.buf.truncate(reply_start);
            ctx.out.error(&format!("ERR internal error while running '{}'", spec.name));
        }
    }
}

/// Runs a request that was already checked (EXEC's queue, a blocked
/// client's command) inside the caller's lock.
pub(crate) fn run_checked(ctx: &mut Ctx, argv: &[Bytes]) {
    match CommandTable::get().resolve(argv) {
        Ok((cmd, sub)) => run(ctx, sub.unwrap_or(cmd), argv),
        Err(_) => ctx.out.error(&unknown_command(argv)),
    }
}

/// Re-runs a blocked client's command on its behalf (see `blocking`).
pub(crate) fn run_unblocked(
    shared: &Shared,
    store: &mut Store,
    client: &mut Client,
    argv: &[Bytes],
    out: &mut Out,
    now_ms: i64,
) {
    let rng = fastrand::Rng::with_seed(fastrand::u64(..));
    let mut ctx = Ctx { store, out, client, shared, now_ms, rng };
    run_checked(&mut ctx, argv);
    ctx.flush_expired();
    shared.stats.total_commands_processed.fetch_add(1, Ordering::Relaxed);
}

/// Drops every WATCH of the client.
pub(crate) fn unwatch_all(store: &mut Store, client: &mut Client) {
    for w in client.watched.drain(..) {
        if let Some(db) = store.dbs.get_mut(w.db) {
            db.unwatch(&w.key);
        }
    }
}

/// Releases what a client held in shared state when its connection ends:
/// its place in blocking queues and its WATCHes.
pub fn disconnect(shared: &Shared, client: &mut Client) {
    let mut store = shared.store.lock();
    shared.blocking.lock().cancel(&mut store, client.id);
    unwatch_all(&mut store, client);
    shared.pubsub.lock().remove_client(client.id);
    client.subscriptions = 0;
    shared.obs.remove_monitor(client.id);
}

/// The full name (`get`, `client|list`) of a `CmdMeta::code`, if any.
pub fn command_name(code: usize) -> Option<String> {
    let all = &CommandTable::get().all;
    let cmd = all.get((code & 0xffff).checked_sub(1)?)?;
    match (code >> 16).checked_sub(1) {
        None => Some(cmd.name.to_string()),
        Some(j) => cmd.subcommands.get(j).map(|s| format!("{}|{}", cmd.name, s.name)),
    }
}

fn lossy(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

/// Redis's text: `unknown command 'x', with args beginning with: 'a' 'b' `,
/// arguments quoted until the list reaches 128 bytes.
pub fn unknown_command(argv: &[Bytes]) -> String {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&lossy(a, room));
        args.push_str("' ");
    }
    format!("ERR unknown command '{}', with args beginning with: {}", lossy(&argv[0], 128), args)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{ClientInfo, Config};

    fn boom(ctx: &mut Ctx, _argv: &[Bytes]) -> crate::error::CmdResult {
        ctx.out.array(3);
        ctx.out.bulk(b"half a reply");
        panic!("deliberate");
    }

    #[test]
    fn a_panicking_handler_costs_one_error_reply_not_the_connection() {
        let shared = Shared::new(Config::default());
        let (info, _rx) = ClientInfo::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), 0);
        let mut client = Client::new(Arc::new(info), true);
        let mut out = Out::new(false);
        out.ok();
        let spec = CommandSpec::new("boom", 1, 0, boom);
        let mut store = shared.store.lock();
        let rng = fastrand::Rng::with_seed(1);
        let mut ctx = Ctx { store: &mut store, out: &mut out, client: &mut client, shared: &shared, now_ms: 0, rng };
        run(&mut ctx, &spec, &[Bytes::from_static(b"boom")]);
        assert_eq!(&out.buf[..], b"+OK\r\n-ERR internal error while running 'boom'\r\n");
    }
}
