use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use ahash::HashMap;

use bytes::Bytes;
use rhea_resp::Out;

use crate::table::CommandSpec;
use crate::{client::Client, ctx::Ctx, error::CmdError, shared::now_ms, table::CommandTable, Shared};

/// Runs one request and writes its reply to `out`: looks the command up,
/// checks arity and authentication as Redis does (in that order), then calls
/// the handler with the store locked.
pub fn dispatch(shared: &Shared, client: &mut Client, argv: &[Bytes], out: &mut Out) {
    let table = CommandTable::get();
    let (cmd, sub) = match table.resolve(argv) {
        Ok(found) => found,
        Err(false) => return out.error(&unknown_command(argv)),
        Err(true) => {
            let e = CmdError::UnknownSubcommand(lossy(&argv[1], 128), lossy(&argv[0], 128).to_uppercase());
            return out.error(&e.to_string());
        }
    };
    let spec = sub.unwrap_or(cmd);
    if !spec.arity_ok(argv.len()) {
        let name = match sub {
            Some(s) => format!("{}|{}", cmd.name, s.name),
            None => cmd.name.to_string(),
        };
        return out.error(&CmdError::Arity(name).to_string());
    }
    if !client.authenticated && !spec.has(crate::table::flags::NO_AUTH) {
        return out.error("NOAUTH Authentication required.");
    }
    let now = now_ms();
    client.info.last_interaction_ms.store(now, Ordering::Relaxed);
    client.info.last_cmd.store(command_code(cmd, sub), Ordering::Relaxed);
    let mut store = shared.store.lock();
    let rng = fastrand::Rng::with_seed(fastrand::u64(..));
    let mut ctx = Ctx { store: &mut store, out, client, shared, now_ms: now, rng };
    if let Err(e) = (spec.handler)(&mut ctx, argv) {
        ctx.out.error(&e.to_string());
    }
    drop(store);
    shared.stats.total_commands_processed.fetch_add(1, Ordering::Relaxed);
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
