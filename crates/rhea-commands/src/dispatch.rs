use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use ahash::HashMap;

use bytes::Bytes;
use rhea_resp::Out;

use rhea_store::Store;

use crate::blocking::{self, BlockWait};
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
    match check(shared, client, argv, out) {
        Some((cmd, sub)) => execute(shared, client, argv, out, cmd, sub),
        None => Outcome::Done,
    }
}

/// A command found in the table: the command and, for a container
/// (CLIENT, CONFIG...), the subcommand.
pub type Resolved = (&'static CommandSpec, Option<&'static CommandSpec>);

/// The checks before a command runs. None if the request was answered
/// here (an error, or QUEUED inside MULTI).
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
    let fullname = || match sub {
        Some(s) => format!("{}|{}", cmd.name, s.name),
        None => cmd.name.to_string(),
    };
    if !spec.arity_ok(argv.len()) {
        return reject(client, out, &CmdError::Arity(fullname()).to_string());
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        return reject(client, out, "NOAUTH Authentication required.");
    }
    let now = now_ms();
    if shared.maxmemory.load(Ordering::Relaxed) != 0 && refuse_for_memory(shared, client, cmd, spec, out, now) {
        return reject(client, out, crate::memory::OOM_ERROR);
    }
    if client.subscriptions > 0 && !out.resp3 && !ALLOWED_WHEN_SUBSCRIBED.contains(&cmd.name) {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            fullname()
        );
        return reject(client, out, &msg);
    }
    client.info.last_interaction_ms.store(now, Ordering::Relaxed);
    client.info.last_cmd.store(command_code(cmd, sub), Ordering::Relaxed);
    if let Some(queue) = client.multi.as_mut() {
        if !RUN_INSIDE_MULTI.contains(&cmd.name) {
            if spec.has(flags::NO_MULTI) {
                return reject(client, out, "ERR Command not allowed inside a transaction");
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
    let now = now_ms();
    let rng = fastrand::Rng::with_seed(fastrand::u64(..));
    let mut ctx = Ctx { store: &mut store, out, client, shared, now_ms: now, rng };
    run(&mut ctx, spec, argv);
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
}

/// The code `ClientInfo::last_cmd` stores for a command: its index in
/// `CommandTable::all` plus one, and for a subcommand, its index in the
/// parent's `subcommands` plus one shifted left by 16 bits. A map from the
/// spec's address makes this one hash lookup per command.
pub fn command_code(cmd: &'static CommandSpec, sub: Option<&'static CommandSpec>) -> usize {
    static CODES: OnceLock<HashMap<usize, usize>> = OnceLock::new();
    let codes = CODES.get_or_init(|| {
        let mut m = HashMap::default();
        for (i, c) in CommandTable::get().all.iter().enumerate() {
            m.insert(*c as *const CommandSpec as usize, i + 1);
            for (j, s) in c.subcommands.iter().enumerate() {
                m.insert(s as *const CommandSpec as usize, (i + 1) | ((j + 1) << 16));
            }
        }
        m
    });
    let spec = sub.unwrap_or(cmd);
    codes.get(&(spec as *const CommandSpec as usize)).copied().unwrap_or(0)
}

/// The full name (`get`, `client|list`) of a `command_code`, if any.
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
fn unknown_command(argv: &[Bytes]) -> String {
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
