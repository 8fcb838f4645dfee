//! The connection family: PING, ECHO, QUIT, SELECT, RESET, AUTH, HELLO and
//! the CLIENT container.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{arg_i64, is};
use crate::client::{ClientInfo, ReplyMode};
use crate::dispatch::command_name;
use crate::error::{CmdError, CmdResult};
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn conn(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "connection";
    c
}

const CLIENT_ACL: &[&str] = &["slow", "connection"];
const CLIENT_ADMIN_ACL: &[&str] = &["admin", "slow", "dangerous", "connection"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Ping the server",
        complexity: "O(1)",
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        ..conn("ping", -1, FAST, ping)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Echo the given string",
        complexity: "O(1)",
        ..conn("echo", 2, LOADING | STALE | FAST, echo)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Close the connection",
        complexity: "O(1)",
        ..conn("quit", -1, ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, quit)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Change the selected database for the current connection",
        complexity: "O(1)",
        ..conn("select", 2, LOADING | STALE | FAST, select)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Reset the connection",
        since: "6.2.0",
        complexity: "O(1)",
        ..conn("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, reset)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Authenticate to the server",
        complexity: "O(N) where N is the number of passwords defined for the user",
        ..conn("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, auth)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Handshake with Redis",
        since: "6.0.0",
        complexity: "O(1)",
        ..conn("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, hello)
    },
    CommandSpec {
        acl: &["slow"],
        summary: "A container for client connection commands",
        since: "2.4.0",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Returns the client ID for the current connection",
                since: "5.0.0",
                complexity: "O(1)",
                ..conn("id", 2, NOSCRIPT | LOADING | STALE, client_id)
            },
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Set the current connection name",
                since: "2.6.9",
                complexity: "O(1)",
                ..conn("setname", 3, NOSCRIPT | LOADING | STALE, client_setname)
            },
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Get the current connection name",
                since: "2.6.9",
                complexity: "O(1)",
                ..conn("getname", 2, NOSCRIPT | LOADING | STALE, client_getname)
            },
            CommandSpec {
                acl: CLIENT_ADMIN_ACL,
                summary: "Get the list of client connections",
                since: "2.4.0",
                complexity: "O(N) where N is the number of client connections",
                tips: &["nondeterministic_output"],
                ..conn("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, client_list)
            },
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Returns information about the current client connection.",
                since: "6.2.0",
                complexity: "O(1)",
                tips: &["nondeterministic_output"],
                ..conn("info", 2, NOSCRIPT | LOADING | STALE, client_info)
            },
            CommandSpec {
                acl: CLIENT_ADMIN_ACL,
                summary: "Kill the connection of a client",
                since: "2.4.0",
                complexity: "O(N) where N is the number of client connections",
                ..conn("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, client_kill)
            },
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Set client or connection specific info",
                since: "7.2.0",
                complexity: "O(1)",
                ..conn("setinfo", 4, NOSCRIPT | LOADING | STALE, client_setinfo)
            },
            CommandSpec {
                acl: CLIENT_ADMIN_ACL,
                summary: "Set client eviction mode for the current connection",
                since: "7.0.0",
                complexity: "O(1)",
                ..conn("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, client_no_evict)
            },
            CommandSpec {
                acl: CLIENT_ADMIN_ACL,
                summary: "Stop processing commands from clients for some time",
                since: "2.9.50",
                complexity: "O(1)",
                ..conn("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, client_pause)
            },
            CommandSpec {
                acl: CLIENT_ADMIN_ACL,
                summary: "Resume processing of clients that were paused",
                since: "6.2.0",
                complexity: "O(N) Where N is the number of paused clients",
                ..conn("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, client_unpause)
            },
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Instruct the server whether to reply to commands",
                since: "3.2.0",
                complexity: "O(1)",
                ..conn("reply", 3, NOSCRIPT | LOADING | STALE, client_reply)
            },
            CommandSpec {
                acl: CLIENT_ACL,
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                complexity: "O(1)",
                ..conn("help", 2, LOADING | STALE, client_help)
            },
        ],
        ..conn("client", -2, 0, client_container)
    },
];

fn ping(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if ctx.client.subscriptions > 0 && !ctx.out.resp3 && argv.len() <= 2 {
        // Subscribed RESP2 clients can only read pushes: Redis answers with
        // a message-like array.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).map_or(&b""[..], |a| &a[..]));
        return Ok(());
    }
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&argv[1]),
        _ => return Err(CmdError::Arity("ping".into())),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&argv[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

fn select(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Redis reads the index as a C int, with its own error beyond 32 bits.
    let db = i32::try_from(arg_i64(&argv[1])?)
        .map_err(|_| CmdError::err("value is out of range, value must between -2147483648 and 2147483647"))?;
    if db < 0 || db as usize >= ctx.store.dbs.len() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.select(db as usize);
    ctx.out.ok();
    Ok(())
}

/// Sets the connection's protocol, both for the reply writer and for what
/// CLIENT LIST shows.
fn set_resp(ctx: &mut Ctx, ver: u8) {
    ctx.out.resp3 = ver == 3;
    ctx.client.info.resp.store(ver, Ordering::Relaxed);
}

fn reset(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.client.multi = None;
    ctx.client.multi_dirty = false;
    crate::dispatch::unwatch_all(ctx.store, ctx.client);
    ctx.shared.pubsub.lock().remove_client(ctx.client.id);
    ctx.client.subscriptions = 0;
    set_resp(ctx, 2);
    ctx.client.select(0);
    *ctx.client.info.name.lock() = None;
    ctx.client.info.no_evict.store(false, Ordering::Relaxed);
    ctx.client.reply = ReplyMode::On;
    if ctx.client.info.monitor.swap(false, Ordering::Relaxed) {
        ctx.shared.obs.remove_monitor(ctx.client.id);
    }
    // As after connecting: authenticated only when no password is needed.
    ctx.client.authenticated = ctx.shared.config.read().requirepass.is_empty();
    ctx.out.simple("RESET");
    Ok(())
}

/// Checks a user/password pair against the only user Rhea has, `default`
/// (which, without `requirepass`, accepts any password, like Redis's
/// `nopass`).
fn credentials_ok(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    let cfg = ctx.shared.config.read();
    cfg.requirepass.is_empty() || cfg.requirepass.as_bytes() == pass
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let (user, pass): (&[u8], &[u8]) = match argv {
        [_, pass] => {
            if ctx.shared.config.read().requirepass.is_empty() {
                return Err(CmdError::err(
                    "AUTH <password> called without any password configured for the default user. Are you sure your \
                     configuration is correct?",
                ));
            }
            (b"default", pass)
        }
        [_, user, pass] => (user, pass),
        _ => return Err(CmdError::Syntax),
    };
    if !credentials_ok(ctx, user, pass) {
        return Err(CmdError::Other(WRONGPASS.into()));
    }
    ctx.client.authenticated = true;
    ctx.out.ok();
    Ok(())
}

fn hello(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let mut proto = None;
    if let Some(v) = argv.get(1) {
        let ver = arg_i64(v).map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::Other("NOPROTO unsupported protocol version".into()));
        }
        proto = Some(ver as u8);
    }
    // Redis 7.0 applies AUTH and SETNAME as it meets them, so an error in a
    // later option leaves the earlier ones in effect; Rhea does the same.
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(&argv[j], "auth") && more >= 2 {
            if !credentials_ok(ctx, &argv[j + 1], &argv[j + 2]) {
                return Err(CmdError::Other(WRONGPASS.into()));
            }
            ctx.client.authenticated = true;
            j += 3;
        } else if is(&argv[j], "setname") && more >= 1 {
            set_name(ctx, &argv[j + 1])?;
            j += 2;
        } else {
            return Err(CmdError::err(format!("Syntax error in HELLO option '{}'", String::from_utf8_lossy(&argv[j]))));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Other(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH \
             <user> <pass> option can be used to authenticate the client and select the RESP protocol version at \
             the same time"
                .into(),
        ));
    }
    if let Some(p) = proto {
        set_resp(ctx, p);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk_str("server");
    out.bulk_str("redis");
    out.bulk_str("version");
    out.bulk_str(super::server::REDIS_VERSION);
    out.bulk_str("proto");
    out.int(if out.resp3 { 3 } else { 2 });
    out.bulk_str("id");
    out.int(ctx.client.id as i64);
    out.bulk_str("mode");
    out.bulk_str("standalone");
    out.bulk_str("role");
    out.bulk_str("master");
    out.bulk_str("modules");
    out.array(0);
    Ok(())
}

fn client_container(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Reached only as bare `CLIENT` (arity rejects it first) or when the
    // table resolved no subcommand; answer as Redis does for the latter.
    Err(CmdError::UnknownSubcommand(
        String::from_utf8_lossy(argv.get(1).map(|a| &a[..]).unwrap_or(b"")).into_owned(),
        "CLIENT".into(),
    ))
}

fn client_id(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

/// Client names (and library names) are printable ASCII without spaces.
fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(ctx: &mut Ctx, name: &Bytes) -> CmdResult {
    if !valid_attr(name) {
        return Err(CmdError::err("Client names cannot contain spaces, newlines or special characters."));
    }
    *ctx.client.info.name.lock() = if name.is_empty() { None } else { Some(name.clone()) };
    Ok(())
}

fn client_setname(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    set_name(ctx, &argv[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let name = ctx.client.info.name.lock().clone();
    match name {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let attr = &argv[2];
    let slot = if is(attr, "lib-name") {
        &ctx.client.info.lib_name
    } else if is(attr, "lib-ver") {
        &ctx.client.info.lib_ver
    } else {
        return Err(CmdError::err(format!("Unrecognized option '{}'", String::from_utf8_lossy(attr))));
    };
    let val = &argv[3];
    if !valid_attr(val) {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr)
        )));
    }
    *slot.lock() = if val.is_empty() { None } else { Some(val.clone()) };
    ctx.out.ok();
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let on = if is(&argv[2], "on") {
        true
    } else if is(&argv[2], "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    ctx.client.info.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// Client types CLIENT LIST/KILL filter on. Every Rhea connection is a
/// normal one (no replicas; pub/sub connections are not told apart yet).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    Pubsub,
}

fn client_type(arg: &[u8]) -> Result<ClientType, CmdError> {
    let t = match arg.to_ascii_lowercase().as_slice() {
        b"normal" => ClientType::Normal,
        b"slave" | b"replica" => ClientType::Replica,
        b"master" => ClientType::Master,
        b"pubsub" => ClientType::Pubsub,
        _ => return Err(CmdError::err(format!("Unknown client type '{}'", String::from_utf8_lossy(arg)))),
    };
    Ok(t)
}

fn type_of(c: &ClientInfo) -> ClientType {
    if subscription_counts(c).iter().any(|&n| n > 0) {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

fn subscription_counts(c: &ClientInfo) -> [usize; 3] {
    [c.sub_count.load(Ordering::Relaxed), c.psub_count.load(Ordering::Relaxed), c.ssub_count.load(Ordering::Relaxed)]
}

/// One CLIENT LIST line (without the newline): Redis 7.0's fields in its
/// order, then 7.2's lib-name and lib-ver. `argv_mem` is the bytes of the
/// command the client is running (only the caller is ever mid-command).
/// Buffer figures are those the connection stored after its last batch;
/// obl/omem count every reply byte not yet written (Rhea has one buffer,
/// not Redis's 16 KB block plus a list, so oll is always 0).
pub fn client_line(c: &ClientInfo, now_ms: i64, argv_mem: usize, s: &mut String) {
    let name = c.name.lock().clone();
    let name = name.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
    let lib_name = c.lib_name.lock().clone();
    let lib_name = lib_name.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
    let lib_ver = c.lib_ver.lock().clone();
    let lib_ver = lib_ver.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
    let age = c.created.elapsed().as_secs();
    let idle = (now_ms - c.last_interaction_ms.load(Ordering::Relaxed)).max(0) / 1000;
    let [sub, psub, ssub] = subscription_counts(c);
    let multi = c.multi.load(Ordering::Relaxed);
    let mut flags = String::new();
    for (on, f) in [
        (c.monitor.load(Ordering::Relaxed), 'O'),
        (sub + psub + ssub > 0, 'P'),
        (multi >= 0, 'x'),
        (c.blocked.load(Ordering::Relaxed), 'b'),
        (c.no_evict.load(Ordering::Relaxed), 'e'),
    ] {
        if on {
            flags.push(f);
        }
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let qbuf = c.qbuf.load(Ordering::Relaxed);
    let rbs = c.qbuf_cap.load(Ordering::Relaxed);
    let obuf = c.obuf.load(Ordering::Relaxed) + c.push_pending.load(Ordering::Relaxed);
    let multi_mem = c.multi_mem.load(Ordering::Relaxed);
    let tot_mem = rbs
        + c.obuf_cap.load(Ordering::Relaxed)
        + c.push_pending.load(Ordering::Relaxed)
        + argv_mem
        + multi_mem
        + std::mem::size_of::<ClientInfo>();
    let cmd = command_name(c.last_cmd.load(Ordering::Relaxed)).unwrap_or_else(|| "NULL".into());
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={name} age={age} idle={idle} flags={flags} db={} sub={sub} psub={psub} \
         ssub={ssub} multi={multi} qbuf={qbuf} qbuf-free={} argv-mem={argv_mem} multi-mem={multi_mem} rbs={rbs} \
         rbp={} obl={} oll=0 omem={obuf} tot-mem={tot_mem} events={} cmd={cmd} user=default redir=-1 resp={} \
         lib-name={lib_name} lib-ver={lib_ver}",
        c.id,
        c.addr,
        c.laddr,
        c.fd.load(Ordering::Relaxed),
        c.db.load(Ordering::Relaxed),
        rbs.saturating_sub(qbuf),
        c.qbuf_peak.load(Ordering::Relaxed),
        obuf.min(16 * 1024),
        if obuf > 0 { "rw" } else { "r" },
        c.resp.load(Ordering::Relaxed),
    );
}

/// The connected clients, without those already killed whose connection
/// has not finished closing: Redis frees a killed client at once.
fn live_clients(ctx: &Ctx) -> Vec<std::sync::Arc<ClientInfo>> {
    let mut v = ctx.shared.clients.snapshot();
    v.retain(|c| !c.killed.load(Ordering::Acquire));
    v
}

fn client_list(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let clients = live_clients(ctx);
    let selected: Vec<_> = if argv.len() == 4 && is(&argv[2], "type") {
        let t = client_type(&argv[3])?;
        clients.into_iter().filter(|c| type_of(c) == t).collect()
    } else if argv.len() > 3 && is(&argv[2], "id") {
        let mut ids = Vec::with_capacity(argv.len() - 3);
        for a in &argv[3..] {
            // Any integer is accepted; ids below 1 just match no client.
            ids.push(arg_i64(a).map_err(|_| CmdError::err("Invalid client ID"))?);
        }
        // Redis lists them in the order the ids were given.
        ids.iter().filter_map(|&id| clients.iter().find(|c| c.id as i64 == id).cloned()).collect()
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    } else {
        clients
    };
    let mut text = String::new();
    let me = ctx.client.id;
    let argv_mem = argv.iter().map(|a| a.len()).sum::<usize>();
    for c in &selected {
        client_line(c, ctx.now_ms, if c.id == me { argv_mem } else { 0 }, &mut text);
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let mut text = String::new();
    let argv_mem = argv.iter().map(|a| a.len()).sum::<usize>();
    client_line(&ctx.client.info, ctx.now_ms, argv_mem, &mut text);
    text.push('\n');
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// CLIENT KILL's filters, parsed.
#[derive(Default)]
struct KillFilter<'a> {
    id: Option<u64>,
    ctype: Option<ClientType>,
    addr: Option<&'a [u8]>,
    laddr: Option<&'a [u8]>,
    /// Redis 7.4's MAXAGE: clients connected at least this many seconds.
    max_age: Option<u64>,
    skipme: bool,
}

fn parse_kill(argv: &[Bytes]) -> Result<KillFilter<'_>, CmdError> {
    let mut f = KillFilter { skipme: true, ..Default::default() };
    let mut i = 2;
    while i < argv.len() {
        let (opt, val) = match argv.get(i + 1) {
            Some(v) => (&argv[i], v),
            None => return Err(CmdError::Syntax),
        };
        if is(opt, "id") {
            match arg_i64(val) {
                Ok(n) if n >= 1 => f.id = Some(n as u64),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            }
        } else if is(opt, "type") {
            f.ctype = Some(client_type(val)?);
        } else if is(opt, "addr") {
            f.addr = Some(val);
        } else if is(opt, "laddr") {
            f.laddr = Some(val);
        } else if is(opt, "maxage") {
            match arg_i64(val) {
                Ok(n) if n >= 0 => f.max_age = Some(n as u64),
                _ => return Err(CmdError::err("maxage is not an integer or out of range")),
            }
        } else if is(opt, "user") {
            if &val[..] != b"default" {
                return Err(CmdError::err(format!("No such user '{}'", String::from_utf8_lossy(val))));
            }
        } else if is(opt, "skipme") {
            f.skipme = if is(val, "yes") {
                true
            } else if is(val, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(f)
}

fn client_kill(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let me = ctx.client.id;
    if argv.len() == 3 {
        // The old form: `CLIENT KILL ip:port`, which may kill the caller.
        let target = live_clients(ctx).into_iter().find(|c| c.addr.as_bytes() == &argv[2][..]);
        let Some(c) = target else {
            return Err(CmdError::err("No such client"));
        };
        kill(ctx, &c, me);
        ctx.out.ok();
        return Ok(());
    }
    let f = parse_kill(argv)?;
    let mut killed = 0;
    for c in live_clients(ctx) {
        let matches = f.id.is_none_or(|id| c.id == id)
            && f.ctype.is_none_or(|t| type_of(&c) == t)
            && f.addr.is_none_or(|a| c.addr.as_bytes() == a)
            && f.laddr.is_none_or(|a| c.laddr.as_bytes() == a)
            && f.max_age.is_none_or(|m| c.created.elapsed().as_secs() >= m)
            && !(f.skipme && c.id == me);
        if matches {
            kill(ctx, &c, me);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// Kills a client; the caller itself is closed only after its reply.
fn kill(ctx: &mut Ctx, c: &ClientInfo, me: u64) {
    if c.id == me {
        ctx.client.close_after_reply = true;
    } else {
        c.kill();
    }
}

fn client_pause(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 4 {
        return Err(super::observability::wrong_args(&argv[1], "CLIENT"));
    }
    let timeout = arg_i64(&argv[2]).map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let all = match argv.get(3) {
        None => true,
        Some(m) if is(m, "all") => true,
        Some(m) if is(m, "write") => false,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    ctx.shared.obs.pause.pause(ctx.now_ms.saturating_add(timeout).max(1), all);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.shared.obs.pause.unpause();
    ctx.out.ok();
    Ok(())
}

/// CLIENT REPLY: the connection drops the replies (see `ReplyMode`).
fn client_reply(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let mode = &argv[2];
    if is(mode, "on") {
        ctx.client.reply = ReplyMode::On;
        ctx.out.ok();
    } else if is(mode, "off") {
        ctx.client.reply = ReplyMode::Off;
    } else if is(mode, "skip") {
        if ctx.client.reply != ReplyMode::Off {
            ctx.client.reply = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

fn client_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    help_reply(ctx, CLIENT_HELP);
    Ok(())
}

/// A HELP reply: an array of status lines, as Redis's addReplyHelp.
pub(crate) fn help_reply(ctx: &mut Ctx, lines: &[&str]) {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
}
