//! The connection family: PING, ECHO, QUIT, SELECT, HELLO, AUTH, CLIENT...

use bytes::Bytes;

use super::arg_i64;
use crate::error::{CmdError, CmdResult};
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn conn(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "connection";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Ping the server",
        complexity: "O(1)",
        ..conn("ping", -1, FAST, ping)
    },
    CommandSpec {
        acl: &["fast", "connection"],
        summary: "Echo the given string",
        complexity: "O(1)",
        ..conn("echo", 2, FAST, echo)
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
];

fn ping(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
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
    let db = arg_i64(&argv[1]).map_err(|_| CmdError::err("value is not an integer or out of range"))?;
    if db < 0 || db as usize >= ctx.store.dbs.len() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.select(db as usize);
    ctx.out.ok();
    Ok(())
}
