//! The generic (keyspace) family: DEL, EXISTS, EXPIRE, SCAN...

use bytes::Bytes;

use crate::error::CmdResult;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn generic(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler).keys(1, 1, 1);
    c.group = "generic";
    c
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["keyspace", "write", "slow"],
        summary: "Delete a key",
        complexity: "O(N) where N is the number of keys that will be removed.",
        ..generic("del", -2, WRITE, del).keys(1, -1, 1)
    },
    CommandSpec {
        acl: &["keyspace", "read", "fast"],
        summary: "Determine if a key exists",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys to check.",
        ..generic("exists", -2, READONLY | FAST, exists).keys(1, -1, 1)
    },
];

fn del(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let mut n = 0;
    for k in &argv[1..] {
        db.expire_if_needed(k, now);
        n += db.remove(k).is_some() as i64;
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let n = argv[1..].iter().filter(|k| db.get_mut(k, now).is_some()).count();
    ctx.out.int(n as i64);
    Ok(())
}
