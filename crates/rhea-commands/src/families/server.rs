//! The server family: DBSIZE, FLUSHALL, INFO, CONFIG, COMMAND, SHUTDOWN...

use bytes::Bytes;

use crate::error::CmdResult;
use crate::table::{flags::*, CommandSpec, CommandTable};
use crate::Ctx;

const fn server(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "server";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["keyspace", "read", "fast"],
        summary: "Return the number of keys in the selected database",
        complexity: "O(1)",
        ..server("dbsize", 1, READONLY | FAST, dbsize)
    },
    CommandSpec {
        acl: &["keyspace", "write", "slow", "dangerous"],
        summary: "Remove all keys from all databases",
        complexity: "O(N) where N is the total number of keys in all databases",
        ..server("flushall", -1, WRITE, flushall)
    },
    CommandSpec {
        acl: &["admin", "slow", "dangerous"],
        summary: "Synchronously save the dataset to disk and then shut down the server",
        complexity:
            "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        ..server("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, shutdown)
    },
    CommandSpec {
        acl: &["slow", "connection"],
        summary: "Get array of Redis command details",
        complexity: "O(N) where N is the total number of Redis commands",
        subcommands: &[CommandSpec {
            acl: &["slow", "connection"],
            summary: "Get total number of Redis commands",
            complexity: "O(1)",
            ..server("count", 2, LOADING | STALE, command_count)
        }],
        ..server("command", -1, LOADING | STALE, command)
    },
];

fn dbsize(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
    Ok(())
}

fn flushall(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.store.flush_all();
    ctx.out.ok();
    Ok(())
}

fn shutdown(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    // Redis sends no reply on success: the connection just closes.
    ctx.shared.request_shutdown();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn command(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    // Full COMMAND (INFO for every command) comes with COMMAND INFO.
    ctx.out.array(0);
    Ok(())
}

fn command_count(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(CommandTable::get().all.len() as i64);
    Ok(())
}
